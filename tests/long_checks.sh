#!/usr/bin/env bash
# The checks too long for ctest's CI budget, run in full: the golden suite on every kernel level
# under AddressSanitizer + UBSan (ctest: every second case), every golden case under ThreadSanitizer
# (ctest: every eighth) and with sgemm results perturbed (ctest: every second),
# the C tests that ctest leaves out of TSan (NEARKIT_TSAN_TESTS=all), and the fuzzers for longer.
#
#   tests/long_checks.sh [FUZZ_MINUTES] [BUILD_DIR]
#
# FUZZ_MINUTES defaults to 30 (0 skips fuzzing); BUILD_DIR to ./build-long, configured and built
# here. About an hour and a half on a 2-core machine with the default fuzzing time.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
minutes=${1:-30}
build=${2:-$root/build-long}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEARKIT_TSAN_TESTS=all >/dev/null
cmake --build "$build" -j"$(nproc)"
golden="$root/tests/golden"
failed=0
run() { echo "== $*"; "$@" || { echo "FAILED: $*"; failed=1; }; }

# every kernel level, every case, under ASan + UBSan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run "$build/tests/test_golden_asan" "$golden"
# every case with every sgemm result perturbed within the rounding bound (ctest: every second)
NEARKIT_TEST_PERTURB_GEMM=position run "$build/tests/test_golden_hooks" "$golden"
# every case under TSan (default kernel level: races do not depend on it)
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp" \
  NEARKIT_GOLDEN_KERNELS=default run "$build/tests/test_golden_tsan" "$golden"
# the whole tsan label, with the slow tests that the quick set leaves out
(cd "$build" && run ctest -L tsan -E test_golden_tsan --output-on-failure -j"$(nproc)") || failed=1
if [ "$minutes" -gt 0 ]; then
  run bash "$root/tests/fuzz/run_long.sh" "$minutes" "$build"
fi
exit $failed
