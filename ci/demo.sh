#!/usr/bin/env bash
# Quick start, part one: installs the build dependencies, builds the library and the nearkit
# program, and runs `nearkit demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ci/deps.sh core
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target nearkit_cli -j"$(nproc)" >/dev/null
./build/nearkit demo "$@"
