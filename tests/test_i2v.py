"""Image-to-video training (issue 6, item 8): the first latent frame is the clean image
condition (timestep 0 on its tokens) and is left out of the loss."""

from __future__ import annotations

import pytest
import torch
from conftest import copy_media, prepared, tiny_config


@pytest.fixture(scope="module")
def i2v_proc(tiny_model_dir, mixed_data, tmp_path_factory):
    """Shared by the tests below; they change it only through monkeypatch."""
    return prepared(tiny_config(tiny_model_dir, mixed_data, tmp_path_factory.mktemp("i2v"), **{
        "datasets.0.do_i2v": True, "train.audio_preservation": "none",
        "train.disable_sampling": False}))  # a run that samples keeps its video VAE (on the host)


def test_clips_are_marked_and_their_first_latent_frame_is_the_image_latent(i2v_proc):
    clips = [i for i in i2v_proc.items if i.video_latent.shape[1] > 1]
    images = [i for i in i2v_proc.items if i.video_latent.shape[1] == 1]
    assert clips and images
    assert all(i.i2v for i in clips) and not any(i.i2v for i in images)
    assert "do_i2v applies to video clips only" in (i2v_proc.out.folder / "log.txt").read_text()
    # The causal VAE encodes pixel frame 0 alone into latent frame 0: the cached video latent
    # holds exactly the latent the image-to-video pipeline encodes from a still image.
    torch.manual_seed(0)
    frames = torch.rand(1, 3, 9, 64, 64) * 2 - 1
    whole = i2v_proc.model.encode_video(frames)
    alone = i2v_proc.model.encode_video(frames[:, :, :1])
    assert torch.allclose(whole[:, :, :1], alone, atol=1e-5)


def _spy_transformer(proc, monkeypatch) -> list[dict]:
    calls: list[dict] = []
    original = proc.model.transformer.forward

    def spy(*args, **kwargs):
        calls.append({k: kwargs[k].detach().clone() for k in ("hidden_states", "timestep", "sigma", "audio_timestep")})
        return original(*args, **kwargs)

    monkeypatch.setattr(proc.model.transformer, "forward", spy)
    return calls


def test_first_frame_tokens_get_timestep_zero_and_stay_clean(i2v_proc, monkeypatch):
    from diffusers import LTX2Pipeline

    clip = next(i for i in i2v_proc.items if i.i2v)
    calls = _spy_transformer(i2v_proc, monkeypatch)
    batch = i2v_proc.batches.build([clip])
    # One item: the batch's mean video sigma is that item's sigma.
    sigma_video = torch.tensor([i2v_proc.trainer.compute(batch).metrics["sigma_video"]], dtype=torch.float32)
    assert len(calls) == 1
    call = calls[0]
    _, _, frames, height, width = batch.video_latents.shape
    per_frame = height * width
    assert call["timestep"].shape == (1, frames * per_frame)
    assert torch.all(call["timestep"][:, :per_frame] == 0)
    assert torch.allclose(call["timestep"][:, per_frame:], sigma_video[:, None] * 1000.0)
    assert call["sigma"].shape == (1,) and torch.allclose(call["sigma"], sigma_video * 1000.0)
    packed = LTX2Pipeline._pack_latents(batch.video_latents)
    assert torch.allclose(call["hidden_states"][:, :per_frame], packed[:, :per_frame], atol=1e-6), \
        "the first frame's tokens are the clean latent"
    assert not torch.allclose(call["hidden_states"][:, per_frame:], packed[:, per_frame:], atol=1e-3)


def test_loss_ignores_the_first_frame(i2v_proc, monkeypatch):
    clip = next(i for i in i2v_proc.items if i.i2v)
    kept = []
    original = i2v_proc.model.predict

    def keep_grad(*args, **kwargs):
        video, audio = original(*args, **kwargs)
        video.retain_grad()
        kept.append(video)
        return video, audio

    monkeypatch.setattr(i2v_proc.model, "predict", keep_grad)
    losses = i2v_proc.trainer.compute(i2v_proc.batches.build([clip]))
    losses.total.backward()
    grad = kept[0].grad
    assert grad is not None
    assert torch.all(grad[:, :, 0] == 0), "no loss on the conditioning frame"
    assert grad[:, :, 1:].abs().sum() > 0
    assert losses.metrics["i2v_items"] == 1


def test_text_to_video_items_keep_a_per_sample_timestep(i2v_proc, monkeypatch):
    image = next(i for i in i2v_proc.items if not i.i2v)
    calls = _spy_transformer(i2v_proc, monkeypatch)
    metrics = i2v_proc.trainer.compute(i2v_proc.batches.build([image])).metrics
    assert calls[0]["timestep"].shape == (1,) and "i2v_items" not in metrics


def test_mixed_batch_conditions_only_the_i2v_items(tiny_model_dir, synthetic_dir, tmp_path, monkeypatch):
    data = copy_media(synthetic_dir, tmp_path / "two", ["clip_000.mp4", "clip_001.mp4"])
    proc = prepared(tiny_config(tiny_model_dir, data, tmp_path, **{"datasets.0.do_i2v": True}))
    a, b = proc.items[0], next(i for i in proc.items if i is not proc.items[0] and i.bucket_key() == proc.items[0].bucket_key())
    b.i2v = False
    calls = _spy_transformer(proc, monkeypatch)
    proc.trainer.compute(proc.batches.build([a, b]))
    timestep = calls[0]["timestep"]
    per_frame = a.video_latent.shape[2] * a.video_latent.shape[3]
    assert timestep.shape[0] == 2
    assert torch.all(timestep[0, :per_frame] == 0) and torch.all(timestep[0, per_frame:] > 0)
    assert torch.all(timestep[1] > 0) and torch.allclose(timestep[1], timestep[1, :1].expand_as(timestep[1]))
