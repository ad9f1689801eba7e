"""Training step time of LTX-2.0, 2.3 and 2.5, each on its tiny model, in one run.

Each version is loaded through the trainer's own path (`LTX2Model.load`, conditioning hooks
installed), gets a LoRA on its transformer blocks, and is timed over `LTX2Model.predict` with
independent video / audio sigmas + backward + AdamW on one fixed batch (the prompt is encoded
once, as with cached text embeddings). Rounds are interleaved so load changes on a shared
machine hit every version alike. Prints a markdown table (median ms per step, ratio to 2.0).

    .venv/bin/python bench/family_step_time.py [--steps 30] [--dtype fp32]
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401
from bench.timing import interleaved_medians, step_time_parser  # noqa: E402
from toolkit.memory.dtypes import DTYPES  # noqa: E402

VERSIONS = {"2.0": "ltx2", "2.3": "ltx2.3", "2.5": "ltx2.5"}


def model_dir(version: str) -> Path:
    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built

    folder = REPO / "models" / ("tiny-ltx2" if version == "2.0" else f"tiny-ltx{version}")
    if is_built(folder):
        return folder
    return build_tiny_ltx2(Path(tempfile.mkdtemp(prefix="bench_family_")) / folder.name, version=version)


def make_step(version: str, dtype: torch.dtype, rank: int):
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
    from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS as TABLE
    from toolkit.lora.network import Network, NetworkSettings

    settings = LTX2Settings(version=TABLE[VERSIONS[version]], dtype=dtype, gradient_checkpointing=False)
    model = LTX2Model.load(str(model_dir(version)), settings)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = Network(model.transformer, NetworkSettings(rank=rank, alpha=rank, model_version=version))
    model.transformer.train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-4)
    prompt = model.encode_prompts(["a red circle moves left and a voice says hello"])
    gen = torch.Generator().manual_seed(0)
    # 17 frames at 128x128 -> 3x4x4 latent tokens; 1 s of audio -> 26 tokens
    video = torch.randn(1, 32, 3, 4, 4, generator=gen)
    audio = torch.randn(1, 26, 32, generator=gen)
    sigma_v, sigma_a = torch.tensor([0.7]), torch.tensor([0.4])

    def step():
        optimizer.zero_grad(set_to_none=True)
        pred_v, pred_a = model.predict(video, audio, sigma_v, sigma_a, prompt, fps=24.0)
        (pred_v.square().mean() + pred_a.square().mean()).backward()
        optimizer.step()

    return step


def main() -> None:
    args = step_time_parser(__doc__.splitlines()[0], dtype="fp32").parse_args()
    torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]

    steps = {version: make_step(version, dtype, args.rank) for version in VERSIONS}
    results = interleaved_medians(steps, args.warmup, args.steps)
    reference = results["2.0"]
    print(f"Tiny LTX-2 family (2 blocks each), {args.dtype}, LoRA rank {args.rank}, 48 video + 26 audio tokens, "
          f"LTX2Model.predict + backward + AdamW, median of {args.steps} steps, {args.threads} CPU thread(s), "
          f"torch {torch.__version__}\n")
    print("| version | step | ratio to 2.0 |")
    print("|---|---|---|")
    for version, value in results.items():
        print(f"| LTX-{version} | {value * 1000:.1f} ms | {value / reference:.2f}x |")


if __name__ == "__main__":
    main()
