#!/usr/bin/env bash
# Checks for (and, as root, installs) what building and running Pagoda needs.
#   scripts/deps.sh            check/install everything
#   scripts/deps.sh --check    only check; exit 1 with one line if something is missing
# The Rust toolchain and target come from rust-toolchain.toml via rustup.
set -euo pipefail

# command -> Debian package
declare -A NEED=(
  [qemu-system-aarch64]=qemu-system-arm
  [gdb-multiarch]=gdb-multiarch
  [aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu
  [aarch64-linux-gnu-objcopy]=binutils-aarch64-linux-gnu
  [cpio]=cpio
  [mke2fs]=e2fsprogs
  [python3]=python3
)
# files -> Debian package
declare -A NEED_FILES=(
  [/usr/aarch64-linux-gnu/lib/libc.a]=libc6-dev-arm64-cross
  [/sbin/mkswap]=util-linux
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
for f in "${!NEED_FILES[@]}"; do
  [ -e "$f" ] || missing+=("${NEED_FILES[$f]}")
done

if ! command -v cargo >/dev/null 2>&1 || ! command -v rustup >/dev/null 2>&1; then
  echo "pagoda: Rust is missing: install rustup (https://rustup.rs); rust-toolchain.toml then pins the toolchain" >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "${1:-}" != "--check" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "pagoda: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "pagoda: missing packages; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# rustup installs the pinned toolchain, its target and components on first use.
(cd "$(dirname "$0")/.." && rustup toolchain install >/dev/null 2>&1) || {
  echo "pagoda: rustup could not install the toolchain in rust-toolchain.toml" >&2
  exit 1
}
