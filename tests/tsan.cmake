# The C tests again under ThreadSanitizer: the library's pool, every batch the tests run with
# num_threads > 1 and test_threads' concurrent searches, checked for data races. Included by
# tests/CMakeLists.txt, which defines NEARKIT_C_TESTS and NEARKIT_TEST_SUPPORT.
#
# Tests named c.<name>_tsan, labelled "c" and "tsan"; any report fails the test
# (halt_on_error). OpenBLAS is not instrumented: tests/tsan.supp lists what TSan cannot see
# through it, with the reason for each entry; nearkit's own code is never suppressed.
#
# TSan makes the tests 5 to 20 times slower, so by default ("quick") the set is the tests that
# run the threaded paths in seconds to a few minutes: test_threads, the golden suite (every kind,
# the default kernel level only, two threads), the API, format and loader tests, and the smaller kind tests.
# "all" adds the tests whose brute-force cross-checks take several CPU minutes each under TSan
# (vptree, mih, ivf_flat, bktree), and those whose own threads are few against minutes of
# single-threaded arithmetic (codecs: encode/decode and kernel checks; tune: a composition of
# public calls whose threaded searches test_threads and the golden suite cover); "OFF" leaves TSan
# out. hnsw stays in quick: its inserts and searches race on purpose, under per-node locks.
set(NEARKIT_TSAN_TESTS quick CACHE STRING "C tests under ThreadSanitizer: quick, all or OFF")
set_property(CACHE NEARKIT_TSAN_TESTS PROPERTY STRINGS quick all OFF)
if(NOT NEARKIT_TSAN_TESTS OR NEARKIT_TSAN_TESTS STREQUAL "OFF")
  return()
endif()
set(_tsan_slow test_vptree test_mih test_ivf_flat test_bktree test_codecs test_tune)

set(NEARKIT_TSAN -fsanitize=thread -fno-omit-frame-pointer -g)
nearkit_core_objects(nearkit_objects_tsan)
target_compile_options(nearkit_objects_tsan PRIVATE ${NEARKIT_TSAN} -O2)
# GCC instruments the resolver of a target_clones function, which the dynamic loader runs before
# TSan is initialised: the test crashes before main. In the files that use target_clones only the
# function entry/exit hooks are left out (their races are still detected; a report's stack then
# starts at the racing function). The files are read when CMake configures, so each is also a
# configure dependency: a core file that gains (or loses) target_clones re-runs the configure at
# the next build instead of leaving a TSan test that crashes before main.
set_target_properties(nearkit_objects_tsan PROPERTIES NEARKIT_TSAN_OBJECTS ON)
foreach(src IN LISTS NEARKIT_CORE_SOURCES)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${NEARKIT_SOURCE_DIR}/${src}")
  file(STRINGS "${NEARKIT_SOURCE_DIR}/${src}" _clones REGEX "target_clones")
  if(_clones)
    set_property(SOURCE "${NEARKIT_SOURCE_DIR}/${src}" APPEND PROPERTY COMPILE_OPTIONS
                 "$<$<BOOL:$<TARGET_PROPERTY:NEARKIT_TSAN_OBJECTS>>:--param=tsan-instrument-func-entry-exit=0>")
  endif()
endforeach()
add_library(nearkit_tsan STATIC $<TARGET_OBJECTS:nearkit_objects_tsan>)
target_include_directories(nearkit_tsan PUBLIC "${NEARKIT_SOURCE_DIR}/include")
target_link_libraries(nearkit_tsan PUBLIC BLAS::BLAS Threads::Threads m ${NEARKIT_TSAN})

set(_tsan_options "halt_on_error=1:second_deadlock_stack=1:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tsan.supp")
foreach(src IN LISTS NEARKIT_C_TESTS)
  get_filename_component(test_name "${src}" NAME_WE)
  if(NOT NEARKIT_TSAN_TESTS STREQUAL "all" AND test_name IN_LIST _tsan_slow)
    continue()
  endif()
  add_executable(${test_name}_tsan "${src}" ${NEARKIT_TEST_SUPPORT})
  target_include_directories(${test_name}_tsan PRIVATE "${NEARKIT_SOURCE_DIR}/core" "${CMAKE_CURRENT_SOURCE_DIR}")
  target_compile_options(${test_name}_tsan PRIVATE ${NEARKIT_WARNINGS} ${NEARKIT_TSAN} -O2)
  target_link_libraries(${test_name}_tsan PRIVATE nearkit_tsan)
  add_test(NAME c.${test_name}_tsan COMMAND ${test_name}_tsan "${NEARKIT_GOLDEN_DIR}")
  # the golden suite took 729 s of 900 in CI with one kernel level, and 403 s at every fourth
  # case: here it runs every eighth (NEARKIT_GOLDEN_SAMPLE; ASan and the perturbed-sgemm run
  # cover the cases in between), and tests/long_checks.sh runs them all under TSan
  set_tests_properties(c.${test_name}_tsan PROPERTIES LABELS "c;tsan" TIMEOUT 1500
                       ENVIRONMENT "TSAN_OPTIONS=${_tsan_options};NEARKIT_GOLDEN_KERNELS=default;NEARKIT_GOLDEN_SAMPLE=8;NEARKIT_GOLDEN_SAMPLE_OFFSET=3")
  if(test_name MATCHES "golden|hnsw|exact_everywhere")
    set_tests_properties(c.${test_name}_tsan PROPERTIES COST 1000)
  endif()
endforeach()
