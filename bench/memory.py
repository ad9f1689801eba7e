"""Peak memory of one LTX-2 training step with and without gradient checkpointing.

The model is built from the same diffusers class as the real one
(`LTX2VideoTransformer3DModel`), wider and deeper than the tiny test model and fed a long
token sequence, so activations dominate memory as they do on real clips; a LoRA on every
block Linear trains, the base is frozen (as in the trainer). Each variant runs in its own
child process, so neither sees the other's allocations:
- on CUDA: `torch.cuda.max_memory_allocated` over the step, and the model's resident bytes;
- on CPU: the process's peak RSS (`resource.getrusage`), and its RSS just before the step
  (with glibc told to return large blocks at once, so RSS follows live tensors).
The last line is the saving.

    .venv/bin/python bench/memory.py [--layers 8] [--frames 4 --height 16 --width 16] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build(args, device, dtype):
    import torch
    from diffusers import LTX2VideoTransformer3DModel

    from toolkit.lora.network import Network, NetworkSettings

    torch.manual_seed(0)
    inner = args.heads * args.head_dim
    transformer = LTX2VideoTransformer3DModel(
        in_channels=128, out_channels=128, num_attention_heads=args.heads, attention_head_dim=args.head_dim,
        cross_attention_dim=inner, audio_in_channels=128, audio_out_channels=128,
        audio_num_attention_heads=args.heads // 2, audio_attention_head_dim=args.head_dim,
        audio_cross_attention_dim=inner // 2, num_layers=args.layers, caption_channels=inner,
        rope_type="split", qk_norm="rms_norm_across_heads",
    ).to(device, dtype)
    transformer.requires_grad_(False)
    Network(transformer, NetworkSettings(type="lora", rank=args.rank, alpha=args.rank), device=device)
    transformer.train()
    return transformer


def inputs(args, device, dtype, inner: int):
    import torch

    gen = torch.Generator().manual_seed(0)
    video_tokens = args.frames * args.height * args.width
    text = 128
    mask = torch.ones(1, text, device=device)
    sigma = torch.full((1,), 500.0, device=device)
    return dict(
        hidden_states=torch.randn(1, video_tokens, 128, generator=gen).to(device, dtype),
        audio_hidden_states=torch.randn(1, args.audio_tokens, 128, generator=gen).to(device, dtype),
        encoder_hidden_states=torch.randn(1, text, inner, generator=gen).to(device, dtype),
        audio_encoder_hidden_states=torch.randn(1, text, inner, generator=gen).to(device, dtype),
        timestep=sigma, audio_timestep=sigma, sigma=sigma, audio_sigma=sigma,
        encoder_attention_mask=mask, audio_encoder_attention_mask=mask,
        num_frames=args.frames, height=args.height, width=args.width, fps=24.0,
        audio_num_frames=args.audio_tokens, return_dict=False,
    )


def child(args) -> None:
    """Run one training step in this process and print its memory figures as JSON."""
    import resource

    import psutil
    import torch

    import toolkit  # noqa: F401
    from toolkit.memory.dtypes import DTYPES

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    transformer = build(args, device, dtype)
    if args.variant == "on":
        transformer.enable_gradient_checkpointing()
    batch = inputs(args, device, dtype, args.heads * args.head_dim)
    params = [p for p in transformer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    video, audio = transformer(**batch)
    (video.float().square().mean() + audio.float().square().mean()).backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated(device)
        measure = "torch.cuda.max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        measure = "peak RSS (getrusage)"
    seconds = time.perf_counter() - start
    print(json.dumps({"variant": args.variant, "before": before, "peak": peak, "seconds": seconds, "measure": measure,
                      "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--frames", type=int, default=8, help="latent frames (video tokens = frames*height*width)")
    parser.add_argument("--height", type=int, default=16)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--audio-tokens", type=int, default=256)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default=None, help="default: bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variant", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return

    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.dtype is None:
        args.dtype = "bf16" if args.device.startswith("cuda") else "fp32"
    results = {}
    for variant in ("off", "on"):
        command = [sys.executable, __file__, "--variant", variant] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "variant"]
        # glibc keeps freed heap memory and raises its mmap threshold after large frees, so
        # RSS would show what the allocator retained, not what tensors use: a fixed mmap
        # threshold returns every large tensor's memory to the OS when it is freed.
        env = dict(os.environ, TORCHAO_FORCE_SKIP_LOADING_SO_FILES="1", MALLOC_MMAP_THRESHOLD_="65536",
                   MALLOC_TRIM_THRESHOLD_="0")
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0:
            sys.exit(f"variant {variant} failed:\n{out.stderr[-3000:]}")
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])

    off, on = results["off"], results["on"]
    mib = 2**20
    tokens = args.frames * args.height * args.width
    print(f"LTX2VideoTransformer3DModel, {args.layers} blocks, {args.heads} heads x {args.head_dim}, "
          f"{tokens} video + {args.audio_tokens} audio tokens, LoRA rank {args.rank}, {args.dtype}, "
          f"on {off['device']}; measure: {off['measure']}")
    print("| gradient checkpointing | before the step | peak | step adds | step time |")
    print("|---|---|---|---|---|")
    for name, r in (("off", off), ("on", on)):
        print(f"| {name} | {r['before'] / mib:.0f} MiB | {r['peak'] / mib:.0f} MiB | "
              f"{(r['peak'] - r['before']) / mib:.0f} MiB | {r['seconds']:.2f} s |")
    step_saving = 1 - (on["peak"] - on["before"]) / (off["peak"] - off["before"])
    peak_saving = 1 - on["peak"] / off["peak"]
    print(f"gradient checkpointing saving: {step_saving:.0%} of the step's memory, "
          f"{peak_saving:.0%} of the peak")


if __name__ == "__main__":
    main()
