#!/bin/sh
# Builds the C kernels with the host gcc (no ISA flags: kernels carry target attributes) and
# tests every kernel the registry can select on this machine against the scalar reference,
# (again with clang, as SwiftPM builds them, and once per level capped through NIGHTJAR_MAX_ISA),
# then cross-compiles for AArch64 and runs the NEON kernels under qemu (cortex-a53, cortex-a72,
# max; clang's build under cortex-a53). Every registered tile runs, whichever this machine's
# 512-bit FMA port count selects; the selection itself runs once per port count. Prints
# "kernels: N passed, M failed" per run; exits non-zero if any run fails. Usage: scripts/test-kernels.sh [--host-only|--arm-only]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kdir="$root/CSupport/NightjarKernels"
# A directory of its own: two runs at once (a developer and CI) must not share binaries.
out=$(mktemp -d "${TMPDIR:-/tmp}/nightjar-kernels.XXXXXX")
trap 'rm -rf "$out"' EXIT
mode=${1:-all}
status=0

srcs="$kdir/src/*.c $root/Tests/kernels/test_conv.c"
f16_srcs="$kdir/src/*.c $root/Tests/kernels/test_conv_f16.c"
pool_srcs="$kdir/src/*.c $root/Tests/kernels/test_threadpool.c"
qs8_srcs="$kdir/src/*.c $root/Tests/kernels/test_qs8.c"

if [ "$mode" != "--arm-only" ]; then
    cc=${CC:-gcc}
    # shellcheck disable=SC2086
    $cc -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $srcs -lm -o "$out/test_conv_host"
    echo "== host ($cc): every supported level"
    env -u NIGHTJAR_MAX_ISA "$out/test_conv_host" || status=1
    # SwiftPM compiles the kernels with clang: test that build as well.
    # shellcheck disable=SC2086
    if [ "$cc" != clang ] && command -v clang >/dev/null; then
        clang -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $srcs -lm -o "$out/test_conv_host_clang"
        echo "== host (clang): every supported level"
        env -u NIGHTJAR_MAX_ISA "$out/test_conv_host_clang" || status=1
    fi
    # The f16 family: every runnable kernel, then the process-wide selection with each path
    # forced (native half arithmetic off, then F16C/AVX2 only, then no conversions at all).
    # shellcheck disable=SC2086
    $cc -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $f16_srcs -lm -lpthread -o "$out/test_f16_host"
    echo "== host ($cc): f16, every runnable kernel"
    env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/test_f16_host" || status=1
    if [ "$(uname -m)" = x86_64 ]; then
        for forced in "avx512 avx512fp16" "avx2 none" "avx2 f16c"; do
            set -- $forced
            # Every kernel ran above; these check what selection takes with a feature gone.
            echo "== host ($cc): f16 --quick, NIGHTJAR_MAX_ISA=$1 NIGHTJAR_DISABLE_FEATURES=$2"
            NIGHTJAR_MAX_ISA=$1 NIGHTJAR_DISABLE_FEATURES=$2 "$out/test_f16_host" --quick || status=1
        done
    fi
    # The int8 family: the reference against real arithmetic, every qs8 kernel bit-exact.
    # shellcheck disable=SC2086
    $cc -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $qs8_srcs -lm -lpthread -o "$out/test_qs8_host"
    echo "== host ($cc): qs8"
    env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/test_qs8_host" || status=1
    # shellcheck disable=SC2086
    if [ "$cc" != clang ] && command -v clang >/dev/null; then
        clang -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $qs8_srcs -lm -lpthread -o "$out/test_qs8_host_clang"
        echo "== host (clang): qs8 --quick"
        env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/test_qs8_host_clang" --quick || status=1
    fi
    # Each x86 int8 path as selection sees it: VNNI features taken away one by one, then the cap.
    if [ "$(uname -m)" = x86_64 ]; then
        for off in avx512vnni avx512vnni,avxvnni; do
            echo "== host ($cc): qs8 --quick, NIGHTJAR_DISABLE_FEATURES=$off"
            NIGHTJAR_DISABLE_FEATURES=$off "$out/test_qs8_host" --quick || status=1
        done
        echo "== host ($cc): qs8 --quick, NIGHTJAR_MAX_ISA=scalar"
        NIGHTJAR_MAX_ISA=scalar "$out/test_qs8_host" --quick || status=1
    fi
    # The bulk conversions: every x86 path (the test caps them itself) against the scalar forms.
    # shellcheck disable=SC2086
    $cc -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $kdir/src/cpu-features.c $kdir/src/*-convert*.c \
        "$root/Tests/kernels/test_convert.c" -lm -o "$out/test_convert_host"
    echo "== host ($cc): conversions"
    env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/test_convert_host" || status=1
    # The thread pool's wake-up hand-shakes; a lost wake-up hangs, so under a time limit.
    # shellcheck disable=SC2086
    $cc -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $pool_srcs -lm -lpthread -o "$out/test_threadpool_host"
    echo "== host ($cc): thread pool"
    timeout 300 "$out/test_threadpool_host" || status=1
    # The process-wide cap, as nightjar sees it: each x86 level through NIGHTJAR_MAX_ISA.
    if [ "$(uname -m)" = x86_64 ]; then
        for isa in avx512 avx2 sse4.1 scalar; do
            echo "== host ($cc): NIGHTJAR_MAX_ISA=$isa"
            NIGHTJAR_MAX_ISA=$isa "$out/test_conv_host" || status=1
        done
        # The tiles each 512-bit FMA port count selects, as nightjar would on either machine.
        if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
            for ports in 1 2; do
                echo "== host ($cc): NIGHTJAR_MAX_ISA=avx512 NIGHTJAR_FMA_PORTS=$ports"
                NIGHTJAR_MAX_ISA=avx512 NIGHTJAR_FMA_PORTS=$ports "$out/test_conv_host" || status=1
            done
        fi
    fi
fi

if [ "$mode" != "--host-only" ]; then
    if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
        # shellcheck disable=SC2086
        aarch64-linux-gnu-gcc -static -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $srcs -lm \
            -o "$out/test_conv_aarch64"
        # shellcheck disable=SC2086
        aarch64-linux-gnu-gcc -static -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $pool_srcs -lm \
            -lpthread -o "$out/test_threadpool_aarch64"
        # shellcheck disable=SC2086
        aarch64-linux-gnu-gcc -static -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $f16_srcs -lm \
            -lpthread -o "$out/test_f16_aarch64"
        # cortex-a53 and -a72: fcvtl/fcvtn around f32 FMA; max: FEAT_FP16 fmla (and, with fp16
        # disabled, the conversion path again under selection).
        # Emulation is slow: every third width (--quick); the host runs every width.
        for cpu in cortex-a53 cortex-a72 max; do
            echo "== aarch64 qemu -cpu $cpu: f16 --quick"
            env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES qemu-aarch64 -cpu "$cpu" "$out/test_f16_aarch64" --quick || status=1
        done
        for cpu in cortex-a53 max; do
            echo "== aarch64 qemu -cpu $cpu: thread pool"
            timeout 300 qemu-aarch64 -cpu "$cpu" "$out/test_threadpool_aarch64" || status=1
        done
        echo "== aarch64 qemu -cpu max: NIGHTJAR_MAX_ISA=scalar"
        NIGHTJAR_MAX_ISA=scalar qemu-aarch64 -cpu max "$out/test_conv_aarch64" || status=1
        for cpu in cortex-a53 cortex-a72 max; do
            echo "== aarch64 qemu -cpu $cpu"
            env -u NIGHTJAR_MAX_ISA qemu-aarch64 -cpu "$cpu" "$out/test_conv_aarch64" || status=1
        done
        # int8: the widening path (no dot product on the A53 and A72) and SDOT (max).
        # shellcheck disable=SC2086
        aarch64-linux-gnu-gcc -static -std=gnu11 -O2 -Wall -Wextra -I"$kdir/include" $qs8_srcs -lm \
            -lpthread -o "$out/test_qs8_aarch64"
        for cpu in cortex-a53 cortex-a72 max; do
            echo "== aarch64 qemu -cpu $cpu: qs8 --quick"
            env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES qemu-aarch64 -cpu "$cpu" \
                "$out/test_qs8_aarch64" --quick || status=1
        done
        # SwiftPM on the boards compiles C with clang: test clang's NEON code generation too.
        # shellcheck disable=SC2086
        if command -v clang >/dev/null && clang --target=aarch64-linux-gnu -static -std=gnu11 -O2 \
            -I"$kdir/include" $srcs -lm -o "$out/test_conv_aarch64_clang" 2>/dev/null; then
            echo "== aarch64 (clang) qemu -cpu cortex-a53"
            env -u NIGHTJAR_MAX_ISA qemu-aarch64 -cpu cortex-a53 "$out/test_conv_aarch64_clang" ||
                status=1
        fi
        # shellcheck disable=SC2086
        if command -v clang >/dev/null && clang --target=aarch64-linux-gnu -static -std=gnu11 -O2 \
            -I"$kdir/include" $qs8_srcs -lm -lpthread -o "$out/test_qs8_aarch64_clang" 2>/dev/null; then
            echo "== aarch64 (clang) qemu -cpu max: qs8 --quick"
            env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES qemu-aarch64 -cpu max \
                "$out/test_qs8_aarch64_clang" --quick || status=1
        fi
    else
        echo "skipping aarch64: aarch64-linux-gnu-gcc or qemu-aarch64 missing"
    fi
fi
exit $status
