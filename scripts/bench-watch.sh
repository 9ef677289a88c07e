#!/usr/bin/env bash
# Sustained rate of `nightjar watch` against back-to-back `nightjar restore` on the same files:
# N synthetic dark DNGs of SIZE, restored by one `restore` batch and by one `watch` daemon
# (from start until the last original is in done/), alternating, ROUNDS times each.
# Usage: scripts/bench-watch.sh MODEL.safetensors [N=8] [SIZE=4256x2848] [ROUNDS=2] [THREADS=2]
# NIGHTJAR=path/to/nightjar uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"; n="${2:-8}"; size="${3:-4256x2848}"; rounds="${4:-2}"; threads="${5:-2}"
if [ -n "${NIGHTJAR:-}" ]; then
    bin="$NIGHTJAR"
else
    swift build -c release --static-swift-stdlib >/dev/null
    bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/nightjar"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" synthesize -o "$work/frame.dng" --size "$size" --no-previews >/dev/null
now() { date +%s.%N; }
shopt -s nullglob
mkfifo "$work/tick" && exec 3<>"$work/tick"
for round in $(seq 1 "$rounds"); do
    rm -rf "$work/in" "$work/out" && mkdir -p "$work/in"
    for i in $(seq 1 "$n"); do cp "$work/frame.dng" "$work/in/f$i.dng"; done
    t0=$(now)
    "$bin" restore "$work/in" -o "$work/out/" --model "$model" --threads "$threads" 2>/dev/null
    t1=$(now)
    restore=$(echo "$t1 - $t0" | bc -l)

    rm -rf "$work/out" && mkdir -p "$work/out"
    t0=$(now)
    "$bin" watch --capture-dir "$work/in" --output-dir "$work/out" --model "$model" --threads "$threads" \
        --settle 0 2>"$work/watch.log" &
    pid=$!
    # Wait without starting a process: `ls | wc` and `sleep` every 10 ms took enough of 2 cores
    # to slow the daemon by a fifth to a third (a read timing out on a FIFO is bash's own sleep).
    while done_files=("$work"/in/done/*.dng); [ "${#done_files[@]}" -lt "$n" ]; do read -r -t 0.01 -u 3 || true; done
    t1=$(now)
    kill -TERM "$pid"; wait "$pid"
    watch=$(echo "$t1 - $t0" | bc -l)
    printf 'round %d: %d frames %s, restore %.2f s (%.3f s/frame), watch %.2f s (%.3f s/frame), watch rate / restore rate = %.3f\n' \
        "$round" "$n" "$size" "$restore" "$(echo "$restore / $n" | bc -l)" "$watch" "$(echo "$watch / $n" | bc -l)" \
        "$(echo "$restore / $watch" | bc -l)"
done
