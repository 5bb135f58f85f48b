#!/usr/bin/env bash
# Times the float kernels of a build against those of an earlier revision, in one process (see
# bench/kernels_canonical.c): the baseline's core/kernels/kernels_{scalar,avx2,avx512}.c (core/kernels_*.c before the layer
# folders) are taken from git
# and compiled into the program with their tables renamed; the library's come from the build's
# libnearkit.a. One thread.
#
# Usage: bench/kernels_canonical.sh [-b REV (HEAD)] [-i scalar|avx2|avx512|all (all)]
#                                   [-s SECONDS per in-cache figure (0.5)] BUILD_DIR
# BUILD_DIR: a CMake build of this tree with libnearkit.a built in it
# (cmake --build BUILD_DIR --target nearkit_static).
set -euo pipefail

usage() {
    echo "usage: $0 [-b REV] [-i scalar|avx2|avx512|all] [-s SECONDS] BUILD_DIR" >&2
    exit 2
}
rev=HEAD
impl=all
seconds=0.5
while getopts "b:i:s:" opt; do
    case "$opt" in
    b) rev=$OPTARG ;;
    i) impl=$OPTARG ;;
    s) seconds=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
build=$1
lib="$build/libnearkit.a"
if [ ! -f "$lib" ]; then
    echo "$0: no $lib (build the nearkit_static target there first)" >&2
    exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc=${CC:-cc}
flags=(-O3 -std=c11 -DNDEBUG -D_GNU_SOURCE -DNEARKIT_BUILDING -fvisibility=hidden
       -I"$src/include" -I"$src/core" -I"$src/core/base" -I"$src/core/kernels")
# (the last two let a baseline from before the core's layer folders find its headers by bare name)
objects=()
for kind in scalar avx2 avx512; do
    git -C "$src" show "$rev:core/kernels/kernels_$kind.c" >"$work/base_$kind.c" 2>/dev/null ||
        git -C "$src" show "$rev:core/kernels_$kind.c" >"$work/base_$kind.c"
    # The headers are today's: the table layout must not have changed since REV.
    "$cc" "${flags[@]}" -Dnearkit_kernel_table_$kind=nk_base_table_$kind -c "$work/base_$kind.c" \
        -o "$work/base_$kind.o"
    objects+=("$work/base_$kind.o")
done
# The BLAS the build found (the library links it; the kernels never call it).
blas=$(sed -n 's/^BLAS_openblas_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
[ -n "$blas" ] || blas=-lopenblas
"$cc" "${flags[@]}" "$here/kernels_canonical.c" "${objects[@]}" "$lib" "$blas" -lpthread -lm \
    -o "$work/kernels_canonical"
echo "baseline: $(git -C "$src" rev-parse --short "$rev") (core/kernels_*.c); new: $lib"
"$work/kernels_canonical" "$impl" "$seconds"
