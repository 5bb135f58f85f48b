#!/usr/bin/env bash
# Packs the portable npm package: node/ with the portable prebuilt addons of ci/portable_natives.sh
# (glibc 2.17; one OUTDIR per architecture) in prebuilds/<platform>-<arch>/, each beside the
# libraries it loads through RUNPATH $ORIGIN and their licence file.
#
#   bash ci/portable_npm.sh PACK_DIR NATIVES_OUTDIR...
#
# Copies the package's files and the C sources its prepack script vendors into PACK_DIR/stage
# (the source tree's node/ is left alone: its own build and tests use it), replaces its prebuilds/
# by NATIVES_OUTDIR/node/*, and runs `npm pack` there with NEARKIT_KEEP_PREBUILDS=1 (prepack.js
# then neither builds nor replaces them). Leaves PACK_DIR/nearkit-<version>.tgz.
set -euo pipefail
usage="usage: ci/portable_npm.sh PACK_DIR NATIVES_OUTDIR..."
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
pack=$(cd "$1" && pwd)
shift
stage="$pack/stage"
rm -rf "$stage" "$pack"/nearkit-*.tgz
mkdir -p "$stage/bindings"
# What prepack.js copies from the repository into deps/nearkit, and the package's own files
# (without the local builds, modules and earlier prebuilds).
cp -r "$repo/CMakeLists.txt" "$repo/include" "$repo/core" "$repo/LICENSE" "$repo/THIRD_PARTY_NOTICES.txt" "$stage/"
cp "$repo"/bindings/handle.[ch] "$stage/bindings/"
tar -C "$repo" --exclude=node/node_modules --exclude=node/build --exclude=node/build-core \
  --exclude=node/prebuilds --exclude=node/deps -cf - node | tar -C "$stage" -xf -
mkdir -p "$stage/node/prebuilds"
for natives in "$@"; do
  ls -d "$natives"/node/*/ >/dev/null 2>&1 ||
    { echo "ci/portable_npm.sh: $natives/node/ holds no prebuild (ci/portable_natives.sh makes it)" >&2; exit 1; }
  cp -r "$natives"/node/* "$stage/node/prebuilds/"
done
(cd "$stage/node" && NEARKIT_KEEP_PREBUILDS=1 npm pack --silent --pack-destination "$pack" >/dev/null)
ls "$pack"/nearkit-*.tgz
