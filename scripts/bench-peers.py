#!/usr/bin/env python3
"""Nightjar against PyTorch, ONNX Runtime and OpenVINO on the same frames (issue #12's evidence).

On demand, outside CI. Builds a Python virtual environment outside the repository with pinned
torch (CPU build), onnxruntime and openvino; builds the network from the checkpoint with its own
PyTorch module (written from REFERENCE.md section 1; weight normalisation folded at load) and
checks it against the golden tensors when ../shared/golden is there; exports it to ONNX (one
static graph per frame size); then, for each frame size, alternates between the systems for
--rounds rounds (the order reversed every other round), each system in a child process of its
own: one warm-up run, --runs timed runs of the network on the same synthetic dark mosaic.

Reported per system and size: the network time (median of the rounds' medians, and their
range), Nightjar's end to end time (`nightjar bench`: synthetic DNG in, PNG out; the peers have
no such pipeline), the peak RSS of the measuring child process (GNU time's maximum resident set,
not this harness's), and the PSNR of its output against PyTorch's on the same input (peak 1, all samples;
Nightjar's through `nightjar run-tensor` on the same .npy, whose whole-frame engine equals the
streaming one bit for bit). Nightjar runs in each precision `nightjar bench --help` offers;
what the build refuses is listed as skipped. Writes results.md, results.svg and results.json.

    python3 scripts/bench-peers.py [--sizes 2mp,12mp,24mp] [--threads 2] [--runs 3] [--rounds 2]
                                   [--out out/peers] [--dry-run]

Environment: NIGHTJAR_PEERS_VENV (default ~/.cache/nightjar-peers), NIGHTJAR_PEERS_TORCH_INDEX
(default the PyTorch CPU wheel index; empty: pip's own configuration only).
"""
import argparse
import warnings
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Versions this script was validated with (2026-11-30).
PINS = ["torch==2.13.0+cpu", "numpy==2.4.6", "onnx==1.23.2", "onnxruntime==1.32.0", "openvino==2026.4.1"]
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
GNU_TIME = "/usr/bin/time"
SIZES = {"2mp": (1728, 1152), "12mp": (4256, 2848), "24mp": (6016, 4000)}
PEERS = ["pytorch", "onnxruntime", "openvino-fp32", "openvino-bf16"]


class Failure(Exception):
    """A problem the person running the script can act on (printed as one line, exit 1)."""


def log(message):
    print(f"bench-peers: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The network, from the checkpoint (REFERENCE.md sections 1 and 2). Imports torch lazily so the
# harness's own --help and --dry-run work without the virtual environment.

# Checkpoint module paths (official and MIT layouts) -> one name per convolution.
KEY_RULES = [
    (r"RDB(\d+)\.dense_layers\.(\d+)\.conv\.\d+$", r"rdb\1.dense\2"),
    (r"RDB(\d+)\.layers\.(\d+)(?:\.1)?\.conv$", r"rdb\1.dense\2"),
    (r"RDB(\d+)\.(?:conv_1x1\.0|last\.conv)$", r"rdb\1.fuse"),
    (r"resblock8x\.(?:conv1\.0|model\.0\.conv)$", "resblock8x.conv1"),
    (r"resblock8x\.(?:conv2\.0|model\.2\.conv)$", "resblock8x.conv2"),
    (r"(conv32x|conv32_8_cat)\.(\d)\.(?:0|conv)$", r"\1.\2"),
    (r"(rdball|conv_rdb8x|conv2x|conv_2_8_32)\.(?:0|conv)$", r"\1"),
]
GROUPS = {"conv32x.0": 128, "conv32_8_cat.0": 4}


def load_checkpoint(path):
    """Folded weights and biases by convolution name, the dense layers per block, RDB* or not."""
    import torch
    state = torch.load(path, map_location="cpu", weights_only=True)  # no code runs from the file
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    convs = {}
    for key in state:
        if not key.endswith(".weight_v"):
            continue
        site = key[: -len(".weight_v")]
        name = None
        for pattern, replacement in KEY_RULES:
            if re.match(pattern + "", site):
                name = re.sub(pattern, replacement, site)
                break
        if name is None:
            raise Failure(f"{path}: unknown layer {site}: not a Lamba & Mitra checkpoint")
        v, g = state[key].float(), state[site + ".weight_g"].float()
        # Weight normalisation: w = g v / |v|, the norm per output channel.
        weight = g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        convs[name] = (weight, state[site + ".bias"].float() if site + ".bias" in state else None)
    # RDB*: the middle dense convs are preceded by an activation (official .conv.1, MIT .layers.i.1).
    star = any(re.search(r"dense_layers\.\d+\.conv\.1\.weight_v$|\.layers\.\d+\.1\.conv\.weight_v$", k) for k in state)
    blocks = sorted({int(m.group(1)) for n in convs if (m := re.match(r"rdb(\d+)\.dense", n))})
    layers = [len([n for n in convs if n.startswith(f"rdb{b}.dense")]) for b in blocks]
    return convs, layers, star


def build_network(checkpoint):
    import torch
    import torch.nn.functional as F

    convs, dense_layers, star = load_checkpoint(checkpoint)

    class Network(torch.nn.Module):
        """REFERENCE.md section 1: every conv is stride 1 with zero padding (k-1)/2."""

        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleDict()
            for name, (weight, bias) in convs.items():
                out_channels, in_per_group, k, _ = weight.shape
                groups = GROUPS.get(name, 1)
                conv = torch.nn.Conv2d(in_per_group * groups, out_channels, k, padding=(k - 1) // 2,
                                       groups=groups, bias=bias is not None)
                conv.weight.data.copy_(weight)
                if bias is not None:
                    conv.bias.data.copy_(bias)
                self.convs[name.replace(".", "_")] = conv

        def conv(self, name, x):
            return self.convs[name.replace(".", "_")](x)

        def rdb(self, block, x, layers):
            concat = x
            for i in range(layers):
                name = f"rdb{block}.dense{i}"
                if star:  # activation of the running concatenation, middle layers only
                    out = self.conv(name, F.leaky_relu(concat, 0.2) if 0 < i < layers - 1 else concat)
                else:  # canonical: each conv's own output rectified, except the last
                    out = self.conv(name, concat)
                    if i < layers - 1:
                        out = F.leaky_relu(out, 0.2)
                concat = torch.cat([concat, out], 1)
            return self.conv(f"rdb{block}.fuse", concat) + x

        def forward(self, x):
            low2x = F.pixel_unshuffle(x, 2)
            f32 = self.conv("conv32x.1", self.conv("conv32x.0", F.pixel_unshuffle(low2x, 16)))
            outputs, h = [], f32
            for block, layers in enumerate(dense_layers, start=1):
                h = self.rdb(block, h, layers)
                outputs.append(h)
            r8 = self.conv("conv_rdb8x", F.pixel_shuffle(self.conv("rdball", torch.cat(outputs, 1)) + f32, 4))
            in8 = F.pixel_unshuffle(low2x, 4)
            l8 = self.conv("resblock8x.conv2", F.leaky_relu(self.conv("resblock8x.conv1", in8), 0.2)) + in8
            # Channel shuffle: channel k is channel (k mod 2)*64 + k div 2 of concat(l8, r8).
            c = torch.stack([l8, r8], 2).flatten(1, 2)
            h8 = F.leaky_relu(self.conv("conv32_8_cat.1", self.conv("conv32_8_cat.0", c)), 0.2)
            cat2 = torch.cat([self.conv("conv2x", low2x), F.pixel_shuffle(h8, 4)], 1)
            return torch.clamp(F.pixel_shuffle(self.conv("conv_2_8_32", cat2), 2), 0, 1)

    return Network().eval()


# ---------------------------------------------------------------------------------------------
# Frames: a synthetic dark capture (not uniform noise), the same .npy for every system.

def paper_amplification(x, m=5.0):
    """The paper's amplifier as `restore` applies it (REFERENCE.md section 3, step 4): weights
    10^(-5k/126) over 128 log-spaced bins of the normalised values, a = m * 0.01 * sum(w) /
    sum(w * x) in float64, clamped to [1, 300]."""
    import numpy as np
    edges = (2.0 ** (8.0 * np.arange(128) / 127.0) - 1.0) / 255.0
    weights = 10.0 ** (-5.0 * np.arange(127) / 126.0)
    values = x.astype(np.float64).ravel()
    k = np.searchsorted(edges, values, side="right") - 1  # e_k <= x < e_k+1
    inside = (k >= 0) & (k < 127)
    w = np.where(inside, weights[np.clip(k, 0, 126)], 0.0)
    return float(np.clip(m * 0.01 * w.sum() / (w * values).sum(), 1.0, 300.0))


def synthesize_frame(width, height, seed, path):
    """A 1/100 exposure of a smooth scene with colour patches and texture on a 14-bit sensor
    (shot noise, read noise, integer DN), black-subtracted, normalised, and amplified as
    `restore` amplifies a capture (the paper's amplifier): the brightness the network and an
    int8 model's calibration see on real frames. A fixed factor of 100 made it about 5x
    brighter than that (mean 0.26 against about 0.05), beyond the calibrated range."""
    import numpy as np
    rng = np.random.default_rng(seed)
    h2, w2 = height // 2, width // 2
    y = (np.arange(h2, dtype=np.float32) / h2)[:, None]
    x = (np.arange(w2, dtype=np.float32) / w2)[None, :]
    scene = np.empty((h2, w2, 3), np.float32)
    base = 0.08 + 0.5 * x * (0.4 + 0.6 * y) + 0.06 * np.sin(x * 40) * np.sin(y * 27)
    for c, tint in enumerate((1.0, 0.85, 0.6)):
        scene[..., c] = base * tint
    for i in range(24):  # a 6x4 grid of coloured patches in the middle
        top, left = int(h2 * (0.25 + 0.125 * (i // 6))), int(w2 * (0.2 + 0.1 * (i % 6)))
        scene[top: top + h2 // 10, left: left + w2 // 12] = rng.uniform(0.03, 0.9, 3)
    mosaic = np.empty((height, width), np.float32)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2] = scene[..., 0], scene[..., 1]
    mosaic[1::2, 0::2], mosaic[1::2, 1::2] = scene[..., 1], scene[..., 2]
    white, ratio = 16383.0, 100.0
    dn = rng.poisson(mosaic * (white / ratio)).astype(np.float32) + rng.normal(0, 3, mosaic.shape).astype(np.float32)
    normalised = np.maximum(np.round(dn), 0) / white
    frame = normalised * paper_amplification(normalised)
    np.save(path, frame.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Inside the virtual environment: preparation and the per-system workers.

def prepare(args):
    """Golden check of the PyTorch module, then its ONNX export for each size."""
    import numpy as np
    import torch
    network = build_network(args.checkpoint)
    report = {"golden": []}
    stem = os.path.basename(args.checkpoint).split("-sid-")[0]
    golden = args.golden
    if golden and os.path.isdir(golden):
        with torch.inference_mode():
            for name in sorted(os.listdir(golden)):
                if name.startswith(stem + "_") and name.endswith("_in.npy"):
                    x = torch.from_numpy(np.load(os.path.join(golden, name)))[None, None]
                    expected = np.load(os.path.join(golden, name.replace("_in.npy", "_out.npy")))
                    diff = float(np.abs(network(x)[0].numpy() - expected).max())
                    report["golden"].append({"case": name[:-7], "max_abs_diff": diff})
                    if diff > 1e-4:
                        raise Failure(f"the PyTorch module differs from {name}: max |diff| {diff:.2e} > 1e-4")
    warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
    for size in args.sizes:
        w, h = SIZES[size] if size in SIZES else parse_size(size)
        path = os.path.join(args.work, f"network-{w}x{h}.onnx")
        with torch.inference_mode():
            torch.onnx.export(network, (torch.zeros(1, 1, h, w),), path, input_names=["mosaic"],
                              output_names=["rgb"], opset_version=17, dynamo=False)
    report["torch"] = torch.__version__
    print(json.dumps(report))


def worker(args):
    """One system on one frame: load, one warm-up run, --runs timed runs; JSON on stdout."""
    import numpy as np
    frame = np.load(args.frame)
    h, w = frame.shape
    x = frame[None, None]
    result = {}
    if args.worker == "pytorch":
        import torch
        torch.set_num_threads(args.threads)
        network = build_network(args.checkpoint)
        inp = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return network(inp).numpy()
        result["version"] = "torch " + torch.__version__
    elif args.worker == "onnxruntime":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])

        def run():
            return session.run(None, {"mosaic": x})[0]
        result["version"] = "onnxruntime " + ort.__version__
    else:
        import openvino as ov
        core = ov.Core()
        precision = "bf16" if args.worker == "openvino-bf16" else "f32"
        # Explicit: on CPUs with AMX OpenVINO would otherwise pick bf16 for "fp32".
        compiled = core.compile_model(core.read_model(args.onnx), "CPU", {
            "INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": args.threads,
            "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
        request = compiled.create_infer_request()
        result["ran_precision"] = re.sub(r"<Type: '(\w+)'>", r"\1", str(compiled.get_property("INFERENCE_PRECISION_HINT")))

        def run():
            return request.infer({0: x})[compiled.output(0)]
        result["version"] = "openvino " + ov.get_version().split("-")[0]
    run()  # warm-up
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    if args.save:
        np.save(args.save, np.asarray(out).reshape(3, h, w))
    result["seconds"] = sorted(times)
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# The harness.

def parse_size(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text.lower())
    if not m or int(m.group(1)) % 32 or int(m.group(2)) % 32 or not int(m.group(1)) or not int(m.group(2)):
        raise Failure(f"--sizes: {text!r} is neither 2mp, 12mp, 24mp nor WxH with sides multiples of 32")
    return int(m.group(1)), int(m.group(2))


def run_child(command, timeout, env=None):
    """Runs a child; returns (exit code, stdout, stderr, its peak RSS in bytes).

    The peak comes from GNU time (wait4's ru_maxrss of its own child), not from this harness's
    wait4: a child forked from this process carries this process's high-water mark across exec."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        child = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", rss.name, "--"] + command, stdout=out, stderr=err, env=env)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise Failure(f"{' '.join(command)}: still running after {timeout:.0f} s (--timeout)")
        out.seek(0)
        err.seek(0)
        kilobytes = rss.read().strip().splitlines()
        peak = int(kilobytes[-1]) * 1024 if kilobytes and kilobytes[-1].isdigit() else 0
        return child.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), peak


def machine():
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        memory = int(f.readline().split()[1]) * 1024
    features = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16") if f in flags]
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)), "memory_bytes": memory,
            "features": features, "kernel": platform.release()}


def available_memory():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def ensure_venv(venv):
    marker = os.path.join(venv, "nightjar-pins.txt")
    if os.path.exists(marker) and open(marker).read().split() == PINS:
        return
    log(f"setting up {venv} ({', '.join(PINS)}); a few minutes the first time")
    if not os.path.exists(venv_python(venv)):
        if subprocess.run([sys.executable, "-m", "venv", venv]).returncode:
            raise Failure(f"cannot create the virtual environment {venv} (on Debian/Ubuntu: apt-get install python3-venv)")
    pip = [venv_python(venv), "-m", "pip", "install", "--quiet"]
    index = os.environ.get("NIGHTJAR_PEERS_TORCH_INDEX", TORCH_INDEX)
    # torch's CPU build (+cpu) only: the default PyPI wheel pulls gigabytes of CUDA libraries.
    subprocess.run(pip + [PINS[0]] + (["--extra-index-url", index] if index else []), check=True)
    subprocess.run(pip + PINS[1:], check=True)
    with open(marker, "w") as f:
        f.write("\n".join(PINS) + "\n")


def nightjar_binary(args):
    if args.nightjar:
        return args.nightjar
    if not args.dry_run:
        log("swift build -c release")
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    return os.path.join(path, "nightjar")


def offered_precisions(nightjar):
    """The values `nightjar bench --help` lists for --precision (fp32 when it has none)."""
    text = subprocess.run([nightjar, "bench", "--help"], capture_output=True, text=True).stdout
    m = re.search(r"^\s+--precision\b(.*?)(?=\n\s+--|\Z)", text, re.S | re.M)
    found = re.findall(r"\b(fp32|fp16|bf16|int8)\b", m.group(1)) if m else []
    return list(dict.fromkeys(found)) or ["fp32"]


def nightjar_models(args, nightjar, work, model, calibration):
    """Which precisions this build runs, each with its model file; the others with the reason; and
    the precision of each layer of the int8 model (the quantizer keeps some layers FP16 when their
    int8 error on the calibration inputs is too large, which changes the speed)."""
    runnable, skipped, int8_layers = {}, {}, []
    has_quantize = re.search(r"^\s+quantize\b", subprocess.run([nightjar, "--help"], capture_output=True, text=True).stdout, re.M)
    for precision in offered_precisions(nightjar):
        path = model
        if precision == "int8":
            if not has_quantize:
                skipped[precision] = "needs a model calibrated by `nightjar quantize`, which this build lacks"
                continue
            path = os.path.join(work, "model-int8.safetensors")
            code, _, err, _ = run_child([nightjar, "quantize", model, "--calibrate", *calibration, "-o", path,
                                         "--overwrite", "--threads", str(args.threads)], args.timeout)
            if code:
                skipped[precision] = "nightjar quantize failed: " + (err.strip().splitlines()[-1] if err.strip() else f"exit {code}")
                continue
        code, out, err, _ = run_child([nightjar, "bench", "--model", path, "--precision", precision, "--size", "64x64",
                                       "--runs", "1", "--network-only", "--threads", str(args.threads), "--json"], args.timeout)
        if code:
            skipped[precision] = (err.strip().splitlines() or [f"exit {code}"])[-1].removeprefix("nightjar: error: ")
        else:
            runnable[precision] = path
            if precision == "int8":
                int8_layers = json.loads(out).get("layer_precisions", [])
    return runnable, skipped, int8_layers


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def psnr(reference, path):
    import numpy as np
    a = np.load(reference, mmap_mode="r")
    b = np.load(path, mmap_mode="r")
    if a.shape != b.shape:
        raise Failure(f"{path}: shape {b.shape}, PyTorch's {a.shape}")
    mse = 0.0
    for c in range(a.shape[0]):  # a channel at a time: no frame-sized float64 temporaries
        d = a[c].astype(np.float64) - b[c].astype(np.float64)
        mse += float((d * d).sum())
    mse /= a.size
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def measure(args):
    started = datetime.datetime.now(datetime.timezone.utc)
    info = {"machine": machine(), "date": started.strftime("%Y-%m-%d %H:%M UTC"), "threads": args.threads,
            "runs": args.runs, "rounds": args.rounds, "load_average_start": os.getloadavg()[0],
            "note": args.note, "checkpoint": os.path.basename(args.checkpoint), "pins": PINS}
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="nightjar-peers-")
    try:
        nightjar = nightjar_binary(args)
        if not os.access(nightjar, os.X_OK):
            raise Failure(f"{nightjar} missing: swift build -c release")
        model = os.path.join(work, "model.safetensors")
        code, _, err, _ = run_child([nightjar, "convert", args.checkpoint, "-o", model], args.timeout)
        if code:
            raise Failure(f"nightjar convert {args.checkpoint}: {err.strip()}")
        log("golden check of the PyTorch module, ONNX export")
        code, out, err, _ = run_child([sys.executable, __file__, "--prepare", "--work", work, "--checkpoint", args.checkpoint,
                                       "--golden", args.golden, "--sizes", ",".join(args.sizes)], args.timeout)
        if code:
            raise Failure("preparing the peers failed:\n" + err.strip())
        info.update(json.loads(out.strip().splitlines()[-1]))
        if args.calibrate:
            calibration = [os.path.abspath(path) for path in args.calibrate]
            info["int8_calibration"] = ", ".join(args.calibrate)
        else:
            calibration = [os.path.join(work, "calibration.npy")]
            synthesize_frame(1728, 1152, 7, calibration[0])  # not one of the measured frames
            info["int8_calibration"] = "one synthetic 1728x1152 frame (another seed than the measured ones)"
        nightjar_precisions, skipped, info["int8_layers"] = nightjar_models(args, nightjar, work, model, calibration)
        info["nightjar_skipped"] = skipped
        for precision, why in skipped.items():
            log(f"nightjar {precision} skipped: {why}")
        peers = [p for p in PEERS if p in args.systems]
        if "openvino-bf16" in peers and not {"avx512_bf16", "amx_bf16"} & set(info["machine"]["features"]):
            peers.remove("openvino-bf16")
            info["peer_skipped"] = {"openvino-bf16": "this CPU has no BF16 instructions (avx512_bf16/amx_bf16)"}
        systems = peers + ([f"nightjar-{p}" for p in nightjar_precisions] if "nightjar" in args.systems else [])
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        results, bytes_per_pixel = [], {}
        for size in args.sizes:
            w, h = SIZES[size] if size in SIZES else parse_size(size)
            frame = os.path.join(work, f"frame-{w}x{h}.npy")
            synthesize_frame(w, h, 42, frame)
            reference = os.path.join(work, f"out-pytorch-{w}x{h}.npy")
            # Nightjar's end to end restores a DNG written here once: `bench` without --input
            # writes its own through a `nightjar synthesize` child, whose peak (230 MB at 12.1 MP)
            # GNU time would report as the end to end's.
            raw = os.path.join(work, f"frame-{w}x{h}.dng")
            if args.end_to_end and "nightjar" in args.systems and nightjar_precisions:
                code, _, err, _ = run_child([nightjar, "synthesize", "-o", raw, "--size", f"{w}x{h}", "--no-previews",
                                             "--overwrite"], args.timeout)
                if code:
                    raise Failure(f"nightjar synthesize {w}x{h}: {err.strip()}")
            rows = {s: {"system": s, "width": w, "height": h, "rounds": [], "end_to_end": [], "rss": [], "e2e_rss": []} for s in systems}
            for round_index in range(args.rounds):
                order = systems if round_index % 2 == 0 else systems[::-1]
                for system in order:
                    row = rows[system]
                    if row.get("skipped"):
                        continue
                    predicted = bytes_per_pixel.get(system, 0) * w * h
                    if predicted > 0.85 * available_memory():
                        row["skipped"] = f"needs about {predicted / 1e9:.1f} GB, {available_memory() / 1e9:.1f} GB available"
                        continue
                    log(f"{w}x{h} round {round_index + 1}: {system}")
                    save = os.path.join(work, f"out-{system}-{w}x{h}.npy") if round_index == 0 else None
                    if system.startswith("nightjar-"):
                        precision = system.removeprefix("nightjar-")
                        base = [nightjar, "bench", "--model", nightjar_precisions[precision], "--precision", precision,
                                "--size", f"{w}x{h}", "--threads", str(args.threads), "--runs", str(args.runs), "--json"]
                        code, out, err, rss = run_child(base + ["--network-only"], args.timeout)
                        if code:
                            row["skipped"] = "failed: " + (err.strip().splitlines() or [f"exit {code}"])[-1]
                            log(f"{system} {w}x{h}: {row['skipped']}")
                            continue
                        report = json.loads(out)
                        row["rounds"].append(report["network_seconds"]["median"])
                        row["rss"].append(rss)
                        row["version"] = f"{report.get('isa', '')} kernels"
                        if args.end_to_end:
                            code, out, err, rss = run_child(base + ["--input", raw], args.timeout)
                            if code:
                                raise Failure(f"{' '.join(base)} (end to end): {err.strip()}")
                            row["end_to_end"].append(json.loads(out)["end_to_end_seconds"]["median"])
                            row["e2e_rss"].append(rss)
                        if save:
                            code, _, err, _ = run_child([nightjar, "run-tensor", nightjar_precisions[precision], frame, save,
                                                         "--precision", precision], args.timeout)
                            if code:
                                raise Failure(f"nightjar run-tensor: {err.strip()}")
                    else:
                        command = [sys.executable, __file__, "--worker", system, "--frame", frame, "--threads", str(args.threads),
                                   "--runs", str(args.runs), "--checkpoint", args.checkpoint,
                                   "--onnx", os.path.join(work, f"network-{w}x{h}.onnx")]
                        if save:
                            command += ["--save", save]
                        code, out, err, rss = run_child(command, args.timeout, env)
                        if code:
                            row["skipped"] = "failed: " + (err.strip().splitlines() or [f"exit {code}"])[-1]
                            log(f"{system} {w}x{h}: {row['skipped']}")
                            continue
                        report = json.loads(out.strip().splitlines()[-1])
                        row["rounds"].append(median(report["seconds"]))
                        row["rss"].append(rss)
                        row["version"] = report["version"] + (f" ({report['ran_precision']})" if "ran_precision" in report else "")
                    bytes_per_pixel[system] = max(row["rss"] + row["e2e_rss"]) / (w * h)
            for system in systems:
                row = rows[system]
                saved = os.path.join(work, f"out-{system}-{w}x{h}.npy")
                if system != "pytorch" and os.path.exists(saved) and os.path.exists(reference):
                    row["psnr"] = psnr(reference, saved)
                if os.path.exists(saved) and system != "pytorch":
                    os.remove(saved)
                results.append(row)
            if os.path.exists(reference):
                os.remove(reference)
            os.remove(frame)
        info["load_average_end"] = os.getloadavg()[0]
        info["results"] = results
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(info, f, indent=1, default=str)
        with open(os.path.join(args.out, "results.md"), "w") as f:
            f.write(markdown(info))
        with open(os.path.join(args.out, "results.svg"), "w") as f:
            f.write(svg(info))
        print(markdown(info))
        log(f"wrote {args.out}/results.md, results.svg, results.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def label(system):
    return {"pytorch": "PyTorch fp32", "onnxruntime": "ONNX Runtime fp32", "openvino-fp32": "OpenVINO fp32",
            "openvino-bf16": "OpenVINO bf16"}.get(system, system.replace("nightjar-", "Nightjar "))


def header(info):
    m = info["machine"]
    return (f"{m['cpu']}, {m['cores']} cores usable ({', '.join(m['features'])}), {m['memory_bytes'] / 2**30:.0f} GiB, "
            f"Linux {m['kernel']}; {info['date']}; {info['threads']} threads; load average "
            f"{info['load_average_start']:.1f} at the start, {info['load_average_end']:.1f} at the end"
            + (f"; {info['note']}" if info.get("note") else ""))


def markdown(info):
    lines = [f"Machine: {header(info)}.", "",
             f"Checkpoint {info['checkpoint']}; each system in a process of its own, one warm-up and "
             f"{info['runs']} timed runs per round, {info['rounds']} rounds alternating; network time: median of the "
             "rounds' medians (range of the rounds' medians); peak RSS: the largest over the rounds of the "
             "measuring process (GNU time); PSNR against PyTorch's output on the same input (peak 1, all samples); "
             "end to end: `nightjar bench` (synthetic 12-bit DNG in, 8-bit PNG out, camera colour), peak RSS of "
             "that process and its decoder children.", "",
             "| frame | system | network s | time / Nightjar fp32 | peak RSS MB | PSNR vs PyTorch dB | end to end s; peak RSS | version |",
             "|---|---|---|---|---|---|---|---|"]
    for row in info["results"]:
        frame = f"{row['width']}x{row['height']} ({row['width'] * row['height'] / 1e6:.1f} MP)"
        if not row["rounds"]:
            lines.append(f"| {frame} | {label(row['system'])} | skipped: {row.get('skipped', '')} | | | | | |")
            continue
        t = median(row["rounds"])
        base = next((r for r in info["results"] if r["system"] == "nightjar-fp32" and r["width"] == row["width"]
                     and r["height"] == row["height"] and r["rounds"]), None)
        ratio = f"{t / median(base['rounds']):.2f}x" if base else ""
        p = row.get("psnr")
        ptext = "reference" if row["system"] == "pytorch" else ("identical" if p == math.inf else (f"{p:.1f}" if p else ""))
        e2e = (f"{median(row['end_to_end']):.3f} ({min(row['end_to_end']):.3f}–{max(row['end_to_end']):.3f}); "
               f"{max(row['e2e_rss']) / 1e6:.0f} MB" if row["end_to_end"] else "–")
        lines.append(f"| {frame} | {label(row['system'])} | {t:.3f} ({min(row['rounds']):.3f}–{max(row['rounds']):.3f}) | "
                     f"{ratio} | {max(row['rss']) / 1e6:.0f} | {ptext} | {e2e} | {row.get('version', '')} |")
    layers = info.get("int8_layers") or []
    if layers:
        kept = [f"{entry['layer']} {entry['precision']}" for entry in layers if entry["precision"] != "int8"]
        lines.append(f"\nNightjar int8: calibrated (`nightjar quantize --calibrate`) on {info.get('int8_calibration', '?')}; "
                     f"{len(layers) - len(kept)} of {len(layers)} layers int8"
                     + (f", the quantizer kept {', '.join(kept)}." if kept else "."))
    for precision, why in info.get("nightjar_skipped", {}).items():
        lines.append(f"\nNightjar {precision}: skipped ({why}).")
    for system, why in info.get("peer_skipped", {}).items():
        lines.append(f"\n{label(system)}: skipped ({why}).")
    golden = info.get("golden") or []
    lines.append("\nPyTorch module against the golden tensors: " + (", ".join(
        f"{g['case']} max |diff| {g['max_abs_diff']:.1e}" for g in golden) if golden else "not checked (no ../shared/golden)") + ".")
    return "\n".join(lines) + "\n"


def svg(info):
    """Two panels per frame size: network seconds and peak RSS, one bar per system."""
    def esc(text):
        return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    colours = {"pytorch": "#ee4c2c", "onnxruntime": "#7f7f7f", "openvino-fp32": "#5b2c91", "openvino-bf16": "#a883d6"}
    rows = [r for r in info["results"] if r["rounds"]]
    sizes = list(dict.fromkeys((r["width"], r["height"]) for r in rows))
    bar, gap, left, panel = 18, 34, 150, 300
    width = left + 2 * panel + 120
    y = 76
    parts = []
    for size in sizes:
        group = [r for r in rows if (r["width"], r["height"]) == size]
        parts.append(f'<text x="10" y="{y - 8}" font-weight="bold">{size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP)</text>')
        tmax = max(max(r["rounds"]) for r in group)
        mmax = max(max(r["rss"]) for r in group)
        for i, r in enumerate(group):
            top = y + i * bar
            colour = colours.get(r["system"], "#1f8a4c")
            t = median(r["rounds"])
            tw, lo, hi = panel * t / tmax, panel * min(r["rounds"]) / tmax, panel * max(r["rounds"]) / tmax
            mw = panel * max(r["rss"]) / mmax
            parts.append(f'<text x="{left - 6}" y="{top + 13}" text-anchor="end">{esc(label(r["system"]))}</text>')
            parts.append(f'<rect x="{left}" y="{top + 2}" width="{tw:.1f}" height="{bar - 4}" fill="{colour}"/>')
            parts.append(f'<line x1="{left + lo:.1f}" x2="{left + hi:.1f}" y1="{top + bar / 2}" y2="{top + bar / 2}" stroke="black"/>')
            parts.append(f'<text x="{left + hi + 4:.1f}" y="{top + 13}">{t:.2f} s</text>')
            x2 = left + panel + 60
            parts.append(f'<rect x="{x2}" y="{top + 2}" width="{mw:.1f}" height="{bar - 4}" fill="{colour}"/>')
            parts.append(f'<text x="{x2 + mw + 4:.1f}" y="{top + 13}">{max(r["rss"]) / 1e6:.0f} MB</text>')
        y += len(group) * bar + gap
    height = y
    title = f"Nightjar and its peers: network time (median; line: range of the rounds) and peak RSS, {info['threads']} threads"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" font-family="sans-serif" font-size="12">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n'
            f'<text x="10" y="20" font-size="14" font-weight="bold">{esc(title)}</text>\n'
            f'<text x="{left}" y="44">network seconds (lower is better)</text><text x="{left + panel + 60}" y="44">peak RSS</text>\n'
            + "\n".join(parts) +
            f'\n<text x="10" y="{height + 10}" font-size="10">{esc(header(info)[:150])}</text>'
            f'\n<text x="10" y="{height + 24}" font-size="10">{esc(header(info)[150:])}</text>\n</svg>\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("--checkpoint", default=os.path.join(ROOT, "..", "shared", "models", "official-sid-sony.pth"),
                        help="the PyTorch checkpoint (default ../shared/models/official-sid-sony.pth)")
    parser.add_argument("--golden", default=os.path.join(ROOT, "..", "shared", "golden", "tensors"),
                        help="golden tensors to check the PyTorch module against (skipped when missing)")
    parser.add_argument("--sizes", default="2mp,12mp,24mp", help="2mp, 12mp, 24mp or WxH (multiples of 32), comma-separated")
    parser.add_argument("--systems", default="pytorch,onnxruntime,openvino-fp32,openvino-bf16,nightjar",
                        help="which systems (default all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per process, after one warm-up")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per frame size")
    parser.add_argument("--no-end-to-end", dest="end_to_end", action="store_false", help="skip Nightjar's end-to-end bench")
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "peers"), help="where results.md/.svg/.json go")
    parser.add_argument("--note", default="", help="a line about the machine's state for the table (e.g. its load)")
    parser.add_argument("--nightjar", help="the nightjar binary (default: swift build -c release)")
    parser.add_argument("--calibrate", action="append", metavar="PATH",
                        help="RAW files, directories or .npy mosaics to calibrate Nightjar's int8 model on, as "
                             "`nightjar quantize --calibrate` takes them (repeatable; default one synthetic frame "
                             "other than the measured ones)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed each child process")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit (needs no venv)")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--frame", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        args.sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
        for size in args.sizes:
            if size not in SIZES:
                parse_size(size)
        args.systems = [s.strip() for s in args.systems.split(",")]
        unknown = set(args.systems) - set(PEERS) - {"nightjar"}
        if unknown:
            raise Failure(f"--systems: unknown {', '.join(sorted(unknown))}; known: {', '.join(PEERS + ['nightjar'])}")
        if args.threads < 1 or args.runs < 1 or args.rounds < 1:
            raise Failure("--threads, --runs and --rounds must be at least 1")
        if args.worker:
            return worker(args)
        if args.prepare:
            return prepare(args)
        if not os.access(GNU_TIME, os.X_OK):
            raise Failure(f"{GNU_TIME} (GNU time) measures each system's peak RSS: apt-get install time")
        if not os.path.isfile(args.checkpoint):
            raise Failure(f"{args.checkpoint}: no such checkpoint (--checkpoint)")
        for path in args.calibrate or []:
            if not os.path.exists(path):
                raise Failure(f"{path}: no such file or directory (--calibrate)")
        venv = os.environ.get("NIGHTJAR_PEERS_VENV", os.path.expanduser("~/.cache/nightjar-peers"))
        if args.dry_run:
            print(f"venv        {venv} ({'present' if os.path.exists(venv_python(venv)) else 'to be created'}): {' '.join(PINS)}")
            print(f"torch from  {os.environ.get('NIGHTJAR_PEERS_TORCH_INDEX', TORCH_INDEX) or 'pip configuration'}")
            print(f"checkpoint  {args.checkpoint}")
            print(f"frames      {', '.join('%dx%d' % (SIZES[s] if s in SIZES else parse_size(s)) for s in args.sizes)}")
            print(f"systems     {', '.join(args.systems)} (Nightjar: each precision `nightjar bench --help` offers)")
            print(f"int8        calibrated on {', '.join(args.calibrate) if args.calibrate else 'one synthetic frame'}")
            print(f"threads {args.threads}, {args.runs} runs x {args.rounds} rounds, results in {args.out}")
            return 0
        if os.path.realpath(sys.prefix) != os.path.realpath(venv):
            ensure_venv(venv)
            os.execv(venv_python(venv), [venv_python(venv), os.path.abspath(__file__)] + sys.argv[1:])
        measure(args)
    except Failure as failure:
        print(f"bench-peers: error: {failure}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as failure:
        print(f"bench-peers: error: {' '.join(map(str, failure.cmd))} exited {failure.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
