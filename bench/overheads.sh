#!/usr/bin/env bash
# The four language packages' call-overhead benchmarks against C, one after another:
#   bash bench/overheads.sh            (after bash ci/build.sh; installs the packages it needs)
# Each prints name=value lines (<lang>_overhead_us with its _iqr_us, <lang>_overhead_params_us,
# <lang>_overhead_in_c_calls, <lang>_batch_vs_c, ...); the design is in each script's header and
# in the README ("Language packages: call overhead against C").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
cmake --build "$build" --target bench_overhead_c -j2 >/dev/null

echo "# python"
venv=$build/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy
fi
"$venv/bin/pip" install -q "$root/python"
"$venv/bin/python" "$root/bench/python_overhead.py" --c-bench "$build/bench_overhead_c"

echo "# java"
sh "$root/bench/java/run.sh" "$build"

echo "# node"
(cd "$root/node" && node scripts/build.js >"$build/node-build.log" 2>&1) || { cat "$build/node-build.log"; exit 1; }
node "$root/bench/node_overhead.mjs" --c-bench "$build/bench_overhead_c"

echo "# rust"
(cd "$root/rust" && NEARKIT_BENCH_OVERHEAD_C="$build/bench_overhead_c" cargo bench -q -p nearkit --bench overhead 2>/dev/null | grep '=')
