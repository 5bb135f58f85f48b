# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install):
# what the Java package (java/) needs to build, test and install. Idempotent and quiet.
#   - A JDK 17 or newer with javac (the machine image may have one already, which is kept;
#     otherwise Debian's openjdk-17-jdk-headless) and Maven.
#   - A C toolchain, cmake/ninja and OpenBLAS (static library included) for the native library
#     (also in ci/deps.sh's core list; repeated here so this file stands alone).
#   - The Maven plugins and test dependencies of java/pom.xml, fetched ahead of the tests.

nearkit_deps_java() {
  local here_java
  here_java=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  local jdk_ok=0
  if command -v javac >/dev/null 2>&1; then
    local major
    major=$(javac -version 2>&1 | sed -n 's/^javac \([0-9][0-9]*\).*/\1/p')
    if [ -n "$major" ] && [ "$major" -ge 17 ]; then
      jdk_ok=1
    fi
  fi
  if [ "$jdk_ok" -eq 0 ]; then
    apt_install openjdk-17-jdk-headless
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    apt_install maven
  fi
  apt_install build-essential cmake ninja-build libopenblas-pthread-dev
  javac -version >/dev/null 2>&1
  mvn -v >/dev/null
  # Resolve the build's plugins and dependencies now, so a registry problem shows up here.
  (cd "$here_java/java" &&
    mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:go-offline >/dev/null)
}

nearkit_deps_java
