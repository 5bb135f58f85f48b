# Run by the ctest test python_wheel (see python/ctest.cmake) in CMake script mode:
#   cmake -DPYTHON=... -DVENV=... -DPACKAGE_DIR=... -DWHEEL_DIR=... [-DREADELF=...] -P this
# What a user does on a machine with nothing but Python: in a brand-new virtual environment,
# `pip wheel ./python` (build isolation: scikit-build-core and swig come from the package index),
# then `pip install` of that wheel (numpy is its only dependency), then a smoke test and the
# console script (`nearkit --version`). Also checks that the extension and the command-line
# program need no shared library beyond the C runtime (OpenBLAS is linked in).
cmake_minimum_required(VERSION 3.18)

set(NK_TEST python_wheel)
include("${CMAKE_CURRENT_LIST_DIR}/ctest_run.cmake")

file(REMOVE_RECURSE "${VENV}" "${WHEEL_DIR}")
run("${PYTHON}" -m venv "${VENV}")
if(WIN32)
  set(py "${VENV}/Scripts/python.exe")
else()
  set(py "${VENV}/bin/python")
endif()
set(ENV{CMAKE_BUILD_PARALLEL_LEVEL} 2)
set(pip "${py}" -m pip --disable-pip-version-check --no-input)
run(${pip} wheel -q --no-deps -w "${WHEEL_DIR}" "${PACKAGE_DIR}")
file(GLOB wheels "${WHEEL_DIR}/nearkit-*.whl")
list(LENGTH wheels n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "python_wheel: expected one wheel in ${WHEEL_DIR}, found: ${wheels}")
endif()
run(${pip} install -q ${wheels})

set(smoke [=[
import pathlib, pickle, re, sys, zipfile
import numpy as np
import nearkit
header = pathlib.Path(sys.argv[1]).read_text()
parts = [re.search(r"#define NEARKIT_VERSION_%s\s+(\d+)" % p, header).group(1)
         for p in ("MAJOR", "MINOR", "PATCH")]
version = ".".join(parts)
assert nearkit.__version__ == version, (nearkit.__version__, version)
from importlib.metadata import version as dist_version
assert dist_version("nearkit") == version, dist_version("nearkit")
# the licence and OpenBLAS's notices travel in the wheel's metadata
from importlib.metadata import distribution
dist = distribution("nearkit")
names = {f.name: f for f in dist.files}
assert "LICENSE" in names and "THIRD_PARTY_NOTICES.txt" in names, sorted(names)
assert "OpenBLAS" in names["THIRD_PARTY_NOTICES.txt"].read_text()
assert "Apache License" in names["LICENSE"].read_text()
assert "Apache-2.0" in (dist.metadata.get("License-Expression") or dist.metadata.get("License") or ""), dict(dist.metadata)
# a typed package (PEP 561)
assert (pathlib.Path(nearkit.__file__).parent / "py.typed").is_file()
rng = np.random.default_rng(0)
x = rng.random((500, 16), dtype=np.float32)
index = nearkit.Index(kind="flat", metric="l2", dim=16)
index.add(x)
ids, dist = index.search(x[:5], 3)
assert ids[:, 0].tolist() == [0, 1, 2, 3, 4], ids
clone = pickle.loads(pickle.dumps(index))
assert (clone.search(x[:5], 3)[0] == ids).all()
import nearkit.lowlevel
print("python_wheel: nearkit", nearkit.__version__, "from", pathlib.Path(nearkit.__file__).parent)
print(nearkit.lowlevel.__file__.replace("lowlevel.py", ""))
]=])
execute_process(COMMAND "${py}" -c "${smoke}" "${PACKAGE_DIR}/../include/nearkit.h"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "python_wheel: the smoke test failed")
endif()
# the console script: the C command-line program the wheel carries
execute_process(COMMAND "${VENV}/bin/nearkit" --version RESULT_VARIABLE rc
                OUTPUT_VARIABLE version_line)
if(NOT rc EQUAL 0 OR NOT version_line MATCHES "^nearkit [0-9]+\\.[0-9]+\\.[0-9]+ ")
  message(FATAL_ERROR "python_wheel: `nearkit --version` in the new venv: ${rc} '${version_line}'")
endif()
message(STATUS "python_wheel: console script: ${version_line}")

if(READELF)
  string(REGEX MATCH "[^\n]*\n$" pkgdir "${out}")
  string(STRIP "${pkgdir}" pkgdir)
  file(GLOB ext "${pkgdir}/_lowlevel*" "${pkgdir}/_bin/nearkit")
  execute_process(COMMAND "${READELF}" -d ${ext} OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "python_wheel: readelf failed on ${ext}")
  endif()
  string(REGEX MATCHALL "Shared library: \\[[^]]+\\]" needed "${dyn}")
  message(STATUS "python_wheel: ${ext} needs ${needed}")
  foreach(lib IN LISTS needed)
    if(NOT lib MATCHES "\\[(libc|libm|libpthread|libdl|librt|ld-linux[^]]*)\\.so")
      message(FATAL_ERROR "python_wheel: ${ext} needs ${lib}, not shipped in the wheel")
    endif()
  endforeach()
endif()
