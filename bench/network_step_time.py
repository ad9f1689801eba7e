"""Training step time of LoRA, DoRA and LoKr, each on an unquantized and a quantized base
(optimum-quanto qfloat8 / qint8, torchao int8 weight-only), on the tiny LTX-2 transformer.

One process, one input batch: for every (network, qtype) pair a fresh copy of the
transformer is quantized and adapted, then timed over forward + backward + AdamW steps, in
interleaved rounds.
Prints a markdown table (median ms per step and the ratio to LoRA on the unquantized base).

    .venv/bin/python bench/network_step_time.py [--steps 30] [--dtype bf16]
"""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401
from bench.timing import interleaved_medians, step_time_parser  # noqa: E402
from toolkit.memory.dtypes import DTYPES  # noqa: E402

NETWORKS = ("lora", "dora", "lokr")
QTYPES = (None, "qfloat8", "qint8", "torchao_int8")


def make_step(base, inputs, network_type: str, qtype: str | None, rank: int):
    """A closure running one training step of a fresh quantized + adapted copy of `base`."""
    from network_helpers import adapter_parameters

    from toolkit.lora.network import Network, NetworkSettings
    from toolkit.memory.quantize import quantize_model

    transformer = copy.deepcopy(base)
    if qtype:
        quantize_model(transformer, qtype, include=("transformer_blocks.",))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Network(transformer, NetworkSettings(type=network_type, rank=rank, alpha=rank))
    transformer.train()
    optimizer = torch.optim.AdamW(list(adapter_parameters(transformer).values()), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        video, audio = transformer(**inputs)
        (video.float().square().mean() + audio.float().square().mean()).backward()
        optimizer.step()

    return step


def main() -> None:
    args = step_time_parser(__doc__.splitlines()[0], dtype="bf16").parse_args()
    torch.set_num_threads(args.threads)

    from network_helpers import load_transformer, transformer_inputs

    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built

    model_dir = REPO / "models" / "tiny-ltx2"
    if not is_built(model_dir):
        import tempfile

        model_dir = build_tiny_ltx2(Path(tempfile.mkdtemp(prefix="bench_net_")) / "tiny-ltx2")
    dtype = DTYPES[args.dtype]
    base = load_transformer(model_dir, dtype)
    # 17 frames at 128x128 -> 3x4x4 video tokens; 1 s of audio -> 26 tokens
    inputs = transformer_inputs(dtype, video_tokens=(3, 4, 4), audio_tokens=26, text_tokens=16)

    steps = {(n, q): make_step(base, inputs, n, q, args.rank) for n in NETWORKS for q in QTYPES}
    results = interleaved_medians(steps, args.warmup, args.steps)
    for (network_type, qtype), value in results.items():
        print(f"  {network_type:5s} {qtype or 'none':13s} {value * 1000:8.2f} ms", file=sys.stderr)

    reference = results["lora", None]
    print(f"Tiny LTX-2 transformer (2 blocks), {args.dtype} base, rank {args.rank}, 48 video + 26 audio tokens, "
          f"forward + backward + AdamW, median of {args.steps} steps, {args.threads} CPU thread(s), torch "
          f"{torch.__version__}\n")
    header = "| network | " + " | ".join(q or "unquantized" for q in QTYPES) + " |"
    print(header)
    print("|" + "---|" * (len(QTYPES) + 1))
    for network_type in NETWORKS:
        cells = [f"{results[network_type, q] * 1000:.1f} ms ({results[network_type, q] / reference:.2f}x)" for q in QTYPES]
        print(f"| {network_type} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
