# Configures and builds the native library quietly; prints the build's output only when it fails.
# Run by Maven (pom.xml) in script mode:
#   cmake -DSOURCE=<java dir> -DBUILD=<build dir> -DJOBS=2 -DCONFIG_ARGS=<;-list> -P native-build.cmake
# Targets: nearkit_jni (the library that goes into the jar) and nearkit_cli (for the tests).
cmake_minimum_required(VERSION 3.25)
foreach(v SOURCE BUILD)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "native-build.cmake: -D${v}=... is required")
  endif()
endforeach()
if(NOT DEFINED JOBS)
  set(JOBS 2)
endif()
if(NOT DEFINED TARGETS)
  set(TARGETS nearkit_jni nearkit_cli)
endif()
# Maven passes the CMake arguments separated by '|' (a ';' would not survive the command line).
string(REPLACE "|" ";" _config_args "${CONFIG_ARGS}")

set(_generator)
if(NOT EXISTS "${BUILD}/CMakeCache.txt")
  find_program(_ninja ninja)
  if(_ninja)
    set(_generator -G Ninja)
  endif()
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" -S "${SOURCE}" -B "${BUILD}" ${_generator} ${_config_args}
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "nearkit: configuring the native library failed (${_rc}):\n${_out}")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BUILD}" --parallel ${JOBS} --target ${TARGETS}
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "nearkit: building the native library failed (${_rc}):\n${_out}")
endif()
# Compiler warnings are worth seeing even when the build succeeds.
if(_out MATCHES "warning:")
  message(WARNING "nearkit: the native build printed warnings:\n${_out}")
endif()
