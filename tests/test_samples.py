"""Samples while training (issue 6, item 4): one mp4 with video and sound per prompt and
step, per-sample overrides, seeds, the step-0 baseline, and the switches that turn them off."""

from __future__ import annotations

import re

import av
import pytest
import torch
from conftest import copy_media, prepared, run_config, tiny_config

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model
from toolkit.configuration.loader import validate_config_data
from toolkit.run.sampling import sample_jobs


@pytest.fixture(scope="module")
def clip_data(synthetic_dir, tmp_path_factory):
    return copy_media(synthetic_dir, tmp_path_factory.mktemp("clips"), ["clip_000.mp4"])


def streams(path) -> dict:
    with av.open(str(path)) as container:
        video, audio = container.streams.video, container.streams.audio
        info = {"video": len(video), "audio": len(audio)}
        if video:
            info["width"], info["height"] = video[0].codec_context.width, video[0].codec_context.height
        info["frames"] = sum(1 for _ in container.decode(video=0))
    return info


def record_generate(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    real = LTX2Model.generate

    def spy(self, **kwargs):
        calls.append(kwargs)
        return real(self, **kwargs)

    monkeypatch.setattr(LTX2Model, "generate", spy)
    return calls


def _sample_section(**extra) -> dict:
    return {"sample_every": 1, "width": 64, "height": 64, "num_frames": 9, "sample_steps": 2, "guidance_scale": 1.0,
            "seed": 11, "walk_seed": True,
            "samples": [{"prompt": "a red circle"},
                        {"prompt": "a blue square", "width": 96, "num_frames": 17, "seed": 7, "fps": 12}],
            **extra}


def test_samples_every_step_with_baseline_overrides_and_sound(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    calls = record_generate(monkeypatch)
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="smp", steps=2,
                      **{"train.disable_sampling": False, "train.skip_first_sample": False,
                         "sample": _sample_section()})
    proc = run_config(cfg)
    # samples/base/ holds the voice metric's base samples (tests/test_base_samples.py)
    files = sorted(p.name for p in (proc.out.folder / "samples").iterdir() if p.is_file())
    assert files == [f"{step:09d}_{i:02d}.mp4" for step in (0, 1, 2) for i in (0, 1)], files
    by_step: dict[str, int] = {}
    for name in files:
        step = re.match(r"(\d{9})_", name).group(1)
        by_step[step] = by_step.get(step, 0) + 1
    assert set(by_step.values()) == {2}
    first, second = streams(proc.out.folder / "samples" / files[0]), streams(proc.out.folder / "samples" / files[1])
    assert first["video"] == 1 and first["audio"] == 1 and second["video"] == 1 and second["audio"] == 1
    assert (first["width"], first["height"], first["frames"]) == (64, 64, 9)
    assert (second["width"], second["height"], second["frames"]) == (96, 64, 17)
    # 3 samplings x 2; step 0's two are also the voice metric's base samples (the fresh LoRA adds
    # nothing yet: rendered once, copied into samples/base/, tests/test_base_samples.py)
    assert len(calls) == 6
    assert [c["seed"] for c in calls[:2]] == [11, 7], "walk_seed gives seed + index unless a sample sets its own"
    assert calls[1]["fps"] == 12 and calls[0]["fps"] == 24
    assert calls[0]["image"] is None
    assert proc.last_sample.endswith("000000002_01.mp4")


def test_walk_seed_off_gives_every_sample_the_same_seed(tiny_model_dir, clip_data, tmp_path):
    def seeds(walk):
        cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, **{
            "sample": {"seed": 5, "walk_seed": walk, "samples": [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c", "seed": 1}]}})
        return [job.seed for job in sample_jobs(validate_config_data(cfg).job.config.process[0].sample, None)]

    assert seeds(True) == [5, 6, 1]
    assert seeds(False) == [5, 5, 1]


def test_skip_first_sample_and_disable_sampling(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    calls = record_generate(monkeypatch)
    # The voice metric off: its base sample would be one more render (tests/test_base_samples.py).
    section = _sample_section(sample_every=1000, samples=[{"prompt": "a red circle"}], voice_metric=False)
    proc = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="skip", steps=1,
                                  **{"train.disable_sampling": False, "train.skip_first_sample": True, "sample": section}))
    assert sorted(p.name for p in (proc.out.folder / "samples").iterdir()) == ["000000001_00.mp4"]
    assert len(calls) == 1
    proc = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="off", steps=1,
                                  **{"train.disable_sampling": True, "train.skip_first_sample": False, "sample": section}))
    assert not (proc.out.folder / "samples").exists() or not any((proc.out.folder / "samples").iterdir())
    assert len(calls) == 1


def test_ctrl_img_samples_use_the_image_to_video_pipeline(tiny_model_dir, clip_data, synthetic_dir, tmp_path, monkeypatch):
    from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline

    used = []
    for klass in (LTX2Pipeline, LTX2ImageToVideoPipeline):
        real = klass.__call__

        def spy(self, *args, real=real, klass=klass, **kwargs):
            used.append((klass.__name__, kwargs.get("image") is not None))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(klass, "__call__", spy)
    image = synthetic_dir / "image_000.png"
    section = _sample_section(sample_every=1000, samples=[{"prompt": "a red circle", "ctrl_img": str(image)},
                                                          {"prompt": "a blue square"}])
    proc = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="i2v", steps=1,
                                  **{"train.disable_sampling": False, "sample": section}))
    # The voice metric's base samples (network off) first, then step 1's: the same jobs each time.
    assert used == [("LTX2ImageToVideoPipeline", True), ("LTX2Pipeline", False)] * 2
    info = streams(proc.out.folder / "samples" / "000000001_00.mp4")
    assert info["video"] == 1 and info["audio"] == 1 and info["frames"] == 9


def test_missing_ctrl_img_fails_before_training(tiny_model_dir, clip_data, tmp_path):
    from toolkit.errors import UserInputError

    section = _sample_section(samples=[{"prompt": "a", "ctrl_img": str(tmp_path / "nope.png")}])
    with pytest.raises(UserInputError, match=r"sample.samples\[0\].ctrl_img .* is not a file"):
        run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="noimg", steps=1, **{"sample": section}))


def test_samples_of_trained_connectors_use_no_rank_dropout(tiny_model_dir, clip_data, tmp_path):
    """With train.train_text_encoder the connectors carry LoRA layers with rank dropout. A
    sample is inference: it depends on the weights and its seed only, so a sample re-rendered
    after a stop (jobs/process/due_samples.py) is the one the run would have made. Training
    keeps its dropout afterwards."""
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, name="condrop", steps=1,
                                **{"train.train_text_encoder": True, "network.rank_dropout": 0.5,
                                   "train.disable_sampling": False}))
    proc.model.enter_phase("sample")  # as the run does before it samples
    connectors = proc.model.connectors
    with torch.no_grad():  # a trained connector adapter: its dropped ranks change the prompt
        for name, param in connectors.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    modes = {name: module.training for name, module in connectors.named_modules()}
    assert any(modes[name] for name in modes if name.endswith("lora_A.default")), "training applies rank dropout"

    def sample():
        frames, audio, _ = proc.model.generate("a red circle", "", 64, 64, 9, 24.0, 2, 1.0, 5,
                                               encode_text=proc.text.for_sampling)
        return frames.float(), audio

    (frames_a, audio_a), (frames_b, audio_b) = sample(), sample()
    assert torch.equal(frames_a, frames_b) and torch.equal(audio_a, audio_b)
    assert {name: module.training for name, module in connectors.named_modules()} == modes
