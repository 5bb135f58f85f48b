#!/bin/sh
# JNI overhead benchmark: bench/java/run.sh [BUILD_DIR]
# BUILD_DIR is the root CMake build holding bench_overhead_c (default: build/ of the repository).
# Installs the Java package into the local Maven repository first if it is not there.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
if [ ! -x "$build/bench_overhead_c" ]; then
    cmake --build "$build" --target bench_overhead_c -j2 >/dev/null
fi
repo="$HOME/.m2/repository"
if [ ! -f "$repo/io/nearkit/nearkit/0.1.0/nearkit-0.1.0.jar" ]; then
    (cd "$root/java" && mvn -q -B install -DskipTests)
fi
cd "$here"
mvn -q -B compile exec:exec -Dbench.c="$build/bench_overhead_c"
