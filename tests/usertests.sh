#!/usr/bin/env bash
# The user tests, judged by real Linux: every line of user/rootfs/etc/usertests
# ("NAME PATH ARGS...") runs a static program, and its output must be
# tests/expected/usertests.out, which is what Debian's Linux 6.1 printed.
#   tests/usertests.sh pagoda   run them on Pagoda (the monitor's `run`)
#   tests/usertests.sh linux    run them on Debian's kernel (make test-linux)
#   UPDATE=1 tests/usertests.sh linux   rewrite the expected output from Linux
# Kernel log lines ([ 0.123456] ...) are not part of a program's output.
# The programs of user/rootfs/etc/usertests-reboot then run in a second boot
# with the disks the first left behind: what reached the disk survives.
# Those of user/rootfs/etc/usertests-swap run meanwhile in a boot of their
# own with 256 MiB of RAM and a 512 MiB swap disk as /dev/vda.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=${1:?usage: usertests.sh pagoda|linux}
LIST=user/rootfs/etc/usertests
LIST_REBOOT=user/rootfs/etc/usertests-reboot
LIST_SWAP=user/rootfs/etc/usertests-swap
EXPECTED=tests/expected/usertests.out
OUT=build/usertests-$MODE.out
LOG=build/usertests-$MODE.log
# Per boot. Linux takes about 150 s for the main list here (bigread reads
# 1280 MiB twice); slower machines get room.
TIMEOUT=${USERTESTS_TIMEOUT:-420}
mkdir -p build

tests() { grep -hvE '^(#|$)' "${@:-$LIST}"; }

# The disks, fresh for every run: vda 8 MiB writable and vdb 1 MiB read-only
# (user/blockdev.c, diskmap.c), vdc the ext4 disk (user/ext4read.c).
scripts/make-test-disk.sh build/usertest-vda.img 8 && scripts/make-test-disk.sh build/usertest-vdb.img 1 &&
  scripts/make-ext4-image.sh build/usertest-ext4.img || exit 1
export DISK="build/usertest-vda.img build/usertest-vdb.img:ro build/usertest-ext4.img:ro"
# Debian's kernel has virtio-mmio and virtio-blk as modules; usertest-init
# loads the ones /lib/modules/load lists, in order.
LINUX_MODULES="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko
  drivers/block/virtio_blk.ko"

# Boots once with MEM of RAM and runs the programs of LIST, appending their
# records to OUT.
boot_linux() { # LIST LOG MEM OUT
  # The same archive, with usertest-init as /init and LIST as its list.
  local root=build/rootfs-linux-$(basename "$1")
  rm -rf "$root" && cp -r build/rootfs "$root"
  cp build/rootfs/bin/usertest-init "$root/init"
  cp "$1" "$root/etc/usertests"
  mkdir -p "$root/lib/modules"
  for m in $LINUX_MODULES; do
    cp build/linux/pkg/lib/modules/*/kernel/"$m" "$root/lib/modules/"
    echo "/lib/modules/$(basename "$m")"
  done >"$root/lib/modules/load"
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$root.cpio"
  MEM=$3 SMP=2 INITRD="$root.cpio" CMDLINE="console=ttyAMA0 quiet panic=-1" \
    timeout --foreground -k 5 "$TIMEOUT" scripts/run-qemu.sh build/linux/vmlinuz -no-reboot </dev/null >"$2" 2>&1
  tr -d '\r' <"$2" | grep -vE '^\[ *[0-9]+\.[0-9]+\]' | sed -n '/^=== /,$p' >>"$4"
}

boot_pagoda() { # LIST LOG MEM OUT
  local input
  input=$(tests "$1" | while read -r name path args; do printf 'run %s %s\\n' "$path" "$args"; done)
  # run-qemu.sh, not make qemu: the boots run in parallel, and each make
  # would relink the kernel (built once, above).
  printf "${input}poweroff\n" | MEM=$3 SMP=2 INITRD=build/initramfs.cpio \
    timeout --foreground -k 5 "$TIMEOUT" scripts/run-qemu.sh build/Image >"$2" 2>&1
  if [ $? -eq 124 ]; then
    echo "usertests: Pagoda did not finish in ${TIMEOUT}s; the end of its log:"
    tr -d '\r' <"$2" | tail -40 | sed 's/^/    /'
  fi
  # Turn the monitor's transcript into the same records usertest-init prints.
  tr -d '\r' <"$2" | grep -vE '^\[ *[0-9]+\.[0-9]+\]' | awk -v list="$1" '
    BEGIN { while ((getline l < list) > 0) if (l !~ /^(#|$)/) { n++; split(l, f, " "); name[n] = f[1] } }
    /^pagoda> run / { i++; print "=== " name[i] " ==="; inrun = 1; next }
    inrun && /^\[[0-9]+\] exited with status / { sub(/^\[[0-9]+\] exited with status /, ""); print "=== status: exited " $0 " ==="; inrun = 0; next }
    inrun && /^\[[0-9]+\] killed by signal / { sub(/^\[[0-9]+\] killed by signal /, ""); print "=== status: killed by signal " $0 " ==="; inrun = 0; next }
    inrun { print }' >>"$4"
}

# The swap boot, in the background: its own disk, its own output.
boot_swap() { # linux|pagoda
  DISK="build/usertest-swap.img" TIMEOUT=${USERTESTS_SWAP_TIMEOUT:-600} \
    "boot_$1" "$LIST_SWAP" "$LOG.swap" 256M "$OUT.swap"
}

: >"$OUT"
: >"$OUT.swap"
scripts/make-swap-image.sh build/usertest-swap.img 512M || exit 1
case $MODE in
linux)
  scripts/fetch-linux.sh || exit 1
  boot_swap linux &
  boot_linux "$LIST" "$LOG" 1G "$OUT"
  boot_linux "$LIST_REBOOT" "$LOG.reboot" 1G "$OUT"
  wait
  ;;
pagoda)
  # Built once before the boots in parallel, so they do not both build.
  make -s kernel initramfs || exit 1
  boot_swap pagoda &
  boot_pagoda "$LIST" "$LOG" 1G "$OUT"
  boot_pagoda "$LIST_REBOOT" "$LOG.reboot" 1G "$OUT"
  wait
  ;;
*) echo "usertests: unknown mode $MODE" >&2; exit 2 ;;
esac
cat "$OUT.swap" >>"$OUT"

if [ "${UPDATE:-}" = 1 ] && [ "$MODE" = linux ]; then
  cp "$OUT" "$EXPECTED"
  echo "usertests: wrote $EXPECTED from $(cat build/linux/version)"
fi
passed=0 failed=0
while read -r name _; do
  want=$(sed -n "/^=== $name ===\$/,/^=== status: /p" "$EXPECTED")
  got=$(sed -n "/^=== $name ===\$/,/^=== status: /p" "$OUT")
  if [ -n "$want" ] && [ "$want" = "$got" ]; then
    echo "usertest ($MODE): $name ... [ok]"
    passed=$((passed + 1))
  else
    echo "usertest ($MODE): $name ... [FAILED] (see $LOG)"
    diff <(echo "$want") <(echo "$got") | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done < <(tests "$LIST" "$LIST_REBOOT" "$LIST_SWAP")

# What blockdev and diskmap wrote must be in the image file itself, not only
# in the kernel's page cache: fsync, msync and the last close wrote it back.
# The private write must not be there, and the read-only disk is unchanged.
at() { dd if="$1" bs=1 skip="$2" count="$3" status=none; }
disk_ok=1
check_at() { # IMAGE OFFSET TEXT
  local got
  got=$(at "$1" "$2" "${#3}")
  if [ "$got" != "$3" ]; then
    echo "    $1 at $2: \"$got\", expected \"$3\""
    disk_ok=0
  fi
}
check_at build/usertest-vda.img $((1048576 + 100)) "written through the page cache of /dev/vda"
check_at build/usertest-vda.img $((2097152 + 100)) "written through a shared mapping of /dev/vda"
check_at build/usertest-vda.img $((2097152 + 200)) "second write after msync"
check_at build/usertest-vda.img $((2097152 + 4096)) "sector 4104 of the pagoda test disk"
check_at build/usertest-vdb.img 0 "sector 0 of the pagoda test disk"
if [ $disk_ok = 1 ]; then
  echo "usertest ($MODE): disk-image (the writes reached the image file) ... [ok]"
  passed=$((passed + 1))
else
  echo "usertest ($MODE): disk-image (the writes reached the image file) ... [FAILED]"
  failed=$((failed + 1))
fi
echo "usertests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
