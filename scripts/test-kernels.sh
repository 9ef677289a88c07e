#!/bin/sh
# Every C kernel against the scalar reference, natively at each x86 level and cross-compiled for
# AArch64 under qemu. Kernels carry target attributes, so nothing is built with ISA flags.
#
# Each compiler builds every kernel source once (objects shared by the test programs): the host
# gcc ($CC), clang (what SwiftPM builds them with), aarch64-linux-gnu-gcc and clang for AArch64.
# Runs are split so that every kernel runs in full once and each selection path runs once:
# - clang's build runs every kernel this machine can run, at every level (f32, f16, qs8);
# - gcc's build runs the process-wide selection: each x86 level through NIGHTJAR_MAX_ISA, each
#   512-bit FMA port count (whose tiles together are all the AVX-512 ones), and the f16 and qs8
#   paths with a feature taken away (--quick shapes: those kernels ran in full above);
# - under qemu: f32 on max (gcc) and cortex-a53 (clang) in full (the f32 NEON kernels need no
#   optional feature, so -a72 would run the same code again), the f16 and qs8 families --quick
#   on cortex-a53, -a72 (feature detection: no FP16 arithmetic, no dot product) and max
#   (FEAT_FP16 fmla, SDOT), and the thread pool's hand-shakes.
# The AArch64 part runs beside the host part on two cores or more. Prints
# "kernels: N passed, M failed" per run and each part's seconds; exits non-zero if any run fails.
# Usage: scripts/test-kernels.sh [--host-only|--arm-only]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kdir="$root/CSupport/NightjarKernels"
tests="$root/Tests/kernels"
# A directory of its own: two runs at once (a developer and CI) must not share binaries.
out=$(mktemp -d "${TMPDIR:-/tmp}/nightjar-kernels.XXXXXX")
trap 'rm -rf "$out"' EXIT
trap 'exit 130' INT TERM
mode=${1:-all}
flags="-std=gnu11 -O2 -Wall -Wextra -I$kdir/include"
jobs=$(nproc 2>/dev/null || echo 1)

# check TITLE COMMAND...: runs one test program, prints its output and how long it took; a
# failure is remembered in $out/failed (parts may run in subshells).
check() {
    title=$1
    shift
    echo "== $title"
    began=$(date +%s)
    "$@" || echo "$title" >>"$out/failed"
    echo "   ($(($(date +%s) - began)) s)"
}

# kernels NAME COMPILER...: every kernel source compiled once into $out/NAME, in parallel.
kernels() {
    dir="$out/$1"
    shift
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    (cd "$dir" && printf '%s\n' "$kdir"/src/*.c | xargs -P "$jobs" -n 4 "$@" $flags -c)
}

# program NAME KERNELS TEST COMPILER... [LINK FLAGS]: a test program from its source and the
# kernel objects. Link flags go last.
program() {
    name=$1 objects=$2 source=$3
    shift 3
    # shellcheck disable=SC2086
    "$@" $flags "$out/$objects"/*.o "$tests/$source" -lm -lpthread -o "$out/$name"
}

host() {
    start=$(date +%s)
    cc=${CC:-gcc}
    full=$cc
    command -v clang >/dev/null && full=clang
    kernels host-cc "$cc"
    [ "$full" = "$cc" ] || kernels host-full "$full"
    full_objects=host-cc
    [ "$full" = "$cc" ] || full_objects=host-full
    for t in conv conv_f16 qs8 threadpool convert colour png; do
        program "${t}_cc" host-cc "test_$t.c" "$cc"
    done
    for t in conv conv_f16 qs8; do
        program "${t}_full" "$full_objects" "test_$t.c" "$full"
    done
    echo "== host: kernels built with $cc and $full ($(($(date +%s) - start)) s)"

    # Every kernel, every level this machine supports (the cap lifted).
    check "host ($full): f32, every kernel at every supported level" \
        env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_FMA_PORTS "$out/conv_full"
    check "host ($full): f16, every runnable kernel" \
        env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/conv_f16_full"
    # The int8 family: the reference against real arithmetic, every qs8 kernel bit-exact.
    check "host ($full): qs8, every runnable kernel" \
        env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/qs8_full"
    check "host ($cc): qs8 --quick" \
        env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/qs8_cc" --quick
    # The bulk conversions: every x86 path (the test caps them itself) against the scalar forms.
    check "host ($cc): conversions" env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/convert_cc"
    # The colour stage's steps: every x86 form bit for bit against the scalar ones.
    check "host ($cc): colour steps" env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/colour_cc"
    # The PNG encoder's steps: every x86 form against the specifications' byte-at-a-time forms.
    check "host ($cc): png steps" env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES "$out/png_cc"
    # The thread pool's wake-up hand-shakes; a lost wake-up hangs, so under a time limit.
    check "host ($cc): thread pool" timeout 300 "$out/threadpool_cc"
    if [ "$(uname -m)" = x86_64 ]; then
        # The process-wide cap, as nightjar sees it: each x86 level through NIGHTJAR_MAX_ISA; at
        # AVX-512, the tiles each 512-bit FMA port count selects (one of them is this machine's).
        if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
            for ports in 1 2; do
                check "host ($cc): f32, NIGHTJAR_MAX_ISA=avx512 NIGHTJAR_FMA_PORTS=$ports" \
                    env NIGHTJAR_MAX_ISA=avx512 NIGHTJAR_FMA_PORTS=$ports "$out/conv_cc"
            done
        fi
        for isa in avx2 sse4.1 scalar; do
            check "host ($cc): f32, NIGHTJAR_MAX_ISA=$isa" env NIGHTJAR_MAX_ISA=$isa "$out/conv_cc"
        done
        # f16: selection with each path forced (native half arithmetic off, then F16C/AVX2 only,
        # then no conversions at all).
        for forced in "avx512 avx512fp16" "avx2 none" "avx2 f16c"; do
            set -- $forced
            check "host ($cc): f16 --quick, NIGHTJAR_MAX_ISA=$1 NIGHTJAR_DISABLE_FEATURES=$2" \
                env NIGHTJAR_MAX_ISA=$1 NIGHTJAR_DISABLE_FEATURES=$2 "$out/conv_f16_cc" --quick
        done
        # qs8: the VNNI features taken away one by one, then the cap.
        for off in avx512vnni avx512vnni,avxvnni; do
            check "host ($cc): qs8 --quick, NIGHTJAR_DISABLE_FEATURES=$off" \
                env -u NIGHTJAR_MAX_ISA NIGHTJAR_DISABLE_FEATURES=$off "$out/qs8_cc" --quick
        done
        check "host ($cc): qs8 --quick, NIGHTJAR_MAX_ISA=scalar" \
            env -u NIGHTJAR_DISABLE_FEATURES NIGHTJAR_MAX_ISA=scalar "$out/qs8_cc" --quick
    fi
    echo "== host: $(($(date +%s) - start)) s in all"
}

arm() {
    start=$(date +%s)
    if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
        echo "skipping aarch64: aarch64-linux-gnu-gcc or qemu-aarch64 missing"
        return 0
    fi
    kernels arm-gcc aarch64-linux-gnu-gcc
    for t in conv conv_f16 qs8 threadpool colour convert png; do
        program "${t}_aarch64" arm-gcc "test_$t.c" aarch64-linux-gnu-gcc -static
    done
    # SwiftPM on the boards compiles C with clang: clang's NEON code generation too.
    arm_clang=
    if command -v clang >/dev/null && kernels arm-clang clang --target=aarch64-linux-gnu 2>/dev/null &&
        program conv_aarch64_clang arm-clang test_conv.c clang --target=aarch64-linux-gnu -static 2>/dev/null &&
        program qs8_aarch64_clang arm-clang test_qs8.c clang --target=aarch64-linux-gnu -static 2>/dev/null; then
        arm_clang=yes
    else
        echo "skipping clang's AArch64 build: clang cannot build for aarch64-linux-gnu here"
    fi
    echo "== aarch64: kernels built ($(($(date +%s) - start)) s)"

    # f32: the same NEON kernels whatever the CPU's options, so gcc's build on max and clang's
    # on the A53; then the cap.
    check "aarch64 qemu -cpu max: f32" env -u NIGHTJAR_MAX_ISA qemu-aarch64 -cpu max "$out/conv_aarch64"
    if [ -n "$arm_clang" ]; then
        check "aarch64 (clang) qemu -cpu cortex-a53: f32" \
            env -u NIGHTJAR_MAX_ISA qemu-aarch64 -cpu cortex-a53 "$out/conv_aarch64_clang"
    fi
    # Capped at scalar, selection gives the reference, which the runs above computed in full
    # beside each kernel: --quick shapes (105 -> 29 s under qemu).
    check "aarch64 qemu -cpu max: f32 --quick, NIGHTJAR_MAX_ISA=scalar" \
        env NIGHTJAR_MAX_ISA=scalar qemu-aarch64 -cpu max "$out/conv_aarch64" --quick
    # f16: fcvtl/fcvtn around f32 FMA on the A53 and A72; FEAT_FP16 fmla on max (and, with fp16
    # disabled, the conversion path again under selection). Emulation is slow: --quick shapes.
    for cpu in cortex-a53 cortex-a72 max; do
        check "aarch64 qemu -cpu $cpu: f16 --quick" \
            env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES qemu-aarch64 -cpu "$cpu" "$out/conv_f16_aarch64" --quick
    done
    # int8: the widening path (no dot product on the A53 and A72) and SDOT (max).
    for cpu in cortex-a53 cortex-a72 max; do
        check "aarch64 qemu -cpu $cpu: qs8 --quick" \
            env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES qemu-aarch64 -cpu "$cpu" "$out/qs8_aarch64" --quick
    done
    if [ -n "$arm_clang" ]; then
        check "aarch64 (clang) qemu -cpu max: qs8 --quick" \
            env -u NIGHTJAR_MAX_ISA -u NIGHTJAR_DISABLE_FEATURES qemu-aarch64 -cpu max "$out/qs8_aarch64_clang" --quick
    fi
    check "aarch64 qemu -cpu cortex-a53: colour steps" qemu-aarch64 -cpu cortex-a53 "$out/colour_aarch64"
    check "aarch64 qemu -cpu cortex-a53: png steps" qemu-aarch64 -cpu cortex-a53 "$out/png_aarch64"
    # Conversions and int8 LeakyReLU: GCC contracts float expressions into FMAs on AArch64
    # (-ffp-contract=fast), which x86-64's baseline has no FMA to show.
    for cpu in cortex-a53 max; do
        check "aarch64 qemu -cpu $cpu: conversions" qemu-aarch64 -cpu "$cpu" "$out/convert_aarch64"
    done
    for cpu in cortex-a53 max; do
        check "aarch64 qemu -cpu $cpu: thread pool" timeout 300 qemu-aarch64 -cpu "$cpu" "$out/threadpool_aarch64"
    done
    echo "== aarch64: $(($(date +%s) - start)) s in all"
}

case "$mode" in
--host-only) host ;;
--arm-only) arm ;;
*)
    # Emulation is one core's work: beside the host part from two cores on. With two, one after
    # the other, the AArch64 part (17 minutes in CI) ran alone on one core once the Swift
    # builds and tests beside it had finished, and the other core idled.
    if [ "$jobs" -ge 2 ]; then
        arm >"$out/arm.log" 2>&1 &
        arm_pid=$!
        host
        wait "$arm_pid" || echo "aarch64 part" >>"$out/failed"
        cat "$out/arm.log"
    else
        host
        arm
    fi
    ;;
esac
if [ -s "$out/failed" ]; then
    echo "kernel tests failed:"
    sed 's/^/  /' "$out/failed"
    exit 1
fi
