"""LoRA/DoRA training steps of the real-size LTX-2 transformer (2.0, 2.3, 2.5): time, memory, MFU.

The transformer (and with --connectors the text connectors) is built from the released
configuration of each version (toolkit/memory/real_configs.py) with random weights and
N blocks, the trainer's own network, quantization, offloading and checkpointing are applied
as a run applies them, and a few optimizer steps run on random latents of the given clip
shape. Each configuration runs in its own child process, so peaks do not mix. Printed per
run: step time, peak memory (CUDA: max_memory_allocated; CPU: peak RSS above the RSS before
the model was built), the memory model's prediction for the same settings
(toolkit/memory/estimate.py), video+audio tokens per second, and model FLOPs utilisation
(toolkit/memory/flops.py: 2 x forward FLOPs per step; --peak-tflops, or the device table).

    # CPU, one block at real width (shapes and per-block memory; a few minutes, < 24 GB):
    python bench/real_size.py --version 2.3 --blocks 1
    # one GPU, the headline table (768x768x121 + 5 s audio, bf16/qfloat8/torchao, +- offloading):
    python bench/real_size.py --version all --matrix
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Dense bf16 peak TFLOP/s of common training GPUs (vendor datasheets, without sparsity).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 6000 Ada": 364.0,
               "RTX 4090": 165.0, "RTX 5090": 209.0, "RTX 3090": 71.0, "A6000": 155.0, "L4": 121.0}


def peak_tflops(device_name: str, given: float | None) -> float | None:
    if given:
        return given
    for key, value in PEAK_TFLOPS.items():
        if key.lower() in device_name.lower():
            return value
    return None


class RssPeak:
    """Peak resident memory of this process while it is active, sampled every 5 ms (CPU runs)."""

    def __init__(self):
        import threading

        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        return False


def child(args) -> None:
    """One configuration in this process; prints one JSON line."""
    import psutil
    import torch

    import toolkit  # noqa: F401  (torchao environment knob)
    from toolkit.memory.activations import block_inputs, build_transformer, saved_bytes
    from toolkit.memory.dtypes import DTYPES
    from toolkit.memory.real_configs import CONNECTORS, transformer_config

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    config = transformer_config(args.version, args.blocks)
    rss0 = psutil.Process().memory_info().rss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # Build on the CPU (quantize and offload act before the move, as LTX2Model.load does).
    from toolkit.lora.network import Network, NetworkSettings

    # Build where it is fastest: on the GPU when the unquantized model fits there and nothing is
    # offloaded (random init of 19B parameters on a CPU takes minutes), else on the CPU, where
    # quantization and offloading then act before the move, as LTX2Model.load does.
    build_on = "cpu"
    if device.type == "cuda" and args.offload == 0:
        from toolkit.memory.estimate import param_counts

        counts = param_counts(config)
        bf16_bytes = (counts.outside_blocks + args.blocks * (counts.block_linear_weights + counts.block_other)) * 2
        if bf16_bytes < torch.cuda.mem_get_info(device)[0] * 0.8:
            build_on = device
    transformer = build_transformer(config, dtype, None, device=build_on)
    if args.qtype != "none":
        from toolkit.memory.quantize import quantize_model

        quantize_model(transformer, args.qtype, include=("transformer_blocks.",))
    if args.offload > 0:
        from toolkit.memory.offload import offload_blocks

        offload_blocks(transformer.transformer_blocks, percent=args.offload, compute_device=device)
    transformer.to(device)
    Network(transformer, NetworkSettings(type=args.network, rank=args.rank, alpha=args.rank), device=device)
    if args.checkpointing:
        transformer.enable_gradient_checkpointing()
    connectors = None
    if args.connectors:
        from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

        with torch.device(device):
            connectors = LTX2TextConnectors(**CONNECTORS[args.version]).to(dtype)
        connectors.requires_grad_(False)
    latent_frames = (args.frames - 1) // 8 + 1
    h, w = args.height // 32, args.width // 32
    audio_tokens = int(round(args.audio_seconds * 25))
    inputs = block_inputs(config, latent_frames, h, w, audio_tokens, 1024, dtype, device=device)
    params = [p for p in transformer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)

    def step():
        if connectors is not None:  # text side each step (frozen): what a run without a text cache does
            with torch.no_grad():
                text = torch.randn(1, 1024, 3840 * 49, device=device, dtype=dtype)
                mask = torch.ones(1, 1024, device=device, dtype=torch.long)
                connectors(text, mask)
        video, audio = transformer(**inputs)
        (video.float().square().mean() + audio.float().square().mean()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # warm-up: allocator pools, optimizer state, kernels
    sync()
    times = []
    with RssPeak() as rss:  # the steps' peak, not the build's
        for _ in range(args.steps):
            start = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        measure = "torch.cuda.max_memory_allocated"
        name = torch.cuda.get_device_name(device)
    else:
        peak = rss.peak - rss0
        measure = "peak RSS during the steps, above the RSS before the build"
        name = platform.processor() or "CPU"
    from toolkit.memory.qtensor import tensor_nbytes

    weights = sum(tensor_nbytes(t) for t in list(transformer.parameters()) + list(transformer.buffers()))
    saved = saved_bytes(transformer, inputs) if args.trace_saved else None
    print(json.dumps({"step_s": sorted(times)[len(times) // 2], "peak": peak, "measure": measure,
                      "device": name, "video_tokens": latent_frames * h * w, "audio_tokens": audio_tokens,
                      "weights_on_device": weights, "saved_activations": saved}))


def predicted(args) -> dict:
    from toolkit.memory.estimate import MemorySettings, TrainShape, estimate
    from toolkit.memory.real_configs import transformer_config

    shape = TrainShape.from_clip(args.width, args.height, args.frames, 24.0, args.audio_seconds)
    settings = MemorySettings(dtype=args.dtype, qtype=None if args.qtype == "none" else args.qtype,
                              network=args.network, rank=args.rank, checkpointing=args.checkpointing,
                              offload_percent=args.offload, blocks=args.blocks,
                              cuda=args.device.startswith("cuda"), connectors=args.connectors)
    est = estimate(transformer_config(args.version, args.blocks), shape, settings)
    if not args.device.startswith("cuda"):
        # the CPU run measures RSS: offloaded blocks rest in the same memory
        est.components.update({f"host: {k}": v for k, v in est.host.items()})
    return est.components


def run_one(args, overrides: dict) -> dict:
    merged = dict(vars(args), **overrides)
    command = [sys.executable, __file__, "--child"]
    for key, value in merged.items():
        if key in ("child", "matrix", "peak_tflops", "version_list") or value is None:
            continue
        flag = f"--{key.replace('_', '-')}"
        if key == "checkpointing":
            command += [] if value else ["--no-checkpointing"]
        elif isinstance(value, bool):
            command += [flag] if value else []
        else:
            command += [flag, str(value)]
    env = dict(os.environ, TORCHAO_FORCE_SKIP_LOADING_SO_FILES=os.environ.get("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1"),
               MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    if merged["device"].startswith("cuda"):
        env.pop("TORCHAO_FORCE_SKIP_LOADING_SO_FILES")  # torchao's CUDA kernels are wanted on a GPU
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout)[-1500:]
        return {"error": tail.strip().splitlines()[-1] if tail.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(args, overrides: dict, result: dict) -> None:
    from types import SimpleNamespace

    from toolkit.memory.flops import forward_flops
    from toolkit.memory.real_configs import transformer_config

    a = SimpleNamespace(**dict(vars(args), **overrides))
    label = (f"{a.version} blocks={a.blocks} {a.network} r{a.rank} {a.dtype} q={a.qtype} offload={a.offload:g} "
             f"ckpt={'on' if a.checkpointing else 'off'}{' +connectors' if a.connectors else ''}")
    if "error" in result:
        print(f"{label}: FAILED: {result['error']}")
        return
    pred = predicted(a)
    # max_memory_allocated does not see the CUDA context: compare like with like
    total = sum(v for k, v in pred.items() if k != "CUDA context")
    gib = 1024 ** 3
    latent_frames = (a.frames - 1) // 8 + 1
    flops = forward_flops(transformer_config(a.version, a.blocks), latent_frames, a.height // 32, a.width // 32,
                          result["audio_tokens"])["total"] * 2
    tokens = result["video_tokens"] + result["audio_tokens"]
    peak_tf = peak_tflops(result["device"], args.peak_tflops) if a.device.startswith("cuda") else args.peak_tflops
    mfu = f"{flops / result['step_s'] / (peak_tf * 1e12) * 100:.1f}%" if peak_tf else "n/a (give --peak-tflops)"
    print(f"{label}\n  step {result['step_s']:.2f} s | peak {result['peak'] / gib:.2f} GiB ({result['measure']}) | "
          f"predicted {total / gib:.2f} GiB ({(result['peak'] - total) / total * 100:+.1f}%) | "
          f"{tokens / result['step_s']:.0f} tokens/s | {flops / 1e12:.1f} TFLOP/step | MFU {mfu}")
    parts = ", ".join(f"{k} {v / gib:.2f}" for k, v in pred.items())
    print(f"  predicted GiB: {parts}")
    if result.get("saved_activations") is not None:
        print(f"  measured: weights on device {result['weights_on_device'] / gib:.2f} GiB, saved activations "
              f"{result['saved_activations'] / gib:.2f} GiB")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2.3", help="2.0, 2.3, 2.5 or all")
    parser.add_argument("--blocks", type=int, default=None, help="transformer blocks (default: 48 on a GPU, 1 on CPU)")
    parser.add_argument("--connectors", action="store_true", help="also build the text connectors and run them each step")
    parser.add_argument("--width", type=int, default=None, help="default 768 on a GPU, 512 on CPU")
    parser.add_argument("--height", type=int, default=None, help="default 768 on a GPU, 512 on CPU")
    parser.add_argument("--frames", type=int, default=None, help="8k+1; default 121 on a GPU, 49 on CPU")
    parser.add_argument("--audio-seconds", type=float, default=None, help="default 5 on a GPU, 2 on CPU")
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--qtype", default="none", choices=["none", "qfloat8", "qint8", "torchao_int8", "torchao_float8"])
    parser.add_argument("--offload", type=float, default=0.0, help="share of the blocks offloaded to the CPU (0-1)")
    parser.add_argument("--checkpointing", action="store_true", default=True)
    parser.add_argument("--no-checkpointing", dest="checkpointing", action="store_false")
    parser.add_argument("--network", choices=["lora", "dora"], default="lora")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--steps", type=int, default=None, help="timed steps after one warm-up (default 3 GPU, 1 CPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (default: table for GPUs)")
    parser.add_argument("--matrix", action="store_true",
                        help="the headline table: bf16, qfloat8, torchao_int8, torchao_float8; offload 0 and 0.5")
    parser.add_argument("--trace-saved", action="store_true", help="also measure saved activations (one extra forward)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = args.device.startswith("cuda")
    defaults = dict(blocks=48 if gpu else 1, width=768 if gpu else 512, height=768 if gpu else 512,
                    frames=121 if gpu else 49, audio_seconds=5.0 if gpu else 2.0, steps=3 if gpu else 1,
                    threads=torch.get_num_threads())
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.frames % 8 != 1 or args.width % 32 or args.height % 32:
        parser.error("frames must be 8k+1, width and height multiples of 32")
    if args.child:
        child(args)
        return
    versions = ["2.0", "2.3", "2.5"] if args.version == "all" else [args.version]
    if args.matrix:
        grid = [dict(qtype=q, offload=o) for q, o in itertools.product(
            ["none", "qfloat8", "torchao_int8", "torchao_float8"], [0.0, 0.5])]
    else:
        grid = [{}]
    print(f"# bench/real_size.py on {args.device} ({platform.node()}), {time.strftime('%Y-%m-%d')}, "
          f"{args.width}x{args.height}x{args.frames} frames + {args.audio_seconds:g} s audio, torch {torch.__version__}")
    for version in versions:
        for overrides in grid:
            overrides = dict(overrides, version=version)
            report(args, overrides, run_one(args, overrides))


if __name__ == "__main__":
    main()
