#!/usr/bin/env bash
# The portable wheels' full check, too slow for ctest (the aarch64 half runs under emulation):
#
#   bash ci/release_portable.sh [--natives] [--pythons "X.Y ..."] [OUTDIR] [-- PYTEST-ARGS...]
#                                                    (default OUTDIR: build/portable-release)
#
# 1. Builds the manylinux2014 wheels for x86_64 and aarch64 (ci/portable_wheel.sh), for the tools'
#    CPython (3.11), and x86_64 wheels for the other CPythons of --pythons (default: 3.9 3.10 3.12
#    3.13; one without an interpreter here is reported and left out: ci/portable_common.sh's
#    portable_python_prepare says where they come from).
# 2. readelf: no native in any needs a GLIBC_ version newer than 2.17 (ci/check_glibc_versions.py).
# 3. x86_64: installs the 3.11 wheel in a new venv and runs the golden suite
#    (python/tests/test_golden.py); then each other version's wheel in a venv of the interpreter
#    that built it, with numpy and pytest from PyPI (the newest for that version): a smoke search
#    (ci/portable_smoke/smoke.py) and the golden suite.
# 4. aarch64: an aarch64 root with Debian 12's arm64 python3.11 and C runtime (`apt-get download`
#    with a private package list, then `dpkg -x`, so the machine's own apt setup is untouched),
#    numpy and pytest from aarch64 wheels (`pip download --platform`), the nearkit wheel unpacked
#    beside them; then the golden suite and the `nearkit` program under `qemu-aarch64 -L ROOT`.
# 3b. Bit for bit: the x86_64 wheel's `nearkit` program and the normal build's (NEARKIT_CLI,
#    default build/nearkit: gcc, Debian's OpenBLAS) write the same index files, ids and distances
#    for several kinds and metrics (one thread: a threaded HNSW build differs run to run anyway).
# 5. The Java and Node.js natives for aarch64 (ci/portable_natives.sh): the jar made portable
#    (ci/portable_jar.sh over the main classes) and the npm package (ci/portable_npm.sh, unpacked
#    into node_modules/) search under qemu-aarch64 with Debian 12's arm64 JVM and Node.js
#    (ci/portable_smoke/). --natives runs this step only.
# PYTEST-ARGS go to both pytest runs (e.g. -- -k "flat" for a shorter run).
# Needs root for apt-get (or qemu-user and the packages already in place).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/build/portable-release
natives_only=""
other_pythons="3.9 3.10 3.12 3.13"
while [ $# -gt 0 ]; do
  case "$1" in
    --natives) natives_only=1; shift ;;
    --pythons) other_pythons=${2?--pythons needs a list such as "3.9 3.13"}; shift 2 ;;
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

# An aarch64 root: Debian 12's arm64 PACKAGES unpacked in $out/aarch64-root (portable_debian_root in
# ci/portable_common.sh: `apt-get download` with a private package list, then `dpkg -x`, so the
# machine's own apt setup is untouched).
aarch64_root() {
  if ! command -v qemu-aarch64 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
  fi
  root="$out/aarch64-root"
  portable_debian_root "$root" bookworm arm64 "$@"
}
python_root_packages=(libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libbz2-1.0 liblzma5 libuuid1
  libpython3.11-minimal libpython3.11-stdlib python3.11-minimal media-types)

# Step 5 (see the top).
release_natives() {
  step "5. the Java and Node.js natives for aarch64 under qemu-user"
  local natives="$out/natives-aarch64" smoke="$out/natives-smoke" java_arm64
  bash "$repo/ci/portable_natives.sh" aarch64 "$natives" >"$out/natives-aarch64.log" 2>&1 ||
    { tail -n 30 "$out/natives-aarch64.log"; exit 1; }
  sed -n '/^ok \|^TOO NEW\|^check_glibc/p' "$out/natives-aarch64.log"
  aarch64_root libc6 libgcc-s1 libstdc++6 zlib1g openjdk-17-jre-headless \
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

step "1. the wheels"
for arch in x86_64 aarch64; do
  build_wheel "$arch" "$arch" || exit 1
done
wheel_x86_64=$(ls "$out"/x86_64/nearkit-*manylinux2014_x86_64*.whl)
wheel_aarch64=$(ls "$out"/aarch64/nearkit-*manylinux2014_aarch64*.whl)
built_pythons=()
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

step "2. readelf"
"$py" "$repo/ci/check_glibc_versions.py" "$wheel_x86_64" "$wheel_aarch64" ${other_wheels[@]+"${other_wheels[@]}"}

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

step "4. aarch64 under qemu-user"
aarch64_root "${python_root_packages[@]}"
site="$out/aarch64-site"
if [ ! -d "$site/numpy" ]; then
  "$py" -m pip download -q --disable-pip-version-check --no-input --only-binary=:all: \
    --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --python-version 3.11 \
    -d "$out/aarch64-wheels" numpy pytest
  for w in "$out"/aarch64-wheels/*.whl; do "$py" -m zipfile -e "$w" "$site"; done
fi
rm -rf "$site/nearkit" "$site"/nearkit.libs "$site"/nearkit-*.dist-info
"$py" -m zipfile -e "$wheel_aarch64" "$site"
chmod +x "$site/nearkit/_bin/nearkit"
qemu=(qemu-aarch64 -L "$root")
"${qemu[@]}" "$site/nearkit/_bin/nearkit" --version
(cd "$out" && PYTHONPATH="$site" "${qemu[@]}" "$root/usr/bin/python3.11" -c \
  'import platform, nearkit; print("aarch64 python:", platform.machine(), nearkit.__file__)')
(cd "$out" && PYTHONPATH="$site" "${qemu[@]}" "$root/usr/bin/python3.11" -m pytest "${tests[@]}" \
  "${pytest_args[@]}")
step "done: both wheels pass the golden suite"
release_natives
