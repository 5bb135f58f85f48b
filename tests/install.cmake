# The installed package, used as a user would (issue 14, item 4). Included by tests/CMakeLists.txt.
#   package.install       cmake --install of this build into a scratch prefix; the files are there
#                         and the installed nearkit program runs
#   package.find_package  a project using find_package(nearkit): nearkit::nearkit and nearkit::static
#   package.pkg_config    cc $(pkg-config --cflags --libs nearkit), and a static link with
#                         pkg-config --static; skipped when there is no pkg-config
# The consumers build an index, search it and check the answer (tests/install/consumer.c).
# Labels: c and package. The last two need the first (a ctest fixture), so `ctest -R package` runs all.
if(NOT NEARKIT_INSTALL)
  return()
endif()
find_program(NEARKIT_PKG_CONFIG NAMES pkg-config pkgconf)
set(_nk_install_args
    -DBUILD_DIR=${NEARKIT_BINARY_DIR} -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install-check
    -DSOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}/install -DVERSION=${PROJECT_VERSION}
    -DABI=${NEARKIT_ABI_VERSION} -DC_COMPILER=${CMAKE_C_COMPILER} -DGENERATOR=${CMAKE_GENERATOR}
    -DPKG_CONFIG=${NEARKIT_PKG_CONFIG})
foreach(step install find_package pkg_config)
  add_test(NAME package.${step}
           COMMAND ${CMAKE_COMMAND} -DSTEP=${step} ${_nk_install_args}
                   -P "${CMAKE_CURRENT_SOURCE_DIR}/install/run.cmake")
  set_tests_properties(package.${step} PROPERTIES LABELS "c;package" TIMEOUT 300)
endforeach()
set_tests_properties(package.install PROPERTIES FIXTURES_SETUP nearkit_installed)
set_tests_properties(package.find_package package.pkg_config PROPERTIES
                     FIXTURES_REQUIRED nearkit_installed)
if(NOT NEARKIT_PKG_CONFIG)
  set_tests_properties(package.pkg_config PROPERTIES SKIP_REGULAR_EXPRESSION "pkg-config not found")
endif()
