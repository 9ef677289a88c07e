#!/usr/bin/env bash
# What camera colour costs end to end: the same synthetic dark DNG (Sony A7S2 colour) restored
# with --color network and --color camera, alternating batch by batch so that a loaded machine
# slows both alike. Each batch restores the frame N times in one process (the first, the
# warm-up, is not counted); per-frame times are restore's own (`--json` "totalSeconds":
# decode, network, colour, PNG). Prints the medians, the ratio, and each batch's peak RSS
# (/usr/bin/time, when installed), and within each frame the colour step's own time (camera
# colour's stage less the network colour's conversion it replaces) against the rest of it.
# Usage: scripts/bench-colour.sh MODEL.safetensors [SIZE=4256x2848] [ROUNDS=3] [N=4] [THREADS=2]
# NIGHTJAR=path/to/nightjar uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"; size="${2:-4256x2848}"; rounds="${3:-3}"; n="${4:-4}"; threads="${5:-2}"
if [ -n "${NIGHTJAR:-}" ]; then
    bin="$NIGHTJAR"
else
    swift build -c release --static-swift-stdlib >/dev/null
    bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/nightjar"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" synthesize -o "$work/frame.dng" --size "$size" --camera sony-a7s2 --no-previews >/dev/null
mkdir -p "$work/in"
for i in $(seq 0 "$n"); do ln -s "$work/frame.dng" "$work/in/f$i.dng"; done
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%M")
for round in $(seq 1 "$rounds"); do
    for color in network camera; do
        rm -rf "$work/out"
        "${timer[@]}" "$bin" restore "$work"/in/f*.dng -o "$work/out/" --model "$model" --threads "$threads" --color "$color" \
            --json >"$work/$color-$round.json" 2>"$work/$color-$round.err" || { cat "$work/$color-$round.err" >&2; exit 1; }
        rss=$(tail -n 1 "$work/$color-$round.err")
        [ ${#timer[@]} -gt 0 ] && echo "round $round, $color colour: peak RSS $rss kB"
    done
done
python3 - "$work" "$rounds" "$size" "$threads" <<'PY'
import json, sys, statistics, glob
work, rounds, size, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
times = {}
for color in ("network", "camera"):
    t = []
    for r in range(1, rounds + 1):
        frames = [json.loads(l) for l in open(f"{work}/{color}-{r}.json") if '"totalSeconds"' in l]
        frames.sort(key=lambda f: f["input"])
        t += [f["totalSeconds"] for f in frames[1:]]  # f0 is the warm-up
    times[color] = t
    print(f"{color:8s} colour: median {statistics.median(t):.3f} s per frame (min {min(t):.3f}, max {max(t):.3f}, {len(t)} frames)")
ratio = statistics.median(times["camera"]) / statistics.median(times["network"])
print(f"{size}, {threads} threads: camera colour adds {100 * (ratio - 1):.1f} % end to end (ratio of the medians {ratio:.3f})")
# Each round's two batches ran one after the other, so their ratio cancels slow drifts of the
# machine's load; the median of those ratios is the steadier figure on a shared machine.
n = len(times["network"]) // rounds
paired = [statistics.median(times["camera"][r * n:(r + 1) * n]) / statistics.median(times["network"][r * n:(r + 1) * n])
          for r in range(rounds)]
print(f"per-round ratios: median {statistics.median(paired):.3f} (min {min(paired):.3f}, max {max(paired):.3f}, {rounds} rounds)")
# Within the frames themselves: each colour's own step ("colorSeconds": camera colour's stage,
# or network colour's conversion of the network's output to samples, the work camera colour
# replaces) against the rest of the same frame, so no drift between batches enters. What camera
# colour adds is its stage less the conversion (the network batches' median).
def steps(color):
    out = []
    for r in range(1, rounds + 1):
        frames = [json.loads(l) for l in open(f"{work}/{color}-{r}.json") if '"totalSeconds"' in l]
        frames.sort(key=lambda f: f["input"])
        out += [(f["colorSeconds"], f["totalSeconds"]) for f in frames[1:] if "colorSeconds" in f]
    return out
camera, network = steps("camera"), steps("network")
if camera:
    shares = [c / (t - c) for c, t in camera]
    print(f"the colour stage's own time: median {100 * statistics.median(shares):.1f} % of the rest of its frame "
          f"(min {100 * min(shares):.1f}, max {100 * max(shares):.1f}, {len(shares)} frames)")
if camera and network:
    conversion = statistics.median(c for c, _ in network)
    added = [(c - conversion) / (t - c) for c, t in camera]
    print(f"network colour's conversion: median {1000 * conversion:.1f} ms per frame; camera colour adds its stage less "
          f"that: median {100 * statistics.median(added):.1f} % of the rest of its frame "
          f"(min {100 * min(added):.1f}, max {100 * max(added):.1f})")
PY
