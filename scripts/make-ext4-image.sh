#!/usr/bin/env bash
# Builds the ext4 test disk with mke2fs -d (e2fsprogs): the files
# user/ext4read.c reads on Pagoda and on Linux.
#   scripts/make-ext4-image.sh OUT.img
# Contents:
#   /hello.txt                 "hello from an ext4 disk"
#   /dir/nested.txt            "a file in a directory"
#   /dir/sub/                  an empty directory
#   /link -> hello.txt         a symbolic link
#   /big                       64 MiB; each 4 KiB page starts "page N of big"
#   /sparse                    1280 MiB of holes (no blocks): more than the
#                              tests' 1 GiB of RAM, read through the page cache
set -euo pipefail
OUT=${1:?usage: make-ext4-image.sh OUT.img}
STAGE=$OUT.d
rm -rf "$STAGE" && mkdir -p "$STAGE/dir/sub"
printf 'hello from an ext4 disk\n' >"$STAGE/hello.txt"
printf 'a file in a directory\n' >"$STAGE/dir/nested.txt"
ln -s hello.txt "$STAGE/link"
truncate -s 1280M "$STAGE/sparse"
python3 - "$STAGE/big" <<'PY'
import sys
ramp = bytes(range(256)) * 18
with open(sys.argv[1], "wb") as f:
    for n in range(64 * 256):
        head = b"page %d of big\n" % n
        # Then the bytes (n + i) mod 256, i counting from the header's end.
        f.write(head + ramp[n % 256 : n % 256 + 4096 - len(head)])
PY
PATH=$PATH:/usr/sbin:/sbin
rm -f "$OUT.tmp" && truncate -s 80M "$OUT.tmp"
mke2fs -q -F -t ext4 -L pagoda-test -d "$STAGE" "$OUT.tmp" 80M
mv "$OUT.tmp" "$OUT"
rm -rf "$STAGE"
