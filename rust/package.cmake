# rust_package: both crates as a registry would receive them, then used from outside the repository.
#   1. `cargo publish --workspace --dry-run --no-verify`: the checks a publish makes (metadata,
#      versions on path dependencies, nearkit-sys before nearkit), without uploading.
#   2. `cargo package --workspace --no-verify`: the two .crate files, in the target directory.
#   3. Both .crate files unpacked into a fresh directory under the system's temporary directory,
#      and a new cargo project there whose main.rs is the packaged nearkit's examples/readme.rs
#      (the README's example, unchanged), depending on `nearkit` with `[patch]` entries pointing
#      at the unpacked crates: it must build (nearkit-sys compiling the C core from the sources
#      it carries) and run. Step 3 is a stronger check than cargo's own verification (a build of
#      each package's sources inside the target directory), which steps 1 and 2 therefore skip.
#   4. The program needs no OpenBLAS at run time (linked statically by default): no
#      libopenblas in its NEEDED entries.
#   5. The docs build of the unpacked crates with DOCS_RS set and no C compiler (CC=false).
# Run as: cmake -DCARGO=<cargo> -P package.cmake   (environment as for the other rust tests)

# cargo's verification of nearkit (not run here since step 3 replaced it) extracted the packaged
# nearkit-sys into a local registry overlay whose directory depends only on the target path, and
# never re-extracted a name and version it found there: clear what earlier runs left.
if(DEFINED ENV{CARGO_HOME})
  set(_home "$ENV{CARGO_HOME}")
else()
  set(_home "$ENV{HOME}/.cargo")
endif()
file(GLOB _stale LIST_DIRECTORIES true
     "${_home}/registry/src/*/nearkit-sys-*" "${_home}/registry/src/*/nearkit-[0-9]*")
foreach(_dir IN LISTS _stale)
  # Only overlay extractions: the index directories of real registries are named after their host.
  get_filename_component(_parent "${_dir}" DIRECTORY)
  get_filename_component(_parent "${_parent}" NAME)
  if(_parent MATCHES "^-")
    file(REMOVE_RECURSE "${_dir}")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "rust_package: ${what} failed (${rc})")
  endif()
endfunction()

# --allow-dirty: this checks the packaging, not whether the work tree is committed.
run_step("cargo publish --dry-run" "${CARGO}" publish --workspace --dry-run --allow-dirty --no-verify)
run_step("cargo package" "${CARGO}" package --workspace --allow-dirty --no-verify)

if(NOT DEFINED ENV{CARGO_TARGET_DIR})
  message(FATAL_ERROR "rust_package: CARGO_TARGET_DIR is not set (run through ctest)")
endif()
file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/Cargo.toml" _version_line REGEX "^version = ")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" _version "${_version_line}")
set(_packages "$ENV{CARGO_TARGET_DIR}/package")

if(DEFINED ENV{TMPDIR})
  set(_tmp "$ENV{TMPDIR}")
else()
  set(_tmp "/tmp")
endif()
string(RANDOM LENGTH 10 _suffix)
set(_dir "${_tmp}/nearkit-crates-${_suffix}")
file(MAKE_DIRECTORY "${_dir}/app/src")
foreach(_crate nearkit-sys nearkit)
  set(_file "${_packages}/${_crate}-${_version}.crate")
  if(NOT EXISTS "${_file}")
    message(FATAL_ERROR "rust_package: ${_file} was not written")
  endif()
  file(ARCHIVE_EXTRACT INPUT "${_file}" DESTINATION "${_dir}")
endforeach()
message(STATUS "rust_package: crates unpacked in ${_dir}")

configure_file("${_dir}/nearkit-${_version}/examples/readme.rs" "${_dir}/app/src/main.rs" COPYONLY)
file(WRITE "${_dir}/app/Cargo.toml" "[package]
name = \"nearkit-crate-check\"
version = \"0.0.0\"
edition = \"2021\"
publish = false

[dependencies]
nearkit = \"=${_version}\"

# The crates as a registry would serve them: the unpacked .crate files.
[patch.crates-io]
nearkit = { path = \"../nearkit-${_version}\" }
nearkit-sys = { path = \"../nearkit-sys-${_version}\" }

[workspace]
")

set(_env ${CMAKE_COMMAND} -E env "CARGO_TARGET_DIR=${_dir}/target")
run_step("building and running the README example from the unpacked crates"
         ${CMAKE_COMMAND} -E chdir "${_dir}/app" ${_env} "${CARGO}" run --quiet)

set(_program "${_dir}/target/debug/nearkit-crate-check")
find_program(_readelf readelf)
if(_readelf)
  execute_process(COMMAND "${_readelf}" -d "${_program}" OUTPUT_VARIABLE _dynamic RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "rust_package: readelf -d ${_program} failed")
  endif()
  if(_dynamic MATCHES "libopenblas")
    message(FATAL_ERROR "rust_package: the program links the shared OpenBLAS, not the static one:\n${_dynamic}")
  endif()
endif()

run_step("the docs of the unpacked crates with DOCS_RS and no C compiler"
         ${CMAKE_COMMAND} -E chdir "${_dir}/app" ${_env} DOCS_RS=1 CC=false
         "${CARGO}" doc --quiet --no-deps -p nearkit -p nearkit-sys)

file(REMOVE_RECURSE "${_dir}")
message(STATUS "rust_package: both crates publishable, and usable from their packages")
