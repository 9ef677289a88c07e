#!/usr/bin/env bash
# PNG filter x deflate strategy on restored (noisy) images, measured with the encoder's own C
# code (png_pieces.c, 64 KiB pieces, scripts/bench-png.c): size as a share of the raw samples and
# MB of raw samples per CPU second (filter, deflate, both), for 8- and 16-bit output.
# The images: the golden captures (../shared/golden/captures/*.dng, when present) and one
# synthetic frame of SIZE, each restored with camera and with network colour, at both depths
# (written stored, level 0, so the restore itself is quick). Prints a Markdown table of medians
# over the images of each depth (size: median share; speed: median MB/s).
# Usage: scripts/bench-png.sh MODEL.safetensors [SIZE=4256x2848] [REPEATS=3] [THREADS=2]
# NIGHTJAR=path/to/nightjar uses that binary instead of building the release one; KEEP=DIR keeps
# the images and the raw per-image table there.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"; size="${2:-4256x2848}"; repeats="${3:-3}"; threads="${4:-2}"
if [ -n "${NIGHTJAR:-}" ]; then
    bin="$NIGHTJAR"
else
    swift build -c release >/dev/null
    bin="$(swift build -c release --show-bin-path)/nightjar"
fi
if [ -n "${KEEP:-}" ]; then work="$KEEP"; mkdir -p "$work"; else work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; fi
cc="$(command -v clang || command -v cc)"
# png_pieces.c's filter, checksum and run search steps are kernels (u8-png-*.c) with what they need.
"$cc" -O2 -ICSupport/NightjarIOShims/include -ICSupport/NightjarKernels/include scripts/bench-png.c \
    CSupport/NightjarIOShims/src/png_pieces.c CSupport/NightjarKernels/src/u8-png-*.c CSupport/NightjarKernels/src/cpu-features.c \
    -lpng -lz -lpthread -o "$work/bench-png"

inputs=()
for dng in ../shared/golden/captures/*.dng; do [ -e "$dng" ] && inputs+=("$dng"); done
[ ${#inputs[@]} -gt 0 ] || echo "no ../shared/golden/captures: the synthetic frame only" >&2
"$bin" synthesize -o "$work/synthetic-$size.dng" --size "$size" --camera sony-a7s2 --no-previews >/dev/null
inputs+=("$work/synthetic-$size.dng")
images=()
for input in "${inputs[@]}"; do
    stem="$(basename "${input%.*}")"
    for color in camera network; do
        for bits in 8 16; do
            out="$work/$stem-$color-$bits.png"
            "$bin" restore "$input" -o "$out" --model "$model" --threads "$threads" --color "$color" --bits "$bits" \
                --png-compression 0 --overwrite >/dev/null
            images+=("$out")
        done
    done
done
"$work/bench-png" "$repeats" "${images[@]}" >"$work/table.tsv"
python3 - "$work/table.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for r in rows:
    groups.setdefault((int(r["bits"]), r["filter"], r["strategy"]), []).append(r)
print(f"{len({r['file'] for r in rows})} images; medians over the images of each depth")
print()
print("| bits | filter | strategy | size % of raw | filter MB/s | deflate MB/s | both MB/s |")
print("|---|---|---|---|---|---|---|")
for (bits, flt, strategy), rs in groups.items():
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    print(f"| {bits} | {flt} | {strategy} | {med('size%'):.1f} | {med('filter MB/s'):.0f} | "
          f"{med('deflate MB/s'):.0f} | {med('total MB/s'):.0f} |")
PY
