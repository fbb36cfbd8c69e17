#!/usr/bin/env bash
# Writes a test disk image: FILE of MIB mebibytes whose sector N begins with
# the line "sector N of the pagoda test disk" (the rest of the sector is
# zero), so a test can tell exactly which sectors it read.
#   scripts/make-test-disk.sh FILE MIB
set -euo pipefail
python3 - "${1:?usage: make-test-disk.sh FILE MIB}" "${2:?usage: make-test-disk.sh FILE MIB}" <<'PY'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
with open(path + ".tmp", "wb") as f:
    for s in range(mib * 2048):
        line = b"sector %d of the pagoda test disk\n" % s
        f.write(line + bytes(512 - len(line)))
import os
os.replace(path + ".tmp", path)
PY
