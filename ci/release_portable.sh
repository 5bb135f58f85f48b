#!/usr/bin/env bash
# The portable wheels' full check, too slow for ctest (the aarch64 half runs under emulation):
#
#   bash ci/release_portable.sh [--natives | --aarch64-only] [--pythons "X.Y ..."]
#        [--aarch64-pythons "X.Y ..."] [--aarch64-suites "X.Y ..."] [OUTDIR] [-- PYTEST-ARGS...]
#                                                    (default OUTDIR: build/portable-release)
#
# 1. Builds the manylinux2014 wheels (ci/portable_wheel.sh): x86_64 for the tools' CPython (3.11)
#    and for the other CPythons of --pythons (default: 3.9 3.10 3.12 3.13); aarch64, cross, for
#    each CPython of --aarch64-pythons (default: 3.9 3.10 3.11 3.12 3.13), with that version's
#    headers. A version without an interpreter here is reported and left out
#    (ci/portable_common.sh's portable_python_prepare says where they come from).
# 2. Checks each wheel: readelf finds no GLIBC_ version newer than 2.17 in any native
#    (ci/check_glibc_versions.py), the licence files are in (ci/check_portable_wheel_licences.py),
#    and `auditwheel show` gives the manylinux_2_17 tag of its architecture.
# 3. x86_64: installs the 3.11 wheel in a new venv and runs the golden suite
#    (python/tests/test_golden.py); then each other version's wheel in a venv of the interpreter
#    that built it, with numpy and pytest from PyPI (the newest for that version): a smoke search
#    (ci/portable_smoke/smoke.py) and the golden suite.
# 3b. Bit for bit: the x86_64 wheel's `nearkit` program and the normal build's (NEARKIT_CLI,
#    default build/nearkit: gcc, Debian's OpenBLAS) write the same index files, ids and distances
#    for several kinds and metrics (one thread: a threaded HNSW build differs run to run anyway).
# 4. aarch64 under qemu-user, for each aarch64 wheel: Debian's arm64 CPython of that version where
#    a Debian release on the machine's mirror ships it (3.9: bullseye, 3.11: bookworm, 3.13:
#    trixie), unpacked with its C runtime into OUTDIR/aarch64-root[-SUITE] (portable_debian_root:
#    `apt-get download` with a private package list, then `dpkg -x`, so the machine's own apt
#    setup is untouched); numpy, pytest and pytest-xdist from PyPI's aarch64 wheels for that
#    version (`pip download --platform`), the nearkit wheel unpacked beside them. Then the
#    `nearkit` program, a smoke search and, for the versions of --aarch64-suites (default: all
#    that have an interpreter), the golden suite on NEARKIT_QEMU_WORKERS (default 2) pytest-xdist
#    workers, each its own qemu-aarch64 process. Versions no Debian release ships (3.10, 3.12) are
#    built and checked but reported "not tested": there is no arm64 interpreter of them here.
# 5. The Java and Node.js natives for aarch64 (ci/portable_natives.sh): the jar made portable
#    (ci/portable_jar.sh over the main classes) and the npm package (ci/portable_npm.sh, unpacked
#    into node_modules/) search under qemu-aarch64 with Debian 12's arm64 JVM and Node.js
#    (ci/portable_smoke/). --natives runs this step only; --aarch64-only runs steps 1, 2 and 4 for
#    the aarch64 wheels only.
# PYTEST-ARGS go to every golden-suite run (e.g. -- -k "flat" for a shorter run). Ends with a
# table of the aarch64 results; exit status 1 when any check or suite failed.
# Needs root for apt-get (or qemu-user and the packages already in place).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/build/portable-release
natives_only=""
aarch64_only=""
other_pythons="3.9 3.10 3.12 3.13"
aarch64_pythons="3.9 3.10 3.11 3.12 3.13"
aarch64_suites=""
while [ $# -gt 0 ]; do
  case "$1" in
    --natives) natives_only=1; shift ;;
    --aarch64-only) aarch64_only=1; shift ;;
    --pythons) other_pythons=${2?--pythons needs a list such as "3.9 3.13"}; shift 2 ;;
    --aarch64-pythons) aarch64_pythons=${2?--aarch64-pythons needs a list such as "3.11 3.13"}; shift 2 ;;
    --aarch64-suites) aarch64_suites=${2?--aarch64-suites needs a list such as "3.11"}; shift 2 ;;
    *) break ;;
  esac
done
if [ $# -gt 0 ] && [ "$1" != -- ]; then
  out=$1
  shift
fi
[ "${1:-}" = -- ] && shift
pytest_args=("$@")
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${NEARKIT_PYTHON:-python3}
tests=(-q -p no:cacheprovider "$repo/python/tests/test_golden.py")
export NEARKIT_SOURCE_DIR="$repo" NEARKIT_GOLDEN_DIR="$repo/tests/golden" PYTHONDONTWRITEBYTECODE=1
step() { echo "== $(date -u +%H:%M:%S) $*"; }
skip() {
  echo "ci/release_portable.sh: cannot go on: $*" >&2
  exit 1
}
source "$repo/ci/portable_common.sh" # portable_debian_root, portable_find_python, portable_python_venv

# aarch64_root SUITE PACKAGE...: an aarch64 root, Debian SUITE's arm64 PACKAGEs unpacked in
# $out/aarch64-root (bookworm) or $out/aarch64-root-SUITE (portable_debian_root in
# ci/portable_common.sh: `apt-get download` with a private package list, then `dpkg -x`, so the
# machine's own apt setup is untouched); sets root.
aarch64_root() {
  local suite=$1
  shift
  if ! command -v qemu-aarch64 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
  fi
  root="$out/aarch64-root"
  [ "$suite" = bookworm ] || root="$out/aarch64-root-$suite"
  portable_debian_root "$root" "$suite" arm64 "$@"
  # Trixie's libc6 is merged-/usr: the loader every program names, /lib/ld-linux-aarch64.so.1,
  # is in usr/lib only, and qemu-aarch64 -L looks for it under ROOT/lib.
  [ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
}

# Step 5 (see the top).
release_natives() {
  step "5. the Java and Node.js natives for aarch64 under qemu-user"
  local natives="$out/natives-aarch64" smoke="$out/natives-smoke" java_arm64
  bash "$repo/ci/portable_natives.sh" aarch64 "$natives" >"$out/natives-aarch64.log" 2>&1 ||
    { tail -n 30 "$out/natives-aarch64.log"; exit 1; }
  sed -n '/^ok \|^TOO NEW\|^check_glibc/p' "$out/natives-aarch64.log"
  aarch64_root bookworm libc6 libgcc-s1 libstdc++6 zlib1g openjdk-17-jre-headless \
    nodejs libnode108 libuv1 libicu72 libssl3 libc-ares2 libbrotli1 libnghttp2-14 \
    node-acorn node-cjs-module-lexer node-undici
  qemu=(qemu-aarch64 -L "$root")
  rm -rf "$smoke"
  mkdir -p "$smoke/classes" "$smoke/tmp" "$smoke/node_modules/nearkit"
  javac -nowarn -d "$smoke/classes" $(find "$repo/java/src/main/java" -name '*.java')
  jar cf "$smoke/classes.jar" -C "$smoke/classes" .
  bash "$repo/ci/portable_jar.sh" "$smoke/classes.jar" "$smoke/nearkit-portable.jar" "$natives"
  javac -cp "$smoke/nearkit-portable.jar" -d "$smoke" "$repo/ci/portable_smoke/Smoke.java"
  java_arm64=$(ls "$root"/usr/lib/jvm/java-17-openjdk-arm64/bin/java)
  "${qemu[@]}" "$java_arm64" -Dnearkit.native.tmpdir="$smoke/tmp" -cp "$smoke/nearkit-portable.jar:$smoke" Smoke
  bash "$repo/ci/portable_npm.sh" "$smoke/npm" "$natives"
  tar -C "$smoke/node_modules/nearkit" --strip-components=1 -xzf "$smoke"/npm/nearkit-*.tgz
  cp "$repo/ci/portable_smoke/smoke.js" "$smoke/"
  (cd "$smoke" && "${qemu[@]}" "$root/usr/bin/node" -p 'process.arch' && "${qemu[@]}" "$root/usr/bin/node" smoke.js)
  bash "$repo/ci/qemu_golden_natives.sh" "$root" "$smoke/nearkit-portable.jar" "$smoke"/npm/nearkit-*.tgz "$out/natives-golden"
  step "done: the aarch64 natives search under qemu"
}

if [ -n "$natives_only" ]; then
  release_natives
  exit 0
fi

# build_wheel NAME [PORTABLE_WHEEL_ARGS...]: ci/portable_wheel.sh into $out/NAME (log: $out/NAME.log);
# status 77 when its interpreter cannot be had here.
build_wheel() {
  local name=$1 rc=0
  shift
  bash "$repo/ci/portable_wheel.sh" "$@" "$out/$name" >"$out/$name.log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 30 "$out/$name.log"
    return $rc
  fi
  cat "$out/$name/auditwheel-show.txt"
}

# check_wheel WHEEL ARCH: step 2 for one wheel (readelf, licences, auditwheel's tag).
check_wheel() {
  local wheel=$1 arch=$2
  "$py" "$repo/ci/check_glibc_versions.py" "$wheel" &&
    "$py" "$repo/ci/check_portable_wheel_licences.py" "$wheel" &&
    grep -q "\"manylinux_2_17_$arch\"" "$(dirname "$wheel")/auditwheel-show.txt" &&
    echo "auditwheel show: manylinux_2_17_$arch"
}

# ---- x86_64 (steps 1 to 3b) -------------------------------------------------------------------------
release_x86_64() {
  step "1. the x86_64 wheels"
  build_wheel x86_64 x86_64 || exit 1
  wheel_x86_64=$(ls "$out"/x86_64/nearkit-*manylinux2014_x86_64*.whl)
  built_pythons=()
  local version rc
  for version in $other_pythons; do
    step "1. the x86_64 wheel for CPython $version"
    rc=0
    build_wheel "x86_64-py$version" --python "$version" x86_64 || rc=$?
    case $rc in
      0) built_pythons+=("$version") ;;
      77) echo "NOT BUILT: no CPython $version here (above)" ;;
      *) exit 1 ;;
    esac
  done
  other_wheels=()
  for version in ${built_pythons[@]+"${built_pythons[@]}"}; do
    other_wheels+=("$(ls "$out/x86_64-py$version"/nearkit-*-cp"${version/./}"-*manylinux2014_x86_64*.whl)")
  done

  step "2. the x86_64 wheels: readelf, licences, auditwheel's tag"
  local wheel
  for wheel in "$wheel_x86_64" ${other_wheels[@]+"${other_wheels[@]}"}; do
    check_wheel "$wheel" x86_64 || exit 1
  done

  step "3. x86_64: the golden suite on the installed wheel"
  rm -rf "$out/venv"
  "$py" -m venv --system-site-packages "$out/venv"
  "$out/venv/bin/python" -m pip install -q --disable-pip-version-check --no-input --no-deps "$wheel_x86_64"
  (cd "$out" && "$out/venv/bin/python" -m pytest "${tests[@]}" "${pytest_args[@]}")

  # The other versions' wheels, each in a venv of the interpreter that built it.
  portable_prepare x86_64 # portable_python: the tools' pip fetches each venv's own pip
  for version in ${built_pythons[@]+"${built_pythons[@]}"}; do
    step "3. x86_64, CPython $version: a smoke search and the golden suite on the installed wheel"
    interp=$(portable_find_python "$version")
    venv_python=$(portable_python_venv "$interp" "$out/venv-py$version" numpy pytest)
    "$venv_python" -m pip install -q --disable-pip-version-check --no-input --no-deps --force-reinstall \
      "$(ls "$out/x86_64-py$version"/nearkit-*.whl)"
    (cd "$out" && "$venv_python" "$repo/ci/portable_smoke/smoke.py" &&
      "$(dirname "$venv_python")/nearkit" --version &&
      "$venv_python" -m pytest "${tests[@]}" "${pytest_args[@]}")
  done

  step "3b. x86_64: the same bytes as the normal build"
  normal_cli=${NEARKIT_CLI:-$repo/build/nearkit}
  if [ -x "$normal_cli" ]; then
    cmp_dir="$out/bitcmp"
    rm -rf "$cmp_dir"
    mkdir -p "$cmp_dir"
    "$py" -m zipfile -e "$wheel_x86_64" "$cmp_dir/wheel"
    portable_cli="$cmp_dir/wheel/nearkit/_bin/nearkit"
    chmod +x "$portable_cli"
    "$py" -c 'import numpy as np, sys
r = np.random.default_rng(7)
np.save(sys.argv[1] + "/base.npy", r.standard_normal((20000, 96)).astype(np.float32))
np.save(sys.argv[1] + "/queries.npy", r.standard_normal((500, 96)).astype(np.float32))' "$cmp_dir"
    for spec in flat:l2 flat:cosine flat:ip ivf_flat:l2 ivf_pq:l2 vptree:l1 hnsw:l2; do
      kind=${spec%:*} metric=${spec#*:}
      for side in normal portable; do
        cli=$normal_cli
        [ $side = portable ] && cli=$portable_cli
        stem="$cmp_dir/$side-$kind-$metric"
        "$cli" build --kind "$kind" --metric "$metric" --threads 1 "$cmp_dir/base.npy" "$stem.nkx" >/dev/null
        "$cli" search --k 10 --threads 1 --out "$stem-ids.npy" --distances "$stem-distances.npy" \
          "$stem.nkx" "$cmp_dir/queries.npy" >/dev/null
      done
      for part in .nkx -ids.npy -distances.npy; do
        cmp "$cmp_dir/normal-$kind-$metric$part" "$cmp_dir/portable-$kind-$metric$part"
      done
      echo "same bytes: $kind $metric (index file, ids, distances)"
    done
  else
    echo "no normal build's program at $normal_cli (bash ci/build.sh): not compared"
  fi
}

# ---- aarch64 (steps 1, 2 and 4) ---------------------------------------------------------------------
# aarch64_debian_suite X.Y: the Debian release on the machine's mirror that ships an arm64 CPython
# X.Y (none ships 3.10 or 3.12: bullseye has 3.9, bookworm 3.11, trixie 3.13).
aarch64_debian_suite() {
  case $1 in
    3.9) echo bullseye ;;
    3.11) echo bookworm ;;
    3.13) echo trixie ;;
    *) return 1 ;;
  esac
}

# aarch64_python X.Y: Debian's arm64 CPython X.Y and its C runtime in an aarch64 root, and
# $out/aarch64-site-pyX.Y with PyPI's aarch64 wheels of numpy, pytest and pytest-xdist for X.Y and
# the nearkit wheel unpacked; sets qemu_python, a launcher running that interpreter under
# qemu-aarch64 on that site (a program, so that pytest-xdist can start its workers with it).
aarch64_python() {
  local version=$1 suite ffi site wheels w packages
  suite=$(aarch64_debian_suite "$version")
  ffi=libffi8
  [ "$suite" = bullseye ] && ffi=libffi7
  aarch64_root "$suite" libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 "$ffi" libbz2-1.0 liblzma5 \
    libuuid1 media-types "libpython$version-minimal" "libpython$version-stdlib" "python$version-minimal"
  site="$out/aarch64-site-py$version"
  wheels="$out/aarch64-wheels-py$version"
  packages=(numpy pytest pytest-xdist)
  # pip download evaluates the requirements' markers for the interpreter it runs on, not for
  # --python-version: what pytest needs below 3.11 is named here.
  case "$version" in 3.9 | 3.10) packages+=(exceptiongroup tomli typing-extensions) ;; esac
  if [ "$(cat "$site/.complete" 2>/dev/null)" != "${packages[*]}" ]; then
    rm -rf "$site" "$wheels"
    "$py" -m pip download -q --disable-pip-version-check --no-input --only-binary=:all: \
      --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
      --platform manylinux_2_28_aarch64 --python-version "$version" -d "$wheels" "${packages[@]}"
    for w in "$wheels"/*.whl; do "$py" -m zipfile -e "$w" "$site"; done
    echo "${packages[*]}" >"$site/.complete"
  fi
  rm -rf "$site/nearkit" "$site"/nearkit.libs "$site"/nearkit-*.dist-info
  "$py" -m zipfile -e "$(ls "$out/aarch64-py$version"/nearkit-*manylinux2014_aarch64*.whl)" "$site"
  chmod +x "$site/nearkit/_bin/nearkit"
  qemu_python="$out/aarch64-python$version"
  printf '#!/bin/sh\nPYTHONPATH="%s" exec qemu-aarch64 -L "%s" "%s" "$@"\n' \
    "$site" "$root" "$root/usr/bin/python$version" >"$qemu_python"
  chmod +x "$qemu_python"
  qemu_nearkit=(qemu-aarch64 -L "$root" "$site/nearkit/_bin/nearkit")
}

# aarch64_golden X.Y: the golden suite under qemu on NEARKIT_QEMU_WORKERS pytest-xdist workers;
# prints pytest's closing line, the log in $out/aarch64-pyX.Y-golden.log.
aarch64_golden() {
  local version=$1 workers=${NEARKIT_QEMU_WORKERS:-2} xdist=() start rc=0
  [ "$workers" -gt 1 ] && xdist=(--dist load --tx "$workers*popen//python=$qemu_python")
  start=$(date +%s)
  # One OpenBLAS thread per worker (numpy's and nearkit's), unless told otherwise: the workers
  # already fill the cores, and a spinning OpenBLAS thread is dear under emulation.
  (cd "$out" && OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} "$qemu_python" -m pytest "${tests[@]}" \
    ${xdist[@]+"${xdist[@]}"} ${pytest_args[@]+"${pytest_args[@]}"}) \
    >"$out/aarch64-py$version-golden.log" 2>&1 || rc=$?
  tail -n 1 "$out/aarch64-py$version-golden.log"
  echo "($(($(date +%s) - start)) s on $workers workers)"
  return $rc
}

# release_aarch64: steps 1, 2 and 4 for each version of --aarch64-pythons; one line per version
# in $out/aarch64-summary.txt.
release_aarch64() {
  local version rc wheel summary="$out/aarch64-summary.txt" result failed=0
  : >"$summary"
  for version in $aarch64_pythons; do
    step "1. the aarch64 wheel for CPython $version"
    rc=0
    build_wheel "aarch64-py$version" --python "$version" aarch64 || rc=$?
    case $rc in
      0) ;;
      77) echo "cp${version/./} aarch64: NOT BUILT (no CPython $version here)" >>"$summary"; continue ;;
      *)
        echo "cp${version/./} aarch64: BUILD FAILED ($out/aarch64-py$version.log)" >>"$summary"
        failed=1
        continue ;;
    esac
    wheel=$(ls "$out/aarch64-py$version"/nearkit-*manylinux2014_aarch64*.whl)
    step "2. the aarch64 wheel for CPython $version: readelf, licences, auditwheel's tag"
    if ! check_wheel "$wheel" aarch64; then
      echo "cp${version/./} aarch64: CHECK FAILED (above)" >>"$summary"
      failed=1
      continue
    fi
    if ! aarch64_debian_suite "$version" >/dev/null; then
      echo "cp${version/./} aarch64: built and checked; not tested (no arm64 CPython $version" \
        "in a Debian release on the machine's mirror)" >>"$summary"
      continue
    fi
    step "4. aarch64, CPython $version ($(aarch64_debian_suite "$version")'s) under qemu-user"
    aarch64_python "$version"
    if ! { "${qemu_nearkit[@]}" --version && (cd "$out" && "$qemu_python" -c 'import platform, sys
print("aarch64 python:", platform.machine(), sys.version.split()[0])' &&
      "$qemu_python" "$repo/ci/portable_smoke/smoke.py"); }; then
      echo "cp${version/./} aarch64: SMOKE FAILED (above)" >>"$summary"
      failed=1
      continue
    fi
    result="built and checked; smoke search passed"
    if [ -z "$aarch64_suites" ] || [[ " $aarch64_suites " == *" $version "* ]]; then
      step "4. aarch64, CPython $version: the golden suite under qemu-user"
      rc=0
      result="$result; golden suite: $(aarch64_golden "$version" | tr '\n' ' ')" || rc=$?
      [ $rc -eq 0 ] || { result="$result FAILED"; failed=1; }
    fi
    echo "cp${version/./} aarch64: $result" >>"$summary"
  done
  step "the aarch64 wheels"
  cat "$summary"
  return $failed
}

if [ -n "$aarch64_only" ]; then
  release_aarch64
  exit $?
fi
release_x86_64
aarch64_failed=0
release_aarch64 || aarch64_failed=1
[ $aarch64_failed -eq 0 ] || { echo "ci/release_portable.sh: an aarch64 wheel failed (above)" >&2; exit 1; }
release_natives
