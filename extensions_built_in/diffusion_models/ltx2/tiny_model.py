"""Build a tiny, randomly initialised LTX-2 set and save it in diffusers format.

Tests and the demo train on this model through the very code path that loads
`Lightricks/LTX-2` (a diffusers-format folder with the same subfolders), so nothing is
downloaded and the real loading, encoding and LoRA code runs. It keeps the real model's
topology where the trainer depends on it:

- video VAE: 32x spatial / 8x temporal compression (F = 8k+1 frames, W and H multiples of 32);
- audio VAE: 4x time and mel compression, causal, 16 kHz with hop 160 (100 mel frames/s);
- vocoder: mel -> 16 kHz stereo waveform;
- Gemma 3 text encoder whose stacked hidden states feed the text connectors;
- scheduler with the real dynamic-shift configuration.

Linear layers are 32 wide (or multiples of 32) because CPU int8 kernels need that, so the
quantization tests can run on this model too.

Every LTX-2 version has its tiny twin with that version's structure (the flags of the
family table in extensions_built_in/diffusion_models/ltx2/versions.py):
- 2.0: caption projection in the transformer, shared connector projection, 24 kHz-style vocoder;
- 2.3: gated attention, prompt AdaLN (9 modulation params), per-modality connector projections
  with learnable registers, the 2.3 VAE decoder layout, a vocoder with bandwidth extension (48 kHz);
- 2.5: 2.3 plus a bias-free video FFN, the keyframe embedding and a Gemma 4 text encoder.

    python -m extensions_built_in.diffusion_models.ltx2.tiny_model models/tiny-ltx2
    python -m extensions_built_in.diffusion_models.ltx2.tiny_model --version 2.3 models/tiny-ltx2.3

The same tiny model in the layouts users download (docs/models.md), written by the
extensions_built_in.diffusion_models.ltx2.weights writers:

    python -m extensions_built_in.diffusion_models.ltx2.tiny_model --version 2.3 --layout single OUT   # OUT/ltx-2.3-22b-dev.safetensors,
                                     # plus text_encoder/ tokenizer/ scheduler/ (for te_name_or_path)
    python -m extensions_built_in.diffusion_models.ltx2.tiny_model --version 2.5 --layout split OUT    # a ComfyUI models folder
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKLLTX2Audio,
    AutoencoderKLLTX2Video,
    FlowMatchEulerDiscreteScheduler,
    LTX2Pipeline,
    LTX2VideoTransformer3DModel,
)
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma4UnifiedConfig,
    Gemma4UnifiedForConditionalGeneration,
    PreTrainedTokenizerFast,
)

from extensions_built_in.diffusion_models.ltx2.weights.layout import single_file_name
from extensions_built_in.diffusion_models.ltx2.weights.write import (
    read_diffusers_folder,
    write_single_file,
    write_split_files,
)
from toolkit.atomic import atomic_write_dir

# A small closed vocabulary: every word used by the synthetic captions and sample prompts.
VOCAB_WORDS = (
    "a an the and with of in on to is are at by from moving moves left right up down "
    "red green blue yellow white black orange purple circle square triangle shape shapes "
    "ball box man woman person character speaks says talking voice hello world yes no one two "
    "three tone beep sound loud quiet slow fast small big bright dark background scene video "
    "image picture photo clip character_name sks ohwx walking standing sitting smiling"
).split()

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<image>", "<boi>", "<eoi>"]

# Tiny sizes, chosen so every Linear has in/out features that are multiples of 32.
GEMMA_HIDDEN = 32
GEMMA_LAYERS = 2
VIDEO_LATENT_CHANNELS = 32
AUDIO_LATENT_CHANNELS = 8
AUDIO_MEL_BINS = 16
INNER_DIM = 32  # 2 heads x 16


def _build_tokenizer():
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in VOCAB_WORDS:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        padding_side="left",
        model_max_length=128,
    )
    return tokenizer, len(vocab)


VERSIONS = ("2.0", "2.3", "2.5")
CONNECTOR_REGISTERS = 128  # 2.3+: the real count; the tiny tokenizer pads to 128 tokens


def _build_text_encoder(vocab_size: int, version: str = "2.0"):
    if version == "2.5":
        return _build_gemma4_text_encoder(vocab_size)

    text_config = _gemma_text_config(vocab_size)
    vision_config = dict(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    config = Gemma3Config(
        text_config=text_config,
        vision_config=vision_config,
        mm_tokens_per_image=4,
        image_token_index=SPECIAL_TOKENS.index("<image>"),
        boi_token_index=SPECIAL_TOKENS.index("<boi>"),
        eoi_token_index=SPECIAL_TOKENS.index("<eoi>"),
    )
    return Gemma3ForConditionalGeneration(config).eval()


def _gemma_text_config(vocab_size: int) -> dict:
    return dict(
        vocab_size=vocab_size,
        hidden_size=GEMMA_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=GEMMA_LAYERS,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=64,
        max_position_embeddings=256,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )


def _build_gemma4_text_encoder(vocab_size: int):
    """LTX-2.5's text encoder class (Gemma 4 unified), text part only (no vision/audio towers)."""
    text_config = _gemma_text_config(vocab_size)
    text_config.update(global_head_dim=16, layer_types=["sliding_attention", "full_attention"])
    return Gemma4UnifiedForConditionalGeneration(Gemma4UnifiedConfig(text_config=text_config)).eval()


def _build_connectors(version: str = "2.0"):
    if version != "2.0":
        # 2.3+: per-modality projections (with bias) straight to each modality's width, gated
        # attention, learnable registers that replace padding.
        return LTX2TextConnectors(
            caption_channels=GEMMA_HIDDEN,
            text_proj_in_factor=GEMMA_LAYERS + 1,
            video_connector_num_attention_heads=2,
            video_connector_attention_head_dim=16,
            video_connector_num_layers=1,
            video_connector_num_learnable_registers=CONNECTOR_REGISTERS,
            video_gated_attn=True,
            audio_connector_num_attention_heads=2,
            audio_connector_attention_head_dim=16,
            audio_connector_num_layers=1,
            audio_connector_num_learnable_registers=CONNECTOR_REGISTERS,
            audio_gated_attn=True,
            rope_type="split",
            per_modality_projections=True,
            video_hidden_dim=INNER_DIM,
            audio_hidden_dim=INNER_DIM,
            proj_bias=True,
        )
    return LTX2TextConnectors(
        caption_channels=GEMMA_HIDDEN,
        text_proj_in_factor=GEMMA_LAYERS + 1,
        video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        rope_type="split",
    )


def _version_transformer_flags(version: str) -> dict:
    if version == "2.0":
        return {}
    flags = dict(use_prompt_embeddings=False, gated_attn=True, audio_gated_attn=True, cross_attn_mod=True,
                 audio_cross_attn_mod=True, perturbed_attn=True)
    if version == "2.5":
        flags.update(ff_bias=False, use_keyframes_abs_pos_embedding=True)
    return flags


def _build_transformer(version: str = "2.0"):
    return LTX2VideoTransformer3DModel(
        **_version_transformer_flags(version),
        in_channels=VIDEO_LATENT_CHANNELS,
        out_channels=VIDEO_LATENT_CHANNELS,
        num_attention_heads=2,
        attention_head_dim=16,
        cross_attention_dim=INNER_DIM,
        audio_in_channels=AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS // 4,
        audio_out_channels=AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS // 4,
        audio_num_attention_heads=2,
        audio_attention_head_dim=16,
        audio_cross_attention_dim=INNER_DIM,
        num_layers=2,
        caption_channels=GEMMA_HIDDEN,
        rope_type="split",
        qk_norm="rms_norm_across_heads",
    )


def _build_video_vae(version: str = "2.0"):
    if version != "2.0":
        # The 2.3 decoder layout: four up blocks (spatiotemporal x2, temporal, spatial), no
        # residual upsampling, zero padding; same 32x / 8x compression.
        return AutoencoderKLLTX2Video(
            latent_channels=VIDEO_LATENT_CHANNELS,
            patch_size=4,
            block_out_channels=(8, 16, 16, 32),
            layers_per_block=(1, 1, 1, 1, 1),
            down_block_types=("LTX2VideoDownBlock3D",) * 4,
            downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
            spatio_temporal_scaling=(True, True, True, True),
            decoder_block_out_channels=(8, 16, 16, 32),
            decoder_layers_per_block=(1, 1, 1, 1, 1),
            decoder_spatio_temporal_scaling=(True, True, True, True),
            decoder_inject_noise=(False, False, False, False, False),
            upsample_type=("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
            upsample_factor=(2, 2, 1, 2),
            upsample_residual=(False, False, False, False),
            timestep_conditioning=False,
            decoder_causal=False,
            decoder_spatial_padding_mode="zeros",
            spatial_compression_ratio=32,
            temporal_compression_ratio=8,
        ).eval()
    return AutoencoderKLLTX2Video(
        latent_channels=VIDEO_LATENT_CHANNELS,
        patch_size=4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=(1, 1, 1, 1, 1),
        down_block_types=("LTX2VideoDownBlock3D",) * 4,
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_block_out_channels=(8, 16, 32),
        decoder_layers_per_block=(1, 1, 1, 1),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        upsample_type=("spatiotemporal", "spatiotemporal", "spatiotemporal"),
        upsample_factor=(2, 2, 2),
        upsample_residual=(True, True, True),
        timestep_conditioning=False,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    ).eval()


def _build_audio_vae():
    return AutoencoderKLLTX2Audio(
        base_channels=AUDIO_LATENT_CHANNELS * AUDIO_MEL_BINS // 4,
        latent_channels=AUDIO_LATENT_CHANNELS,
        mel_bins=AUDIO_MEL_BINS,
        ch_mult=(1, 1, 1),
        num_res_blocks=1,
        norm_type="pixel",
        causality_axis="height",
        is_causal=True,
    ).eval()


def _build_vocoder(version: str = "2.0"):
    if version != "2.0":
        # 2.3+: mel -> 16 kHz, then bandwidth extension to 48 kHz (the mp4 keeps 48 kHz).
        return LTX2VocoderWithBWE(
            in_channels=2 * AUDIO_MEL_BINS,
            hidden_channels=64,
            bwe_in_channels=16,
            bwe_hidden_channels=32,
            num_mel_channels=8,
            input_sampling_rate=16000,
            output_sampling_rate=48000,
        ).eval()

    return LTX2Vocoder(
        in_channels=2 * AUDIO_MEL_BINS,
        hidden_channels=32,
        out_channels=2,
        upsample_factors=[4, 5, 8],
        upsample_kernel_sizes=[8, 10, 8],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3]],
        output_sampling_rate=16000,
    ).eval()


def build_scheduler():
    """The flow-matching scheduler with the real LTX-2 pipeline's shift configuration."""
    return FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )


def build_tiny_ltx2(out_dir: str | os.PathLike, seed: int = 0, version: str = "2.0") -> Path:
    """Build every LTX-2 component of `version` (2.0, 2.3, 2.5) with random weights and save
    them under `out_dir`.

    The folder is written next to its final place and renamed at the end, so an
    interrupted build never leaves a half model behind. Returns the folder.
    """
    if version not in VERSIONS:
        raise ValueError(f"version '{version}' is not one of {', '.join(VERSIONS)}")
    out = Path(out_dir)
    torch.manual_seed(seed)
    tokenizer, vocab_size = _build_tokenizer()
    pipe = LTX2Pipeline(
        scheduler=build_scheduler(),
        vae=_build_video_vae(version),
        audio_vae=_build_audio_vae(),
        text_encoder=_build_text_encoder(vocab_size, version),
        tokenizer=tokenizer,
        connectors=_build_connectors(version),
        transformer=_build_transformer(version),
        vocoder=_build_vocoder(version),
    )
    def fill(tmp: Path) -> None:
        pipe.save_pretrained(tmp, safe_serialization=True)
        (tmp / "tiny_ltx2.json").write_text(json.dumps({"seed": seed, "kind": "tiny-random-ltx2", "version": version}))

    atomic_write_dir(out, fill)
    return out


LAYOUTS = ("diffusers", "single", "split")
# What an original single file leaves out: the text side and the scheduler come from a folder
# (model.te_name_or_path / extras_name_or_path), as with Lightricks' files.
SINGLE_FILE_EXTRAS = ("text_encoder", "tokenizer", "scheduler")


def build_tiny_files(out_dir: str | os.PathLike, seed: int = 0, version: str = "2.0", layout: str = "single",
                     source: str | os.PathLike | None = None) -> Path:
    """The tiny model of `version` as original weight files: `single` writes OUT/<release file
    name> (2.0, 2.3, 2.5) plus the diffusers folders it lacks; `split` writes LTX-2.5's ComfyUI
    models folder (diffusion_models/, text_encoders/ with the tokenizer inside, vae/). Written
    next to OUT and renamed into place, as build_tiny_ltx2.

    `source`: a tiny diffusers folder of `version` to convert, so the files hold its weights bit
    for bit. Without it a folder is built from `seed` first; the same seed gives the same
    weights only under the same CPU code path (torch's random fills are vectorised per
    instruction set), so tests that compare files with a folder pass the folder."""
    if layout not in ("single", "split"):
        raise ValueError(f"layout '{layout}' is not one of single, split")
    if layout == "split" and version != "2.5":
        raise ValueError(f"the split layout is LTX-2.5's; LTX-{version} ships one single file (use --layout single)")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)

    def fill(files: Path) -> None:
        # The diffusers model the files are converted from is scratch, next to OUT.
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.src.", dir=out.parent) as scratch:
            folder = Path(source) if source is not None else build_tiny_ltx2(
                Path(scratch) / "diffusers", seed=seed, version=version)
            parts, tokenizer_files = read_diffusers_folder(folder, version)
            if layout == "single":
                parts.pop("text_encoder", None)
                write_single_file(parts, version, files / single_file_name(version))
                for name in SINGLE_FILE_EXTRAS:
                    shutil.copytree(folder / name, files / name)
            else:
                write_split_files(parts, version, files, tokenizer_files)
        built_from = json.loads((Path(source) / "tiny_ltx2.json").read_text()) if source is not None else {}
        (files / "tiny_ltx2.json").write_text(json.dumps(
            {"seed": built_from.get("seed", seed), "kind": "tiny-random-ltx2", "version": version, "layout": layout}))

    return atomic_write_dir(out, fill)


def is_built(out_dir: str | os.PathLike) -> bool:
    """True when a complete tiny model lies in `out_dir` (its marker is written last)."""
    return (Path(out_dir) / "tiny_ltx2.json").is_file()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write the diffusers-format model into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", choices=VERSIONS, default="2.0", help="LTX-2 version to build (default 2.0)")
    parser.add_argument("--layout", choices=LAYOUTS, default="diffusers",
                        help="diffusers folders (default), one original single file, or LTX-2.5 split files")
    parser.add_argument("--force", action="store_true", help="rebuild even when present")
    args = parser.parse_args(argv)
    if args.layout == "split" and args.version != "2.5":
        parser.error(f"--layout split is LTX-2.5's; LTX-{args.version} ships one single file (--layout single)")
    if is_built(args.out_dir) and not args.force:
        print(f"tiny LTX-2 already present in {args.out_dir}")
        return 0
    if args.layout == "diffusers":
        path = build_tiny_ltx2(args.out_dir, seed=args.seed, version=args.version)
        print(f"tiny LTX-{args.version} written to {path}")
        return 0
    path = build_tiny_files(args.out_dir, seed=args.seed, version=args.version, layout=args.layout)
    print(f"tiny LTX-{args.version} ({args.layout} layout) written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
