#!/usr/bin/env bash
# Does a change of the core cost search speed? Times the same searches on a base revision and on
# the current tree, interleaved in one run, and prints the after/before QPS ratio per figure.
#
# Usage: bench/before_after.sh [-b REV] [-a REV] [-w WORKDIR] [-r ROUNDS] [-s SECONDS]
#                              [-n COUNT] [-q QUERIES] [-c cpu|wall] [-t THRESHOLD] [-j JOBS]
#                              [FIGURE...]
#   -b REV       the "before" revision (default: the parent of the commit titled "Core: the search
#                driver ...", where the core's reshaping of issue 14 began)
#   -a REV       the "after" revision (default: this working tree as it is, uncommitted changes
#                included)
#   -w WORKDIR   sources, builds and pipes (default /tmp/nearkit-before-after; kept between runs,
#                so a second run rebuilds only what changed)
#   -r ROUNDS    rounds of every figure on each build (default 5; the best round counts)
#   -s SECONDS   the least time of one measurement (default 1)
#   -n COUNT     vectors and codes in each index (default 100000)
#   -q QUERIES   queries per set (default 1000)
#   -c CLOCK     cpu (default: the process's CPU time, steadier on a shared machine) or wall
#   -t THRESHOLD the ratio below which a figure is listed as slower (default 0.97)
#   -j JOBS      parallel compile jobs for the two builds (default 2)
#   FIGURE...    only these figures (names: bench/before_after.c, or the output of a full run)
#
# Each revision's source is exported with git archive (the repository is not touched), configured
# Release without the binding and fuzz tests, and only its static library is built. The program
# bench/before_after.c of THIS tree is compiled against each library and the revision's own
# header; both programs generate the same data (fixed seed), build their indexes at 1 thread and
# then take requests: every figure is measured on one build, then the other, alternating which
# goes first from round to round, so that both meet the same load. Searches run on 1 thread
# (num_threads = 1, OPENBLAS_NUM_THREADS=1).
#
# Output, name=value lines:
#   <figure>=<ratio>            after QPS / before QPS, best round of each (above 1: faster now)
#   <figure>_qps=<before>/<after>  the absolute figures, queries per second
#   <figure>_rounds=<before QPS,...>/<after QPS,...>  every round, to judge the noise
#   <figure>_answers=same|differ   whether both returned the same ids and distances for the first
#                                  queries (different k-means centroids make IVF answers differ)
#   build_<index>_seconds=<before>/<after>  build times at 1 thread (one build each; informative)
#   before=<commit>, after=<commit, or the working tree's HEAD "+ changes">
#   min_ratio=<ratio>, slower=<figures below THRESHOLD, or empty>
set -euo pipefail

usage() {
    sed -n '/^# Usage:/,/^#   FIGURE/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
before_rev=
after_rev=
work=/tmp/nearkit-before-after
rounds=5
seconds=1
count=100000
queries=1000
clock=cpu
threshold=0.97
jobs=2
while getopts "b:a:w:r:s:n:q:c:t:j:h" opt; do
    case "$opt" in
    b) before_rev=$OPTARG ;;
    a) after_rev=$OPTARG ;;
    w) work=$OPTARG ;;
    r) rounds=$OPTARG ;;
    s) seconds=$OPTARG ;;
    n) count=$OPTARG ;;
    q) queries=$OPTARG ;;
    c) clock=$OPTARG ;;
    t) threshold=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
case "$clock" in cpu | wall) ;; *) usage ;; esac

die() {
    echo "$0: $*" >&2
    exit 1
}

# The parent of the first commit of the reshaping, found by its title.
default_base() {
    local first
    first=$(git -C "$src" log --reverse --format=%H --grep='^Core: the search driver' | head -n 1)
    [ -n "$first" ] || die "no commit titled 'Core: the search driver ...'; give -b REV"
    git -C "$src" rev-parse "$first^"
}

# export_revision REV DIR: the revision's files in DIR (kept when DIR already holds REV).
export_revision() {
    local commit
    commit=$(git -C "$src" rev-parse --verify "$1^{commit}") || die "unknown revision $1"
    if [ "$(cat "$2/.before_after_commit" 2>/dev/null)" != "$commit" ]; then
        rm -rf "$2"
        mkdir -p "$2"
        git -C "$src" archive "$commit" | tar -x -C "$2"
        echo "$commit" >"$2/.before_after_commit"
    fi
}

# build_library SOURCE BUILD: the static library of SOURCE, Release, in BUILD.
build_library() {
    if [ ! -f "$2/CMakeCache.txt" ]; then
        cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEARKIT_BINDING_TESTS=OFF \
            -DNEARKIT_FUZZ_TESTS=OFF >"$2.log" 2>&1 || die "configuring $1 failed (see $2.log)"
    fi
    cmake --build "$2" -j "$jobs" --target nearkit_static >>"$2.log" 2>&1 ||
        die "building $1 failed (see $2.log)"
}

# compile_program SOURCE BUILD OUT: bench/before_after.c of this tree against BUILD's library.
compile_program() {
    local blas
    # The BLAS the build found (a static archive cannot record it).
    blas=$(sed -n 's/^BLAS_openblas_LIBRARY:FILEPATH=//p' "$2/CMakeCache.txt")
    "${CC:-cc}" -O2 -std=c11 -Wall -Wextra -DNEARKIT_STATIC -I"$1/include" "$here/before_after.c" \
        "$2/libnearkit.a" "${blas:--lopenblas}" -lpthread -lm -o "$3"
}

[ -n "$before_rev" ] || before_rev=$(default_base)
mkdir -p "$work"
work=$(cd "$work" && pwd)
export_revision "$before_rev" "$work/before-src"
if [ -n "$after_rev" ]; then
    export_revision "$after_rev" "$work/after-src"
    after_src=$work/after-src
    after_name=$(git -C "$src" rev-parse --short "$after_rev")
else
    after_src=$src
    after_name="working tree ($(git -C "$src" rev-parse --short HEAD)$(git -C "$src" diff --quiet HEAD -- core include CMakeLists.txt || echo ' + changes'))"
fi
echo "before=$(git -C "$src" rev-parse --short "$before_rev")"
echo "after=$after_name"
for side in before after; do
    side_src=$work/before-src
    [ "$side" = before ] || side_src=$after_src
    echo "building $side ..." >&2
    build_library "$side_src" "$work/$side-build"
    compile_program "$side_src" "$work/$side-build" "$work/$side-program"
done

figures=("$@")
[ ${#figures[@]} -gt 0 ] || mapfile -t figures < <("$work/after-program" --list)

# ---- the two programs, each behind a pair of pipes ------------------------------------------------
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -f "$work"/{before,after}.{in,out}
}
trap cleanup EXIT

declare -A to from build_seconds
# start_program SIDE: starts it, waits for its indexes, records their build times.
start_program() {
    local side=$1 line fd
    rm -f "$work/$side.in" "$work/$side.out"
    mkfifo "$work/$side.in" "$work/$side.out"
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$work/$side-program" -n "$count" -q "$queries" \
        -c "$clock" "${figures[@]}" <"$work/$side.in" >"$work/$side.out" 2>"$work/$side.err" &
    pids+=($!)
    exec {fd}>"$work/$side.in"
    to[$side]=$fd
    exec {fd}<"$work/$side.out"
    from[$side]=$fd
    while :; do
        read -r -u "${from[$side]}" line || die "the $side program ended ($(cat "$work/$side.err"))"
        case "$line" in
        ready) break ;;
        build_*=*) build_seconds[$side:${line%%=*}]=${line#*=} ;;
        *) die "$side: $line" ;;
        esac
    done
}
echo "generating data and building indexes (before, then after) ..." >&2
start_program before
start_program after

# measure SIDE FIGURE: one measurement, appended to qps[SIDE:FIGURE] and check[SIDE:FIGURE].
declare -A qps check
measure() {
    local side=$1 figure=$2 line
    echo "$figure $seconds" >&"${to[$side]}"
    read -r -u "${from[$side]}" line || die "the $side program ended ($(cat "$work/$side.err"))"
    case "$line" in
    "$figure qps="*) ;;
    *) die "$side: $line" ;;
    esac
    local value=${line#* qps=}
    qps[$side:$figure]+="${value%% *},"
    check[$side:$figure]=${line##*check=}
}

for ((round = 1; round <= rounds; round++)); do
    echo "round $round of $rounds ..." >&2
    for figure in "${figures[@]}"; do
        if ((round % 2)); then
            measure before "$figure"
            measure after "$figure"
        else
            measure after "$figure"
            measure before "$figure"
        fi
    done
done

# ---- report ---------------------------------------------------------------------------------------
best() { tr ',' '\n' <<<"${1%,}" | sort -g | tail -n 1; }
min_ratio=
slower=
for figure in "${figures[@]}"; do
    b=$(best "${qps[before:$figure]}")
    a=$(best "${qps[after:$figure]}")
    ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    echo "$figure=$ratio"
    if [ -z "$min_ratio" ] || awk -v r="$ratio" -v m="$min_ratio" 'BEGIN { exit !(r < m) }'; then
        min_ratio=$ratio
    fi
    if awk -v r="$ratio" -v t="$threshold" 'BEGIN { exit !(r < t) }'; then
        slower+="${slower:+,}$figure"
    fi
done
for figure in "${figures[@]}"; do
    echo "${figure}_qps=$(best "${qps[before:$figure]}")/$(best "${qps[after:$figure]}")"
    echo "${figure}_rounds=${qps[before:$figure]%,}/${qps[after:$figure]%,}"
    same=same
    [ "${check[before:$figure]}" = "${check[after:$figure]}" ] || same=differ
    echo "${figure}_answers=$same"
done
for key in "${!build_seconds[@]}"; do
    [ "${key%%:*}" = before ] || continue
    name=${key#before:}
    echo "${name}_seconds=${build_seconds[$key]}/${build_seconds[after:$name]:-}"
done | sort
echo "min_ratio=$min_ratio"
echo "slower=$slower"
