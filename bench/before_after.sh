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
#                so a second run rebuilds only what changed; one run at a time per WORKDIR)
#   -r ROUNDS    rounds of every figure on each build (default 5)
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
# header. Every round starts both programs afresh; each generates the same data (fixed seed),
# builds its indexes at 1 thread and then takes requests: every figure is measured on one build,
# then at once on the other, which goes first alternating from round to round, so that both meet
# the same load. Searches run on 1 thread (num_threads = 1, OPENBLAS_NUM_THREADS=1). A full run
# at the defaults takes about 4 minutes of CPU time (more wall time on a busy machine).
#
# Output, name=value lines:
#   <figure>=<ratio>            after QPS / before QPS (above 1: faster now): the median over the
#                               rounds of the ratio of the round's two measurements
#   <figure>_qps=<before>/<after>  the absolute figures, queries per second, best round of each
#   <figure>_rounds=<before QPS,...>/<after QPS,...>  every round, to judge the noise
#   <figure>_ratio_range=<lowest>..<highest>  of the rounds' ratios
#   <figure>_answers=same|differ   whether both returned the same ids and distances for the first
#                                  queries (different k-means centroids make IVF answers differ)
#   build_<index>_seconds=<before>/<after>  build times at 1 thread, fastest round (informative)
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

# resolve REV: its full commit name.
resolve() { git -C "$src" rev-parse --verify --quiet "$1^{commit}" || die "unknown revision $1"; }

# export_revision COMMIT: the commit's files in $work/<commit>/src, exported once.
export_revision() {
    local dir=$work/${1:0:12}
    if [ ! -f "$dir/src/.exported" ]; then
        rm -rf "$dir"
        mkdir -p "$dir/src"
        git -C "$src" archive "$1" | tar -x -C "$dir/src"
        touch "$dir/src/.exported"
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
# Each revision's source and build in $work/<commit>/{src,build}; the working tree's build in
# $work/tree/build.
declare -A side_src side_build
before_commit=$(resolve "$before_rev")
export_revision "$before_commit"
side_src[before]=$work/${before_commit:0:12}/src
side_build[before]=$work/${before_commit:0:12}/build
if [ -n "$after_rev" ]; then
    after_commit=$(resolve "$after_rev")
    export_revision "$after_commit"
    side_src[after]=$work/${after_commit:0:12}/src
    side_build[after]=$work/${after_commit:0:12}/build
    after_name=${after_commit:0:7}
else
    side_src[after]=$src
    side_build[after]=$work/tree/build
    mkdir -p "$work/tree"
    after_name="working tree ($(git -C "$src" rev-parse --short HEAD)$(git -C "$src" diff --quiet HEAD -- core include CMakeLists.txt || echo ' + changes'))"
fi
echo "before=${before_commit:0:7}"
echo "after=$after_name"
for side in before after; do
    echo "building $side ..." >&2
    build_library "${side_src[$side]}" "${side_build[$side]}"
    compile_program "${side_src[$side]}" "${side_build[$side]}" "$work/$side-program"
done

figures=("$@")
[ ${#figures[@]} -gt 0 ] || mapfile -t figures < <("$work/after-program" --list)

# ---- the two programs, each behind a pair of pipes ------------------------------------------------
# Both are started afresh every round: a process keeps the physical pages it got at its start, and
# in runs of one program against itself the process started first stayed a few percent faster in
# the GEMM-bound figures for its whole life; new processes each round spread that over the rounds.
declare -A pid to from
stop_program() {
    local side=$1 fd
    [ -n "${pid[$side]:-}" ] || return 0
    fd=${to[$side]}
    exec {fd}>&-
    fd=${from[$side]}
    exec {fd}<&-
    unset "to[$side]" "from[$side]"
    wait "${pid[$side]}" || true
    pid[$side]=
    rm -f "$work/$side.in" "$work/$side.out"
}
cleanup() {
    for side in before after; do
        [ -z "${pid[$side]:-}" ] || kill "${pid[$side]}" 2>/dev/null || true
    done
    rm -f "$work"/{before,after}.{in,out}
}
trap cleanup EXIT

declare -A build_seconds
# start_program SIDE: starts it, waits for its indexes, appends their build times to
# build_seconds[SIDE:build_<index>].
start_program() {
    local side=$1 line fd
    rm -f "$work/$side.in" "$work/$side.out"
    mkfifo "$work/$side.in" "$work/$side.out"
    # The child must not hold the other program's pipes open: that program would never see the
    # end of its input.
    (
        for fd in "${to[@]}" "${from[@]}"; do exec {fd}>&-; done
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 exec "$work/$side-program" -n "$count" \
            -q "$queries" -c "$clock" "${figures[@]}"
    ) <"$work/$side.in" >"$work/$side.out" 2>"$work/$side.err" &
    pid[$side]=$!
    exec {fd}>"$work/$side.in"
    to[$side]=$fd
    exec {fd}<"$work/$side.out"
    from[$side]=$fd
    while :; do
        read -r -u "${from[$side]}" line || die "the $side program ended ($(cat "$work/$side.err"))"
        case "$line" in
        ready) break ;;
        build_*=*) build_seconds[$side:${line%%=*}]+="${line#*=}," ;;
        *) die "$side: $line" ;;
        esac
    done
}

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

# Odd rounds start and measure "before" first, even rounds "after".
for ((round = 1; round <= rounds; round++)); do
    echo "round $round of $rounds: data, indexes, searches ..." >&2
    order=(before after)
    ((round % 2)) || order=(after before)
    start_program "${order[0]}"
    start_program "${order[1]}"
    for figure in "${figures[@]}"; do
        measure "${order[0]}" "$figure"
        measure "${order[1]}" "$figure"
    done
    stop_program before
    stop_program after
done

# ---- report ---------------------------------------------------------------------------------------
best() { tr ',' '\n' <<<"${1%,}" | sort -g | tail -n 1; }
# paired_ratios BEFORE AFTER: after/before of each round's two measurements (taken back to back, so
# a change of the machine's load between rounds cancels), sorted.
paired_ratios() {
    paste -d ' ' <(tr ',' '\n' <<<"${1%,}") <(tr ',' '\n' <<<"${2%,}") |
        awk '{ printf "%.4f\n", $2 / $1 }' | sort -g
}
median() { awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
min_ratio=
slower=
for figure in "${figures[@]}"; do
    ratio=$(paired_ratios "${qps[before:$figure]}" "${qps[after:$figure]}" | median)
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
    range=$(paired_ratios "${qps[before:$figure]}" "${qps[after:$figure]}" | sed -n '1p;$p' | paste -sd ' ')
    echo "${figure}_ratio_range=${range% *}..${range#* }"
    same=same
    [ "${check[before:$figure]}" = "${check[after:$figure]}" ] || same=differ
    echo "${figure}_answers=$same"
done
fastest() { tr ',' '\n' <<<"${1%,}" | sort -g | head -n 1; }
for key in "${!build_seconds[@]}"; do
    [ "${key%%:*}" = before ] || continue
    name=${key#before:}
    echo "${name}_seconds=$(fastest "${build_seconds[$key]}")/$(fastest "${build_seconds[after:$name]}")"
done | sort
echo "min_ratio=$min_ratio"
echo "slower=$slower"
