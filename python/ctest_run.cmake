# Included by the python_* test scripts (python/ctest_*.cmake) after set(NK_TEST <test name>):
# run(<command> [args...] [execute_process options]) runs a command and fails the test, naming
# the command, when it exits non-zero. Arguments are a CMake list: no ';' inside one.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${NK_TEST}: failed (${rc}): ${cmd}")
  endif()
endfunction()
