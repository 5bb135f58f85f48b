# The Python package's tests, included by the root CMakeLists.txt (NEARKIT_SOURCE_DIR,
# NEARKIT_BINARY_DIR and the targets nearkit_static / nearkit_cli exist here). Label: python.
#
#   python_install  creates a virtual environment in <build>/python-venv (seeing the packages of
#                   the python3 it was made from: ci/deps-python.sh puts numpy, scikit-learn,
#                   pytest, mypy, scikit-build-core and swig there), then `pip install ./python`
#                   into it: scikit-build-core + CMake + SWIG build the extension (incrementally,
#                   in <build>/python-build); missing packages are fetched by pip. Fixture of:
#   python_pytest   pytest python/tests in that environment: golden manifest, cross-language files
#                   with this build's CLI, bad input, pickling, threads, scikit-learn's estimator
#                   checks and agreement with scikit-learn.
#   python_demo_desktop  the desktop demos (python -m nearkit.demo explorer / voronoi) in real
#                   windows on Xvfb, driven and read back from the screen
#                   (python/demo_tests/check_desktop_demos.py); screenshots in
#                   <build>/demo-screenshots; skipped without xvfb-run or PySide6 (ci/deps-demo.sh)
#   python_dask     nearkit.dask on a distributed.LocalCluster of two workers (python/tests/test_dask.py)
#   python_sdist    the sdist (python/ctest_sdist.cmake): self-contained, it builds a working
#                   wheel unpacked outside the repository.
#   python_portable_glibc217  the portable x86-64 manylinux2014 wheel (ci/check_portable.sh):
#                   readelf finds no GLIBC_ version newer than 2.17 in any native it ships.
#
# NEARKIT_PYTHON (CMake or environment variable) picks the interpreter; default: python3 on PATH.

# Not when python/CMakeLists.txt builds the extension (it adds the root as a subproject).
if(NEARKIT_PYTHON_EXTENSION_BUILD OR NOT NEARKIT_SOURCE_DIR)
  return()
endif()

if(NOT NEARKIT_PYTHON AND DEFINED ENV{NEARKIT_PYTHON})
  set(NEARKIT_PYTHON "$ENV{NEARKIT_PYTHON}")
endif()
if(NOT NEARKIT_PYTHON)
  find_program(NEARKIT_PYTHON NAMES python3 python)
endif()
if(NOT NEARKIT_PYTHON)
  message(STATUS "nearkit: no python3 found; the Python tests are not registered")
  return()
endif()
execute_process(COMMAND "${NEARKIT_PYTHON}" -c "import sys; sys.exit(sys.version_info < (3, 9))"
                RESULT_VARIABLE _nk_py_too_old OUTPUT_QUIET ERROR_QUIET)
if(_nk_py_too_old)
  message(STATUS "nearkit: ${NEARKIT_PYTHON} is not Python 3.9+; the Python tests are not registered")
  return()
endif()

set(_nk_py_venv "${NEARKIT_BINARY_DIR}/python-venv")
if(WIN32)
  set(_nk_py_venv_python "${_nk_py_venv}/Scripts/python.exe")
else()
  set(_nk_py_venv_python "${_nk_py_venv}/bin/python")
endif()

add_test(NAME python_install
         COMMAND "${CMAKE_COMMAND}"
                 "-DPYTHON=${NEARKIT_PYTHON}"
                 "-DVENV=${_nk_py_venv}"
                 "-DVENV_PYTHON=${_nk_py_venv_python}"
                 "-DPACKAGE_DIR=${NEARKIT_SOURCE_DIR}/python"
                 "-DBUILD_DIR=${NEARKIT_BINARY_DIR}/python-build"
                 -P "${NEARKIT_SOURCE_DIR}/python/ctest_install.cmake")
set_tests_properties(python_install PROPERTIES LABELS python FIXTURES_SETUP nearkit_python_venv
                     TIMEOUT 1800)

set(_nk_py_env
    "NEARKIT_SOURCE_DIR=${NEARKIT_SOURCE_DIR}"
    "NEARKIT_GOLDEN_DIR=${NEARKIT_SOURCE_DIR}/tests/golden"
    "PYTHONDONTWRITEBYTECODE=1")
if(TARGET nearkit_cli)
  list(APPEND _nk_py_env "NEARKIT_CLI=$<TARGET_FILE:nearkit_cli>")
endif()

add_test(NAME python_pytest
         COMMAND "${CMAKE_COMMAND}" -E env ${_nk_py_env}
                 "${_nk_py_venv_python}" -m pytest -q -p no:cacheprovider -rfEsx
                 "--basetemp=${NEARKIT_BINARY_DIR}/python-pytest-tmp"
                 "--ignore=${NEARKIT_SOURCE_DIR}/python/tests/test_dask.py"
                 "${NEARKIT_SOURCE_DIR}/python/tests"
         WORKING_DIRECTORY "${NEARKIT_BINARY_DIR}")
set_tests_properties(python_pytest PROPERTIES LABELS python FIXTURES_REQUIRED nearkit_python_venv
                     TIMEOUT 1800)

# python_portable_glibc217: the portable x86-64 wheel (ci/portable_wheel.sh: zig cc for glibc 2.17,
# scipy-openblas32's manylinux2014 OpenBLAS, auditwheel repair), readelf on every native it ships
# (no GLIBC_ version newer than 2.17; the normal build's program must be rejected), and a search
# in a venv. Skips (77) with the reason where the tools cannot be installed.
if(TARGET nearkit_cli AND NOT WIN32)
  add_test(NAME python_portable_glibc217
           COMMAND bash "${NEARKIT_SOURCE_DIR}/ci/check_portable.sh"
                   "${NEARKIT_BINARY_DIR}/portable" "$<TARGET_FILE:nearkit_cli>")
  set_tests_properties(python_portable_glibc217 PROPERTIES LABELS "python;portable"
                       ENVIRONMENT "NEARKIT_PYTHON=${NEARKIT_PYTHON}"
                       SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()

# A sh wrapper only to skip (77) with a reason where the X server is missing.
add_test(NAME python_demo_desktop
         COMMAND sh -c "command -v xvfb-run >/dev/null 2>&1 || { echo 'SKIP: xvfb-run not found (ci/deps-demo.sh installs xvfb)'; exit 77; }; exec xvfb-run -a -s '-screen 0 1400x1000x24' \"$@\"" sh
                 "${CMAKE_COMMAND}" -E env ${_nk_py_env} QT_QPA_PLATFORM=xcb
                 "${_nk_py_venv_python}" "${NEARKIT_SOURCE_DIR}/python/demo_tests/check_desktop_demos.py"
                 "${NEARKIT_BINARY_DIR}/demo-screenshots"
         WORKING_DIRECTORY "${NEARKIT_BINARY_DIR}")
set_tests_properties(python_demo_desktop PROPERTIES LABELS python FIXTURES_REQUIRED nearkit_python_venv
                     SKIP_RETURN_CODE 77 TIMEOUT 300)

# nearkit.dask on a LocalCluster of two worker processes the test starts itself; exit 77 (a
# skip, with the reason printed) when dask[distributed] is not installed (ci/deps-python.sh).
add_test(NAME python_dask
         COMMAND "${CMAKE_COMMAND}" -E env ${_nk_py_env}
                 "${_nk_py_venv_python}" "${NEARKIT_SOURCE_DIR}/python/tests/test_dask.py"
                 "--basetemp=${NEARKIT_BINARY_DIR}/python-dask-tmp"
         WORKING_DIRECTORY "${NEARKIT_SOURCE_DIR}/python/tests")
set_tests_properties(python_dask PROPERTIES LABELS python FIXTURES_REQUIRED nearkit_python_venv
                     SKIP_RETURN_CODE 77 TIMEOUT 300)

# The sdist holds what it builds from (the C core, header, SWIG interface, licence files): built,
# unpacked outside the repository, turned into a wheel there and installed into a new venv.
# Offline (the build tools come from python_install's venv); compiles the core once (~2 min).
add_test(NAME python_sdist
         COMMAND "${CMAKE_COMMAND}"
                 "-DPYTHON=${NEARKIT_PYTHON}"
                 "-DVENV_PYTHON=${_nk_py_venv_python}"
                 "-DPACKAGE_DIR=${NEARKIT_SOURCE_DIR}/python"
                 "-DSOURCE_DIR=${NEARKIT_SOURCE_DIR}"
                 -P "${NEARKIT_SOURCE_DIR}/python/ctest_sdist.cmake")
set_tests_properties(python_sdist PROPERTIES LABELS python FIXTURES_REQUIRED nearkit_python_venv
                     TIMEOUT 900)

# The fresh-environment install a user does (needs the package index: pip downloads
# scikit-build-core, swig and numpy). Off with -DNEARKIT_PYTHON_WHEEL_TEST=OFF.
option(NEARKIT_PYTHON_WHEEL_TEST "Test pip wheel ./python in a brand-new virtual environment" ON)
if(NEARKIT_PYTHON_WHEEL_TEST)
  find_program(NEARKIT_READELF readelf)
  add_test(NAME python_wheel
           COMMAND "${CMAKE_COMMAND}"
                   "-DPYTHON=${NEARKIT_PYTHON}"
                   "-DVENV=${NEARKIT_BINARY_DIR}/python-wheel-venv"
                   "-DPACKAGE_DIR=${NEARKIT_SOURCE_DIR}/python"
                   "-DWHEEL_DIR=${NEARKIT_BINARY_DIR}/python-wheel"
                   "-DREADELF=${NEARKIT_READELF}"
                   -P "${NEARKIT_SOURCE_DIR}/python/ctest_wheel.cmake")
  set_tests_properties(python_wheel PROPERTIES LABELS python TIMEOUT 1800)
endif()
