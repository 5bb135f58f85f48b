#!/usr/bin/env bash
# Runs every fuzz harness for a share of a total time, one after the other (one core), and prints
# each one's executions and crashes. See docs/fuzzing.md.
#
#   tests/fuzz/run_long.sh [TOTAL_MINUTES] [BUILD_DIR]
#
# TOTAL_MINUTES defaults to 30, shared equally by the harnesses; BUILD_DIR to ./build (a nearkit
# build configured with the fuzz tests on; the harnesses are built first). The corpus each run
# grows is kept in BUILD_DIR/tests/fuzz/work/<harness>, so a later run goes on from it; crash
# inputs land in BUILD_DIR/tests/fuzz/artifacts. Exits 1 when any harness crashed.
# Extra libFuzzer flags may be given in NEARKIT_FUZZ_FLAGS (e.g. "-use_value_profile=1");
# NEARKIT_FUZZ_HARNESS_DIR runs harnesses built elsewhere (e.g. by hand with other flags).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
minutes=${1:-30}
build=$(cd "${2:-$root/build}" && pwd)
harnesses=(fuzz_load_buffer fuzz_load_file fuzz_use)

fuzz_dir="$build/tests/fuzz"
harness_dir=${NEARKIT_FUZZ_HARNESS_DIR:-$fuzz_dir/clang}
[ -n "${NEARKIT_FUZZ_HARNESS_DIR:-}" ] || cmake --build "$build" --target nearkit_fuzz_harnesses >/dev/null
seconds=$((minutes * 60 / ${#harnesses[@]}))
mkdir -p "$fuzz_dir/artifacts" "$fuzz_dir/logs"
echo "fuzzing ${#harnesses[@]} harnesses for ${seconds} s each (${minutes} min in all)"

# One libFuzzer run stops at its first crash: the harness then starts again for the time left,
# up to MAX_CRASHES crashes, so one finding does not end the whole share.
max_crashes=${MAX_CRASHES:-5}
failed=0
summary=()
for h in "${harnesses[@]}"; do
  mkdir -p "$fuzz_dir/work/$h"
  log="$fuzz_dir/logs/$h.log"
  : >"$log"
  before=$(find "$fuzz_dir/artifacts" -name "$h-*" | wc -l)
  start=$SECONDS runs=0 crashes=0 status=0
  while [ $((SECONDS - start)) -lt "$seconds" ] && [ "$crashes" -lt "$max_crashes" ]; do
    left=$((seconds - (SECONDS - start)))
    status=0
    # shellcheck disable=SC2086
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$harness_dir/$h" -max_total_time="$left" -timeout=30 -rss_limit_mb=2560 \
      -print_final_stats=1 -artifact_prefix="$fuzz_dir/artifacts/$h-" ${NEARKIT_FUZZ_FLAGS:-} \
      "$fuzz_dir/work/$h" "$root/tests/fuzz/corpus" >"$log.run" 2>&1 || status=$?
    these=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.run" | tail -1)
    cat "$log.run" >>"$log" && rm -f "$log.run"
    runs=$((runs + ${these:-0}))
    crashes=$(($(find "$fuzz_dir/artifacts" -name "$h-*" | wc -l) - before))
    [ "$status" -eq 0 ] && break
  done
  corpus=$(find "$fuzz_dir/work/$h" -type f | wc -l)
  line="$h: $runs executions in $((SECONDS - start)) s, corpus $corpus inputs, $crashes crashes"
  echo "$line"
  summary+=("$line")
  if [ "$crashes" -ne 0 ] || [ "$status" -ne 0 ]; then
    failed=1
    grep -E "^(SUMMARY|nearkit fuzz|==[0-9]+==ERROR)" "$log" | sort | uniq -c | head -8 | sed 's/^/    /'
    echo "    log: $log"
  fi
done
echo "---"
printf '%s\n' "${summary[@]}"
exit "$failed"
