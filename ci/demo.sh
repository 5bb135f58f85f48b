#!/usr/bin/env bash
# Quick start, part one: installs the build dependencies, builds, and runs `nearkit demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ci/deps.sh core
bash ci/build.sh
./build/nearkit demo "$@"
