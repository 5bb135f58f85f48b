# Checks what `mvn install` produced for Maven Central: the jar (classes, the native library, the
# licence and notices), the sources jar, the javadoc jar, and the pom's required metadata.
# Run by ctest (java_artifacts, after java_install) in script mode:
#   cmake -DJAVA_DIR=<java dir> [-DLOCAL_REPO=<local Maven repository>] -P check-artifacts.cmake
cmake_minimum_required(VERSION 3.25)
if(NOT DEFINED JAVA_DIR)
  message(FATAL_ERROR "check-artifacts.cmake: -DJAVA_DIR=... is required")
endif()

set(_failures "")
macro(_fail what)
  string(APPEND _failures "  ${what}\n")
endmacro()

# ---- the pom: the elements Maven Central requires (and the ones users look for) ---------------
file(READ "${JAVA_DIR}/pom.xml" _pom)
# the project's own version: the first <version> after the artifactId
if(NOT _pom MATCHES "<artifactId>nearkit</artifactId>[ \t\r\n]*<version>([^<]+)</version>")
  message(FATAL_ERROR "check-artifacts.cmake: no version after <artifactId>nearkit</artifactId>")
endif()
set(_version "${CMAKE_MATCH_1}")
foreach(_element IN ITEMS "<name>" "<description>" "<url>" "<licenses>" "<license>"
                         "<developers>" "<developer>" "<scm>" "<connection>"
                         "<developerConnection>" "<issueManagement>")
  string(FIND "${_pom}" "${_element}" _at)
  if(_at LESS 0)
    _fail("pom.xml lacks ${_element}")
  endif()
endforeach()

# ---- the three jars and what each must hold ----------------------------------------------------
function(_jar_entries jar out)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar tf "${jar}"
                  RESULT_VARIABLE _rc OUTPUT_VARIABLE _list ERROR_VARIABLE _err)
  if(NOT _rc EQUAL 0)
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  string(REPLACE "\n" ";" _list "${_list}")
  set(${out} "${_list}" PARENT_SCOPE)
endfunction()

set(_base "${JAVA_DIR}/target/nearkit-${_version}")
set(_jar_main "${_base}.jar")
set(_jar_sources "${_base}-sources.jar")
set(_jar_javadoc "${_base}-javadoc.jar")
set(_want_main "io/nearkit/Index.class" "META-INF/LICENSE" "META-INF/THIRD_PARTY_NOTICES.txt")
set(_want_sources "io/nearkit/Index.java" "io/nearkit/NearkitIOException.java"
                  "io/nearkit/package-info.java" "META-INF/LICENSE")
# javadoc puts a module's pages under <module>/ (io.nearkit/, the Automatic-Module-Name) or not
set(_want_javadoc "index.html" "io/nearkit/Index.html" "io/nearkit/NearkitIOException.html"
                  "io/nearkit/package-summary.html")
foreach(_kind IN ITEMS main sources javadoc)
  set(_jar "${_jar_${_kind}}")
  if(NOT EXISTS "${_jar}")
    _fail("missing ${_jar}")
    continue()
  endif()
  _jar_entries("${_jar}" _entries)
  if(NOT _entries)
    _fail("${_jar} cannot be listed or is empty")
    continue()
  endif()
  foreach(_entry IN LISTS _want_${_kind})
    set(_found "${_entries}")
    string(REPLACE "." "\\." _re "${_entry}")
    if(_kind STREQUAL "javadoc" AND NOT _entry STREQUAL "index.html")
      set(_re "^([^/]+/)?${_re}$")
    else()
      set(_re "^${_re}$")
    endif()
    list(FILTER _found INCLUDE REGEX "${_re}")
    if(NOT _found)
      _fail("${_jar} lacks ${_entry}")
    endif()
  endforeach()
  if(_kind STREQUAL "main")
    list(FILTER _entries INCLUDE REGEX "^io/nearkit/native/[^/]+/lib(nearkit_jni)\\.(so|dylib)$|^io/nearkit/native/[^/]+/nearkit_jni\\.dll$")
    if(NOT _entries)
      _fail("${_jar} holds no native library under io/nearkit/native/<os>-<arch>/")
    endif()
  endif()
endforeach()

# ---- the installed copies (the example project and other projects use these) -----------------
if(DEFINED LOCAL_REPO AND NOT LOCAL_REPO STREQUAL "")
  set(_installed "${LOCAL_REPO}/io/nearkit/nearkit/${_version}")
  foreach(_name IN ITEMS "nearkit-${_version}.pom" "nearkit-${_version}.jar"
                         "nearkit-${_version}-sources.jar" "nearkit-${_version}-javadoc.jar")
    if(NOT EXISTS "${_installed}/${_name}")
      _fail("not installed: ${_installed}/${_name}")
    endif()
  endforeach()
endif()

if(_failures)
  message(FATAL_ERROR "java artifacts are not ready for publishing:\n${_failures}")
endif()
message(STATUS "java artifacts: nearkit-${_version} jar, sources jar, javadoc jar and pom complete")
