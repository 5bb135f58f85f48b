#!/usr/bin/env bash
# Quick start, part two: installs every dependency, builds, and runs the whole test suite
# (C tests, sanitizer builds, golden conformance, and each language package's suite) with ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ci/deps.sh all
bash ci/build.sh
cd build
ctest --output-on-failure --timeout 1500 -j"$(nproc)" "$@"
