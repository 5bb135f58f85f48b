# The Node.js package's tests, included by the root CMakeLists.txt (NEARKIT_SOURCE_DIR,
# NEARKIT_BINARY_DIR and the targets nearkit_static / nearkit_cli exist here).
#
#   node_build          builds the addon from source (node/scripts/build.js: the core with CMake
#                       into <build>/node-core, then node-gyp into node/build/); the fixture every
#                       other node test needs
#   node_<file>         one test per node/test/*.test.js, run with node's built-in test runner
#   node_demo_browser   the web demo (node/demo) on a free port, driven in headless Debian
#                       Chromium (node/demo/e2e.js); screenshots in <build>/demo-screenshots;
#                       skipped where Chromium or playwright-core is missing (ci/deps-demo.sh)
#
# Needs node and npm (ci/deps-node.sh installs them); without node the tests are not registered.

find_program(NEARKIT_NODE_EXECUTABLE node)
if(NOT NEARKIT_NODE_EXECUTABLE)
  message(STATUS "nearkit: node not found; the Node.js tests are not registered")
  return()
endif()

set(_nk_node_dir "${NEARKIT_SOURCE_DIR}/node")

add_test(NAME node_build
         COMMAND "${CMAKE_COMMAND}" -E env
                 "NEARKIT_NODE_CORE_BUILD_DIR=${NEARKIT_BINARY_DIR}/node-core"
                 "NEARKIT_SOURCE_DIR=${NEARKIT_SOURCE_DIR}"
                 "${NEARKIT_NODE_EXECUTABLE}" scripts/build.js
         WORKING_DIRECTORY "${_nk_node_dir}")
set_tests_properties(node_build PROPERTIES LABELS node FIXTURES_SETUP nearkit_node_addon TIMEOUT 900)

set(_nk_node_env "NEARKIT_GOLDEN_DIR=${NEARKIT_SOURCE_DIR}/tests/golden")
if(TARGET nearkit_cli)
  list(APPEND _nk_node_env "NEARKIT_CLI=$<TARGET_FILE:nearkit_cli>")
endif()

file(GLOB _nk_node_tests CONFIGURE_DEPENDS "${_nk_node_dir}/test/*.test.js")
foreach(_nk_file IN LISTS _nk_node_tests)
  get_filename_component(_nk_name "${_nk_file}" NAME)
  string(REGEX REPLACE "\\.test\\.js$" "" _nk_name "${_nk_name}")
  add_test(NAME node_${_nk_name}
           COMMAND "${CMAKE_COMMAND}" -E env ${_nk_node_env}
                   "${NEARKIT_NODE_EXECUTABLE}" --test "${_nk_file}"
           WORKING_DIRECTORY "${_nk_node_dir}")
  set_tests_properties(node_${_nk_name} PROPERTIES LABELS node FIXTURES_REQUIRED nearkit_node_addon
                       TIMEOUT 900)
endforeach()
add_test(NAME node_demo_browser
         COMMAND "${NEARKIT_NODE_EXECUTABLE}" demo/e2e.js "${NEARKIT_BINARY_DIR}/demo-screenshots"
         WORKING_DIRECTORY "${_nk_node_dir}")
set_tests_properties(node_demo_browser PROPERTIES LABELS node FIXTURES_REQUIRED nearkit_node_addon
                     SKIP_RETURN_CODE 77 TIMEOUT 300)

# The package test packs node/ (reading node/build) while no other test may rebuild it.
if(TEST node_package)
  set_tests_properties(node_package PROPERTIES RUN_SERIAL TRUE)
endif()
