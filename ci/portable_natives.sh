#!/usr/bin/env bash
# Builds the portable natives of the Java and Node.js packages for one architecture: the jar's
# libnearkit_jni.so and the npm package's prebuilt addon, for glibc 2.17 whatever this machine's
# glibc, with the tools of ci/portable_common.sh (zig cc, scipy-openblas32's shared OpenBLAS).
#
#   bash ci/portable_natives.sh ARCH OUTDIR      ARCH: x86_64 or aarch64
#
# Leaves
#   OUTDIR/java/linux-ARCH/             libnearkit_jni.so, the companions, libs.txt (their names,
#                                       one a line, which io.nearkit.NativeLib extracts beside
#                                       the JNI library), LICENSE-scipy-openblas32.txt
#   OUTDIR/node/linux-x64|linux-arm64/  nearkit.node, the companions, LICENSE-scipy-openblas32.txt
#                                       (a prebuilds/ directory of the npm package)
# The companions are libscipy_openblas.so and its libgfortran (and libquadmath on x86-64); each native's
# RUNPATH is $ORIGIN, so it needs nothing but glibc 2.17 and the files beside it. Every ELF file
# left is checked with ci/check_glibc_versions.py. ci/portable_jar.sh and ci/portable_npm.sh
# put these into a jar and an npm package. Exit status 77: a tool cannot be installed here.
set -euo pipefail
usage="usage: ci/portable_natives.sh x86_64|aarch64 OUTDIR"
arch=${1:?$usage}
out=${2:?$usage}
case "$arch" in
  x86_64) node_dir=linux-x64 ;;
  aarch64) node_dir=linux-arm64 ;;
  *) echo "ci/portable_natives.sh: unknown architecture '$arch' (x86_64 or aarch64)" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${NEARKIT_PYTHON:-python3}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

skip() {
  echo "ci/portable_natives.sh: SKIP: $*" >&2
  exit 77
}
command -v javac >/dev/null || skip "no javac (a JDK 17+: ci/deps-java.sh)"
command -v node >/dev/null || skip "no node (ci/deps-node.sh)"
command -v cmake >/dev/null || skip "no cmake"
command -v readelf >/dev/null || skip "no readelf (Debian package binutils)"

source "$repo/ci/portable_common.sh"
portable_prepare "$arch"

build="$out/build"
java_out="$out/java/linux-$arch"
node_out="$out/node/$node_dir"
rm -rf "$out/java" "$out/node"
mkdir -p "$build" "$java_out" "$node_out"

# zig cc refuses --exclude-libs, which the normal builds use to keep the core's functions private to
# each native (they cannot clash with another nearkit in the same process): version scripts
# export only the entry points the JVM and Node.js look up.
cat >"$build/jni.map" <<'EOF_MAP'
{ global: Java_*; JNI_OnLoad; JNI_OnUnload; local: *; };
EOF_MAP
cat >"$build/node.map" <<'EOF_MAP'
{ global: napi_register_module_v*; node_api_module_get_api_version_v*; local: *; };
EOF_MAP

# ---- the JNI header (javac -h) and the JDK's jni.h -----------------------------------------------
jdk=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
rm -rf "$build/jni-classes" "$build/jni-headers"
javac -h "$build/jni-headers" -d "$build/jni-classes" -sourcepath "$repo/java/src/main/java" \
  "$repo/java/src/main/java/io/nearkit/NativeLib.java"

# ---- libnearkit_jni.so, and the core's static library the addon links too --------------------------
# java/CMakeLists.txt as Maven runs it, with the portable compiler and OpenBLAS.
cmake -S "$repo/java" -B "$build/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$portable_toolchain" \
  -DCMAKE_C_FLAGS="$portable_cflags" \
  -DCMAKE_SHARED_LINKER_FLAGS="-Wl,--version-script=$build/jni.map" \
  -DNEARKIT_STATIC_OPENBLAS=OFF \
  -DNEARKIT_BLAS_LIBRARY="$openblas_lib/libscipy_openblas.so" \
  -DNEARKIT_CBLAS_INCLUDE_DIR="$openblas_include" \
  -DNEARKIT_BLAS_SYMBOL_PREFIX=scipy_ \
  -DNEARKIT_GLIBC217_COMPAT=ON \
  -DNEARKIT_JNI_HEADERS="$build/jni-headers" \
  -DNEARKIT_JNI_OUTPUT_DIR="$out/java" \
  -DNEARKIT_JNI_PLATFORM="linux-$arch" \
  -DNEARKIT_JAVA_HOME="$jdk" >"$build/cmake-configure.log" ||
  { cat "$build/cmake-configure.log"; exit 1; }
cmake --build "$build/cmake" --target nearkit_jni nearkit_static
core_lib="$build/cmake/nearkit/libnearkit.a"
[ -f "$core_lib" ] || { echo "ci/portable_natives.sh: no $core_lib after the build" >&2; exit 1; }

# ---- the Node-API addon ----------------------------------------------------------------------------
# What node/binding.gyp compiles, linked the way it links (the core statically), but with the
# portable compiler directly: node-gyp knows no cross target. The Node-API
# headers are the ones node/scripts/build.js finds: next to the node program, or /usr/include/node;
# they are the same for every architecture.
node_include=""
for prefix in "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" /usr /usr/local; do
  if [ -f "$prefix/include/node/node_api.h" ]; then
    node_include="$prefix/include/node"
    break
  fi
done
[ -n "$node_include" ] || skip "no Node.js headers (include/node/node_api.h; Debian: libnode-dev)"
# $portable_runtime_libs unquoted: empty, or one archive path.
# shellcheck disable=SC2086
"$portable_cc" -O3 -std=c11 -fPIC -shared -fvisibility=hidden $portable_cflags -DNEARKIT_STATIC \
  -Wall -Wextra -Wno-unused-parameter \
  -I "$repo/include" -I "$repo/bindings" -I "$node_include" \
  -o "$node_out/nearkit.node" "$repo/node/src/nearkit_node.c" "$repo/bindings/handle.c" \
  "$core_lib" "$openblas_lib/libscipy_openblas.so" -lm -lpthread $portable_runtime_libs \
  -Wl,--version-script="$build/node.map" -s

# ---- the companions beside each native, found through RUNPATH $ORIGIN ------------------------------
# libscipy_openblas.so and what it needs from its own directory, transitively: libgfortran, and on
# x86-64 libquadmath (aarch64 has none).
companions=()
pending=(libscipy_openblas.so)
while [ ${#pending[@]} -gt 0 ]; do
  lib=${pending[0]}
  pending=("${pending[@]:1}")
  [[ " ${companions[*]} " == *" $lib "* ]] && continue
  companions+=("$lib")
  for needed in $(readelf -d "$openblas_lib/$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -f "$openblas_lib/$needed" ] && pending+=("$needed")
  done
done
[ ${#companions[@]} -ge 2 ] ||
  { echo "ci/portable_natives.sh: no libgfortran beside $openblas_lib/libscipy_openblas.so" >&2; exit 1; }
for dir in "$java_out" "$node_out"; do
  for lib in "${companions[@]}"; do
    cp "$openblas_lib/$lib" "$dir/"
  done
  cp "$openblas_license" "$dir/LICENSE-scipy-openblas32.txt"
done
printf '%s\n' "${companions[@]}" >"$java_out/libs.txt"
"$portable_patchelf" --set-rpath '$ORIGIN' "$java_out/libnearkit_jni.so"
"$portable_patchelf" --set-rpath '$ORIGIN' "$node_out/nearkit.node"
# The OpenBLAS, libgfortran and libquadmath of the wheel find each other through $ORIGIN already.

# ---- nothing newer than glibc 2.17 ----------------------------------------------------------------
"$py" "$repo/ci/check_glibc_versions.py" "$out/java" "$out/node"
echo "ci/portable_natives.sh: $out/java/linux-$arch and $out/node/$node_dir"
