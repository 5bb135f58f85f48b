# Writes what the Node.js addon needs to link the nearkit core statically: a JSON file with the
# path of the static library and every item of its link interface (BLAS, threads, libm), resolved
# through imported targets. scripts/build.js passes these to node-gyp.
#
# Used by node/cmake/CMakeLists.txt (the core build for the addon). Call it where the targets of
# the link interface are visible (there: CMAKE_FIND_PACKAGE_TARGETS_GLOBAL).

function(_nearkit_node_collect_link_items out_var item depth)
  set(result "")
  string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
  if(item STREQUAL "" OR depth GREATER 8)
    # nothing
  elseif(TARGET "${item}")
    get_target_property(type "${item}" TYPE)
    get_target_property(imported "${item}" IMPORTED)
    if(imported AND NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(location "${item}" IMPORTED_LOCATION)
      if(NOT location)
        get_target_property(location "${item}" IMPORTED_LOCATION_RELEASE)
      endif()
      if(location)
        list(APPEND result "${location}")
      endif()
    endif()
    get_target_property(options "${item}" INTERFACE_LINK_OPTIONS)
    if(options)
      list(APPEND result ${options})
    endif()
    get_target_property(deps "${item}" INTERFACE_LINK_LIBRARIES)
    if(deps)
      math(EXPR next "${depth} + 1")
      foreach(dep IN LISTS deps)
        _nearkit_node_collect_link_items(sub "${dep}" ${next})
        list(APPEND result ${sub})
      endforeach()
    endif()
  elseif(item MATCHES "^-" OR IS_ABSOLUTE "${item}")
    list(APPEND result "${item}")
  elseif(item MATCHES "^\\$<")
    message(WARNING "nearkit node: cannot pass the link item ${item} to node-gyp; skipped")
  else()
    list(APPEND result "-l${item}")
  endif()
  set(${out_var} "${result}" PARENT_SCOPE)
endfunction()

# nearkit_node_write_link_info(<output json> <static library target>)
function(nearkit_node_write_link_info output target)
  get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
  set(items "")
  if(deps)
    foreach(dep IN LISTS deps)
      _nearkit_node_collect_link_items(sub "${dep}" 0)
      list(APPEND items ${sub})
    endforeach()
  endif()
  list(REMOVE_DUPLICATES items)
  set(json "")
  foreach(item IN LISTS items)
    string(REPLACE "\\" "\\\\" item "${item}")
    string(REPLACE "\"" "\\\"" item "${item}")
    string(APPEND json ",\n    \"${item}\"")
  endforeach()
  string(REGEX REPLACE "^,\n" "\n" json "${json}")
  file(GENERATE OUTPUT "${output}" CONTENT
"{
  \"library\": \"$<TARGET_FILE:${target}>\",
  \"include\": \"${NEARKIT_SOURCE_DIR}/include\",
  \"link\": [${json}
  ]
}
")
endfunction()
