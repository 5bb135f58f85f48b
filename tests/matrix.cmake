# The exactness matrix (issue 13): the golden conformance suite and the exact-kind comparisons run
# again under every kernel level (scalar, avx2, avx512; a level this CPU cannot run is reported as
# skipped, and so is its default level, which the plain c.* test runs), and once more with every sgemm result perturbed within the float rounding bound, as a
# different machine's BLAS kernel could legitimately round. The exact kinds must give the same
# answers in every cell. The perturbation hook exists only in this library (NEARKIT_TEST_HOOKS),
# never in a release build. OpenBLAS's own environment (OPENBLAS_CORETYPE etc.) is left alone.
nearkit_core_objects(nearkit_objects_hooks)
target_compile_definitions(nearkit_objects_hooks PRIVATE NEARKIT_TEST_HOOKS)
add_library(nearkit_hooks STATIC $<TARGET_OBJECTS:nearkit_objects_hooks>)
target_include_directories(nearkit_hooks PUBLIC "${NEARKIT_SOURCE_DIR}/include")
target_link_libraries(nearkit_hooks PUBLIC BLAS::BLAS Threads::Threads m)

add_executable(kernel_level "${CMAKE_CURRENT_SOURCE_DIR}/matrix/kernel_level.c")
target_link_libraries(kernel_level PRIVATE nearkit_static)

set(NEARKIT_MATRIX_TESTS test_golden test_golden_indexes test_exact_everywhere test_vptree
    test_bktree test_mih test_ivf_flat test_ivf_binary)
foreach(name IN LISTS NEARKIT_MATRIX_TESTS)
  if(NOT EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${name}.c")
    continue()
  endif()
  add_executable(${name}_hooks "${CMAKE_CURRENT_SOURCE_DIR}/${name}.c" ${NEARKIT_TEST_SUPPORT})
  target_include_directories(${name}_hooks PRIVATE "${NEARKIT_SOURCE_DIR}/core" "${CMAKE_CURRENT_SOURCE_DIR}")
  target_compile_options(${name}_hooks PRIVATE ${NEARKIT_WARNINGS})
  target_link_libraries(${name}_hooks PRIVATE nearkit_hooks)
  foreach(level scalar avx2 avx512)
    add_test(NAME matrix.${name}.${level}
             COMMAND kernel_level ${level} $<TARGET_FILE:${name}_hooks> "${NEARKIT_GOLDEN_DIR}")
    set_tests_properties(matrix.${name}.${level} PROPERTIES LABELS "c;matrix" TIMEOUT 900
                         SKIP_RETURN_CODE 77)
  endforeach()
  # k-means (in the IVF tests) compares its own sgemm passes with each other, which only a BLAS
  # that rounds equal rows equally keeps consistent: those run with the content-only perturbation
  if(name MATCHES "ivf")
    set(_mode content)
  else()
    set(_mode position)
  endif()
  add_test(NAME matrix.${name}.perturbed_gemm COMMAND ${name}_hooks "${NEARKIT_GOLDEN_DIR}")
  set_tests_properties(matrix.${name}.perturbed_gemm PROPERTIES LABELS "c;matrix" TIMEOUT 900
                       ENVIRONMENT "NEARKIT_TEST_PERTURB_GEMM=${_mode}")
  # the golden suite under perturbed sgemm took 216 s of CI's budget: here every second case (the
  # ones c.test_golden_asan leaves out); tests/long_checks.sh runs them all
  if(name STREQUAL "test_golden")
    set_property(TEST matrix.${name}.perturbed_gemm APPEND PROPERTY ENVIRONMENT
                 "NEARKIT_GOLDEN_SAMPLE=2;NEARKIT_GOLDEN_SAMPLE_OFFSET=1")
  endif()
endforeach()
