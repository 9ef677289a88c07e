#!/usr/bin/env bash
# The main job, end to end on a fresh machine: build Nightjar in release mode, obtain the
# MIT-licensed Sony checkpoint, convert it, synthesise a dark capture of a scene Nightjar renders
# itself, restore it, and say where the before and after images are.
#
#   WEIGHTS=path/to/checkpoint.pth  use this checkpoint instead of downloading one
#   OUT=dir                         where to put everything (default: out/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${OUT:-$root/out/demo}
mkdir -p "$out"

scripts/install-deps.sh
echo "== building (release, Swift runtime linked in: the one file runs on a board without Swift)"
swift build -c release --static-swift-stdlib
nightjar=$(swift build -c release --static-swift-stdlib --show-bin-path)/nightjar

# The MIT-licensed reimplementation's Sony checkpoint, pinned by its SHA-256.
weights_url=${WEIGHTS_URL:-https://github.com/biubiubiiu/RED/raw/main/pretrained/sony_est_amp.pth}
weights_sha256=de477baed9f37fc222419d4fb00833bed16bca1827f964152afc8cd1cc923df5
checkpoint="$out/red-mit-sid-sony.pth"
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

echo "== model"
if [ -n "${WEIGHTS:-}" ]; then
    checkpoint=$WEIGHTS
    echo "using WEIGHTS=$checkpoint (sha256 $(sha256_of "$checkpoint"))"
elif [ -f "$checkpoint" ] && [ "$(sha256_of "$checkpoint")" = "$weights_sha256" ]; then
    echo "using the checkpoint downloaded before: $checkpoint"
else
    rm -f "$checkpoint.part"
    if command -v curl >/dev/null && curl -fsSL --max-time 60 -o "$checkpoint.part" "$weights_url" \
        && [ "$(sha256_of "$checkpoint.part")" = "$weights_sha256" ]; then
        mv "$checkpoint.part" "$checkpoint"
        echo "downloaded $weights_url (sha256 verified)"
    else
        rm -f "$checkpoint.part"
        offline="$root/../shared/models/red-mit-sid-sony.pth"
        if [ -f "$offline" ] && [ "$(sha256_of "$offline")" = "$weights_sha256" ]; then
            checkpoint=$offline
            echo "download unavailable or unverified; using the reference copy $offline (sha256 verified)"
        else
            echo "error: cannot download $weights_url and no verified local copy; set WEIGHTS=path/to/checkpoint.pth" >&2
            exit 1
        fi
    fi
fi
"$nightjar" convert "$checkpoint" -o "$out/red-mit-sid-sony.safetensors" --overwrite

echo "== a dark capture of a synthetic scene, through the Sony A7S2's colour (the camera the network was trained on)"
"$nightjar" synthesize -o "$out/dark.dng" --size 1536x1024 --cfa BGGR --bits 12 --ratio 100 --camera sony-a7s2 --overwrite

echo "== restoring (camera colour, the default; and the network's own colour for comparison)"
"$nightjar" restore "$out/dark.dng" -o "$out/restored.png" --model "$out/red-mit-sid-sony.safetensors" --overwrite --sidecar
"$nightjar" restore "$out/dark.dng" -o "$out/restored-network.png" --model "$out/red-mit-sid-sony.safetensors" --overwrite --color network

echo
echo "before:         $out/dark-before.png         (the capture as shot)"
echo "after:          $out/restored.png            (restored by Nightjar, the camera's colour)"
echo "network colour: $out/restored-network.png    (the network's own colour, --color network)"
echo "reference:      $out/dark-scene.png          (the scene at full exposure)"
