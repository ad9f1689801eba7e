"""The voice metric's base samples (toolkit/voice/base_samples.py): each sample job rendered once
with the network switched off, kept in `samples/base/`, and what "vs base" is scored against.

Every render goes through the real tiny pipeline; the wrapper below records the call (its
prompt, whether the network was off, the raw output) and, as in test_voice_metric.py, swaps
the noise the tiny model speaks for espeak-ng speech so the scores mean something."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import copy_media, run_config, tiny_config
from peft.tuners.tuners_utils import BaseTunerLayer
from test_voice_metric import speak, voice_data  # noqa: F401 (voice_data: a fixture used by the tests)

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model
from jobs.process.settings_build import network_settings
from toolkit.configuration.loader import validate_config_data
from toolkit.lora.network import Network
from toolkit.memory.levers import resolve_levers
from toolkit.run import sampling

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def network_off(transformer) -> bool:
    return any(m.disable_adapters for m in transformer.modules() if isinstance(m, BaseTunerLayer))


class Renders:
    """LTX2Model.generate as the run calls it. Network-off renders speak one sentence, the
    others another, in the training clips' voice (or `lora_voice`)."""

    def __init__(self, monkeypatch, folder: Path, lora_voice: str = "en"):
        self.calls: list[tuple[str, bool]] = []  # (prompt, network off)
        self.outputs: list[tuple[torch.Tensor, torch.Tensor]] = []  # raw (frames, audio) of the pipeline
        base_speech = speak("Seven red circles roll across the table today.", "en", folder)
        lora_speech = speak("Hello there, the river is calm this evening.", lora_voice, folder)
        real = LTX2Model.generate

        def generate(model, **kwargs):
            frames, audio, _rate = real(model, **kwargs)
            off = network_off(model.transformer)
            self.calls.append((kwargs["prompt"], off))
            self.outputs.append((frames, audio))
            pcm, rate = base_speech if off else lora_speech
            return frames, torch.from_numpy(np.stack([pcm, pcm])), rate

        monkeypatch.setattr(LTX2Model, "generate", generate)


def sample_config(model_dir, data, out, name, steps, samples, **overrides):
    return tiny_config(model_dir, data, out, name=name, steps=steps, **{
        "train.disable_sampling": False, "datasets.0.window_variants": 1,
        "sample": {"sample_every": 1000, "width": 64, "height": 64, "num_frames": 9, "sample_steps": 2,
                   "guidance_scale": 1.0, "samples": [{"prompt": p} for p in samples]},
        **overrides})


def voice_rows(folder: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row for row in rows if "voice_similarity" in row}


@pytest.fixture(scope="module")
def speech_data(voice_data, tmp_path_factory):  # noqa: F811 (the imported fixture)
    return copy_media(voice_data, tmp_path_factory.mktemp("speech"), ["speech_a.mp4", "speech_b.mp4"])


def test_without_a_step0_sample_the_score_still_has_a_base(tiny_model_dir, speech_data, tmp_path, monkeypatch):
    renders = Renders(monkeypatch, tmp_path)
    proc = run_config(sample_config(tiny_model_dir, speech_data, tmp_path, "skip", 1, ["a red circle"],
                                    **{"train.skip_first_sample": True}))
    folder = proc.out.folder
    # One network-off render (the base), then the final sample; no step-0 sample.
    assert renders.calls == [("a red circle", True), ("a red circle", False)]
    assert not (folder / "samples" / "000000000_00.mp4").exists()
    assert len(list((folder / "samples" / "base").glob("*.mp4"))) == 1
    row = voice_rows(folder)[1]
    assert row["voice_vs_base_00"] is not None and row["voice_vs_base_00"] > 0.7, row  # same voice, other words
    assert row["voice_baseline_00"] is not None and row["voice_baseline_00"] > 0.7, row
    status = json.loads((folder / "status.json").read_text())
    assert status["voice"]["baseline"] == [pytest.approx(row["voice_baseline_00"])]
    assert f"rendering 1 of 1 into {folder / 'samples' / 'base'}" in (folder / "log.txt").read_text()

    # With the voice metric off nothing reads a base sample: none is rendered.
    renders.calls.clear()
    off = run_config(sample_config(tiny_model_dir, speech_data, tmp_path, "off", 1, ["a red circle"],
                                   **{"train.skip_first_sample": True, "sample.voice_metric": False}))
    assert renders.calls == [("a red circle", False)]
    assert not (off.out.folder / "samples" / "base").exists()


def random_lora(model_dir: Path, cfg: dict, path: Path) -> Path:
    """A LoRA file whose adapters change the tiny model's output a lot (random lora_B)."""
    from diffusers import LTX2VideoTransformer3DModel

    process = validate_config_data(cfg).job.config.process[0]
    transformer = LTX2VideoTransformer3DModel.from_pretrained(model_dir / "transformer")
    torch.manual_seed(0)  # lora_A's initialisation
    network = Network(transformer, network_settings(process.network, "2.0", resolve_levers(process, "cpu")))
    generator = torch.Generator().manual_seed(0)
    state = {k: (torch.randn(v.shape, generator=generator) * 0.2 if "lora_B" in k else v)
             for k, v in network.peft_state_dict().items()}
    network.load_peft_state_dict(state)
    return network.save(path, dtype=torch.float32)


def test_with_a_pretrained_lora_the_base_is_the_network_off_render(tiny_model_dir, speech_data, tmp_path,
                                                                   monkeypatch):
    cfg = sample_config(tiny_model_dir, speech_data, tmp_path, "pre", 1, ["a red circle"],
                        **{"train.skip_first_sample": False})
    lora = random_lora(tiny_model_dir, cfg, tmp_path / "pretrained.safetensors")
    cfg["config"]["process"][0]["network"]["pretrained_lora_path"] = str(lora)
    renders = Renders(monkeypatch, tmp_path, lora_voice="en-us+f4")  # the LoRA's samples: another voice
    proc = run_config(cfg)
    assert renders.calls == [("a red circle", True), ("a red circle", False), ("a red circle", False)]
    base, step0 = renders.outputs[0], renders.outputs[1]

    # What the base model renders, made here without switching anything off: the same
    # network with every adapter weight zero adds nothing to the base weights.
    proc.network.load_peft_state_dict({k: torch.zeros_like(v) for k, v in proc.network.peft_state_dict().items()})
    job = sampling.sample_jobs(proc.config.sample, proc.config.trigger_word)[0]
    sampling.generate_job(proc.model, job, proc.text.for_sampling)
    reference = renders.outputs[-1]  # the pipeline's own output (the wrapper returns speech)
    def gaps(output):  # (largest |difference| of the sound, mean |difference| of the frames in 0-255 levels)
        return (float((output[1] - reference[1]).abs().max()),
                float((output[0].float() - reference[0].float()).abs().mean()))

    lora_sound, lora_frames = gaps(step0)
    assert lora_sound > 1e-4 and lora_frames > 2.0  # the pretrained LoRA changes the step-0 sample
    base_sound, base_frames = gaps(base)
    assert base_sound < lora_sound / 100 and base_frames < lora_frames / 100, (gaps(base), gaps(step0))

    # "vs base" at step 0 compares the LoRA's sample with the base render (another voice here),
    # not with itself (1.0, what taking the step-0 sample for the base gave).
    rows = voice_rows(proc.out.folder)
    assert rows[0]["voice_vs_base_00"] < 0.9, rows[0]
    assert rows[0]["voice_baseline_00"] > rows[0]["voice_similarity_00"] + 0.1, rows[0]


def test_a_resumed_run_reuses_kept_base_samples_and_a_changed_prompt_gets_a_new_one(
        tiny_model_dir, speech_data, tmp_path, monkeypatch):
    def cfg(second: str):
        return sample_config(tiny_model_dir, speech_data, tmp_path, "res", 3, ["a red circle", second],
                             **{"train.skip_first_sample": True, "sample.sample_every": 2, "save.save_every": 2})

    renders = Renders(monkeypatch, tmp_path)
    real = sampling.render_samples

    def killed(*args, **kwargs):
        raise RuntimeError("killed while sampling (simulated)")

    with monkeypatch.context() as m:  # steps 1-2 trained, checkpoint 2 saved, base samples made, then a kill
        m.setattr(sampling, "render_samples", killed)
        with pytest.raises(RuntimeError, match="killed while sampling"):
            run_config(cfg("a blue square"))
    assert renders.calls == [("a red circle", True), ("a blue square", True)]
    base_folder = tmp_path / "res" / "samples" / "base"
    kept = {p.name: p.stat().st_mtime_ns for p in base_folder.glob("*.mp4")}
    assert len(kept) == 2

    # The same run resumed from step 2 with its second prompt changed: only that prompt's base is rendered.
    assert sampling.render_samples is real
    renders.calls.clear()
    proc = run_config(cfg("a green triangle"))
    assert renders.calls == [("a green triangle", True),
                             ("a red circle", False), ("a green triangle", False),  # step 2, lost to the kill
                             ("a red circle", False), ("a green triangle", False)]  # step 3, the end
    now = {p.name: p.stat().st_mtime_ns for p in base_folder.glob("*.mp4")}
    assert len(now) == 3 and all(now[name] == mtime for name, mtime in kept.items())  # untouched, reused
    rows = voice_rows(proc.out.folder)
    assert sorted(rows) == [2, 3]
    assert all(rows[s][f"voice_vs_base_{i:02d}"] is not None for s in rows for i in (0, 1))
    assert "rendering 1 of 2 into" in (tmp_path / "res" / "log.txt").read_text().split("resuming from step 2")[1]


def test_the_step0_sample_of_an_empty_network_is_the_base_sample_rendered_once(tiny_model_dir, speech_data,
                                                                               tmp_path, monkeypatch):
    """A fresh LoRA adds nothing (lora_B starts at zero): its step-0 render is the base model's,
    so it is rendered once and copied into samples/base/ (same bytes), not rendered again."""
    renders = Renders(monkeypatch, tmp_path)
    proc = run_config(sample_config(tiny_model_dir, speech_data, tmp_path, "once", 1, ["a red circle"],
                                    **{"train.skip_first_sample": False}))
    assert renders.calls == [("a red circle", False), ("a red circle", False)]  # step 0, the end; no base render
    folder = proc.out.folder
    step0 = folder / "samples" / "000000000_00.mp4"
    (base,) = (folder / "samples" / "base").glob("*.mp4")
    assert base.read_bytes() == step0.read_bytes()
    assert "the step-0 samples are the base samples" in (folder / "log.txt").read_text()
    assert voice_rows(folder)[0]["voice_vs_base_00"] == pytest.approx(1.0, abs=1e-6)

    # What the copy stands for: the network switched off renders exactly what step 0 rendered.
    # The trained network is put back to its start (the state of a zero LoRA) first.
    start = {k: (torch.zeros_like(v) if ".lora_B." in k else v) for k, v in proc.network.peft_state_dict().items()}
    proc.network.load_peft_state_dict(start)
    assert proc.network.adds_nothing()
    job = sampling.sample_jobs(proc.config.sample, proc.config.trigger_word)[0]
    proc.network.set_enabled(False)
    sampling.generate_job(proc.model, job, proc.text.for_sampling)
    proc.network.set_enabled(True)
    off, at_step0 = renders.outputs[-1], renders.outputs[0]
    assert torch.equal(off[0], at_step0[0]) and torch.equal(off[1], at_step0[1])


@pytest.mark.parametrize("kind, empty", [("lora", True), ("lokr", True), ("dora", False)])
def test_which_new_networks_add_nothing(tiny_model_dir, kind, empty):
    """LoRA and LoKr start with a zero factor in every module; DoRA rescales the base rows by a
    factor that is 1 only while two norms round alike, so its step 0 is never taken for the base."""
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(tiny_model_dir / "transformer")
    process = validate_config_data(
        tiny_config(tiny_model_dir, tiny_model_dir, tiny_model_dir, **{"network.type": kind})).job.config.process[0]
    network = Network(transformer, network_settings(process.network, "2.0", resolve_levers(process, "cpu")))
    assert network.adds_nothing() is empty
    if empty:  # one module with an update is enough to make a difference
        state = network.peft_state_dict()
        key = next(k for k in state if k.endswith(("lora_B.weight", "lokr_w1")))
        network.load_peft_state_dict({**state, key: torch.ones_like(state[key])})
        assert not network.adds_nothing()
