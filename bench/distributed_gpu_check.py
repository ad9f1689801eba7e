"""Data parallel (DDP) and sharded-base (FSDP2) training steps of the LTX-2 transformer with a
LoRA on random weights, across the processes of one launch: peak memory per rank and step time.

It runs the trainer's own wrapping (toolkit/processes/parallel.py) and network (toolkit/lora/network.py) on a
transformer built from its config (no download): `--preset full` is LTX-2's 19B transformer
(48 blocks, video 4096 / audio 2048 wide), `--preset tiny` the test model's shapes. Weights are
created on the meta device and materialised per rank, so FSDP never needs a whole copy.

    accelerate launch --multi_gpu --num_processes 8 bench/distributed_gpu_check.py --mode ddp
    accelerate launch --multi_gpu --num_processes 8 bench/distributed_gpu_check.py --mode fsdp
    accelerate launch --multi_gpu --num_processes 1 bench/distributed_gpu_check.py --mode single
    # CPU smoke test of the script itself (gloo):
    accelerate launch --multi_gpu --num_processes 2 bench/distributed_gpu_check.py --preset tiny --device cpu

Each rank prints one line (mode, world size, peak GPU memory, median step time); rank 0 then
prints the per-rank table. Compare DDP and FSDP on the same machine and launch settings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401
from toolkit.memory.dtypes import DTYPES  # noqa: E402

TINY = dict(num_layers=2, num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32, in_channels=32,
            out_channels=32, audio_num_attention_heads=2, audio_attention_head_dim=16, audio_cross_attention_dim=32,
            audio_in_channels=32, audio_out_channels=32, caption_channels=32)
class _Model:
    """The few attributes toolkit.processes.parallel.wrap_transformer reads from an LTX2Model."""

    def __init__(self, transformer, dtype):
        self.transformer = transformer
        self.runner = transformer
        self.settings = argparse.Namespace(dtype=dtype)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("ddp", "fsdp", "single"), default="ddp")
    p.add_argument("--preset", choices=("full", "tiny"), default="full")
    p.add_argument("--layers", type=int, default=None, help="override the number of transformer blocks")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="bf16")
    p.add_argument("--rank", type=int, default=32, help="LoRA rank")
    p.add_argument("--frames", type=int, default=121, help="pixel frames (8k+1)")
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--text-tokens", type=int, default=256)
    p.add_argument("--batch", type=int, default=1, help="per-rank batch")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--no-checkpointing", action="store_true", help="turn gradient checkpointing off")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    return p.parse_args(argv)


def build(args, device: torch.device, dtype: torch.dtype, dist):
    from diffusers import LTX2VideoTransformer3DModel

    from toolkit.lora.network import Network, NetworkSettings
    from toolkit.processes.parallel import Parallel, shard_transformer, wrap_transformer

    config = dict(TINY) if args.preset == "tiny" else {}
    if args.layers:
        config["num_layers"] = args.layers
    with torch.device("meta"):
        transformer = LTX2VideoTransformer3DModel(**config).to(dtype)
    if not args.no_checkpointing:
        transformer.enable_gradient_checkpointing()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = Network(transformer, NetworkSettings(rank=args.rank, alpha=args.rank))
    for param in network.parameters():  # adapters train in float32, as in the trainer
        param.data = param.data.to(torch.float32)
    model = _Model(transformer, dtype)
    sharded = args.mode == "fsdp"
    if sharded:
        shard_transformer(transformer, dist, device, dtype)  # still on meta: shards only
    transformer.to_empty(device=device)
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if "lora_B" in name:
                param.zero_()
            else:
                param.normal_(0.0, 0.02)
    transformer.train()
    if args.mode == "ddp":
        parallel = wrap_transformer(model, network, dist, fsdp=False, device=device)
    else:
        parallel = Parallel(dist, "fsdp" if sharded else "single", transformer if sharded else None)
    return model, network, parallel


def inputs(args, config, device, dtype):
    latent_frames, h, w = (args.frames - 1) // 8 + 1, args.height // 32, args.width // 32
    audio_tokens = int(round(args.frames / 24.0 * 25))
    b = args.batch
    return dict(
        hidden_states=torch.randn(b, latent_frames * h * w, config.in_channels, device=device, dtype=dtype),
        audio_hidden_states=torch.randn(b, audio_tokens, config.audio_in_channels, device=device, dtype=dtype),
        encoder_hidden_states=torch.randn(b, args.text_tokens, config.cross_attention_dim, device=device, dtype=dtype),
        audio_encoder_hidden_states=torch.randn(b, args.text_tokens, config.audio_cross_attention_dim,
                                                device=device, dtype=dtype),
        timestep=torch.full((b,), 500.0, device=device), audio_timestep=torch.full((b,), 500.0, device=device),
        sigma=torch.full((b,), 500.0, device=device), audio_sigma=torch.full((b,), 500.0, device=device),
        encoder_attention_mask=torch.ones(b, args.text_tokens, device=device),
        audio_encoder_attention_mask=torch.ones(b, args.text_tokens, device=device),
        num_frames=latent_frames, height=h, width=w, fps=24.0, audio_num_frames=audio_tokens, return_dict=False,
    )


def main(argv=None) -> int:
    from toolkit.processes.distributed import DistContext

    args = parse_args(argv)
    dist = DistContext.from_environment(want_cuda=args.device == "cuda")
    if args.mode != "single" and not dist.enabled:
        print(f"--mode {args.mode} needs several processes: run it under accelerate launch --num_processes N")
        return 2
    device = dist.device(torch.device(args.device))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dtype = DTYPES[args.dtype]
    model, network, parallel = build(args, device, dtype, dist)
    batch = inputs(args, model.transformer.config, device, dtype)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-5)
    params = sum(p.numel() for p in network.parameters())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        video, audio = model.runner(**batch)
        (video.float().square().mean() + audio.float().square().mean()).backward()
        parallel.finish_gradients()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    line = {"rank": dist.rank, "peak_gib": peak, "step_s": statistics.median(times)}
    rows = dist.gather(line)
    if dist.is_main:
        tokens = batch["hidden_states"].shape[1]
        print(f"mode {args.mode}, {dist.world_size} process(es), preset {args.preset} "
              f"({model.transformer.config.num_layers} blocks, {args.dtype}), LoRA rank {args.rank}: "
              f"{params:,} adapter parameters (per rank: {'1/N shard' if parallel.sharded else 'all'}), "
              f"{tokens} video tokens x batch {args.batch} per rank, {args.steps} timed steps")
        print("| rank | peak memory (GiB) | median step (s) |")
        print("|---:|---:|---:|")
        for row in rows:
            print(f"| {row['rank']} | {row['peak_gib']:.2f} | {row['step_s']:.3f} |")
        step = max(row["step_s"] for row in rows)
        print(f"throughput: {dist.world_size * args.batch / step:.2f} samples/s "
              f"(global batch {dist.world_size * args.batch} per {step:.3f} s)")
    dist.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
