"""Write an LTX-2.3 diffusers folder at real width with few blocks, for host-memory benches on a CPU.

    python bench/real_width_model.py OUT [--blocks 2] [--gemma-layers 2]

Every layer is as wide as the released model's (the version table's configs,
extensions_built_in/diffusion_models/ltx2/real_configs.py); only the depth is cut:
- transformer: the 2.3 config with `--blocks` of its 48 blocks;
- text connectors: 2.3's, one layer per modality, their input projection sized for the
  `--gemma-layers` + 1 hidden states the short Gemma gives (49 for the real 48-layer one);
- text encoder: transformers' multimodal Gemma 3 12B class (its language model's width and
  262k vocabulary, its real SigLIP vision tower, which the released folder also holds) with
  `--gemma-layers` of its 48 language layers;
- video VAE, audio VAE, vocoder: 2.3's, whole;
- tokenizer and scheduler: the tiny model's (the tokenizer's ids all lie inside Gemma's vocabulary).
Random bf16 weights, written by each library's own save_pretrained in 2 GB shards, one
component at a time (the peak is the largest component, about 4 GB). About 11 GB on disk.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import toolkit  # noqa: E402,F401  (torchao environment knob)
from extensions_built_in.diffusion_models.ltx2.real_configs import TRANSFORMER  # noqa: E402
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS  # noqa: E402

# Gemma 3 12B (google/gemma-3-12b-it, the LTX-2.0/2.3 text encoder): its published config.
GEMMA3_12B_TEXT = dict(
    hidden_size=3840, intermediate_size=15360, num_attention_heads=16, num_key_value_heads=8, head_dim=256,
    vocab_size=262208, rope_theta=1_000_000.0, sliding_window=1024, query_pre_attn_scalar=256,
    rope_scaling={"factor": 8.0, "rope_type": "linear"}, max_position_embeddings=131072,
)
SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                     image_size=896, patch_size=14, vision_use_head=False)
SHARD = "2GB"


def _random_(module: torch.nn.Module) -> torch.nn.Module:
    """Small random weights (the values do not matter for memory; finite ones keep runs finite)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0.0, 0.02, generator=generator)
    return module


def _built(factory):
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # no float32 copy of a few GB on the way
    try:
        return _random_(factory())
    finally:
        torch.set_default_dtype(before)


def build(out: Path, blocks: int, gemma_layers: int) -> Path:
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    tiny = REPO / "models" / "tiny-ltx2.3"
    version = VERSIONS["ltx2.3"]
    out.mkdir(parents=True, exist_ok=True)
    parts = {
        "transformer": lambda: LTX2VideoTransformer3DModel(**{**TRANSFORMER["2.3"], "num_layers": blocks}),
        "connectors": lambda: LTX2TextConnectors(**{**version.connectors_config, "text_proj_in_factor": gemma_layers + 1,
                                                    "video_connector_num_layers": 1, "audio_connector_num_layers": 1}),
        "vae": lambda: AutoencoderKLLTX2Video(**version.vae_config),
        "audio_vae": lambda: AutoencoderKLLTX2Audio(**version.audio_vae_config),
        "vocoder": lambda: LTX2VocoderWithBWE(**version.vocoder_config),
    }
    for name, factory in parts.items():
        print(f"{name} ...", flush=True)
        _built(factory).save_pretrained(str(out / name), max_shard_size=SHARD)
    print("text_encoder ...", flush=True)
    config = Gemma3Config(text_config={**GEMMA3_12B_TEXT, "num_hidden_layers": gemma_layers},
                          vision_config=SIGLIP_SO400M, mm_tokens_per_image=256)
    _built(lambda: Gemma3ForConditionalGeneration(config)).save_pretrained(str(out / "text_encoder"),
                                                                           max_shard_size=SHARD)
    for name in ("tokenizer", "scheduler"):
        shutil.copytree(tiny / name, out / name, dirs_exist_ok=True)
    index = json.loads((tiny / "model_index.json").read_text())
    (out / "model_index.json").write_text(json.dumps(index, indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--gemma-layers", type=int, default=2)
    args = parser.parse_args(argv)
    print(build(args.out, args.blocks, args.gemma_layers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
