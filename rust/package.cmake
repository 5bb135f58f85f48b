# rust_package: `cargo package --workspace`, after clearing cargo's stale extractions of our own
# crates. cargo verifies the nearkit crate against the just-packaged nearkit-sys through a local
# registry overlay whose extraction directory depends only on the target path, and it never
# re-extracts a name and version it finds already there. On a machine that ran this test before,
# the build would then use the previous run's nearkit-sys sources (older bindings) and fail.
# Run as: cmake -DCARGO=<cargo> -P package.cmake   (environment as for the other rust tests)
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
execute_process(COMMAND "${CARGO}" package --workspace --allow-dirty RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cargo package failed (${_rc})")
endif()
