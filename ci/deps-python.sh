# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install):
# what the Python package (python/) needs to build, test and pack. Idempotent and quiet.
#   - Python 3.9+ with venv, pip and headers (Debian's python3 packages; an interpreter already
#     first on PATH, e.g. pyenv's, is used as it is).
#   - A C toolchain, CMake 3.25+, ninja and OpenBLAS (static, from libopenblas-pthread-dev) for the
#     extension, which links the core and OpenBLAS statically.
#   - In that python3: the build tools (scikit-build-core, swig) and the test dependencies
#     (numpy, scipy, scikit-learn, pandas, pytest, mypy), so the ctest suite builds without build
#     isolation and runs offline. python/ctest.cmake installs into a venv that sees them.
#     With NEARKIT_PYTHON set, that interpreter is used instead of python3.
#   - dask[distributed] for nearkit.dask's tests (python_dask), installed on its own: where it
#     cannot be installed the rest still is, and python_dask skips with the reason.

nearkit_deps_python() {
  apt_install build-essential cmake ninja-build libopenblas-pthread-dev python3 python3-venv \
    python3-dev python3-pip
  local py=${NEARKIT_PYTHON:-python3}
  if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
    echo "ci/deps-python.sh: $py is older than Python 3.9" >&2
    return 1
  fi
  local wanted=(numpy scipy scikit-learn pandas pytest pynear mypy "scikit-build-core>=1.0" "swig>=4.0")
  local flags=(-q --disable-pip-version-check --no-input)
  # Debian's own python3 is "externally managed" (PEP 668): CI installs into it anyway.
  if "$py" -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
    flags+=(--break-system-packages)
  fi
  if ! "$py" -m pip --version >/dev/null 2>&1; then
    "$py" -m ensurepip --upgrade >/dev/null
  fi
  nearkit_deps_python_dask "$py" "${flags[@]}"
  if "$py" - <<'PYEOF'
import importlib.util, sys
mods = ["numpy", "scipy", "sklearn", "pandas", "pytest", "pynear", "mypy", "scikit_build_core", "swig"]
sys.exit(0 if all(importlib.util.find_spec(m) for m in mods) else 1)
PYEOF
  then
    return 0
  fi
  "$py" -m pip install "${flags[@]}" "${wanted[@]}"
}

# dask[distributed] into python $1 (pip flags after it), unless it imports already; a failure
# is reported, not fatal: python_dask then skips, naming it.
nearkit_deps_python_dask() {
  local py=$1
  shift
  "$py" -c 'import dask.array, dask.dataframe, distributed' >/dev/null 2>&1 && return 0
  if ! "$py" -m pip install "$@" "dask[distributed,dataframe]"; then
    echo "ci/deps-python.sh: dask[distributed] could not be installed; python_dask will skip" >&2
  fi
}
nearkit_deps_python
