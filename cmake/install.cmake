# What `cmake --install` puts under the prefix, included by the root CMakeLists.txt when
# NEARKIT_INSTALL is on (the default for a top-level build):
#   include/nearkit.h
#   lib/libnearkit.so.<ABI> (+ links), lib/libnearkit.a
#   bin/nearkit                                       (cli/CMakeLists.txt installs it)
#   lib/cmake/nearkit/nearkitConfig.cmake, nearkitConfigVersion.cmake and the target files:
#       find_package(nearkit) gives nearkit::nearkit (shared) and nearkit::static
#   lib/pkgconfig/nearkit.pc                          pkg-config --cflags --libs [--static] nearkit
# Every file is relocatable: nothing refers to the prefix chosen at configure time, so
# `cmake --install build --prefix DIR` works for any DIR (tests/install.cmake does that).
include(CMakePackageConfigHelpers)

set(NEARKIT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/nearkit" CACHE STRING
    "Where nearkitConfig.cmake goes, relative to the prefix")
set(NEARKIT_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig" CACHE STRING
    "Where nearkit.pc goes, relative to the prefix")

install(TARGETS nearkit_shared EXPORT nearkitTargets
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(TARGETS nearkit_static EXPORT nearkitStaticTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(FILES "${NEARKIT_SOURCE_DIR}/include/nearkit.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# Two target files: the shared library needs nothing of its users, the static one needs its link
# dependencies found again in the user's project (nearkitConfig.cmake does that).
install(EXPORT nearkitTargets NAMESPACE nearkit:: DESTINATION "${NEARKIT_INSTALL_CMAKEDIR}")
install(EXPORT nearkitStaticTargets NAMESPACE nearkit:: DESTINATION "${NEARKIT_INSTALL_CMAKEDIR}")

# ---- how the build found its dependencies, for nearkitConfig.cmake and nearkit.pc -------------
# The directories of the BLAS libraries the build linked: the config searches them first, so a
# user on the same system links the same OpenBLAS flavour (on Debian, the pthread one) and not
# whatever the unversioned libopenblas.so link points at.
set(NEARKIT_BLAS_LIBRARY_DIRS "")
foreach(item IN LISTS BLAS_LIBRARIES)
  if(IS_ABSOLUTE "${item}")
    get_filename_component(dir "${item}" DIRECTORY)
    list(APPEND NEARKIT_BLAS_LIBRARY_DIRS "${dir}")
  endif()
endforeach()
list(REMOVE_DUPLICATES NEARKIT_BLAS_LIBRARY_DIRS)

# nearkit_pkgconfig_link_flags(<out> <item>...): link items as a pkg-config "Libs" field spells
# them. A shared library by path becomes -L<dir> -l<name>; a static archive stays a path (so the
# linker cannot take a shared library of the same name instead).
function(nearkit_pkgconfig_link_flags out)
  set(flags "")
  foreach(item IN LISTS ARGN)
    if(item STREQUAL "")
      continue()
    elseif(IS_ABSOLUTE "${item}" AND item MATCHES "/lib([^/]+)\\.so[.0-9]*$")
      get_filename_component(dir "${item}" DIRECTORY)
      list(APPEND flags "-L${dir}" "-l${CMAKE_MATCH_1}")
    elseif(IS_ABSOLUTE "${item}" OR item MATCHES "^-")
      list(APPEND flags "${item}")
    else()
      list(APPEND flags "-l${item}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES flags)
  list(JOIN flags " " flags)
  set(${out} "${flags}" PARENT_SCOPE)
endfunction()

# The same items nearkit_static links (root CMakeLists.txt): BLAS, threads, libm.
nearkit_pkgconfig_link_flags(NEARKIT_PC_LIBS_PRIVATE
                             ${BLAS_LINKER_FLAGS} ${BLAS_LIBRARIES} ${CMAKE_THREAD_LIBS_INIT} m)
# The prefix is found from the .pc file's own place, so the installed tree can move.
file(RELATIVE_PATH NEARKIT_PC_TO_PREFIX "/prefix/${NEARKIT_INSTALL_PKGCONFIGDIR}" "/prefix")
string(REGEX REPLACE "/$" "" NEARKIT_PC_TO_PREFIX "${NEARKIT_PC_TO_PREFIX}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(NEARKIT_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(NEARKIT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(NEARKIT_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(NEARKIT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${NEARKIT_INSTALL_PKGCONFIGDIR}")
  message(FATAL_ERROR "NEARKIT_INSTALL_PKGCONFIGDIR must be relative to the prefix")
endif()
configure_file("${NEARKIT_SOURCE_DIR}/cmake/nearkit.pc.in" "${NEARKIT_BINARY_DIR}/nearkit.pc" @ONLY)
install(FILES "${NEARKIT_BINARY_DIR}/nearkit.pc" DESTINATION "${NEARKIT_INSTALL_PKGCONFIGDIR}")

configure_package_config_file("${NEARKIT_SOURCE_DIR}/cmake/nearkitConfig.cmake.in"
                              "${NEARKIT_BINARY_DIR}/nearkitConfig.cmake"
                              INSTALL_DESTINATION "${NEARKIT_INSTALL_CMAKEDIR}")
# 0.x releases may break compatibility in any minor release, so only the same minor matches;
# from 1.0 on, any later release of the same major does.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_nk_compat SameMinorVersion)
else()
  set(_nk_compat SameMajorVersion)
endif()
write_basic_package_version_file("${NEARKIT_BINARY_DIR}/nearkitConfigVersion.cmake"
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY ${_nk_compat})
install(FILES "${NEARKIT_BINARY_DIR}/nearkitConfig.cmake"
              "${NEARKIT_BINARY_DIR}/nearkitConfigVersion.cmake"
        DESTINATION "${NEARKIT_INSTALL_CMAKEDIR}")
