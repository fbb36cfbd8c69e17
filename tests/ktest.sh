#!/usr/bin/env bash
# Runs the in-kernel tests under QEMU, with a timeout, and checks the result.
#   tests/ktest.sh build/Image-ktest
# Environment: KTEST_TIMEOUT (seconds, default 300), KTEST_FILTER (substring),
# MEM/SMP/MACHINE/CPU/CMDLINE as for run-qemu.sh.
#
# Two runs:
#   1. every test; must exit 0 and print "ktest: N passed, 0 failed";
#   2. a self-check: with `ktest.force_fail` the runner's own canary tests
#      must fail (one returns instead of faulting, one asserts) and QEMU must
#      exit non-zero, proving that a broken test really fails `make test`.
set -uo pipefail
IMAGE=${1:?usage: ktest.sh IMAGE}
TIMEOUT=${KTEST_TIMEOUT:-300}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOG=$ROOT/build/ktest.log

# The test disks (kernel/src/block/tests.rs, fs/ext4.rs), made fresh for
# every run: vda 8 MiB writable, vdb 1 MiB read-only, vdc 1 MiB whose
# sector 64 cannot be read (QEMU's blkdebug), vdd a damaged ext4 disk,
# vde 16 MiB of swap (mm/swap_state.rs).
B=$ROOT/build
mkdir -p "$B"
"$ROOT/scripts/make-test-disk.sh" "$B/ktest-vda.img" 8 &&
  "$ROOT/scripts/make-test-disk.sh" "$B/ktest-vdb.img" 1 &&
  "$ROOT/scripts/make-test-disk.sh" "$B/ktest-vdc.img" 1 &&
  "$ROOT/scripts/make-ext4-image.sh" "$B/ktest-vdd.img" &&
  "$ROOT/scripts/corrupt-ext4-image.sh" "$B/ktest-vdd.img" &&
  "$ROOT/scripts/make-swap-image.sh" "$B/ktest-vde.img" 16M || exit 1
export DISK="$B/ktest-vda.img $B/ktest-vdb.img:ro $B/ktest-vdc.img:eio=64 $B/ktest-vdd.img:ro $B/ktest-vde.img"

run() { # run LOGFILE CMDLINE
  CMDLINE="$2" timeout --foreground -k 5 "$TIMEOUT" "$ROOT/scripts/run-qemu.sh" "$IMAGE" </dev/null >"$1" 2>&1
}

filter=${KTEST_FILTER:+ktest.filter=$KTEST_FILTER}
run "$LOG" "${CMDLINE:-} $filter"
rc=$?
tr -d '\r' <"$LOG" >"$LOG.tmp" && mv "$LOG.tmp" "$LOG"
cat "$LOG"
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "ktest: TIMEOUT after ${TIMEOUT}s; the hung test is the last one started above"
  echo "ktest: 0 passed, 1 failed"
  exit 1
fi
summary=$(grep -E '^ktest: [0-9]+ passed, [0-9]+ failed' "$LOG" | tail -1)
if [ $rc -ne 0 ] || [ -z "$summary" ] || ! grep -q ' 0 failed' <<<"$summary"; then
  echo "ktest: FAILED (QEMU exit status $rc${summary:+, $summary})"
  exit 1
fi

if [ -z "${KTEST_FILTER:-}" ]; then
  SELF=$ROOT/build/ktest-selfcheck.log
  run "$SELF" "ktest.filter=ktest_canary ktest.force_fail"
  src=$?
  tr -d '\r' <"$SELF" >"$SELF.tmp" && mv "$SELF.tmp" "$SELF"
  if [ $src -ne 1 ] || ! grep -q '^ktest: 0 passed, 2 failed' "$SELF"; then
    echo "ktest: self-check FAILED: deliberately broken tests did not fail the run (exit $src); see $SELF"
    exit 1
  fi
  echo "ktest self-check: deliberately broken tests fail the run (QEMU exit status $src) [ok]"
fi
echo "$summary"
