#!/bin/sh
# Builds the C kernels with the host gcc (no ISA flags: kernels carry target attributes) and
# tests every kernel the registry can select on this machine against the scalar reference,
# then cross-compiles for AArch64 and runs the NEON kernels under qemu (cortex-a53, cortex-a72,
# max). Usage: scripts/test-kernels.sh [--host-only|--arm-only]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kdir="$root/CSupport/NightjarKernels"
out="${TMPDIR:-/tmp}/nightjar-kernel-tests"
mkdir -p "$out"
mode=${1:-all}
status=0

srcs="$kdir/src/*.c $root/Tests/kernels/test_conv.c"

if [ "$mode" != "--arm-only" ]; then
    cc=${CC:-gcc}
    # shellcheck disable=SC2086
    $cc -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $srcs -lm -o "$out/test_conv_host"
    echo "== host ($cc)"
    "$out/test_conv_host" || status=1
fi

if [ "$mode" != "--host-only" ]; then
    if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
        # shellcheck disable=SC2086
        aarch64-linux-gnu-gcc -static -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $srcs -lm \
            -o "$out/test_conv_aarch64"
        for cpu in cortex-a53 cortex-a72 max; do
            echo "== aarch64 qemu -cpu $cpu"
            qemu-aarch64 -cpu "$cpu" "$out/test_conv_aarch64" || status=1
        done
    else
        echo "skipping aarch64: aarch64-linux-gnu-gcc or qemu-aarch64 missing"
    fi
fi
exit $status
