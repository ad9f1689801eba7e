"""Sampling during training holds no more than a training step (docs/memory.md, Phases):
guidance passes one after another when, batched, they would put more tokens through the
transformer than the largest training item; tiled VAE decoding. (No text side while sampling
is checked on a whole run in tests/test_phases.py.)"""

from __future__ import annotations

import pytest
import torch

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return LTX2Model.load(str(tiny_model_dir), LTX2Settings(version=VERSIONS["ltx2"], gradient_checkpointing=False,
                                                            vae_tile=(96, 64, 16, 8)))


def render(model, size: int = 64):
    return model.generate("a red circle", "", size, size, 9, 24.0, 2, 3.0, 0)


def test_guidance_passes_run_one_at_a_time_when_batched_they_exceed_a_step(model):
    rows = []
    hook = model.transformer.register_forward_pre_hook(
        lambda _m, _a, kwargs: rows.append(kwargs["hidden_states"].shape[0]), with_kwargs=True)
    try:
        tokens = 2 * 2 * 2  # 9 frames x 64 x 64: 2 latent frames of 2 x 2
        model.settings.train_video_tokens = 2 * tokens  # both passes together fit a training item: batched
        batched = render(model)
        assert rows == [2, 2]
        rows.clear()
        model.settings.train_video_tokens = 2 * tokens - 1  # they do not: one after another
        in_turn = render(model)
        assert rows == [1, 1, 1, 1]
    finally:
        hook.remove()
        model.settings.train_video_tokens = None
    # the same sample up to float rounding of a batch of one instead of two
    assert (batched[0].float() - in_turn[0].float()).abs().max() <= 1
    assert (batched[1] - in_turn[1]).abs().max() <= 1e-5


def test_samples_decode_in_tiles(model):
    calls = []
    hook = model.vae.decoder.register_forward_pre_hook(lambda _m, args: calls.append(tuple(args[0].shape[-2:])))
    try:
        model.settings.vae_decode_tiling = True
        frames, audio, _ = render(model, 128)
    finally:
        hook.remove()
        model.settings.vae_decode_tiling = False
    assert frames.shape == (9, 128, 128, 3) and torch.isfinite(audio).all()
    # 2 x 2 tiles of at most 3 x 3 latents (96 px, 64 px apart), never the 4 x 4 whole
    assert len(calls) == 4 and max(calls) == (3, 3)
