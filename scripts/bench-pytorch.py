#!/usr/bin/env python3
"""PyTorch baseline for `nightjar bench`: the same network, run by PyTorch on the same machine.

The network is written here from REFERENCE.md section 1 (not taken from the authors' code) and
reads a Nightjar model file, so both runtimes use identical folded weights. Before timing, it
checks itself against a golden tensor pair when one is given (--golden-in/--golden-out), so a
figure is only reported for a network that computes what Nightjar computes.

Prints one JSON object: pytorch version, threads, size, network_seconds_median/min/max,
peak_rss_bytes, and golden_max_abs_diff when checked. Needs torch and numpy; used by
scripts/bench-vs-pytorch.sh.
"""
import argparse
import json
import resource
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_model(path):
    """Tensors and metadata of a Nightjar model file (safetensors: u64 header size, JSON, data)."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_size])
    metadata = header.pop("__metadata__", {})
    data = blob[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", f"{name}: {entry['dtype']}"
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


class Network:
    """REFERENCE.md section 1, with folded weights: every conv is stride 1, padding (k-1)/2."""

    def __init__(self, tensors, metadata):
        self.t = tensors
        self.star = metadata["architecture"] == "rdb-star"
        self.dense_layers = [int(n) for n in metadata["dense_layers"].split(",")]

    def conv(self, name, x, groups=1):
        w = self.t[name + ".weight"]
        return F.conv2d(x, w, self.t.get(name + ".bias"), padding=(w.shape[-1] - 1) // 2, groups=groups)

    def rdb(self, block, x, layers):
        concat = x
        for i in range(layers):
            name = f"rdb{block}.dense{i}"
            if self.star:
                middle = 0 < i < layers - 1
                out = self.conv(name, F.leaky_relu(concat, 0.2) if middle else concat)
            else:
                out = self.conv(name, concat)
                if i < layers - 1:
                    out = F.leaky_relu(out, 0.2)
            concat = torch.cat([concat, out], 1)
        return self.conv(f"rdb{block}.fuse", concat) + x

    def __call__(self, x):
        low2x = F.pixel_unshuffle(x, 2)
        f32 = self.conv("conv32x.1", self.conv("conv32x.0", F.pixel_unshuffle(low2x, 16), groups=128))
        outputs, h = [], f32
        for block, layers in enumerate(self.dense_layers, start=1):
            h = self.rdb(block, h, layers)
            outputs.append(h)
        r32 = self.conv("rdball", torch.cat(outputs, 1)) + f32
        r8 = self.conv("conv_rdb8x", F.pixel_shuffle(r32, 4))
        in8 = F.pixel_unshuffle(low2x, 4)
        l8 = self.conv("resblock8x.conv2", F.leaky_relu(self.conv("resblock8x.conv1", in8), 0.2)) + in8
        c = torch.cat([l8, r8], 1)
        # Channel shuffle: channel k of the result is channel (k mod 2)*64 + k div 2 of c.
        c = c.view(1, 2, 64, *c.shape[2:]).transpose(1, 2).reshape(1, 128, *c.shape[2:])
        h8 = F.leaky_relu(self.conv("conv32_8_cat.1", self.conv("conv32_8_cat.0", c, groups=4)), 0.2)
        cat2 = torch.cat([self.conv("conv2x", low2x), F.pixel_shuffle(h8, 4)], 1)
        return torch.clamp(F.pixel_shuffle(self.conv("conv_2_8_32", cat2), 2), 0, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="Nightjar model file (.safetensors)")
    parser.add_argument("--size", default="4256x2848", help="WxH, multiples of 32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--golden-in")
    parser.add_argument("--golden-out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    network = Network(*read_model(args.model))
    report = {"pytorch": torch.__version__, "threads": args.threads, "width": width, "height": height,
              "runs": args.runs}
    with torch.inference_mode():
        if args.golden_in and args.golden_out:
            x = torch.from_numpy(np.load(args.golden_in)).float()[None, None]
            y = network(x)[0].numpy()
            report["golden_max_abs_diff"] = float(np.abs(y - np.load(args.golden_out)).max())
        rng = np.random.default_rng(42)
        x = torch.from_numpy((rng.random((height, width), dtype=np.float32) * 0.6)[None, None])
        network(x)  # warm-up
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            network(x)
            times.append(time.perf_counter() - start)
    report["network_seconds_median"] = statistics.median(times)
    report["network_seconds_min"] = min(times)
    report["network_seconds_max"] = max(times)
    report["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
