#!/usr/bin/env bash
# make bench-user: the same user workloads (user/bench.c) on Pagoda and on
# Debian's Linux 6.1 (the kernel of make test-linux), one CPU each, under
# `-icount shift=0`: guest time then counts instructions, so both kernels
# are timed by the work they do, not by the host's load; and with
# `norandmaps`, so that the same layout gives the same figures every run. Prints, per
# workload: bench: NAME pagoda=... us linux=... us ratio=R (Pagoda/Linux;
# below 1.0 Pagoda is faster).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TIMEOUT=${BENCH_TIMEOUT:-600}
mkdir -p build
scripts/fetch-linux.sh || exit 1

# Pagoda: the monitor runs the program.
printf 'run /bin/bench\npoweroff\n' | QEMU_ARGS="-icount shift=0" SMP=1 CMDLINE="norandmaps" \
  timeout --foreground -k 5 "$TIMEOUT" make -s qemu >build/bench-user-pagoda.log 2>&1
# Linux: usertest-init runs it as its only test.
rm -rf build/rootfs-bench && cp -r build/rootfs build/rootfs-bench
cp build/rootfs/bin/usertest-init build/rootfs-bench/init
echo "bench /bin/bench" >build/rootfs-bench/etc/usertests
(cd build/rootfs-bench && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >build/initramfs-bench.cpio
timeout --foreground -k 5 "$TIMEOUT" qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1G -smp 1 -icount shift=0 \
  -nographic -nic none -no-reboot -kernel build/linux/vmlinuz -initrd build/initramfs-bench.cpio \
  -append "console=ttyAMA0 quiet panic=-1 norandmaps" </dev/null >build/bench-user-linux.log 2>&1

# Swap: 192 MiB of anonymous memory in 128 MiB of RAM with a 256 MiB swap
# disk (user/swapbench.c), on both; Linux needs its virtio modules for it.
SWAP_MIB=192
scripts/make-swap-image.sh build/bench-swap.img 256M || exit 1
printf 'run /bin/swapbench /dev/vda %s\npoweroff\n' "$SWAP_MIB" | QEMU_ARGS="-icount shift=0" SMP=1 MEM=128M \
  CMDLINE="norandmaps" DISK=build/bench-swap.img timeout --foreground -k 5 "$TIMEOUT" make -s qemu \
  >build/bench-user-pagoda-swap.log 2>&1
scripts/make-swap-image.sh build/bench-swap.img 256M || exit 1
mkdir -p build/rootfs-bench/lib/modules
for m in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko drivers/block/virtio_blk.ko; do
  cp build/linux/pkg/lib/modules/*/kernel/"$m" build/rootfs-bench/lib/modules/
  echo "/lib/modules/$(basename "$m")"
done >build/rootfs-bench/lib/modules/load
echo "swapbench /bin/swapbench /dev/vda $SWAP_MIB" >build/rootfs-bench/etc/usertests
(cd build/rootfs-bench && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >build/initramfs-bench-swap.cpio
MEM=128M SMP=1 INITRD=build/initramfs-bench-swap.cpio DISK=build/bench-swap.img QEMU_ARGS="-icount shift=0" \
  CMDLINE="console=ttyAMA0 quiet panic=-1 norandmaps" timeout --foreground -k 5 "$TIMEOUT" \
  scripts/run-qemu.sh build/linux/vmlinuz -no-reboot </dev/null >build/bench-user-linux-swap.log 2>&1

extract() { tr -d '\r' <"$1" | grep -E '^bench: ' | awk '{print $2, $3}'; }
cat build/bench-user-pagoda.log build/bench-user-pagoda-swap.log | extract /dev/stdin >build/bench-user-pagoda.txt
cat build/bench-user-linux.log build/bench-user-linux-swap.log | extract /dev/stdin >build/bench-user-linux.txt
if [ ! -s build/bench-user-pagoda.txt ] || [ ! -s build/bench-user-linux.txt ]; then
  echo "bench-user: a run printed no figures; see build/bench-user-*.log" >&2
  exit 1
fi
echo "bench-user: $(cat build/linux/version), one CPU, -icount shift=0 (us of guest time)"
join build/bench-user-pagoda.txt build/bench-user-linux.txt | awk '{
  printf "bench: %-34s pagoda=%10.1f us linux=%10.1f us ratio=%.2f\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0) }'
