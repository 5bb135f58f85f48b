#!/usr/bin/env bash
# ctest portable_natives_glibc217: the portable natives of the Java and Node.js packages, x86-64.
#   bash ci/check_portable_natives.sh DIR
# 1. ci/portable_natives.sh x86_64 builds libnearkit_jni.so and the Node addon for glibc 2.17
#    against scipy-openblas32's shared OpenBLAS, and checks every native with readelf
#    (ci/check_glibc_versions.py).
# 2. Java: a jar of the main classes (javac, jar), made portable by ci/portable_jar.sh, checked
#    again with readelf; a small program on that jar alone searches (its loader extracts the
#    companion libraries beside the JNI library) and leaves nothing in its temporary directory;
#    with a companion missing from the jar, loading fails naming it, and leaves nothing either.
# 3. Node: ci/portable_npm.sh packs the package with the portable prebuild; the tarball is
#    installed in a new directory with only node, npm and sh on the PATH (no compiler, CMake or
#    Python: the install script must take the prebuild), and searches there.
# Exit status 77 (a ctest skip) with the reason when the natives cannot be built on this machine.
set -euo pipefail
dir=${1:?usage: ci/check_portable_natives.sh DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
py=${NEARKIT_PYTHON:-python3}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ "$(uname -m)" != x86_64 ]; then
  echo "SKIP: the portable build runs on an x86-64 machine (this is $(uname -m))"
  exit 77
fi
for tool in readelf javac jar java node npm; do
  command -v "$tool" >/dev/null || { echo "SKIP: no $tool"; exit 77; }
done
step() { echo "== $(date -u +%H:%M:%S) $*"; }

step "1. the natives"
natives="$dir/x86_64"
bash "$here/portable_natives.sh" x86_64 "$natives" >"$dir/portable_natives.log" 2>&1 || {
  rc=$?
  tail -n 30 "$dir/portable_natives.log"
  [ $rc -eq 77 ] && echo "SKIP: the portable natives cannot be built here (above)"
  exit $rc
}
sed -n '/^ok \|^TOO NEW\|^check_glibc/p' "$dir/portable_natives.log"

step "2. Java: the portable jar"
rm -rf "$dir/classes" "$dir/smoke" "$dir/jar-tmp"
mkdir -p "$dir/classes" "$dir/smoke" "$dir/jar-tmp"
javac -nowarn -d "$dir/classes" $(find "$repo/java/src/main/java" -name '*.java')
jar cf "$dir/classes.jar" -C "$dir/classes" .
jar_path="$dir/nearkit-portable.jar"
bash "$here/portable_jar.sh" "$dir/classes.jar" "$jar_path" "$natives"
"$py" "$here/check_glibc_versions.py" "$jar_path"
javac -cp "$jar_path" -d "$dir/smoke" "$here/portable_smoke/Smoke.java"
java -Dnearkit.native.tmpdir="$dir/jar-tmp" -cp "$jar_path:$dir/smoke" Smoke
no_leftovers() {
  if [ -n "$(ls -A "$dir/jar-tmp")" ]; then
    echo "FAIL: the loader left files behind in $dir/jar-tmp ($1):" $(ls -A "$dir/jar-tmp")
    exit 1
  fi
}
no_leftovers "after a search"
# A jar whose index lists a library it lacks: a clear error naming it, and nothing left behind.
"$py" - "$jar_path" "$dir/broken.jar" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w") as dst:
    for info in src.infolist():
        if "/libgfortran" not in info.filename:
            dst.writestr(info, src.read(info))
PYEOF
if java -Dnearkit.native.tmpdir="$dir/jar-tmp" -cp "$dir/broken.jar:$dir/smoke" Smoke >"$dir/broken.log" 2>&1 ||
  ! grep -q "lists the companion library .*libgfortran.* but does not carry it" "$dir/broken.log"; then
  cat "$dir/broken.log"
  echo "FAIL: a jar without its libgfortran should fail to load, naming it"
  exit 1
fi
no_leftovers "after a failed load"
echo "a jar missing a companion library fails with: $(grep -o 'nearkit: the jar lists[^;]*it' "$dir/broken.log" | head -1)"

step "3. Node: the portable npm package"
bash "$here/portable_npm.sh" "$dir/npm" "$natives"
tarball=$(ls "$dir"/npm/nearkit-*.tgz)
tar -tzf "$tarball" >"$dir/npm/contents.txt"
grep '^package/prebuilds/' "$dir/npm/contents.txt" | sed 's/^/  /'
for want in package/prebuilds/linux-x64/nearkit.node package/prebuilds/linux-x64/libscipy_openblas.so \
  package/prebuilds/linux-x64/LICENSE-scipy-openblas32.txt package/THIRD_PARTY_NOTICES.txt; do
  grep -qx "$want" "$dir/npm/contents.txt" || { echo "FAIL: $tarball lacks $want"; exit 1; }
done
# Only node, npm and sh on the PATH: no compiler, CMake, make or Python to build from source with.
bare="$dir/bare-bin"
rm -rf "$bare" "$dir/npm-user"
mkdir -p "$bare" "$dir/npm-user"
for tool in node npm sh; do ln -s "$(readlink -f "$(command -v "$tool")")" "$bare/$tool"; done
(cd "$dir/npm-user" && echo '{"name": "portable-user", "private": true}' >package.json &&
  env -i HOME="$dir/npm-user" PATH="$bare" npm install --offline --no-audit --no-fund --silent "$tarball")
installed="$dir/npm-user/node_modules/nearkit"
[ ! -e "$installed/build" ] || { echo "FAIL: the install built the addon from source instead of taking the prebuild"; exit 1; }
# Run from the user's directory, so that require('nearkit') finds the installed package.
cp "$here/portable_smoke/smoke.js" "$dir/npm-user/"
(cd "$dir/npm-user" && env -i PATH="$bare" node smoke.js)
step "done"
