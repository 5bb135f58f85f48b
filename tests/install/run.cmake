# The installed-package checks, run in script mode by the tests tests/install.cmake registers:
#   cmake -DSTEP=<step> -DBUILD_DIR=<nearkit build> -DWORK_DIR=<scratch> -DSOURCE_DIR=<this dir>
#         -DVERSION=<x.y.z> -DABI=<n> -DC_COMPILER=<cc> [-DGENERATOR=<g>] [-DPKG_CONFIG=<prog>]
#         -P run.cmake
# Steps:
#   install       cmake --install BUILD_DIR --prefix WORK_DIR/prefix (a fresh prefix), then checks
#                 that every file a user needs is there and that the installed program runs.
#   find_package  configures, builds and runs this directory's project against the prefix:
#                 consumer_shared (nearkit::nearkit) and consumer_static (nearkit::static).
#   pkg_config    builds consumer.c with `cc $(pkg-config --cflags --libs nearkit)`, and statically
#                 with the private libraries of `pkg-config --static --libs nearkit`; runs both.
# A static consumer must not load libnearkit.so: that would hide a missing link dependency.
cmake_minimum_required(VERSION 3.25)
foreach(var STEP BUILD_DIR WORK_DIR SOURCE_DIR VERSION ABI C_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  list(JOIN ARGN " " command)
  message("$ ${command}\n${out}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "failed (${status}): ${command}")
  endif()
endfunction()

# Runs a consumer program and fails when it is a static one that still needs libnearkit.so.
function(run_consumer program linkage)
  file(GET_RUNTIME_DEPENDENCIES EXECUTABLES "${program}"
       RESOLVED_DEPENDENCIES_VAR resolved UNRESOLVED_DEPENDENCIES_VAR unresolved)
  set(needs_nearkit FALSE)
  foreach(dep IN LISTS resolved unresolved)
    if(dep MATCHES "libnearkit\\.so")
      set(needs_nearkit TRUE)
    endif()
  endforeach()
  if(linkage STREQUAL "static" AND needs_nearkit)
    message(FATAL_ERROR "${program} is linked statically but needs libnearkit.so")
  elseif(linkage STREQUAL "shared" AND NOT needs_nearkit)
    message(FATAL_ERROR "${program} should use the shared libnearkit but does not")
  endif()
  run(${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${prefix}/lib" "${program}")
endfunction()

function(step_install)
  file(REMOVE_RECURSE "${WORK_DIR}")
  run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
  # The library directory is lib or lib64 or lib/<multiarch>, as GNUInstallDirs chose.
  file(GLOB_RECURSE config RELATIVE "${prefix}" "${prefix}/*/nearkitConfig.cmake")
  if(NOT config)
    message(FATAL_ERROR "no nearkitConfig.cmake under ${prefix}")
  endif()
  string(REGEX REPLACE "/cmake/nearkit/nearkitConfig.cmake$" "" libdir "${config}")
  foreach(file include/nearkit.h bin/nearkit
               ${libdir}/libnearkit.so ${libdir}/libnearkit.so.${ABI} ${libdir}/libnearkit.so.${VERSION}
               ${libdir}/libnearkit.a ${libdir}/pkgconfig/nearkit.pc
               ${libdir}/cmake/nearkit/nearkitConfigVersion.cmake)
    if(NOT EXISTS "${prefix}/${file}")
      message(FATAL_ERROR "not installed: ${file}")
    endif()
  endforeach()
  file(WRITE "${WORK_DIR}/libdir" "${libdir}")
  run("${prefix}/bin/nearkit" --version)
endfunction()

function(step_find_package)
  set(build "${WORK_DIR}/find_package")
  file(REMOVE_RECURSE "${build}")
  set(generator_args "")
  if(GENERATOR)
    set(generator_args -G "${GENERATOR}")
  endif()
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${build}" ${generator_args}
      "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_BUILD_TYPE=Release"
      "-DCMAKE_PREFIX_PATH=${prefix}" "-DNEARKIT_EXPECTED_VERSION=${VERSION}")
  run(${CMAKE_COMMAND} --build "${build}")
  run_consumer("${build}/consumer_shared" shared)
  run_consumer("${build}/consumer_static" static)
endfunction()

function(pkg_config out)
  execute_process(COMMAND "${PKG_CONFIG}" ${ARGN} nearkit RESULT_VARIABLE status
                  OUTPUT_VARIABLE flags ERROR_VARIABLE error OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(JOIN ARGN " " options)
  message("$ pkg-config ${options} nearkit\n${flags}${error}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "pkg-config ${options} nearkit failed")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(${out} "${flags}" PARENT_SCOPE)
endfunction()

function(step_pkg_config)
  if(NOT PKG_CONFIG)
    message(FATAL_ERROR "pkg-config not found (Debian: apt-get install pkgconf)")
  endif()
  file(READ "${WORK_DIR}/libdir" libdir)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/${libdir}/pkgconfig")
  set(build "${WORK_DIR}/pkg_config")
  file(MAKE_DIRECTORY "${build}")

  pkg_config(shared_flags --cflags --libs)
  run("${C_COMPILER}" "${SOURCE_DIR}/consumer.c" ${shared_flags} -o "${build}/consumer_shared")
  run_consumer("${build}/consumer_shared" shared)

  # Static: the archive in place of -lnearkit, then everything it needs (Libs.private).
  # --as-needed drops the shared libnearkit that the second -lnearkit would otherwise add.
  pkg_config(cflags --cflags)
  pkg_config(static_libs --static --libs)
  run("${C_COMPILER}" "${SOURCE_DIR}/consumer.c" ${cflags} -DNEARKIT_STATIC
      -Wl,--as-needed -Wl,-Bstatic -lnearkit -Wl,-Bdynamic ${static_libs} -o "${build}/consumer_static")
  run_consumer("${build}/consumer_static" static)
endfunction()

if(STEP STREQUAL "install")
  step_install()
elseif(STEP STREQUAL "find_package")
  step_find_package()
elseif(STEP STREQUAL "pkg_config")
  step_pkg_config()
else()
  message(FATAL_ERROR "run.cmake: unknown STEP '${STEP}'")
endif()
