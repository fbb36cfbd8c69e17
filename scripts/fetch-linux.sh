#!/usr/bin/env bash
# Fetches Debian's arm64 Linux 6.1 kernel (the cloud flavour, newest ABI)
# into build/linux/vmlinuz, to run the user tests on real Linux in the same
# QEMU (make test-linux). Uses only apt-get and dpkg-deb with the arm64
# architecture options; nothing is installed on the host.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/linux
[ -s "$OUT/vmlinuz" ] && exit 0
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  echo "fetch-linux: needs apt-get and dpkg-deb (a Debian or Ubuntu host)" >&2
  exit 1
}
mkdir -p "$OUT/lists/partial" "$OUT/cache/archives/partial"
opts=(-q -oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$OUT/lists"
      -oDir::Cache="$OUT/cache" -oDebug::NoLocking=1)
apt-get "${opts[@]}" update >/dev/null
pkg=$(apt-cache "${opts[@]}" search '^linux-image-6\.1\.0-[0-9]+-cloud-arm64-unsigned$' \
      | cut -d' ' -f1 | sort -V | tail -1)
[ -n "$pkg" ] || { echo "fetch-linux: no linux-image-6.1.0-*-cloud-arm64-unsigned package found" >&2; exit 1; }
echo "fetch-linux: $pkg"
(cd "$OUT" && apt-get "${opts[@]}" download "$pkg:arm64" >/dev/null)
rm -rf "$OUT/pkg"
dpkg-deb -x "$OUT"/"$pkg"_*.deb "$OUT/pkg"
cp "$OUT"/pkg/boot/vmlinuz-* "$OUT/vmlinuz"
echo "$pkg" > "$OUT/version"
