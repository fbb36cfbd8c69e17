# Pagoda: `make qemu` boots the kernel, `make test` runs every test.
# `make help` lists the targets and the variables they take.

MEM      ?= 1G
SMP      ?= 1
NUMA     ?=
CMDLINE  ?=
MACHINE  ?= virt
CPU      ?= cortex-a72
QEMU_ARGS ?=
# The initramfs: the user programs of user/ (see user/README.md).
INITRD   ?= build/initramfs.cpio
KTEST_TIMEOUT ?= 300
# The in-kernel tests run on four CPUs (SMP, IPIs, the allocator stress test).
KTEST_SMP ?= 4
export MEM SMP NUMA CMDLINE MACHINE CPU QEMU_ARGS INITRD DISK SWAP

TARGET   := aarch64-unknown-none-softfloat
PROFILE  := release
OBJCOPY  := aarch64-linux-gnu-objcopy
NM       := aarch64-linux-gnu-nm
BUILD    := build
# The normal and the test kernel build into separate directories so
# switching between them does not rebuild everything.
KERNEL_ELF := target/$(TARGET)/$(PROFILE)/pagoda
KTEST_ELF  := target/ktest/$(TARGET)/$(PROFILE)/pagoda
KALLSYMS   := target/$(PROFILE)/kallsyms
USER_CC    := aarch64-linux-gnu-gcc
USER_CFLAGS := -static -O2 -Wall -Wextra
USER_NOLIBC_CFLAGS := -static -nostdlib -ffreestanding -fno-stack-protector -O2 -Wall -Wextra
USER_BINS  := $(patsubst user/%.c,$(BUILD)/rootfs/bin/%,$(wildcard user/*.c)) \
              $(patsubst user/nolibc/%.c,$(BUILD)/rootfs/bin/%,$(wildcard user/nolibc/*.c)) \
              $(BUILD)/rootfs/bin/hello-dyn
# A dynamically linked program needs Debian's dynamic linker and C library
# (from libc6-arm64-cross) where Linux programs look for them.
USER_LIBS  := $(BUILD)/rootfs/lib/ld-linux-aarch64.so.1 $(BUILD)/rootfs/lib/aarch64-linux-gnu/libc.so.6
INITRAMFS  := $(BUILD)/initramfs.cpio

.PHONY: all deps kernel ktest-kernel initramfs qemu debug gdb test test-host test-kernel test-boot test-user bench-user \
        test-linux bench \
        lint fmt clippy clean help

all: kernel

help:
	@echo "Pagoda make targets:"
	@echo "  make qemu        build and boot the kernel; ends at the monitor prompt (Ctrl-A X quits)"
	@echo "  make test        host cargo tests + in-kernel tests under QEMU + boot-log tests"
	@echo "  make test-host   only the host cargo tests (fast: the generic mm algorithms)"
	@echo "  make test-kernel only the in-kernel tests, on KTEST_SMP=4 CPUs (KTEST_FILTER=word runs a subset)"
	@echo "  make test-boot   only the boot-log tests (boots make qemu several ways)"
	@echo "  make test-user   only the user programs, compared with what Linux printed"
	@echo "  make test-linux  the same programs on Debian's arm64 Linux 6.1 (fetched by scripts/fetch-linux.sh)"
	@echo "  make bench       allocator benchmarks vs buddy_system_allocator (QEMU -icount shift=0)"
	@echo "  make debug       boot halted with a gdb stub on :1234; then 'make gdb' in another shell"
	@echo "  make gdb         attach gdb-multiarch with kernel symbols"
	@echo "  make lint        cargo fmt --check and cargo clippy"
	@echo "  make bench-user  user workloads (user/bench.c) on Pagoda and on Debian's Linux, -icount, with ratios"
	@echo "  make initramfs   build user/*.c (static aarch64 binaries) into build/initramfs.cpio"
	@echo "  make deps        check/install qemu, gdb-multiarch, the cross gcc and cpio"
	@echo "  make clean       remove build outputs"
	@echo "Variables: MEM=$(MEM) SMP=$(SMP) NUMA=<nodes> CMDLINE=\"...\" MACHINE=$(MACHINE)"
	@echo "           CPU=$(CPU) INITRD=<cpio> QEMU_ARGS=\"...\" KTEST_TIMEOUT=$(KTEST_TIMEOUT)"
	@echo "           DISK=\"a.img [b.img:ro ...]\"  raw images as virtio disks /dev/vda, /dev/vdb, ..."
	@echo "           SWAP=512M  a fresh swap disk after the DISK images, turned on at boot (swapon=/dev/vdX)"
	@echo "Example:   printf 'dmesg\\npoweroff\\n' | make qemu MEM=3G CMDLINE=loglevel=8"

deps:
	@scripts/deps.sh

$(KALLSYMS): libs/klib/src/kallsyms.rs libs/klib/src/bin/kallsyms.rs
	@cargo build -q --release -p pagoda-klib --features std --bin kallsyms

# Link, make the flat Image (objcopy), then write the symbol table into it.
define make_image
	@$(OBJCOPY) -O binary $(1) $(2)
	@$(NM) -n -C --defined-only $(1) > $(2).nm
	@$(KALLSYMS) $(2) \
	  $$(awk '$$3=="_text"{print $$1}' $(2).nm) \
	  $$(awk '$$3=="__kallsyms_start"{print $$1}' $(2).nm) \
	  $$(awk '$$3=="__kallsyms_end"{print $$1}' $(2).nm) < $(2).nm
endef

kernel: deps $(KALLSYMS)
	@cargo build -q --$(PROFILE) -p pagoda-kernel --target $(TARGET)
	@mkdir -p $(BUILD)
	$(call make_image,$(KERNEL_ELF),$(BUILD)/Image)
	@cp $(KERNEL_ELF) $(BUILD)/vmlinux

ktest-kernel: deps $(KALLSYMS)
	@CARGO_TARGET_DIR=target/ktest cargo build -q --$(PROFILE) -p pagoda-kernel --target $(TARGET) --features ktest
	@mkdir -p $(BUILD)
	$(call make_image,$(KTEST_ELF),$(BUILD)/Image-ktest)
	@cp $(KTEST_ELF) $(BUILD)/vmlinux-ktest

# User programs: static Linux binaries, as a distribution would build them.
$(BUILD)/rootfs/bin/%: user/%.c user/show.h | deps
	@mkdir -p $(@D)
	@$(USER_CC) $(USER_CFLAGS) -o $@ $<

# Programs without a C library (user/nolibc): raw system calls.
$(BUILD)/rootfs/bin/%: user/nolibc/%.c user/nolibc/nolibc.h | deps
	@mkdir -p $(@D)
	@$(USER_CC) $(USER_NOLIBC_CFLAGS) -o $@ $<

# hello, dynamically linked, as a distribution builds programs.
$(BUILD)/rootfs/bin/hello-dyn: user/hello.c | deps
	@mkdir -p $(@D)
	@$(USER_CC) $(filter-out -static,$(USER_CFLAGS)) -o $@ $<

$(BUILD)/rootfs/lib/ld-linux-aarch64.so.1 $(BUILD)/rootfs/lib/aarch64-linux-gnu/libc.so.6: | deps
	@mkdir -p $(@D)
	@cp "$$($(USER_CC) -print-file-name=$(@F))" $@

# The archive, in the newc format Linux's initramfs reads, in a stable order.
$(INITRAMFS): $(USER_BINS) $(USER_LIBS) $(shell find user/rootfs -type f)
	@mkdir -p $(BUILD)/rootfs
	@cp -r user/rootfs/. $(BUILD)/rootfs/
	@cd $(BUILD)/rootfs && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 > ../initramfs.cpio

initramfs: $(INITRAMFS)

qemu: kernel initramfs
	@scripts/run-qemu.sh $(BUILD)/Image

debug: kernel initramfs
	@echo "QEMU halted with a gdb stub on localhost:1234; run 'make gdb' in another terminal"
	@scripts/run-qemu.sh $(BUILD)/Image -s -S

gdb:
	@test -f $(BUILD)/vmlinux || { echo "pagoda: run 'make debug' first"; exit 1; }
	gdb-multiarch -q $(BUILD)/vmlinux -ex "set architecture aarch64" -ex "target remote localhost:1234"

test: test-host test-kernel test-boot test-user

# Benchmarks print figures and ratios; nothing asserts a time. -icount makes
# guest time count instructions, so the figures repeat exactly run to run.
bench-user: kernel initramfs
	@scripts/bench-user.sh

bench: kernel initramfs
	@CMDLINE="bench loglevel=4 panic=-1 $(CMDLINE)" QEMU_ARGS="-icount shift=0 $(QEMU_ARGS)" \
	  timeout --foreground 600 scripts/run-qemu.sh $(BUILD)/Image </dev/null | tr -d '\r' | grep -E '^bench:|panic'
	@# Per-CPU scaling needs the CPUs to run in parallel: no -icount here.
	@SMP=4 CMDLINE="bench=smp loglevel=4 panic=-1 $(CMDLINE)" \
	  timeout --foreground 600 scripts/run-qemu.sh $(BUILD)/Image </dev/null | tr -d '\r' | grep -E '^bench:|panic'

test-host: deps
	cargo test --workspace --exclude pagoda-kernel

test-kernel: ktest-kernel initramfs
	@SMP=$(KTEST_SMP) tests/ktest.sh $(BUILD)/Image-ktest

test-boot: kernel initramfs
	@tests/boot.sh

# The user programs of user/rootfs/etc/usertests must print what Debian's
# Linux printed (tests/expected/usertests.out); test-linux re-checks that
# file against a real Linux kernel fetched from Debian's archive.
test-user: kernel initramfs
	@tests/usertests.sh pagoda

test-linux: initramfs
	@tests/usertests.sh linux

lint: fmt clippy

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy -q --workspace --exclude pagoda-kernel --all-targets -- -D warnings
	cargo clippy -q -p pagoda-kernel --target $(TARGET) -- -D warnings
	cargo clippy -q -p pagoda-kernel --target $(TARGET) --features ktest -- -D warnings

clean:
	cargo clean
	rm -rf $(BUILD)
