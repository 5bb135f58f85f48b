#!/usr/bin/env bash
# The golden suites of the Java and Node.js packages on their aarch64 natives, under qemu-user
# (issue 20): the JUnit GoldenTest on the portable jar, and node/test/golden.test.js on the
# installed portable npm package, each run by Debian 12's arm64 JVM / Node.js in an aarch64 root.
#
#   bash ci/qemu_golden_natives.sh [--quick | --cases PREFIXES] [--only java|node]
#                                  ROOT PORTABLE_JAR NPM_TARBALL WORKDIR
#
# ROOT: an aarch64 root holding openjdk-17-jre-headless and nodejs (ci/release_portable.sh's
# release_natives unpacks it with portable_debian_root and calls this script with the jar and
# tarball it made). WORKDIR is emptied and filled with the test classes and the npm install.
# - Java: the test classes are compiled here on x86-64 (bytecode is portable) against the jar and
#   JUnit's console launcher (junit-platform-console-standalone from Maven Central, the platform
#   version that goes with the pom's junit.version, cached in ~/.cache/nearkit/junit); only the JVM
#   runs under qemu, with the jar, the classes and the launcher on its class path.
# - Node.js: the tarball is installed into WORKDIR/npm with --ignore-scripts (its install script only
#   checks in a child process that the prebuild loads, and qemu-user cannot start an aarch64 child
#   without binfmt_misc); golden.test.js and helpers.js are copied into the installed package's
#   test/ so that their require('..') is the installed package, and the test file is run directly
#   (in-process: `node --test` would spawn a child).
# The full suites take hours under emulation on a shared 2-core machine (README, "Packaging: portable
# Java and Node.js natives"). --cases PREFIXES (comma-separated) runs only the manifest's k-NN /
# range and living cases whose names start with one of them, on every kind as in the full suite
# (Java: their dynamic containers selected by unique id; Node.js: --test-name-pattern). --quick is
# --cases grid_2d-,binary_duplicates128-,tiny_5-,single-: the small datasets, every metric, and
# living cases with filters, removals and ids added back. --only: one of the two suites.
# NEARKIT_QEMU_GOLDEN_CASES=PREFIXES (or =quick) does the same as --cases (or --quick) when the script
# is run by ci/release_portable.sh --natives.
# Everything runs at nice 19 (the machine is shared with benchmarks).
set -euo pipefail
usage="usage: ci/qemu_golden_natives.sh [--quick | --cases PREFIXES] [--only java|node] ROOT PORTABLE_JAR NPM_TARBALL WORKDIR"
quick_cases=grid_2d-,binary_duplicates128-,tiny_5-,single-
cases=${NEARKIT_QEMU_GOLDEN_CASES:-} suites="java node"
[ "$cases" = quick ] && cases=$quick_cases
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) cases=$quick_cases; shift ;;
    --cases) cases=${2:?"$usage"}; shift 2 ;;
    --only) suites=${2:?"$usage"}; shift 2 ;;
    *) break ;;
  esac
done
[ $# -eq 4 ] || { echo "$usage" >&2; exit 2; }
root=$(cd "$1" && pwd)
jar=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
tarball=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
work=$4
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
renice -n 19 $$ >/dev/null

fail() {
  echo "ci/qemu_golden_natives.sh: $*" >&2
  exit 1
}
java_arm64=$(ls "$root"/usr/lib/jvm/java-*-openjdk-arm64/bin/java 2>/dev/null | head -1)
node_arm64=$root/usr/bin/node
[ -n "$java_arm64" ] || fail "no arm64 JVM in $root (openjdk-17-jre-headless)"
[ -x "$node_arm64" ] || fail "no arm64 node in $root (nodejs)"
[ -f "$jar" ] && [ -f "$tarball" ] || fail "no jar $jar or tarball $tarball"
qemu=(qemu-aarch64 -L "$root")
golden_dir=$repo/tests/golden
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

# JUnit's console launcher for the pom's JUnit: Jupiter 5.x goes with platform 1.x, later
# releases share one version number.
junit_console() {
  local jupiter platform cache
  jupiter=$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' "$repo/java/pom.xml")
  case "$jupiter" in
    5.*) platform=1.${jupiter#5.} ;;
    *) platform=$jupiter ;;
  esac
  cache="${HOME:-/root}/.cache/nearkit/junit"
  console="$cache/junit-platform-console-standalone-$platform.jar"
  if [ ! -f "$console" ]; then
    mvn -q -B dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform" \
      -DoutputDirectory="$cache" >&2 || fail "cannot fetch junit-platform-console-standalone $platform"
  fi
}

# seconds since $1 (date +%s)
since() { echo $(($(date +%s) - $1)); }

# The JUnit selectors of the cases named by $cases: GoldenTest's factories manifest() and living()
# make one dynamic container per case, numbered from 1 in the manifest's order.
java_case_selectors() {
  python3 - "$golden_dir/manifest.json" "$cases" <<'PY'
import json, sys
manifest = json.load(open(sys.argv[1]))
prefixes = tuple(sys.argv[2].split(","))
test_class = "[engine:junit-jupiter]/[class:io.nearkit.GoldenTest]"
for factory, section in (("manifest()", "cases"), ("living()", "living")):
    for number, case in enumerate(manifest.get(section, []), 1):
        if case["name"].startswith(prefixes):
            print("--select-unique-id=%s/[test-factory:%s]/[dynamic-container:#%d]" % (test_class, factory, number))
PY
}

java_golden() {
  local select=(--select-class io.nearkit.GoldenTest) start
  [ -n "$cases" ] && mapfile -t select < <(java_case_selectors)
  [ ${#select[@]} -gt 0 ] || fail "no golden case starts with $cases"
  junit_console
  mkdir -p "$work/test-classes" "$work/java-tmp"
  # -sourcepath: GoldenTest and only the test classes it uses (Golden, Json, Vecs).
  javac -nowarn --release 17 -d "$work/test-classes" -cp "$jar:$console" \
    -sourcepath "$repo/java/src/test/java" "$repo/java/src/test/java/io/nearkit/GoldenTest.java"
  echo "java: GoldenTest under qemu-aarch64, $("${qemu[@]}" "$java_arm64" -version 2>&1 | head -1)"
  start=$(date +%s)
  "${qemu[@]}" "$java_arm64" -Dnearkit.golden.dir="$golden_dir" -Dnearkit.native.tmpdir="$work/java-tmp" \
    -Djava.io.tmpdir="$work/java-tmp" -cp "$console:$jar:$work/test-classes" \
    org.junit.platform.console.ConsoleLauncher execute --disable-banner --details=summary \
    --fail-if-no-tests "${select[@]}"
  echo "java golden suite: passed in $(since "$start") s"
}

node_golden() {
  local pkg="$work/npm/node_modules/nearkit" pattern=() start
  # the case's tests: "golden NAME", "living NAME" (a matching test runs all its subtests, one per
  # kind) and "recall NAME KIND", one per approximate kind (Java's are in the case's container)
  [ -n "$cases" ] && pattern=(--test-name-pattern "^(golden|living|recall) (${cases//,/|})")
  npm install --prefix "$work/npm" --ignore-scripts --no-audit --no-fund --silent "$tarball"
  mkdir -p "$pkg/test"
  cp "$repo/node/test/golden.test.js" "$repo/node/test/helpers.js" "$pkg/test/"
  (cd "$work/npm" && "${qemu[@]}" "$node_arm64" -e \
    'console.log("node:", process.version, process.arch, "nearkit from", require.resolve("nearkit"))')
  start=$(date +%s)
  (cd "$work/npm" && NEARKIT_GOLDEN_DIR="$golden_dir" TMPDIR="$work/npm" \
    "${qemu[@]}" "$node_arm64" ${pattern[@]+"${pattern[@]}"} "$pkg/test/golden.test.js") >"$work/node-golden.tap" ||
    { grep -B2 -A20 '^not ok\|^ *not ok' "$work/node-golden.tap" | head -80; tail -n 9 "$work/node-golden.tap"; fail "node golden suite failed"; }
  tail -n 8 "$work/node-golden.tap"
  echo "node golden suite: passed in $(since "$start") s (TAP: $work/node-golden.tap)"
}

for suite in $suites; do
  case "$suite" in
    java) java_golden ;;
    node) node_golden ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
