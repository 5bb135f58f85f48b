# The Java package's tests, included by the root CMakeLists.txt (NEARKIT_SOURCE_DIR,
# NEARKIT_BINARY_DIR and the targets nearkit_static / nearkit_cli exist here).
#
#   java_install   `mvn -q -B install` in java/: compiles the Java code, builds libnearkit_jni with
#                  CMake (into <build>/java-native), runs the JUnit 5 suite (golden manifest,
#                  cross-language files with this build's CLI, bad input, close, concurrency,
#                  loader), checks the javadoc and installs io.nearkit:nearkit into the local
#                  Maven repository; the fixture the example needs
#   java_example   the separate Maven project java/examples/, which depends on the installed jar
#                  as an ordinary dependency, compiled and run
#
# Needs a JDK 17+ and Maven (ci/deps-java.sh installs them); without mvn the tests are not
# registered.

find_program(NEARKIT_MVN_EXECUTABLE mvn)
if(NOT NEARKIT_MVN_EXECUTABLE)
  message(STATUS "nearkit: mvn not found; the Java tests are not registered")
  return()
endif()

set(_nk_java_dir "${NEARKIT_SOURCE_DIR}/java")
set(_nk_java_env "NEARKIT_GOLDEN_DIR=${NEARKIT_SOURCE_DIR}/tests/golden")
if(TARGET nearkit_cli)
  list(APPEND _nk_java_env "NEARKIT_CLI=$<TARGET_FILE:nearkit_cli>")
endif()

add_test(NAME java_install
         COMMAND "${CMAKE_COMMAND}" -E env ${_nk_java_env}
                 "${NEARKIT_MVN_EXECUTABLE}" -q -B install
                 "-Dnearkit.root=${NEARKIT_SOURCE_DIR}"
                 "-Dnearkit.native.build=${NEARKIT_BINARY_DIR}/java-native"
         WORKING_DIRECTORY "${_nk_java_dir}")
set_tests_properties(java_install PROPERTIES LABELS java FIXTURES_SETUP nearkit_java_installed
                     TIMEOUT 1500)

add_test(NAME java_example
         COMMAND "${NEARKIT_MVN_EXECUTABLE}" -q -B compile exec:exec
         WORKING_DIRECTORY "${_nk_java_dir}/examples")
set_tests_properties(java_example PROPERTIES LABELS java FIXTURES_REQUIRED nearkit_java_installed
                     TIMEOUT 600)
