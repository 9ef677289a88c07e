#!/usr/bin/env bash
# Nightjar against PyTorch on the same network, weights, frame size and thread count, in one
# run: the two alternate (Nightjar, PyTorch, Nightjar, PyTorch) so a change in the machine's
# load shows in both. Needs a release build (swift build -c release) and Python with torch and
# numpy (PYTHON=path/to/python). Prints both medians and the ratio.
#
#   scripts/bench-vs-pytorch.sh [MODEL.safetensors] [WxH] [threads] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
model=${1:-}
size=${2:-4256x2848}
threads=${3:-2}
runs=${4:-5}
nightjar=$(swift build -c release --show-bin-path)/nightjar
[ -x "$nightjar" ] || { echo "error: build first: swift build -c release" >&2; exit 1; }
"$python" -c 'import torch, numpy' 2>/dev/null || { echo "error: $python has no torch/numpy; set PYTHON" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$model" ]; then
    model="$work/official.safetensors"
    "$nightjar" convert ../shared/models/official-sid-sony.pth -o "$model" >/dev/null
fi

golden=../shared/golden/tensors
check=()
[ -f "$golden/official_256x256_in.npy" ] && check=(--golden-in "$golden/official_256x256_in.npy" --golden-out "$golden/official_256x256_out.npy")

for round in 1 2; do
    "$nightjar" bench --model "$model" --size "$size" --threads "$threads" --runs "$runs" --network-only --json \
        > "$work/nightjar-$round.json"
    "$python" scripts/bench-pytorch.py --model "$model" --size "$size" --threads "$threads" --runs "$runs" "${check[@]}" \
        > "$work/pytorch-$round.json"
done

"$python" - "$work" <<'EOF'
import json, statistics, sys
work = sys.argv[1]
nj = [json.load(open(f"{work}/nightjar-{r}.json")) for r in (1, 2)]
pt = [json.load(open(f"{work}/pytorch-{r}.json")) for r in (1, 2)]
n = statistics.median(r["network_seconds_median"] for r in nj)
p = statistics.median(r["network_seconds_median"] for r in pt)
print(f"frame {nj[0]['width']}x{nj[0]['height']}, {nj[0]['threads']} threads, {nj[0]['isa']} kernels")
def rounds(rs): return ", ".join("%.3f" % r["network_seconds_median"] for r in rs)
print(f"nightjar  {n:.3f} s median of two rounds ({rounds(nj)}), "
      f"peak RSS {max(r['peak_rss_bytes'] for r in nj) / 1e6:.0f} MB")
print(f"pytorch   {p:.3f} s median of two rounds ({rounds(pt)}), "
      f"peak RSS {max(r['peak_rss_bytes'] for r in pt) / 1e6:.0f} MB, torch {pt[0]['pytorch']}"
      + (", golden max |diff| %.2e" % pt[0]["golden_max_abs_diff"] if "golden_max_abs_diff" in pt[0] else ""))
print(f"ratio     {p / n:.2f}x (PyTorch time / Nightjar time)")
EOF
