#!/usr/bin/env bash
# Boots a Pagoda Image in QEMU virt. Used by `make qemu`, `make debug` and the tests.
#   scripts/run-qemu.sh IMAGE [extra qemu args...]
# Environment (all optional; the Makefile passes its variables):
#   MEM=1G SMP=1 NUMA=<nodes> CMDLINE="..." MACHINE=virt CPU=cortex-a72
#   INITRD=<file> QEMU_ARGS="..."
#   DISK="a.img [b.img:ro ...]"   virtio block devices, /dev/vda, /dev/vdb, ... in
#                                 order; :ro attaches an image read-only, and
#                                 :eio=N makes every read and write of sector N
#                                 fail with EIO (QEMU's blkdebug), for the error
#                                 paths
#   SWAP=512M                     a fresh swap disk (mkswap) after the DISK
#                                 images, turned on at boot (swapon=/dev/vdX)
set -euo pipefail
IMAGE=${1:?usage: run-qemu.sh IMAGE [qemu args]}
shift

MEM=${MEM:-1G}
SMP=${SMP:-1}
MACHINE=${MACHINE:-virt}
CPU=${CPU:-cortex-a72}

if [ -n "${SWAP:-}" ]; then
  swapimg=${SWAP_IMAGE:-build/swap.img}
  "$(dirname "$0")/make-swap-image.sh" "$swapimg" "$SWAP"
  before=(${DISK:-})
  letter=$(printf "\\x$(printf %x $((97 + ${#before[@]})))")
  DISK="${DISK:-} $swapimg"
  CMDLINE="${CMDLINE:-}${CMDLINE:+ }swapon=/dev/vd$letter"
fi

args=(-M "$MACHINE" -cpu "$CPU" -m "$MEM" -smp "$SMP" -nographic -nic none -semihosting
      -kernel "$IMAGE")
[ -n "${CMDLINE:-}" ] && args+=(-append "$CMDLINE")
[ -n "${INITRD:-}" ] && args+=(-initrd "$INITRD")

# DISK: each image becomes a virtio-blk device. QEMU plugs the first -device
# into the highest virtio-mmio slot, and Linux (and Pagoda) name disks from the
# lowest slot up, so the images go on the command line in reverse: the first
# image of DISK is vda.
disks=(${DISK:-})
for ((i = ${#disks[@]} - 1; i >= 0; i--)); do
  spec=${disks[$i]} ro= file=
  case $spec in
  *:ro) img=${spec%:ro} ro=,readonly=on ;;
  *:eio=*)
    img=${spec%:eio=*}
    cfg=$(mktemp /tmp/pagoda-blkdebug.XXXXXX)
    for ev in read_aio write_aio; do
      printf '[inject-error]\nevent = "%s"\nerrno = "5"\nsector = "%s"\n' "$ev" "${spec##*:eio=}"
    done >"$cfg"
    file=blkdebug:$cfg:$img ;;
  *) img=$spec ;;
  esac
  [ -e "$img" ] || { echo "run-qemu: no disk image $img" >&2; exit 1; }
  args+=(-drive "file=${file:-$img},if=none,format=raw,id=vd$i$ro" -device "virtio-blk-device,drive=vd$i")
done

# NUMA=N: N nodes, memory split evenly, CPUs dealt round-robin (see DESIGN.md).
if [ -n "${NUMA:-}" ] && [ "${NUMA}" -gt 1 ]; then
  mem_mb=$(numfmt --from=iec "${MEM}" | awk '{print int($1 / 1048576)}')
  per=$((mem_mb / NUMA))
  for ((n = 0; n < NUMA; n++)); do
    size=$per
    [ "$n" -eq $((NUMA - 1)) ] && size=$((mem_mb - per * (NUMA - 1)))
    cpus=""
    for ((c = n; c < SMP; c += NUMA)); do cpus+="${cpus:+,}cpus=$c"; done
    args+=(-object "memory-backend-ram,id=m$n,size=${size}M"
           -numa "node,nodeid=$n${cpus:+,$cpus},memdev=m$n")
  done
fi

# shellcheck disable=SC2086
exec qemu-system-aarch64 "${args[@]}" ${QEMU_ARGS:-} "$@"
