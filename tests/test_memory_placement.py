"""The phases' start-up rules (toolkit/memory/placement.py), on the real model sizes."""

from __future__ import annotations

import pytest

from toolkit.memory.placement import (
    TextEncoderNeed,
    choose_text_encoder,
    choose_vae_tiling,
    guidance_in_sequence,
)

GB = 1024 ** 3
GEMMA_12B = 11_766_000_000  # Gemma 3 12B's language model (what the trainer loads of it)
TILE = (512, 448, 16, 8)


def need(free_gb, prompts=40, requested="auto", qtype=None, may_quantize=True, host_gb=28, device="cuda"):
    return TextEncoderNeed(requested=requested, params=GEMMA_12B, dtype_bytes=2, qtype=qtype,
                           may_quantize=may_quantize, device_type=device,
                           device_free=None if free_gb is None else free_gb * GB, host_free=host_gb * GB,
                           prompts=prompts)


@pytest.mark.parametrize("free_gb, expected", [
    (31, ("device", None)),     # a 32 GB card: bf16 (21.9 GiB) fits
    (23, ("device", "qint8")),  # a 24 GB card: 8 bits
    (11.5, ("device", "qint4")),  # a 12 GB card: 4 bits
    (5, ("offload", "qint8")),  # a 6 GB card, 40 prompts: layers stream from the host, in 8 bits
])  # fmt: skip
def test_text_encoder_goes_where_it_fits(free_gb, expected):
    choice = choose_text_encoder(need(free_gb))
    assert (choice.placement, choice.qtype) == expected
    assert "caption encoding: the text encoder runs" in choice.describe()


def test_text_encoder_rule_keeps_what_the_user_set():
    assert choose_text_encoder(need(11.5, may_quantize=False, prompts=10)).placement == "cpu"  # few prompts
    assert choose_text_encoder(need(11.5, may_quantize=False, prompts=200)).placement == "offload"
    assert choose_text_encoder(need(11.5, may_quantize=False, prompts=10, host_gb=16)).placement == "offload"
    explicit = choose_text_encoder(need(11.5, requested="device", qtype="qfloat8"))
    assert (explicit.placement, explicit.qtype) == ("device", "qfloat8")
    assert choose_text_encoder(need(None, device="cpu")).placement == "device"  # one memory


def test_vae_tiles_only_what_does_not_fit_whole():
    big, small = (121, 768, 768), (49, 512, 512)
    on_12gb = choose_vae_tiling("auto", big, big, 11 * GB, 4 * GB, TILE)
    assert (on_12gb.encode, on_12gb.decode) == (False, True)  # ~7 GiB to encode whole, ~27 GiB to decode
    assert not choose_vae_tiling("auto", (9, 512, 512), (9, 512, 512), 1 * GB, 0.5 * GB, TILE).decode  # one tile
    assert choose_vae_tiling("auto", big, None, 2 * GB, None, TILE).encode  # an 8 GB card beside nothing else
    roomy = choose_vae_tiling("auto", small, small, 79 * GB, 60 * GB, TILE)
    assert (roomy.encode, roomy.decode) == (False, False)  # an 80 GB card decodes 49x512x512 whole
    assert not choose_vae_tiling("auto", big, None, 11 * GB, None, TILE).decode  # no samples
    assert choose_vae_tiling("false", big, big, 1 * GB, 1 * GB, TILE).encode is False
    forced = choose_vae_tiling("true", (9, 64, 64), (9, 64, 64), 11 * GB, 11 * GB, TILE)
    assert forced.encode and forced.decode and "model.vae_tiling: true" in forced.describe()


def test_guidance_runs_in_turn_only_where_batched_passes_exceed_a_training_item():
    assert guidance_in_sequence(2, 9216, 9216)
    assert not guidance_in_sequence(2, 4608, 9216)
    assert not guidance_in_sequence(1, 9216, 4608)  # no guidance: one pass
    assert not guidance_in_sequence(2, 9216, None)  # outside a run: as diffusers does
