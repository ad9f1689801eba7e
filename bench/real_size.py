"""LoRA/DoRA training steps of the real-size LTX-2 transformer (2.0, 2.3, 2.5): time, memory, MFU.

The transformer (and with --connectors the text connectors) is built from the released
configuration of each version (extensions_built_in/diffusion_models/ltx2/real_configs.py) with random weights and
N blocks; the trainer's own network, quantization and every per-step memory lever
(toolkit/memory/levers.py: --lora-precision, --cast-before-add, --offload-checkpoints,
--ff-chunk-tokens, --optimizer-offload, --offload for the block swap; --levers none|all sets
them together) are applied as a run applies them, and a few optimizer steps run on random
latents of the given clip shape. Each configuration runs in its own child process, so peaks
do not mix. Printed per run: step time, peak device memory (CUDA: max_memory_allocated; CPU:
peak RSS above the RSS before the model was built), the process's peak host RSS, the bytes
resting in host memory by the levers, the memory model's prediction for the same settings
(toolkit/memory/estimate.py), video+audio tokens per second, and model FLOPs utilisation
(toolkit/memory/flops.py: 2 x forward FLOPs per step; --peak-tflops, or the device table).

    # CPU, one block at real width: today's per-step memory against the levers', alternated:
    python bench/real_size.py --version 2.3 --blocks 1 --compare --repeats 3
    # one GPU, the card table's rows measured (768x768x121 + 5 s audio):
    python bench/real_size.py --version all --matrix

On a CPU the host is the device: levers that only move memory to the host ((b), (d), (e))
cannot lower the RSS; the "host-resting" figure says how much they would take off a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The card table's rows (docs/memory.md) are what the memory plan resolves for each card
# (bench/memory_table.py:plan_for): `python bench/real_size.py --version all --matrix` measures
# each beside today's settings, so the GPU's figures line up with the plan's and the trace's.
TODAY_ROW = ("today: bf16, no levers", dict(levers="none"))


def matrix_rows(version: str, args) -> list[tuple[str, dict]]:
    """Today's settings, then each card's row as the plan resolves it (its settings as flags)."""
    from types import SimpleNamespace

    from bench.memory_table import plan_for
    from toolkit.memory.plan.cards import CARD_SIZES

    shape = SimpleNamespace(width=args.width, height=args.height, frames=args.frames, audio_seconds=args.audio_seconds,
                            rank=args.rank, host_gb=32.0, no_sampling=False)
    rows = [TODAY_ROW]
    for card in CARD_SIZES:
        resolved = plan_for(version, card, shape)
        s = resolved.settings
        flags = dict(levers="none", qtype=s.qtype or "none", offload=s.offload_percent,
                     lora_precision=s.lora_precision, cast_before_add=s.lora_cast_before_add,
                     offload_checkpoints=s.offload_checkpoints, ff_chunk_tokens=s.ff_chunk_tokens,
                     optimizer_offload=s.optimizer_offload)
        fits = "" if resolved.fits else " (does not fit by the plan: its least device memory)"
        rows.append((f"{card:g} GB{fits}: {resolved.settings_line()}", flags))
    return rows


# What --levers sets (explicit lever flags given with it win).
LEVER_PRESETS = {
    "none": dict(lora_precision="float32", cast_before_add=False, offload_checkpoints=False, ff_chunk_tokens=0,
                 optimizer_offload=False),
    "all": dict(lora_precision="compute", cast_before_add=True, offload_checkpoints=True, ff_chunk_tokens=None,
                optimizer_offload=True),
}

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


def quick_random_transformer(config: dict, dtype, device):
    """The transformer of `config`, frozen, with random weights made fast: built on the meta
    device, given memory on `device`, filled from one pool of N(0, 0.02) values (norm gains
    1). torch's own initialisation of 19B parameters takes many minutes on a CPU; what a
    memory and speed bench needs is the shapes and sane magnitudes, not independent draws."""
    import torch
    from diffusers import LTX2VideoTransformer3DModel

    with torch.device("meta"):
        transformer = LTX2VideoTransformer3DModel(**config)
    transformer.to_empty(device=device)
    pool = (torch.randn(1 << 20, generator=torch.Generator().manual_seed(0)) * 0.02).to(device, dtype)
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            flat = param.data.view(-1)
            if "norm" in name and name.endswith(".weight"):
                flat.fill_(1.0)
                continue
            for start in range(0, flat.numel(), pool.numel()):
                part = flat[start:start + pool.numel()]
                part.copy_(pool[: part.numel()])
    transformer.to(dtype)
    transformer.requires_grad_(False)
    transformer.train()
    return transformer


def child(args) -> None:
    """One configuration in this process; prints one JSON line."""
    import psutil
    import torch

    import toolkit  # noqa: F401  (torchao environment knob)
    from extensions_built_in.diffusion_models.ltx2.real_configs import CONNECTORS, transformer_config
    from toolkit.memory.activations import block_inputs, saved_bytes
    from toolkit.memory.dtypes import DTYPES

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
    transformer = quick_random_transformer(config, dtype, build_on)
    if args.qtype != "none":
        from toolkit.memory.quantize import quantize_model

        quantize_model(transformer, args.qtype, include=("transformer_blocks.",))
    if args.offload > 0:
        from toolkit.memory.offload import offload_blocks, offload_outside_blocks, offload_share

        offload_blocks(transformer.transformer_blocks, percent=args.offload, compute_device=device)
        if 0 < offload_share(args.offload, len(transformer.transformer_blocks)) == len(transformer.transformer_blocks):
            # every block swapped: the layers outside them too, as the run's loader does
            offload_outside_blocks(transformer, "transformer_blocks", device)
    transformer.to(device)
    # the levers in the order a run applies them (LTX2Model._freeze, then the network, then the optimizer)
    from toolkit.memory.checkpoint_offload import OffloadedCheckpoint
    from toolkit.memory.ff_chunks import chunk_feed_forwards
    from toolkit.memory.optimizer_offload import HostOptimizerStep

    stash = OffloadedCheckpoint(device) if args.offload_checkpoints and args.checkpointing else None
    if args.checkpointing:
        transformer.enable_gradient_checkpointing(stash)
    chunk_feed_forwards(transformer.transformer_blocks, args.ff_chunk_tokens)
    Network(transformer, NetworkSettings(type=args.network, rank=args.rank, alpha=args.rank,
                                         lora_precision=args.lora_precision,
                                         lora_cast_before_add=args.cast_before_add), device=device)
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
    host_step = HostOptimizerStep(params, device) if args.optimizer_offload else None
    optimizer = torch.optim.AdamW(host_step.host_params if host_step else params, lr=1e-5)

    def step():
        if connectors is not None:  # text side each step (frozen): what a run without a text cache does
            with torch.no_grad():
                text = torch.randn(1, 1024, 3840 * 49, device=device, dtype=dtype)
                mask = torch.ones(1, 1024, device=device, dtype=torch.long)
                connectors(text, mask)
        video, audio = transformer(**inputs)
        (video.float().square().mean() + audio.float().square().mean()).backward()
        if host_step:
            host_step.gather_gradients()
        optimizer.step()
        if host_step:
            host_step.publish()
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
    from toolkit.memory.offload import OffloadedLinear
    from toolkit.memory.qtensor import tensor_nbytes

    weights = sum(tensor_nbytes(t) for t in list(transformer.parameters()) + list(transformer.buffers()))
    # what the levers keep in host memory between uses (a GPU would not hold it)
    resting = sum(m.resting_nbytes for m in transformer.modules() if isinstance(m, OffloadedLinear))
    if host_step:
        resting += host_step.host_bytes + sum(tensor_nbytes(t) for state in optimizer.state.values()
                                              for t in state.values() if isinstance(t, torch.Tensor))
    if stash:
        resting += stash.stash.bytes_out // (args.steps + 1)  # per step (warm-up included)
    saved = saved_bytes(transformer, inputs) if args.trace_saved else None
    print(json.dumps({"step_s": sorted(times)[len(times) // 2], "peak": peak, "measure": measure,
                      "device": name, "video_tokens": latent_frames * h * w, "audio_tokens": audio_tokens,
                      "weights_on_device": weights, "saved_activations": saved, "host_rss_peak": rss.peak,
                      "host_resting": resting}))


def predicted(args) -> dict:
    from extensions_built_in.diffusion_models.ltx2.real_configs import transformer_config
    from toolkit.memory.estimate import MemorySettings, TrainShape, estimate

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


BOOL_FLAGS = ("checkpointing", "cast_before_add", "offload_checkpoints", "optimizer_offload")
PARENT_ONLY = ("child", "matrix", "peak_tflops", "compare", "repeats", "levers")


def resolve_lever_flags(settings: dict) -> dict:
    """The settings with every lever explicit: the --levers preset ("auto": the trainer's own
    rule, toolkit/memory/levers.py, for these settings), explicit lever flags winning."""
    from toolkit.configuration.loader import validate_config_data
    from toolkit.memory.levers import AUTO_FF_CHUNK_TOKENS, resolve_levers

    settings = dict(settings)
    video_tokens = ((settings["frames"] - 1) // 8 + 1) * (settings["height"] // 32) * (settings["width"] // 32)
    # a chunk that splits this clip's feed-forwards: 4096 tokens, or a quarter of a smaller clip
    chunk = min(AUTO_FF_CHUNK_TOKENS, -(-video_tokens // 4))
    if settings["levers"] == "auto":
        train = {"dtype": settings["dtype"], "gradient_checkpointing": settings["checkpointing"]}
        model = {"name_or_path": "Lightricks/LTX-2", "layer_offloading": settings["offload"] > 0}
        process = {"model": model, "train": train, "network": {"type": settings["network"]},
                   "datasets": [{"folder_path": "clips"}]}
        config = validate_config_data({"job": "extension", "config": {"name": "bench", "process": [process]}})
        levers = resolve_levers(config.job.config.process[0], "cuda" if settings["device"].startswith("cuda") else "cpu")
        preset = dict(lora_precision=levers.lora_precision, cast_before_add=levers.lora_cast_before_add,
                      offload_checkpoints=levers.offload_checkpoints, optimizer_offload=levers.optimizer_offload,
                      ff_chunk_tokens=levers.ff_chunk_tokens and chunk)
    else:
        preset = dict(LEVER_PRESETS[settings["levers"]])
        if preset["ff_chunk_tokens"] is None:
            preset["ff_chunk_tokens"] = chunk
    for key, value in preset.items():
        if settings.get(key) is None:
            settings[key] = value
    return settings


def run_one(args, overrides: dict) -> dict:
    merged = resolve_lever_flags(dict(vars(args), **overrides))
    command = [sys.executable, __file__, "--child"]
    for key, value in merged.items():
        if key in PARENT_ONLY or value is None:
            continue
        flag = f"--{key.replace('_', '-')}"
        if key in BOOL_FLAGS:
            command += [flag] if value else [f"--no-{key.replace('_', '-')}"]
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
    return dict(json.loads(out.stdout.strip().splitlines()[-1]), settings=merged)


def lever_label(a) -> str:
    on = [name for name, value in (("a", a.lora_precision == "compute"), ("f", a.cast_before_add),
                                   ("b", a.offload_checkpoints and a.checkpointing),
                                   ("c", bool(a.ff_chunk_tokens)), ("d", a.optimizer_offload),
                                   ("e", a.offload > 0)) if value]
    chunk = f" chunk={a.ff_chunk_tokens}" if a.ff_chunk_tokens else ""
    return f"levers={''.join(on) or 'none'}{chunk}"


def report(args, overrides: dict, result: dict, title: str = "") -> None:
    from types import SimpleNamespace

    from extensions_built_in.diffusion_models.ltx2.real_configs import transformer_config
    from toolkit.memory.flops import forward_flops

    a = SimpleNamespace(**result.get("settings", resolve_lever_flags(dict(vars(args), **overrides))))
    label = (f"{title + ': ' if title else ''}{a.version} blocks={a.blocks} {a.network} r{a.rank} {a.dtype} "
             f"q={a.qtype} offload={a.offload:g} ckpt={'on' if a.checkpointing else 'off'} {lever_label(a)}"
             f"{' +connectors' if a.connectors else ''}")
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
          f"host RSS {result['host_rss_peak'] / gib:.2f} GiB, of it resting by the levers "
          f"{result['host_resting'] / gib:.2f} GiB | {tokens / result['step_s']:.0f} tokens/s | "
          f"{flops / 1e12:.1f} TFLOP/step | MFU {mfu}")
    # the memory model knows the levers once mem-plan's plan does; until then it is today's
    print(f"  predicted (no levers) {total / gib:.2f} GiB: " + ", ".join(f"{k} {v / gib:.2f}" for k, v in pred.items()))
    if result.get("saved_activations") is not None:
        print(f"  measured: weights on device {result['weights_on_device'] / gib:.2f} GiB, saved activations "
              f"{result['saved_activations'] / gib:.2f} GiB")
    sys.stdout.flush()


def compare(args, version: str) -> None:
    """Today's step (--levers none) against the levers' (--levers all, with the lever flags
    given), alternated `--repeats` times in fresh processes; medians and their ratios."""
    import statistics

    # today swaps no block; --offload (lever e) applies to the levers' side only
    runs = {"today": dict(version=version, levers="none", offload=0.0), "levers": dict(version=version, levers="all")}
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name, overrides in runs.items():
            # the comparison's own lever flags apply to the levers side only
            extra = {} if name == "levers" else dict.fromkeys(LEVER_PRESETS["none"])
            result = run_one(args, dict(overrides, **extra))
            if "error" in result:
                print(f"{name} (repeat {repeat + 1}): FAILED: {result['error']}")
                return
            results[name].append(result)
            mib = result["peak"] / 2**20
            print(f"  repeat {repeat + 1} {name}: peak {mib:.0f} MiB, of it resting in host memory by the levers "
                  f"{result['host_resting'] / 2**20:.0f} MiB, step {result['step_s']:.2f} s", flush=True)
    for name in runs:
        report(args, runs[name], results[name][-1], title=name)
    peak = {name: statistics.median(r["peak"] for r in rs) for name, rs in results.items()}
    step = {name: statistics.median(r["step_s"] for r in rs) for name, rs in results.items()}
    resting = statistics.median(r["host_resting"] for r in results["levers"])
    # what a GPU would hold: the peak less what the levers rest in host memory (on a CPU both
    # are the same RSS); today's settings rest nothing there
    device = statistics.median(r["peak"] - r["host_resting"] for r in results["levers"])
    print(f"\n| {version} | today | levers | ratio |\n|---|---|---|---|\n"
          f"| peak ({results['today'][0]['measure']}) | {peak['today'] / 2**20:.0f} MiB | {peak['levers'] / 2**20:.0f} MiB "
          f"| {peak['levers'] / peak['today']:.2f}x |\n"
          f"| peak less what rests in host memory (a GPU's device) | {peak['today'] / 2**20:.0f} MiB | "
          f"{device / 2**20:.0f} MiB | {device / peak['today']:.2f}x |\n"
          f"| step time (median of {args.repeats}) | {step['today']:.1f} s | {step['levers']:.1f} s | "
          f"{step['levers'] / step['today']:.2f}x |\n"
          f"| resting in host memory by the levers | 0 | {resting / 2**20:.0f} MiB | |")


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
    parser.add_argument("--offload", type=float, default=0.0,
                        help="lever (e), block swap: share of the blocks resting in host memory (0-1)")
    parser.add_argument("--checkpointing", action="store_true", default=True)
    parser.add_argument("--no-checkpointing", dest="checkpointing", action="store_false")
    parser.add_argument("--network", choices=["lora", "dora"], default="lora")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--levers", choices=["auto", "none", "all"], default="auto",
                        help="the per-step levers together: auto (what a run picks for these settings), none "
                        "(before issue 23) or all; the flags below override single levers")
    parser.add_argument("--lora-precision", choices=["float32", "compute"], default=None, help="lever (a)")
    for flag, lever in (("cast-before-add", "(f)"), ("offload-checkpoints", "(b)"), ("optimizer-offload", "(d)")):
        dest = flag.replace("-", "_")
        parser.add_argument(f"--{flag}", dest=dest, action="store_true", default=None, help=f"lever {lever}")
        parser.add_argument(f"--no-{flag}", dest=dest, action="store_false")
    parser.add_argument("--ff-chunk-tokens", type=int, default=None, help="lever (c); 0 = off")
    parser.add_argument("--steps", type=int, default=None, help="timed steps after one warm-up (default 3 GPU, 1 CPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (default: table for GPUs)")
    parser.add_argument("--matrix", action="store_true", help="measure the card table's rows (as the plan resolves them)")
    parser.add_argument("--compare", action="store_true",
                        help="today (no levers) against the levers, alternated in fresh processes, with ratios")
    parser.add_argument("--repeats", type=int, default=3, help="alternated repeats of --compare")
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
    if args.matrix and not gpu:
        print("# --matrix measures the card table on a GPU; this machine has none: per-block comparison instead")
        args.matrix, args.compare = False, True
    print(f"# bench/real_size.py on {args.device} ({platform.node()}, {platform.processor() or 'CPU'}), "
          f"{time.strftime('%Y-%m-%d')}, {args.width}x{args.height}x{args.frames} frames + {args.audio_seconds:g} s "
          f"audio, torch {torch.__version__}")
    for version in versions:
        if args.compare:
            compare(args, version)
            continue
        for title, overrides in (matrix_rows(version, args) if args.matrix else [("", {})]):
            overrides = dict(overrides, version=version)
            report(args, overrides, run_one(args, overrides), title=title)


if __name__ == "__main__":
    main()
