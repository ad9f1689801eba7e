"""CPU step time with the weights where the loader leaves them vs. in 64-byte-aligned memory.

safetensors hands diffusers' `from_pretrained` (and this trainer's single-file reader) tensors
that sit at addresses that are not multiples of 64 bytes (16 past a boundary, typically).
PyTorch's own allocator aligns to 64. The CPU kernels (oneDNN convolutions and matrix
products, ATen's vectorised loops) may take another path for unaligned operands: other speed,
and another summation order (the outputs of two copies differ in the last bits).

This bench loads the same weights both ways, in one process, and times them in interleaved
rounds (bench/timing.py):

- a real-width LTX-2 transformer with one block (the released config of --version, random
  weights saved with `save_pretrained` and read back with `from_pretrained`, as a run reads
  a model folder): a LoRA training step (forward + backward + AdamW) and an inference
  forward (what sampling does per denoising step), bf16;
- the tiny model's video VAE decode (3D convolutions), as loaded by the run.

It prints the alignment of the loaded weights, the median times and their ratio, and the
resident memory after each copy is made (the aligned copy replaces the loaded tensors one by
one: `toolkit/memory/aligned.py`).

    .venv/bin/python bench/weight_alignment.py [--version 2.3] [--steps 10] [--threads 2] [--dtype float32]
"""

from __future__ import annotations

import argparse
import collections
import copy
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import torch  # noqa: E402

import toolkit  # noqa: E402,F401  (torchao environment knob)
from bench.timing import interleaved_medians  # noqa: E402
from toolkit.memory.aligned import ALIGNMENT, align_module, unaligned_tensors  # noqa: E402


def alignment_histogram(module) -> dict[int, int]:
    return dict(sorted(collections.Counter(t.data_ptr() % ALIGNMENT for t in module.state_dict().values()).items()))


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def real_width_block(version: str, folder: Path, steps: int, warmup: int,
                     dtype: torch.dtype = torch.bfloat16) -> list[tuple[str, float, float]]:
    from diffusers import LTX2VideoTransformer3DModel

    from extensions_built_in.diffusion_models.ltx2.real_configs import transformer_config
    from toolkit.lora.network import Network, NetworkSettings
    from toolkit.memory.activations import block_inputs, build_transformer

    config = transformer_config(version, 1)
    built = build_transformer(config, dtype, None)
    built.save_pretrained(folder)
    del built
    before = rss_mib()
    loaded = LTX2VideoTransformer3DModel.from_pretrained(folder, torch_dtype=dtype)
    print(f"  loaded transformer (1 block, {version}): alignment mod {ALIGNMENT} -> count "
          f"{alignment_histogram(loaded)}; RSS +{rss_mib() - before:.0f} MiB", file=sys.stderr)
    before = rss_mib()
    aligned = align_module(copy.deepcopy(loaded))  # deepcopy: both copies live side by side for the bench
    aligned_again = align_module(loaded_copy := copy.deepcopy(loaded))
    assert aligned_again is loaded_copy and not unaligned_tensors(aligned)
    del aligned_again, loaded_copy
    print(f"  aligned copy made: RSS +{rss_mib() - before:.0f} MiB (one extra model)", file=sys.stderr)

    # 256x256, 17 frames -> 3 x 8 x 8 video tokens; 1 s of audio -> 25 tokens; 128 text tokens
    inputs = block_inputs(config, 3, 8, 8, 25, 128, dtype)
    rows = []
    train_steps, infer_steps = {}, {}
    for label, model in (("as loaded", loaded), ("aligned", aligned)):
        model.requires_grad_(False)
        torch.manual_seed(0)
        Network(model, NetworkSettings(type="lora", rank=32, alpha=32))
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-5)

        def train(model=model, optimizer=optimizer):
            video, audio = model(**inputs)
            (video.float().square().mean() + audio.float().square().mean()).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        def infer(model=model):
            with torch.no_grad():
                model(**inputs)

        train_steps[label], infer_steps[label] = train, infer
    for what, steps_of in (("LoRA training step", train_steps), ("inference forward", infer_steps)):
        medians = interleaved_medians(steps_of, warmup, steps)
        rows.append((f"real-width {version} transformer, 1 block, {str(dtype).removeprefix('torch.')}: {what}",
                     medians["as loaded"], medians["aligned"]))
        print(f"  {rows[-1][0]}: aligned / loaded {medians['aligned'] / medians['as loaded']:.3f}x",
              file=sys.stderr, flush=True)
    return rows


def tiny_vae_decode(steps: int, warmup: int) -> list[tuple[str, float, float]]:
    from diffusers import AutoencoderKLLTX2Video

    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built

    model_dir = REPO / "models" / "tiny-ltx2.3"
    if not is_built(model_dir):
        model_dir = build_tiny_ltx2(Path(tempfile.mkdtemp(prefix="bench_align_")) / "tiny-ltx2.3", version="2.3")
    loaded = AutoencoderKLLTX2Video.from_pretrained(model_dir / "vae").eval()
    print(f"  loaded tiny 2.3 video VAE: alignment count {alignment_histogram(loaded)}", file=sys.stderr)
    aligned = align_module(copy.deepcopy(loaded))
    latent = torch.randn(1, loaded.config.latent_channels, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    temb = torch.tensor([0.05])

    def decode(model):
        def run():
            with torch.no_grad():
                model.decode(latent, temb=temb if model.config.timestep_conditioning else None)
        return run

    medians = interleaved_medians({"as loaded": decode(loaded), "aligned": decode(aligned)}, warmup, steps)
    return [("tiny 2.3 video VAE decode (3 x 8 x 8 latents), float32", medians["as loaded"], medians["aligned"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2.3", choices=("2.0", "2.3", "2.5"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"),
                        help="the real-width block's dtype (float32: what a CPU run of the tiny model uses; "
                             "bf16 has no native kernels on AVX2 CPUs and takes hours at --steps 10)")
    parser.add_argument("--skip-real-width", action="store_true", help="only the tiny VAE (seconds, not minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = tiny_vae_decode(max(args.steps, 20), args.warmup)
    print(f"  {rows[-1][0]}: aligned / loaded {rows[-1][2] / rows[-1][1]:.3f}x", file=sys.stderr, flush=True)
    if not args.skip_real_width:
        with tempfile.TemporaryDirectory(prefix="bench_align_") as folder:
            rows += real_width_block(args.version, Path(folder), args.steps, args.warmup, getattr(torch, args.dtype))
    print(f"{platform.machine()} {platform.processor() or ''}, {args.threads} thread(s), torch {torch.__version__}, "
          f"ATen CPU capability {torch.backends.cpu.get_cpu_capability()}\n")
    print("| work | as loaded | aligned | aligned / loaded |")
    print("|---|---|---|---|")
    for what, loaded, aligned in rows:
        print(f"| {what} | {loaded * 1000:.1f} ms | {aligned * 1000:.1f} ms | {aligned / loaded:.2f}x |")


if __name__ == "__main__":
    main()
