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
# Installed every time (about 16 s): a jar left in the local repository by an earlier build would
# carry an older core, and the batch figure would compare two libraries instead of two callers.
(cd "$root/java" && mvn -q -B install -DskipTests)
cd "$here"
mvn -q -B compile exec:exec -Dbench.c="$build/bench_overhead_c"
