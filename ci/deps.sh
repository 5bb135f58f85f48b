#!/usr/bin/env bash
# Installs what nearkit needs on a fresh Debian 12 machine, quietly and idempotently.
#   ci/deps.sh core   the C library and CLI only
#   ci/deps.sh all    also every language package's toolchain (each ci/deps-<lang>.sh)
set -euo pipefail
scope=${1:-all}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "ci/deps.sh: please install: ${missing[*]} (needs root)" >&2
    return 1
  fi
  if [ -z "${NEARKIT_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export NEARKIT_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
export -f apt_install

apt_install build-essential cmake ninja-build libopenblas-pthread-dev python3 binutils pkgconf
# the HDF5 C library: the CLI reads ann-benchmarks' .hdf5 dataset files with it (optional to
# the build, which says whether it found it)
apt_install libhdf5-dev
# clang and its libFuzzer runtime: ctest builds and runs the fuzz harnesses (tests/fuzz)
apt_install clang-14 libclang-rt-14-dev

if [ "$scope" = all ]; then
  for f in "$here"/deps-*.sh; do
    [ -e "$f" ] || continue
    echo "ci/deps.sh: $(basename "$f")"
    # shellcheck source=/dev/null
    source "$f"
  done
fi
