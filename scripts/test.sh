#!/usr/bin/env bash
# The test command: installs what it needs, then runs every test suite.
# Tests that read ../shared skip with a visible message when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
# The systemd unit: security exposure at most 2.0, `systemd-analyze verify` clean.
scripts/check-systemd.sh
swift test
# Every SIMD kernel against the scalar reference: natively at each x86 level, and the NEON
# kernels cross-compiled for aarch64 under qemu (cortex-a53, cortex-a72, max).
scripts/test-kernels.sh
# Heap-allocation counts are only meaningful in an optimised build.
swift test -c release --filter AllocationTests
# The Debian package of that release build, unpacked into a scratch root and run from there.
scripts/package-deb.sh --no-build --check
