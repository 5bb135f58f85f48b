# Tests of the nearkit command-line program. Included by tests/CMakeLists.txt after the targets
# exist; every test is labelled "cli". The Python tests use the standard library only.
if(NOT TARGET nearkit_cli)
  return()
endif()

# A smoke test that needs nothing but the program: the demo on a small dataset prints its table
# and ends with advice.
add_test(NAME cli.demo_smoke COMMAND $<TARGET_FILE:nearkit_cli> demo --n 5000 --queries 200)
set_tests_properties(cli.demo_smoke PROPERTIES LABELS "cli" TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "recall@10.*Advice: ")

find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_FOUND)
  message(WARNING "nearkit: python3 not found; only cli.demo_smoke of the CLI tests is registered")
  return()
endif()

# ann-benchmarks' HDF5 files: a tiny writer (tests/cli/h5_writer.c) makes good and bad ones, so
# the Python tests need no h5py (every group gets its path, cli.valgrind uses it too). Without
# HDF5 the tests check the "no HDF5 support" error.
get_property(_nk_hdf5 GLOBAL PROPERTY NEARKIT_CLI_HDF5_FOUND)
set(_nk_hdf5_env "")
if(_nk_hdf5)
  add_executable(nearkit_h5_writer "${CMAKE_CURRENT_LIST_DIR}/h5_writer.c")
  set_target_properties(nearkit_h5_writer PROPERTIES
                        RUNTIME_OUTPUT_DIRECTORY "${NEARKIT_BINARY_DIR}/tests/cli")
  nearkit_cli_use_hdf5(nearkit_h5_writer)
  set(_nk_hdf5_env "NEARKIT_H5_WRITER=$<TARGET_FILE:nearkit_h5_writer>")
endif()

# test name -> unittest classes of tests/cli/test_cli.py
set(_nk_cli_groups
    "roundtrip:RoundTrip Bench RuleSelfTest"
    "errors:Errors"
    "demo:Demo"
    "golden:Golden"
    "living:Living"
    "tune:Tune"
    "hdf5:Hdf5"
    "valgrind:Valgrind Hdf5Valgrind")
foreach(_group IN LISTS _nk_cli_groups)
  string(REPLACE ":" ";" _parts "${_group}")
  list(GET _parts 0 _name)
  list(GET _parts 1 _classes)
  separate_arguments(_classes UNIX_COMMAND "${_classes}")
  add_test(NAME cli.${_name}
           COMMAND ${Python3_EXECUTABLE} "${CMAKE_CURRENT_LIST_DIR}/test_cli.py"
                   $<TARGET_FILE:nearkit_cli> ${_classes})
  # unittest prints "skipped '<reason>'" (no golden manifest yet, no valgrind)
  set_tests_properties(cli.${_name} PROPERTIES LABELS "cli" TIMEOUT 900
                       SKIP_REGULAR_EXPRESSION "OK \\(skipped=" ENVIRONMENT "${_nk_hdf5_env}")
endforeach()

# The same tests (valgrind aside) on a copy of the program built with AddressSanitizer and
# UndefinedBehaviorSanitizer against the sanitized library, when tests/CMakeLists.txt makes one.
if(TARGET nearkit_asan AND DEFINED NEARKIT_SANITIZE)
  get_target_property(_nk_cli_sources nearkit_cli SOURCES)
  list(TRANSFORM _nk_cli_sources PREPEND "${NEARKIT_SOURCE_DIR}/cli/")
  add_executable(nearkit_cli_asan ${_nk_cli_sources})
  target_include_directories(nearkit_cli_asan PRIVATE "${NEARKIT_SOURCE_DIR}/include")
  target_compile_definitions(nearkit_cli_asan PRIVATE NEARKIT_STATIC)
  target_compile_options(nearkit_cli_asan PRIVATE ${NEARKIT_SANITIZE} -g)
  target_link_libraries(nearkit_cli_asan PRIVATE nearkit_asan m)
  nearkit_cli_use_hdf5(nearkit_cli_asan)
  set_target_properties(nearkit_cli_asan PROPERTIES OUTPUT_NAME nearkit_asan
                        RUNTIME_OUTPUT_DIRECTORY "${NEARKIT_BINARY_DIR}/tests/cli")
  add_test(NAME cli.asan
           COMMAND ${Python3_EXECUTABLE} "${CMAKE_CURRENT_LIST_DIR}/test_cli.py"
                   $<TARGET_FILE:nearkit_cli_asan> RoundTrip Bench Errors Demo Golden Living Hdf5)
  set_tests_properties(cli.asan PROPERTIES LABELS "cli" TIMEOUT 900
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;UBSAN_OPTIONS=print_stacktrace=1;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan_hdf5.supp:print_suppressions=0;${_nk_hdf5_env}")
endif()
