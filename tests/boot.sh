#!/usr/bin/env bash
# Boot-log tests: boots `make qemu` the ways a user would, drives the monitor
# through the UART, and checks the real boot log for its key lines.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TIMEOUT=${BOOT_TIMEOUT:-60}
passed=0 failed=0 n=0

# boot NAME "make variables" "monitor input" pattern...
boot() {
  local name=$1 vars=$2 input=$3; shift 3
  n=$((n + 1))
  local log=build/boot-$n.log
  # shellcheck disable=SC2086
  printf "$input" | timeout --foreground -k 5 "$TIMEOUT" env $vars make -s qemu >"$log" 2>&1
  local rc=$?
  tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
  local missing=()
  for pat in "$@"; do
    grep -qE -- "$pat" "$log" || missing+=("$pat")
  done
  if [ $rc -eq 0 ] && [ ${#missing[@]} -eq 0 ]; then
    echo "$n. boot: $name ... [ok]"
    passed=$((passed + 1))
  else
    echo "$n. boot: $name ... [FAILED] (exit $rc; see $log)"
    for m in "${missing[@]}"; do echo "    missing: $m"; done
    failed=$((failed + 1))
  fi
}

TS='^\[ +[0-9]+\.[0-9]{6}\] '
COMMON=(
  "${TS}Booting Pagoda on physical CPU 0x0000000000 \[0x[0-9a-f]{8}\]"
  "${TS}Pagoda version [0-9.]+ \(git [0-9a-f]+"
  "${TS}Machine model: linux,dummy-virt"
  "${TS}  memory: \[mem 0x0000000040000000-"
  "${TS}Kernel command line:"
  "${TS}psci: PSCIv[0-9.]+ detected"
  "${TS}MEMBLOCK configuration: memory size = "
  "${TS}paging_init: swapper_pg_dir at 0x[0-9a-f]+"
  "${TS}Virtual kernel memory layout:"
  "${TS} +memory : 0xffff800000000000 - "
  "${TS}9000000.pl011: ttyAMA0 at MMIO 0x9000000 mapped at 0xffff0000"
  "${TS}Zone ranges:"
  "${TS}memmap_init: [0-9]+ struct pages of 64 bytes"
  "${TS}Built [0-9]+ zonelists, mobility grouping on.  Total pages: [0-9]+"
  "${TS}Memory: [0-9]+K/[0-9]+K available \\([0-9]+K kernel code, [0-9]+K rwdata, [0-9]+K rodata, 0K init, [0-9]+K bss, [0-9]+K reserved, 0K cma-reserved\\)"
  "${TS}buddyinfo: Node 0, zone +DMA32 +( +[0-9]+){11}"
  "${TS}kmem_cache_create: kmalloc-8 +object +8 "
  "${TS}kmem_cache_create: kmalloc-8k +object +8192 .* off-slab"
  "${TS}slab: GlobalAlloc handed over from the early heap"
  "${TS}vmalloc: \\[0xffff000008000000-0xffff7dfffdff0000\\]"
  "^pagoda> "
  "${TS}reboot: Power down"
)

boot "default (1G, cortex-a72, EL1)" "" 'help\ncmdline\ndmesg\npoweroff\n' "${COMMON[@]}" \
  "${TS}CPU0: Cortex-A72 r0p3, entered at EL1" \
  "1024 MiB, node 0" \
  "^  dmesg +print the kernel log ring buffer" \
  "^pagoda> cmdline"
boot "EL2 entry (virtualization=on)" "MACHINE=virt,virtualization=on" 'poweroff\n' "${COMMON[@]}" \
  "${TS}CPU0: Cortex-A72 r0p3, entered at EL2, running at EL1"
boot "MEM=3G" "MEM=3G" 'poweroff\n' "${COMMON[@]}" "3072 MiB, node 0"
# MMU: the walk of kernel text and of the linear map agree with the hardware,
# and with 6G the linear map covers all RAM with 1G blocks.
boot "MEM=6G: pt and kpt" "MEM=6G" 'pt ffff000008080000\npt ffff800000000000\nkpt\npoweroff\n' "${COMMON[@]}" \
  "6144 MiB, node 0" \
  "^  PTE\[128\] @ 0x[0-9a-f]+: 0x[0-9a-f]+  page" \
  "= ro x +MEM/NORMAL" \
  "^  PUD\[  0\] @ 0x[0-9a-f]+: 0x[0-9a-f]+  block" \
  "=> PA 0x40080000; hardware AT S1E1R says 0x40080000 \(agrees\)" \
  "=> PA 0x40000000; hardware AT S1E1R says 0x40000000 \(agrees\)" \
  "^---\[ Linear mapping \]---" \
  "^0xffff800000000000-0xffff800180000000 +6G PUD +RW NX .*MEM/NORMAL" \
  "^0xffff000008080000-0xffff[0-9a-f]+ +[0-9]+K PTE +ro x "
boot "MEM=6G: DMA32 and Normal, /proc views" "MEM=6G" 'meminfo\nbuddyinfo\npagetypeinfo\nzoneinfo\nvmstat\npoweroff\n' "${COMMON[@]}" \
  "${TS}  DMA32    \\[mem 0x0000000040000000-0x00000000ffffffff\\]" \
  "${TS}  Normal   \\[mem 0x0000000100000000-0x00000001bfffffff\\]" \
  "^MemTotal: +[0-9]+ kB$" "^MemFree: +[0-9]+ kB$" "^MemAvailable: +[0-9]+ kB$" \
  "^Active\\(anon\\): +0 kB$" "^SwapTotal: +0 kB$" "^KernelStack: +[1-9][0-9]+ kB$" \
  "^Node 0, zone +DMA32( +[0-9]+){11} $" "^Node 0, zone +Normal( +[0-9]+){11} $" \
  "^Node    0, zone    DMA32, type      Movable( +[0-9]+){11} $" \
  "^Number of blocks type +Unmovable +Movable +Reclaimable +HighAtomic +Isolate $" \
  "^        protection: \\(0, [0-9]+, [0-9]+\\)$" "^              batch: 63$" \
  "^nr_free_pages [0-9]+$" "^pgalloc_dma32 [0-9]+$"
boot "slab and vmalloc views" "" 'slabinfo\nvmallocinfo\nmeminfo\nslabreap shrink\npoweroff\n' "${COMMON[@]}" \
  "^slabinfo - version: 2.1$" \
  "^kmalloc-64 +[0-9]+ +[0-9]+ +64 +61 +1 : tunables  120   60    0 : slabdata +[0-9]+ +[0-9]+ +0$" \
  "^kmalloc-8k +[0-9]+ +[0-9]+ +8192 +1 +2 : tunables    8    4    0 : slabdata" \
  "^0xffff000008400000-0xffff000008402000 +8192 ioremap phys=0x9000000$" \
  "^Slab: +[0-9]+ kB$" "^SReclaimable: +[0-9]+ kB$" "^SUnreclaim: +[0-9]+ kB$" \
  "^VmallocTotal: +[0-9]+ kB$" "^VmallocUsed: +[0-9]+ kB$" \
  "^slab: [0-9]+ pages returned to the page allocator$"
boot "slab_debug turns on red zones" "CMDLINE=slab_debug" 'slabinfo\npoweroff\n' \
  "${TS}slab: debugging on: red zones and poisoning in every kmalloc cache" \
  "${TS}kmem_cache_create: kmalloc-64 +object +64 stride +192 align +64"
boot "NUMA=2: two nodes, their zones and zonelists, a CPU on each" "MEM=2G NUMA=2 SMP=2" 'buddyinfo\ncpus\npoweroff\n' "${COMMON[@]}" \
  "^  0  0x0000000000  0x[0-9a-f]+  Cortex-A72 r0p3 +online +0 " "^  1  0x0000000001  0x[0-9a-f]+  Cortex-A72 r0p3 +online +1 " \
  "  memory: \\[mem 0x0000000080000000-0x00000000bfffffff\\] 1024 MiB, node 1" \
  "${TS}  node   1: \\[mem 0x0000000080000000-0x00000000bfffffff\\]" \
  "${TS}Built 2 zonelists" "${TS}Fallback order for Node 0: 0 1" "${TS}Fallback order for Node 1: 1 0" \
  "^Node 1, zone +DMA32( +[0-9]+){11} $"
boot "movablecore=25%: ZONE_MOVABLE" "CMDLINE=movablecore=25%" 'buddyinfo\npoweroff\n' "${COMMON[@]}" \
  "${TS}  Node 0: 0x0000000070000000" "${TS}On node 0, zone Movable: 65536 pages present" \
  "^Node 0, zone +Movable( +[0-9]+){11} $"
boot "MEM=8G: mem_map size" "MEM=8G" 'poweroff\n' "${COMMON[@]}" \
  "${TS}memmap_init: 2097152 struct pages of 64 bytes at 0x[0-9a-f]+: mem_map 131072 KiB \\(1\\.[0-5][0-9]% of RAM\\)"
boot "SMP=4: four CPUs, threads spread over them" "SMP=4" 'cpus\nps\nirqs\npoweroff\n' "${COMMON[@]}" \
  "${TS}CPU1: Booted secondary processor 0x0000000001 \\[0x410fd083\\]" \
  "${TS}CPU3: Booted secondary processor 0x0000000003 \\[0x410fd083\\]" \
  "${TS}SMP: Total of 4 processors activated." \
  "^  3  0x0000000003  0x410fd083  Cortex-A72 r0p3 +online" \
  "^ +[0-9]+ +[0-9]+ +0 +[1-3] +[RS] +[0-9]+ +[0-9]+\\.[0-9]{2} +0 +0 +kswapd0$" \
  "^ +0 +0 +0 +3 +I +[0-9]+ +[0-9]+\\.[0-9]{2} +0 +0 +swapper/3$" \
  "^ +27: +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +GICv2  27 Level  arch_timer$"
boot "GICv3 (gic-version=3) with SMP=2" "MACHINE=virt,gic-version=3 SMP=2" 'irqs\npoweroff\n' "${COMMON[@]}" \
  "${TS}GICv3: [0-9]+ irq lines, distributor at 0x8000000, redistributors at 0x80a0000" \
  "${TS}SMP: Total of 2 processors activated." "GICv3  27 Level  arch_timer$"
boot "EL2 entry with SMP=2 (PSCI over SMC)" "MACHINE=virt,virtualization=on SMP=2" 'poweroff\n' "${COMMON[@]}" \
  "${TS}psci: PSCIv[0-9.]+ detected in firmware \\(Smc conduit\\)" "${TS}SMP: Total of 2 processors activated."
boot "CPU=cortex-a57" "CPU=cortex-a57" 'poweroff\n' "${COMMON[@]}" "${TS}CPU0: Cortex-A57 r1p0"
boot "command line and loglevel=8" "CMDLINE=loglevel=8" 'cmdline\npoweroff\n' \
  "${TS}Kernel command line: loglevel=8$" "^loglevel=8$"
# What the kernel must find in the archive the build made.
INITRAMFS_ENTRIES=$(cpio -it --quiet < build/initramfs.cpio | wc -l)
INITRAMFS_FILES=$(find build/rootfs -type f | wc -l)
boot "initramfs: the user programs' archive, unpacked into the root; /dev" "" 'ls /\nls /bin\nls /dev\ncat /etc/motd\ncat /nope\npoweroff\n' "${COMMON[@]}" \
  "${TS}  initrd: \\[mem 0x[0-9a-f]+-0x[0-9a-f]+\\] [0-9]+ bytes" \
  "${TS}Trying to unpack rootfs image as initramfs\\.\\.\\.$" \
  "${TS}initramfs: $INITRAMFS_ENTRIES entries, $INITRAMFS_FILES files; file data stays in the archive \\([0-9]+ KiB\\) until written$" \
  "${TS}devtmpfs: /dev/null, /dev/zero, /dev/console$" "^crw-rw-rw- +0 null$" "^crw------- +0 console$" \
  "^drwxr-xr-x +0 bin$" "^drwxr-xr-x +0 etc$" "^-rwxr-xr-x +[0-9]{5,} hello$" \
  "^Welcome to Pagoda: this file came from the initramfs\\.$" \
  "^cat: /nope: No such file or directory$"
boot "run: a program at EL0 with raw syscalls; a segfault kills only it" "SMP=2" 'run /bin/hello-raw one two\nrun /bin/hello-raw segv\nrun /bin/nope\nrun /etc/motd\nrun /bin/fpcheck 5\nps\npoweroff\n' "${COMMON[@]}" \
  "^fp registers survived preemption$" "^\\[[0-9]+\\] exited with status 0$" \
  "^hello from EL0 without libc$" "^argc=3$" "^argv\\[0\\]=/bin/hello-raw$" "^argv\\[2\\]=two$" \
  "^AT_PAGESZ=4096$" "^AT_RANDOM present=1$" "^AT_EXECFN=/bin/hello-raw$" "^stack 16-byte aligned=1$" \
  "^getpid\\(\\) > 1: 1$" "^write\\(bad pointer\\)=-14$" "^write\\(kernel pointer\\)=-14$" \
  "^write\\(bad fd\\)=-9$" "^unknown syscall=-38$" "^\\[[0-9]+\\] exited with status 7$" \
  "${TS}hello-raw\\[[0-9]+\\]: unhandled segfault \\(11\\) at 0x0000000000000000, esr 0x92000046 -- DABT \\(lower EL\\)$" \
  "^\\[[0-9]+\\] killed by signal 11$" "^run: /bin/nope: No such file or directory$" \
  "^run: /etc/motd: Permission denied$" "^\\[[0-9]+\\] exited with status 127$"
boot "run &: a background process, seen by ps, pmap and meminfo" "SMP=2" 'run /bin/pmapdemo 3 &\nsleep 1500\nps\npmap pmapdemo\nmeminfo\nsleep 2500\nmeminfo\npoweroff\n' "${COMMON[@]}" \
  "^AnonPages: +[1-9][0-9]* kB$" "^AnonPages: +0 kB$" \
  "^\\[[0-9]+\\] running in the background$" \
  "^ +[0-9]+ +[0-9]+ +1 +[0-9] +S +[0-9]+ +[0-9]+\\.[0-9]{2} +[0-9]+ +[0-9]+ +pmapdemo$" \
  "^Address +Kbytes +RSS +Dirty Mode +Mapping$" "^0000000000400000 +[0-9]+ +[0-9]+ +0 r-x-- pmapdemo$" \
  "^[0-9a-f]{16} +320 +56 +40 rw--- \\[ anon \\]$" "^[0-9a-f]{16} +[0-9]+ +[0-9]+ +[0-9]+ rw--- \\[ stack \\]$" \
  "^total kB +[0-9]+ +[0-9]+ +[0-9]+$" \
  "^mm: code 0x400000-0x[0-9a-f]+ data 0x4[0-9a-f]+-0x4[0-9a-f]+ brk 0x[0-9a-f]+-0x[0-9a-f]+ stack 0xffff[0-9a-f]+$"
boot "trace_faults: each user fault with its ESR and outcome; vmstat counts them" "CMDLINE=trace_faults" 'run /bin/forktest\nvmstat\npoweroff\n' "${COMMON[@]}" \
  "${TS}trace_faults: every user page fault is logged$" \
  "${TS}fault: forktest\\[[0-9]+\\] write at 0x[0-9a-f]+, esr 0x9200004[4-7] \\(DABT \\(lower EL\\), level [0-3] translation fault\\) -> do_anonymous_page: new zeroed page$" \
  "${TS}fault: forktest\\[[0-9]+\\] write at 0x[0-9a-f]+, esr 0x9200004f \\(DABT \\(lower EL\\), level 3 permission fault\\) -> do_wp_page: wp_page_copy \\(COW copy\\)$" \
  "\\] fault: forktest\\[[0-9]+\\] write at 0x[0-9a-f]+, .* -> do_wp_page: wp_page_reuse \\(only user\\)$" \
  "${TS}fault: forktest\\[[0-9]+\\] write at 0x0, .* -> no VMA: SIGSEGV \\(SEGV_MAPERR\\)$" \
  "^pgfault [1-9][0-9]*$" "^pgreuse [1-9][0-9]*$" "^cow_fault [1-9][0-9]*$"
boot "norandmaps: the same layout on every exec" "CMDLINE=norandmaps" 'run /bin/aslr\npoweroff\n' "${COMMON[@]}" \
  "${TS}norandmaps: address-space randomisation is off$" "^stack differs between two execs: 0$" \
  "^mmap differs between two execs: 0$" "^brk differs between two execs: 0$"
boot "init= runs the first user program, then the monitor" "CMDLINE=init=/bin/hello-raw" 'poweroff\n' "${COMMON[@]}" \
  "${TS}Run /bin/hello-raw as init process$" "^hello from EL0 without libc$" "^argc=1$" \
  "${TS}init \\(/bin/hello-raw\\) exited with status 7; back to the monitor$" "^pagoda> poweroff"
boot "mem=512M caps RAM" "CMDLINE=mem=512M" 'poweroff\n' \
  "${TS}memblock: mem=512M: RAM limited to 512 MiB" \
  "${TS} memory\[0x0\].\[0x0000000040000000-0x000000005fffffff\]"
boot "quiet hides info, dmesg still has it" "CMDLINE=quiet" 'dmesg\npoweroff\n' \
  "^pagoda> dmesg" "${TS}Machine model: linux,dummy-virt"
# With `quiet` the banner must not reach the console before the prompt.
if [ -f build/boot-$n.log ] && sed '/^pagoda> dmesg/q' "build/boot-$n.log" | grep -q 'Machine model'; then
  echo "    quiet: info lines reached the console before the prompt"; failed=$((failed + 1)); passed=$((passed - 1))
fi

echo "boot-test: $passed passed, $failed failed"
[ $failed -eq 0 ]
