# Run by the ctest test python_install (see python/ctest.cmake) in CMake script mode:
#   cmake -DPYTHON=... -DVENV=... -DVENV_PYTHON=... -DPACKAGE_DIR=... -DBUILD_DIR=... -P this
# Creates the virtual environment if needed, installs the test dependencies it lacks, and
# installs the package from PACKAGE_DIR (pip install ./python), then checks the import.
cmake_minimum_required(VERSION 3.18)

set(NK_TEST python_install)
include("${CMAKE_CURRENT_LIST_DIR}/ctest_run.cmake")

if(NOT EXISTS "${VENV_PYTHON}")
  message(STATUS "python_install: creating ${VENV}")
  run("${PYTHON}" -m venv --system-site-packages "${VENV}")
endif()

set(pip "${VENV_PYTHON}" -m pip --disable-pip-version-check --no-input)

# Test and build dependencies: the ones the base interpreter lacks are installed into the venv.
set(check [=[
import importlib.util, sys
need = {"numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn", "pytest": "pytest",
        "scikit_build_core": "scikit-build-core>=1.0", "swig": "swig>=4.0", "mypy": "mypy"}
print(";".join(spec for mod, spec in need.items() if importlib.util.find_spec(mod) is None))
]=])
execute_process(COMMAND "${VENV_PYTHON}" -c "${check}" OUTPUT_VARIABLE missing
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "python_install: ${VENV_PYTHON} does not run")
endif()
if(missing)
  message(STATUS "python_install: installing ${missing}")
  run(${pip} install -q ${missing})
endif()

# The package itself: scikit-build-core, CMake and SWIG, building incrementally in BUILD_DIR.
# The build tools come from the environment (no build isolation, so no download).
set(ENV{CMAKE_BUILD_PARALLEL_LEVEL} 2) # the machines have two cores
run(${pip} install -q --no-build-isolation --no-deps --force-reinstall
    "--config-settings=build-dir=${BUILD_DIR}" "${PACKAGE_DIR}")

run("${VENV_PYTHON}" -c "import nearkit, nearkit.sklearn; print('python_install: nearkit', nearkit.__version__, 'kinds:', ', '.join(nearkit.kinds()))")
