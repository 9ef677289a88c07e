#!/usr/bin/env bash
# The test command: installs what it needs, then runs every test suite.
# Tests that read ../shared skip with a visible message when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
# The systemd unit: security exposure at most 2.0, `systemd-analyze verify` clean.
scripts/check-systemd.sh
# Every SIMD kernel against the scalar reference: natively at each x86 level, and the NEON
# kernels cross-compiled for aarch64 under qemu (cortex-a53, cortex-a72, max). It runs beside
# the XCTest suites (mostly one core each; neither times anything), its log printed after them.
kernels_log=$(mktemp "${TMPDIR:-/tmp}/nightjar-kernels-log.XXXXXX")
scripts/test-kernels.sh >"$kernels_log" 2>&1 &
kernels_pid=$!
swift_status=0
swift test || swift_status=$?
kernels_status=0
wait "$kernels_pid" || kernels_status=$?
echo "== scripts/test-kernels.sh (ran beside swift test)"
cat "$kernels_log"
rm -f "$kernels_log"
if [ "$swift_status" -ne 0 ] || [ "$kernels_status" -ne 0 ]; then
    echo "tests failed: swift test exit $swift_status, test-kernels.sh exit $kernels_status" >&2
    exit 1
fi
# Heap-allocation counts are only meaningful in an optimised build.
swift test -c release --filter AllocationTests
# The Debian package of that release build, unpacked into a scratch root and run from there.
scripts/package-deb.sh --no-build --check
