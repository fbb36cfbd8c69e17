#!/usr/bin/env bash
# Writes a swap image: FILE of SIZE (a size numfmt reads: 512M, 1G) prepared
# by mkswap, sparse, for a virtio disk that swapon(2) or swapon= turns on.
#   scripts/make-swap-image.sh FILE SIZE
set -euo pipefail
file=${1:?usage: make-swap-image.sh FILE SIZE}
size=${2:?usage: make-swap-image.sh FILE SIZE}
MKSWAP=$(command -v mkswap || echo /sbin/mkswap)
if [ ! -x "$MKSWAP" ]; then
  echo "make-swap-image: mkswap not found (util-linux); run scripts/deps.sh" >&2
  exit 1
fi
rm -f "$file"
truncate -s "$size" "$file"
chmod 600 "$file"
# The image is a disk to the guest, not a swap file on this host: mkswap's
# warning about holes does not apply.
"$MKSWAP" "$file" >/dev/null 2>&1 || { echo "make-swap-image: mkswap $file failed" >&2; exit 1; }
