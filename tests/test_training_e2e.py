"""End to end on the tiny LTX-2: train, save, reload in diffusers, sample with sound."""

from __future__ import annotations

import json

import av
import pytest
import torch
from conftest import copy_media, run_config, tiny_config

from extensions_built_in.sd_trainer.loss_terms import elementwise_loss, per_item
from toolkit.train_tools import add_noise, flow_target


@pytest.fixture(scope="module")
def trained(tiny_model_dir, synthetic_dir, tmp_path_factory):
    """One clip, trained hard enough that its loss must fall; samples at the end."""
    root = tmp_path_factory.mktemp("e2e")
    data = copy_media(synthetic_dir, root / "data", ["clip_000.mp4"])
    cfg = tiny_config(
        tiny_model_dir, data, root / "out", name="e2e", steps=40,
        **{"train.disable_sampling": False, "train.lr": 3e-3, "save.save_every": 20,
           "sample.sample_every": 1000, "network.linear": 16, "network.linear_alpha": 16},
    )
    proc = run_config(cfg)
    return proc


def fixed_eval_loss(proc, enabled: bool) -> tuple[float, float]:
    """Video and audio loss on the training clip at fixed noise and sigmas."""
    item = proc.items[0]
    batch = proc.batches.build([item])
    gen = torch.Generator().manual_seed(1234)
    video_losses, audio_losses = [], []
    proc.network.set_enabled(enabled)
    proc.model.transformer.eval()
    try:
        with torch.no_grad():
            for sigma in (0.2, 0.4, 0.6, 0.8):
                s = torch.tensor([sigma])
                nv = torch.randn(batch.video_latents.shape, generator=gen)
                na = torch.randn(batch.audio_latents.shape, generator=gen)
                vp, ap = proc.model.predict(
                    add_noise(batch.video_latents, nv, s), add_noise(batch.audio_latents, na, s), s, s, batch.prompt, batch.fps
                )
                video_losses.append(per_item(elementwise_loss(vp, flow_target(batch.video_latents, nv), "mse")).item())
                audio_losses.append(per_item(elementwise_loss(ap, flow_target(batch.audio_latents, na), "mse")).item())
    finally:
        proc.network.set_enabled(True)
    return sum(video_losses) / 4, sum(audio_losses) / 4


def test_training_changes_lora_and_lowers_loss_on_both_modalities(trained):
    lora_b = [p for n, p in trained.model.transformer.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b), "lora_B starts at zero and must have moved"
    base_video, base_audio = fixed_eval_loss(trained, enabled=False)
    tuned_video, tuned_audio = fixed_eval_loss(trained, enabled=True)
    assert tuned_video < 0.9 * base_video, (base_video, tuned_video)
    assert tuned_audio < 0.9 * base_audio, (base_audio, tuned_audio)


def test_outputs_written_with_names_and_metrics(trained):
    folder = trained.out.folder
    assert (folder / "e2e.safetensors").is_file()
    assert (folder / "e2e_000000020.safetensors").is_file()
    assert (folder / "e2e_000000040.safetensors").is_file()
    assert (folder / "config.yaml").is_file() and (folder / "log.txt").read_text()
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in rows if "voice_similarity" not in r]  # the voice metric's rows: docs/voice_metric.md
    assert [r["step"] for r in records] == list(range(1, 41))
    assert [r["step"] for r in rows if "voice_similarity" in r] == [40]  # the final sampling, scored
    for key in ("step", "loss", "video_loss", "audio_loss", "lr", "audio_loss_raw", "audio_loss_scaled",
                "audio_multiplier", "audio_supervised_ratio", "sigma_video", "sigma_audio"):
        assert key in records[-1], key
    assert records[-1]["audio_supervised_ratio"] == 1.0
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "done" and status["step"] == 40


def test_step_checkpoints_differ_and_use_comfy_keys(trained):
    from safetensors.torch import load_file

    folder = trained.out.folder
    mid = load_file(str(folder / "e2e_000000020.safetensors"))
    final = load_file(str(folder / "e2e.safetensors"))
    assert set(mid) == set(final)
    assert all(k.startswith("diffusion_model.transformer_blocks.") for k in final)
    assert any(".audio_attn1." in k for k in final), "audio modules are trained when the data has audio"
    assert any(not torch.equal(mid[k], final[k]) for k in final)


def test_sample_mp4_has_video_and_audio_streams(trained):
    samples = sorted((trained.out.folder / "samples").glob("*.mp4"))
    assert [p.name for p in samples] == ["000000040_00.mp4"]
    with av.open(str(samples[0])) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(samples[0])) as container:
        audio_samples = sum(f.samples for f in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    assert frames == 9
    assert audio_samples / rate == pytest.approx(9 / 24, abs=0.1)


def test_lora_file_loads_in_diffusers_and_matches_trainer(trained, tiny_model_dir):
    from diffusers import LTX2Pipeline

    item = trained.items[0]
    batch = trained.batches.build([item])
    s = torch.tensor([0.5])
    gen = torch.Generator().manual_seed(0)
    nv, na = torch.randn(batch.video_latents.shape, generator=gen), torch.randn(batch.audio_latents.shape, generator=gen)
    inputs = (add_noise(batch.video_latents, nv, s), add_noise(batch.audio_latents, na, s), s, s, batch.prompt, batch.fps)
    trained.model.transformer.eval()
    with torch.no_grad():
        ours_video, ours_audio = trained.model.predict(*inputs)

    pipe = LTX2Pipeline.from_pretrained(str(tiny_model_dir))
    original = trained.model.transformer
    try:
        trained.model.transformer = pipe.transformer.eval()
        with torch.no_grad():
            base_video, _ = trained.model.predict(*inputs)
        pipe.load_lora_weights(str(trained.out.folder / "e2e.safetensors"))
        with torch.no_grad():
            loaded_video, loaded_audio = trained.model.predict(*inputs)
    finally:
        trained.model.transformer = original
    assert (loaded_video - base_video).abs().max() > 1e-3, "the LoRA must change diffusers' output"
    assert torch.allclose(loaded_video, ours_video, atol=1e-4)
    assert torch.allclose(loaded_audio, ours_audio, atol=1e-4)
