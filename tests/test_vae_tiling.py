"""model.vae_tiling: the video VAE encodes in overlapping tiles, so a 121-frame 768x768 clip
never exists as one activation; tiled latents differ slightly from whole ones, so they are
cached apart. (Tiled decoding of samples: tests/test_sampling_memory.py.)

Measured on the tiny model (random weights, tiles only 2 latents wide: far rougher than the
real VAE with its 16-latent tiles and 2-latent blends): 16-frame tiles on a 25-frame clip,
mean |tiled - whole| 0.016 for a latent standard deviation of 0.138 (max 0.20); 64 px tiles
on a 96 px clip, mean 0.14 for 0.29 (max 0.77). A clip within one tile encodes bit for bit
as a whole one, so only latents of clips larger than a tile change their cache key.
"""

from __future__ import annotations

import pytest
import torch

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
from toolkit.dataloader_mixins import DatasetSpec, _cache_key

TILE = (64, 32, 16, 8)  # pixels, pixel stride, frames, frame stride: small enough for the tiny model


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return LTX2Model.load(str(tiny_model_dir), LTX2Settings(version=VERSIONS["ltx2"], gradient_checkpointing=False,
                                                            vae_tile=TILE))


def smooth_clip(frames: int, size: int) -> torch.Tensor:
    """A smooth moving pattern in [-1, 1] (video is smooth; noise would exaggerate seams)."""
    t = torch.linspace(0, 1, frames)[:, None, None]
    y = torch.linspace(0, 1, size)[None, :, None]
    x = torch.linspace(0, 1, size)[None, None, :]
    return torch.stack([torch.sin(6 * x + 3 * t + 2 * y), torch.cos(5 * y - 4 * t + 0 * x),
                        torch.sin(4 * (x + y) + t)])[None] * 0.8


def encode(model, clip: torch.Tensor, tiled: bool) -> torch.Tensor:
    model.settings.vae_tiling = tiled
    try:
        return model.encode_video(clip)
    finally:
        model.settings.vae_tiling = False


@pytest.mark.parametrize("frames, size, mean_share", [(25, 32, 0.2), (9, 96, 0.6)], ids=["in_time", "in_space"])
def test_tiled_latents_stay_close_to_whole_ones(model, frames, size, mean_share):
    clip = smooth_clip(frames, size)
    whole, tiled = encode(model, clip, False), encode(model, clip, True)
    assert tiled.shape == whole.shape and torch.isfinite(tiled).all()
    assert not torch.equal(tiled, whole)  # the tiles were used
    assert (tiled - whole).abs().mean() <= mean_share * whole.std()


def test_a_clip_within_one_tile_is_encoded_whole_and_keeps_its_cache_key(model, tmp_path):
    clip = smooth_clip(9, 64)
    assert torch.equal(encode(model, clip, True), encode(model, clip, False))
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"not decoded here")
    spec = DatasetSpec(folder=str(tmp_path), resolution=64, num_frames=9)
    model.settings.vae_tiling = True
    try:
        within, larger = model.video_encode_variant(64, 9), model.video_encode_variant(96, 9)
        longer = model.video_encode_variant(64, 25)
    finally:
        model.settings.vae_tiling = False
    assert within is None and larger and longer  # tiles only for clips larger than one
    assert model.video_encode_variant(96, 25) is None  # tiling off
    plain = _cache_key("tiny", spec, media, (False, False), 7)
    assert _cache_key("tiny", spec, media, (False, False), 7, encode_variant=within) == plain  # caches stay valid
    assert _cache_key("tiny", spec, media, (False, False), 7, encode_variant=larger) != plain
