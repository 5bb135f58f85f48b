# Run by the ctest test python_sdist (see python/ctest.cmake) in CMake script mode:
#   cmake -DPYTHON=... -DVENV_PYTHON=... -DPACKAGE_DIR=... -DSOURCE_DIR=... [-DWORK_DIR=...] -P this
# The sdist is self-contained: built from PACKAGE_DIR (python/) with scikit-build-core's sdist
# hook, as `python -m build --sdist python` calls it (in VENV_PYTHON, which has the build tools:
# no build isolation, so no download), it must hold the C core (every file core/sources.txt
# lists), the header, the SWIG interface, LICENSE and THIRD_PARTY_NOTICES.txt as files, not links.
# It is then unpacked in a new directory outside the repository (WORK_DIR, default under the
# system's temporary directory), a wheel is built from it there, installed into a brand-new
# virtual environment (which sees the base interpreter's numpy) and imported from there, and its
# console script `nearkit --version` run.
cmake_minimum_required(VERSION 3.18)

set(NK_TEST python_sdist)
include("${CMAKE_CURRENT_LIST_DIR}/ctest_run.cmake")

if(NOT WORK_DIR)
  if(DEFINED ENV{TMPDIR} AND IS_DIRECTORY "$ENV{TMPDIR}")
    set(tmp "$ENV{TMPDIR}")
  else()
    set(tmp "/tmp")
  endif()
  string(RANDOM LENGTH 8 suffix)
  set(WORK_DIR "${tmp}/nearkit-sdist-test-${suffix}")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/dist" "${WORK_DIR}/unpacked" "${WORK_DIR}/wheel")
message(STATUS "python_sdist: working in ${WORK_DIR}")

# 1. The sdist, and what it must hold.
# (no ';' in the Python code: see ctest_run.cmake)
set(make_sdist [=[
import sys
from scikit_build_core.build import build_sdist
print("python_sdist: built", build_sdist(sys.argv[1]))
]=])
run("${VENV_PYTHON}" -c "${make_sdist}" "${WORK_DIR}/dist" WORKING_DIRECTORY "${PACKAGE_DIR}")
file(GLOB sdists "${WORK_DIR}/dist/nearkit-*.tar.gz")
list(LENGTH sdists n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "python_sdist: expected one sdist in ${WORK_DIR}/dist, found: ${sdists}")
endif()
set(check [=[
import pathlib, sys, tarfile
sdist, source = sys.argv[1], pathlib.Path(sys.argv[2])
with tarfile.open(sdist) as tar:
    members = tar.getmembers()
top = members[0].name.split("/")[0]
links = [m.name for m in members if m.issym() or m.islnk()]
assert not links, f"the sdist stores links, which dangle once unpacked: {links}"
names = {m.name[len(top) + 1:] for m in members if m.isfile()}
want = {"pyproject.toml", "CMakeLists.txt", "LICENSE", "THIRD_PARTY_NOTICES.txt", "README.md",
        "src/nearkit/__init__.py", "src/nearkit/py.typed", "nearkit-src/CMakeLists.txt",
        "nearkit-src/include/nearkit.h", "nearkit-src/core/sources.txt",
        "nearkit-src/core/nearkit.map", "nearkit-src/bindings/nearkit.i",
        "nearkit-src/bindings/handle.c", "nearkit-src/bindings/handle.h",
        "nearkit-src/cli/CMakeLists.txt", "nearkit-src/cli/main.c"}
for line in (source / "core" / "sources.txt").read_text().splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
        want.add("nearkit-src/core/" + line.split()[0])
missing = sorted(want - names)
assert not missing, f"the sdist lacks: {missing}"
print(f"python_sdist: {pathlib.Path(sdist).name}: {len(names)} files, "
      f"{sum(m.size for m in members) // 1024} KiB unpacked, every core source included")
]=])
run("${VENV_PYTHON}" -c "${check}" ${sdists} "${SOURCE_DIR}")

# 2. Unpacked outside the repository, a wheel built from it (the C core compiled from the sdist).
run("${CMAKE_COMMAND}" -E tar xzf ${sdists} WORKING_DIRECTORY "${WORK_DIR}/unpacked")
file(GLOB unpacked LIST_DIRECTORIES true "${WORK_DIR}/unpacked/nearkit-*")
set(ENV{CMAKE_BUILD_PARALLEL_LEVEL} 2) # the machines have two cores
run("${VENV_PYTHON}" -m pip --disable-pip-version-check --no-input wheel -q --no-build-isolation
    --no-deps -w "${WORK_DIR}/wheel" "${unpacked}" WORKING_DIRECTORY "${WORK_DIR}")
file(GLOB wheels "${WORK_DIR}/wheel/nearkit-*.whl")

# 3. A brand-new environment: the wheel installed, imported and used from outside the repository.
run("${PYTHON}" -m venv --system-site-packages "${WORK_DIR}/venv")
set(py "${WORK_DIR}/venv/bin/python")
run("${py}" -m pip --disable-pip-version-check --no-input install -q --no-deps ${wheels})
set(smoke [=[
import pathlib, sys
import numpy as np
import nearkit
where = pathlib.Path(nearkit.__file__).resolve()
assert where.is_relative_to(pathlib.Path(sys.prefix).resolve()), where
assert (where.parent / "py.typed").is_file()
x = np.random.default_rng(0).random((100, 8), dtype=np.float32)
index = nearkit.Index(kind="hnsw", metric="l2", dim=8)
index.add(x)
result = index.search(x[:3], 2)
assert result.ids[:, 0].tolist() == [0, 1, 2], result
print("python_sdist: nearkit", nearkit.__version__, "from", where.parent)
]=])
run("${py}" -c "${smoke}" WORKING_DIRECTORY "${WORK_DIR}")
# the console script: the C command-line program the wheel carries
execute_process(COMMAND "${WORK_DIR}/venv/bin/nearkit" --version RESULT_VARIABLE rc
                OUTPUT_VARIABLE version_line WORKING_DIRECTORY "${WORK_DIR}")
if(NOT rc EQUAL 0 OR NOT version_line MATCHES "^nearkit [0-9]+\\.[0-9]+\\.[0-9]+ ")
  message(FATAL_ERROR "python_sdist: `nearkit --version` in the new venv: ${rc} '${version_line}'")
endif()
message(STATUS "python_sdist: console script: ${version_line}")
file(REMOVE_RECURSE "${WORK_DIR}")
