#!/usr/bin/env bash
# Damages an ext4 image the way a bad disk would, for the error-path tests:
# the inode of /hello.txt and the directory block of /dir get garbage
# (their checksums no longer match), /big is left intact.
#   scripts/corrupt-ext4-image.sh IMG
set -euo pipefail
IMG=${1:?usage: corrupt-ext4-image.sh IMG}
PATH=$PATH:/usr/sbin:/sbin
bs=$(dumpe2fs -h "$IMG" 2>/dev/null | awk -F: '/^Block size/ {print $2 + 0}')
read -r blk off < <(debugfs -R "imap /hello.txt" "$IMG" 2>/dev/null |
  sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\1 \2/p')
dirblk=$(debugfs -R "blocks /dir" "$IMG" 2>/dev/null | awk '{print $1}')
[ -n "$bs" ] && [ -n "$blk" ] && [ -n "$dirblk" ] || { echo "corrupt-ext4-image: cannot find the blocks" >&2; exit 1; }
python3 - "$IMG" $((blk * bs + off + 0x28)) $((dirblk * bs + 16)) <<'PY'
import sys
path, *offsets = sys.argv[1], *map(int, sys.argv[2:])
with open(path, "r+b") as f:
    for o in offsets:
        f.seek(o)
        f.write(bytes([0xa5] * 32))
PY
