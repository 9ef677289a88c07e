#!/usr/bin/env bash
# The test command: installs what it needs, then runs every test suite.
# Tests that read ../shared skip with a visible message when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Every SIMD kernel against the scalar reference: natively at each x86 level, and the NEON
# kernels cross-compiled for aarch64 under qemu. The longest part, so it starts first and runs
# beside everything else (the builds, the XCTest suites: none of them times anything); its log
# is printed at the end.
kernels_log=$(mktemp "${TMPDIR:-/tmp}/nightjar-kernels-log.XXXXXX")
scripts/test-kernels.sh >"$kernels_log" 2>&1 &
kernels_pid=$!
# The XCTest suites run optimised, as users run the code: one build instead of a debug and a
# release one, and the suites take minutes less (CI on 2 Zen 3 cores: 129 s against 630-650 s in
# debug). Nothing is compiled out: Sources have no assert(), and bounds and overflow checks stay
# in -O. Heap-allocation counts (AllocationTests) are only meaningful optimised anyway.
failed=""
swift test -c release || failed="$failed swift-test"
# The systemd unit: security exposure at most 2.0, `systemd-analyze verify` clean.
scripts/check-systemd.sh "$(swift build -c release --show-bin-path)/nightjar" || failed="$failed check-systemd"
# The Debian package of that release build, unpacked into a scratch root and run from there.
scripts/package-deb.sh --no-build --check || failed="$failed package-deb"
wait "$kernels_pid" || failed="$failed test-kernels.sh"
echo "== scripts/test-kernels.sh (ran beside the rest)"
cat "$kernels_log"
rm -f "$kernels_log"
if [ -n "$failed" ]; then
    echo "tests failed:$failed" >&2
    exit 1
fi
