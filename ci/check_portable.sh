#!/usr/bin/env bash
# ctest python_portable_glibc217: builds the portable x86-64 wheel (ci/portable_wheel.sh) in DIR,
# then checks with readelf (ci/check_glibc_versions.py) that no native it ships (the extension,
# the nearkit program, the bundled OpenBLAS and libgfortran) needs a glibc symbol newer than
# 2.17, that the checker does reject NEWER_ELF (the normal build's program, linked against this
# machine's glibc), that the wheel carries the licence texts of the libraries it bundles, and that
# the wheel installs and searches in a new virtual environment.
#   bash ci/check_portable.sh [--python X.Y] DIR NEWER_ELF
# --python X.Y: the same checks on the wheel for CPython X.Y (ci/portable_wheel.sh --python), which
# installs into a venv of the interpreter that built it, with numpy from PyPI (not run by ctest:
# it downloads). Exit status 77 (a ctest skip) with the reason when the wheel cannot be built here.
set -euo pipefail
usage="usage: ci/check_portable.sh [--python X.Y] DIR NEWER_ELF"
wheel_args=()
python_version=""
if [ "${1:-}" = --python ]; then
  python_version=${2:?$usage}
  wheel_args=(--python "$python_version")
  shift 2
fi
dir=${1:?$usage}
newer=${2:?$usage}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=${NEARKIT_PYTHON:-python3}
mkdir -p "$dir"
if [ "$(uname -m)" != x86_64 ]; then
  echo "SKIP: the portable build runs on an x86-64 machine (this is $(uname -m))"
  exit 77
fi
command -v readelf >/dev/null || { echo "SKIP: no readelf (Debian package binutils)"; exit 77; }

bash "$here/portable_wheel.sh" ${wheel_args[@]+"${wheel_args[@]}"} x86_64 "$dir/x86_64" >"$dir/portable_wheel.log" 2>&1 || {
  rc=$?
  tail -n 30 "$dir/portable_wheel.log"
  [ $rc -eq 77 ] && echo "SKIP: the portable wheel cannot be built here (above)"
  exit $rc
}
cat "$dir/x86_64/auditwheel-show.txt"
wheel=$(ls "$dir"/x86_64/nearkit-*manylinux2014_x86_64*.whl)
"$py" "$here/check_glibc_versions.py" "$wheel"
# The bundled OpenBLAS, libgfortran and libquadmath travel with their licence texts.
"$py" "$here/check_portable_wheel_licences.py" "$wheel"
[ -f "$newer" ] || { echo "FAIL: no $newer to check the checker with"; exit 1; }
rc=0
"$py" "$here/check_glibc_versions.py" "$newer" >/dev/null || rc=$?
if [ $rc -ne 1 ]; then
  echo "FAIL: check_glibc_versions.py on $newer (built against this machine's glibc): $rc, not 1"
  exit 1
fi
echo "check_glibc_versions.py rejects $newer, as it must"

venv="$dir/venv"
if [ -z "$python_version" ]; then
  rm -rf "$venv"
  "$py" -m venv --system-site-packages "$venv" # numpy from the interpreter's own packages
else
  skip() { echo "SKIP: $*"; exit 77; }
  source "$here/portable_common.sh"
  portable_prepare x86_64
  portable_python_venv "$(portable_find_python "$python_version")" "$venv" numpy >/dev/null
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input --no-deps --force-reinstall "$wheel"
"$venv/bin/python" "$here/portable_smoke/smoke.py"
"$venv/bin/nearkit" --version
