"""How each LTX-2 component is put where it rests as it loads, block by block (stream.py
hands each block over as soon as its weights are in), and the video VAE's tiling.

- transformer: each block quantized as it arrives (model.quantize: its Linear layers; the
  entry/exit projections, embeddings and norms stay in full precision) on the device it
  computes on, except the first layer_offloading_transformer_percent of the blocks, which
  stay on the host for layer offloading (toolkit/memory/offload.py); with every block
  swapped, the Linear layers outside the blocks (the modulation embedders) too: they are the
  last unit to swap, as large as a block, used once per forward;
- text encoder: Gemma's language layers alike (quantize_te); placed "offload", the first
  layer_offloading_text_encoder_percent of them stay on the host to stream from there;
- everything else: whole, to where it rests.

There is never a full-precision copy of a quantized component in host memory: a block is
quantized before the next one is read.
"""

from __future__ import annotations

import torch

from toolkit.memory.offload import offload_blocks, offload_outside_blocks, offload_share
from toolkit.memory.quantize import quantize_model


def transformer_units(settings, config: dict, device: torch.device, notes: list[str]):
    """(block names, finish) for streaming the transformer (see the module doc)."""
    depth = int(config.get("num_layers", 0))
    offloaded = offload_share(settings.layer_offloading_transformer_percent, depth) if settings.layer_offloading else 0
    counted: list[int] = []

    def finish(unit: str, module: torch.nn.Module) -> None:
        if not unit:  # the rest of the transformer, after every block
            if settings.quantize:
                notes.append(f"quantized {sum(counted)} transformer Linear layers to {settings.qtype}")
            if settings.layer_offloading:
                notes.append(offload_blocks(module.transformer_blocks, settings.layer_offloading_transformer_percent,
                                            settings.device).describe("transformer"))
            if 0 < offloaded == depth:  # every block swapped: the modulation embedders too (offload.py)
                outside = offload_outside_blocks(module, "transformer_blocks", settings.device)
                notes.append(f"layer offloading: {outside.layers} Linear layers outside the transformer blocks "
                             f"({outside.resting_bytes / 2**20:.1f} MiB) rest on the CPU")
            module.to(device)
            return
        if int(unit.rsplit(".", 1)[1]) >= offloaded:
            module.to(device)  # quantized where it will compute
        if settings.quantize:
            counted.append(len(quantize_model(module, settings.qtype)))

    return [f"transformer_blocks.{index}" for index in range(depth)], finish


def text_encoder_units(settings, config: dict, device: torch.device, phased: bool, notes: list[str]):
    """(layer names, finish) for streaming Gemma's language model (see the module doc). A
    model loaded whole (not phased) offloads with model.layer_offloading, as it always did."""
    prefix, depth = text_layer_names(config)
    share = 0.0
    if settings.text_encoder_placement == "offload" or (not phased and settings.layer_offloading):
        share = settings.layer_offloading_text_encoder_percent
    offloaded = offload_share(share, depth)
    counted: list[int] = []

    def finish(unit: str, module: torch.nn.Module) -> None:
        if not unit:
            if settings.quantize_te:
                notes.append(f"quantized {sum(counted)} text encoder Linear layers to {settings.qtype_te}")
            if offloaded:
                notes.append(offload_blocks(text_layers(module)[1], share, settings.device).describe("text encoder"))
            module.to(device)
            return
        if int(unit.rsplit(".", 1)[1]) >= offloaded:
            module.to(device)
        if settings.quantize_te:
            counted.append(len(quantize_model(module, settings.qtype_te)))

    return [f"{prefix}{index}" for index in range(depth)], finish


def configure_vae_tiling(vae, tiled: bool, tile: tuple[int, int, int, int]) -> None:
    """Set before each use (model.vae_tiling: encoding and decoding decide apart): the video VAE
    works on overlapping tiles in space and in time (diffusers' helpers; its encoder reads the
    `framewise_decoding` flag for time too), so a 121-frame 768x768 clip never exists as one
    activation."""
    pixels, pixel_stride, frames, frame_stride = tile
    if not tiled:
        vae.use_tiling = vae.use_framewise_encoding = vae.use_framewise_decoding = False
        return
    vae.enable_tiling(tile_sample_min_height=pixels, tile_sample_min_width=pixels,
                      tile_sample_min_num_frames=frames, tile_sample_stride_height=pixel_stride,
                      tile_sample_stride_width=pixel_stride, tile_sample_stride_num_frames=frame_stride)
    vae.use_framewise_encoding = vae.use_framewise_decoding = True


def video_encode_variant(settings, longest_side: int, frames: int) -> str | None:
    """What cached latents of clips up to this size depend on besides the weights: the tiles,
    when encoding tiles and a clip is larger than one tile (tiled latents differ slightly from
    whole ones). None when the latents are the whole-clip ones."""
    pixels, pixel_stride, tile_frames, frame_stride = settings.vae_tile
    if not settings.vae_tiling or (longest_side <= pixels and frames <= tile_frames):
        return None
    return f"tiles {pixels}/{pixel_stride}px {tile_frames}/{frame_stride}f"


def text_layer_names(config: dict) -> tuple[str, int]:
    """(name prefix, count) of the text encoder's language layers: the trainer loads Gemma's
    language model alone (extensions_built_in/diffusion_models/ltx2/weights), whose layers are `layers.N`."""
    return "layers.", int(config.get("num_hidden_layers", 0))


def text_layers(text_encoder) -> tuple[str, torch.nn.ModuleList]:
    """(name prefix, layers) of Gemma's language layers: `model.language_model.layers` in the
    full multimodal class, `layers` in the text model the trainer loads."""
    inner = getattr(getattr(text_encoder, "model", None), "language_model", None)
    if inner is not None:
        return "model.language_model.layers.", inner.layers
    return "layers.", text_encoder.layers
