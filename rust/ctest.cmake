# The Rust crates' suites, registered with ctest by the root CMakeLists.txt
# (include(rust/ctest.cmake OPTIONAL)). Everything runs through cargo in rust/, with cargo's
# target directory inside the CMake build directory so the source tree stays clean:
#   rust_test      cargo test with the `half` and `ndarray` features (unit, integration, doc
#                  tests; golden, cross-language with the nearkit command, bad input,
#                  concurrency, f16 and ndarray input; it builds the examples too)
#   rust_example   runs nearkit's examples/readme.rs, the README's example
#   rust_bindings  the committed raw bindings equal bindgen's output for include/nearkit.h
#                  (needs libclang: Debian's libclang-dev, installed by ci/deps-rust.sh)
#   rust_clippy    cargo clippy --all-targets --all-features -- -D warnings
#   rust_fmt       cargo fmt --check
#   rust_doc       cargo doc with rustdoc warnings as errors
#   rust_package   cargo publish --dry-run of both crates in order; their .crate files unpacked
#                  under the temporary directory, where a new project runs the README example
#                  from them (OpenBLAS linked statically) and their docs build with DOCS_RS and
#                  no C compiler (package.cmake; about a minute)
# Labels: rust. The tests share cargo's target directory, so they hold one resource lock.

find_program(NEARKIT_CARGO cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")

if(NOT NEARKIT_CARGO)
  # Do not hide a missing toolchain: the suite fails and says why.
  add_test(NAME rust_cargo_missing
           COMMAND sh -c "echo 'cargo not found: install Rust (rustup) and run ci/deps-rust.sh, or configure with -DNEARKIT_BINDING_TESTS=OFF' >&2; exit 1")
  set_tests_properties(rust_cargo_missing PROPERTIES LABELS rust)
  return()
endif()

get_filename_component(_nk_cargo_bin "${NEARKIT_CARGO}" DIRECTORY)
set(_nk_rust_env
    "CARGO_TARGET_DIR=${NEARKIT_BINARY_DIR}/rust-target"
    "CARGO_BUILD_JOBS=2"
    "CARGO_TERM_COLOR=never"
    "CARGO_TERM_PROGRESS_WHEN=never"
    "NEARKIT_GOLDEN_DIR=${NEARKIT_SOURCE_DIR}/tests/golden"
    "PATH=${_nk_cargo_bin}:$ENV{PATH}")
if(TARGET nearkit_cli)
  list(APPEND _nk_rust_env "NEARKIT_CLI=$<TARGET_FILE:nearkit_cli>")
endif()
if(TARGET bench_overhead_c)
  list(APPEND _nk_rust_env "NEARKIT_BENCH_OVERHEAD_C=$<TARGET_FILE:bench_overhead_c>")
endif()

function(nearkit_rust_test name)
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -E env ${_nk_rust_env} ${NEARKIT_CARGO} ${ARGN}
           WORKING_DIRECTORY "${NEARKIT_SOURCE_DIR}/rust")
  set_tests_properties(${name} PROPERTIES LABELS rust RESOURCE_LOCK nearkit_rust_target TIMEOUT 1800)
endfunction()

nearkit_rust_test(rust_test test --workspace --features nearkit/half,nearkit/ndarray --no-fail-fast)
nearkit_rust_test(rust_example run -p nearkit --example readme)
nearkit_rust_test(rust_bindings test -p nearkit-sys --features bindgen --test bindings_up_to_date)
nearkit_rust_test(rust_clippy clippy --workspace --all-targets --all-features -- -D warnings)
nearkit_rust_test(rust_fmt fmt --all --check)
nearkit_rust_test(rust_doc doc --workspace --no-deps --features nearkit/half,nearkit/ndarray)
set_property(TEST rust_doc APPEND PROPERTY ENVIRONMENT "RUSTDOCFLAGS=-D warnings")
# package.cmake passes --allow-dirty: it checks the packaging (file list, the C sources reached
# through the csrc symlinks, a build from the packaged sources), not whether the work tree is
# committed.
add_test(NAME rust_package
         COMMAND ${CMAKE_COMMAND} -E env ${_nk_rust_env}
                 ${CMAKE_COMMAND} -DCARGO=${NEARKIT_CARGO} -P "${CMAKE_CURRENT_LIST_DIR}/package.cmake"
         WORKING_DIRECTORY "${NEARKIT_SOURCE_DIR}/rust")
set_tests_properties(rust_package PROPERTIES LABELS rust RESOURCE_LOCK nearkit_rust_target TIMEOUT 1800)
