# The Java package's tests, included by the root CMakeLists.txt (NEARKIT_SOURCE_DIR,
# NEARKIT_BINARY_DIR and the targets nearkit_static / nearkit_cli exist here).
#
#   java_install   `mvn -q -B install` in java/: compiles the Java code, builds libnearkit_jni with
#                  CMake (into <build>/java-native), runs the JUnit 5 suite (golden manifest,
#                  cross-language files with this build's CLI, bad input, close, concurrency,
#                  loader), checks the javadoc and installs io.nearkit:nearkit into the local
#                  Maven repository; the fixture the example needs
#   java_artifacts check-artifacts.cmake: the jar, sources jar and javadoc jar exist with their
#                  contents (classes, native library, licence; sources; javadoc pages), in target/
#                  and in the local Maven repository, and the pom has Maven Central's metadata
#   java_example   the separate Maven project java/examples/, which depends on the installed jar
#                  as an ordinary dependency, compiled and run: QuickStart, then ReadmeExample (the
#                  README's snippets; ReadmeTest in the JUnit suite checks they are the README's)
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

# The local repository `mvn install` writes to (Maven's default; override if settings.xml moves it,
# or set it empty to skip checking the installed copies).
set(NEARKIT_MAVEN_REPO_LOCAL "$ENV{HOME}/.m2/repository" CACHE PATH
    "The local Maven repository java_install installs into")
add_test(NAME java_artifacts
         COMMAND "${CMAKE_COMMAND}" "-DJAVA_DIR=${_nk_java_dir}"
                 "-DLOCAL_REPO=${NEARKIT_MAVEN_REPO_LOCAL}" -P "${_nk_java_dir}/check-artifacts.cmake")
set_tests_properties(java_artifacts PROPERTIES LABELS java FIXTURES_REQUIRED nearkit_java_installed
                     TIMEOUT 120)

add_test(NAME java_example
         COMMAND "${NEARKIT_MVN_EXECUTABLE}" -q -B compile exec:exec exec:exec@readme
         WORKING_DIRECTORY "${_nk_java_dir}/examples")
set_tests_properties(java_example PROPERTIES LABELS java FIXTURES_REQUIRED nearkit_java_installed
                     TIMEOUT 600)
