#!/bin/sh
# Single-thread GMAC/s of the convolution kernels on the network's shapes, median of N runs, by
# the wall clock and by the thread's CPU time (what a busy machine does not distort).
# Compiles like SwiftPM does (clang -O2 -fPIC -fno-omit-frame-pointer, no ISA flags) unless CC
# or CFLAGS say otherwise.
# Usage: [BENCH_THREADS=2] [BENCH_TILES=all] [BENCH_DTYPE=f32|f16] scripts/bench-kernels.sh [runs] [isa...]   e.g. scripts/bench-kernels.sh 7 avx512 avx2
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kdir="$root/CSupport/NightjarKernels"
# A directory of its own: two runs at once (a developer and CI) must not share binaries.
out=$(mktemp -d "${TMPDIR:-/tmp}/nightjar-kernels.XXXXXX")
trap 'rm -rf "$out"' EXIT
cc=${CC:-clang}
# shellcheck disable=SC2086
$cc -std=gnu11 -O2 ${CFLAGS:--fPIC -fno-omit-frame-pointer} -I"$kdir/include" "$kdir"/src/*.c "$root/Tests/kernels/bench_conv.c" \
    -lm -lpthread -o "$out/bench_conv"
runs=${1:-5}
[ $# -gt 0 ] && shift
"$out/bench_conv" "$runs" "$@"
