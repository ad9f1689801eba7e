"""Per-item modes of a training step (issue 27, items 1-3): video-to-audio and audio-to-video
keep one modality clean (sigma 0: no noise, no loss) on every LTX-2 version with its own
cross-timestep routing; an audio-only item runs its audio beside a one-token placeholder
video at sigma 1 that is never scored, its sigma shifted by its own audio token count;
do_i2v and the direction shares are drawn per item after the step's sigmas and noise, so a
run without them draws exactly what it drew before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from extensions_built_in.sd_trainer.SDTrainer import LossSettings, SDTrainer
from toolkit.data_transfer_object.data_loader import DIRECTIONS, TrainBatch
from toolkit.lora.network import Network, NetworkSettings
from toolkit.processes.distributed import DistContext
from toolkit.train.item_modes import ModeSettings, draw_item_modes
from toolkit.train.timestep_samplers import sample_sigmas

ARCH = {"2.0": "ltx2", "2.3": "ltx2.3", "2.5": "ltx2.5"}


@pytest.fixture(scope="module")
def models(tiny_version_dir):
    """version -> (LTX2Model with a LoRA on it, the network), loaded once."""
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
    from extensions_built_in.diffusion_models.ltx2.versions import get_version

    loaded = {}

    def get(version):
        if version not in loaded:
            model = LTX2Model.load(str(tiny_version_dir(version)), LTX2Settings(
                dtype=torch.float32, device=torch.device("cpu"), gradient_checkpointing=False,
                version=get_version(ARCH[version])))
            network = Network(model.transformer, NetworkSettings(rank=4, alpha=4.0))
            loaded[version] = (model, network, model.encode_prompts(["a voice says hello"]))
        return loaded[version]

    return get


def make_batch(model, prompt, *, directions=("joint",), audio_only=None, i2v=None, frames=2, seed=0) -> TrainBatch:
    """A batch of random latents shaped as the model's (one prompt per item)."""
    size = len(directions)
    gen = torch.Generator().manual_seed(seed)
    channels = int(model.transformer.config.in_channels)
    audio_channels = int(model.transformer.config.audio_in_channels)
    only = torch.tensor(audio_only or [False] * size)
    shape = (size, channels, 1, 1, 1) if bool(only.all()) else (size, channels, frames, 2, 2)
    video = torch.randn(shape, generator=gen)
    audio = torch.randn(size, 10, audio_channels, generator=gen)
    from extensions_built_in.diffusion_models.ltx2.ltx2 import PromptEmbeds

    return TrainBatch(
        video_latents=video, audio_latents=audio, audio_supervised=torch.ones(size, dtype=torch.bool),
        audio_per_item=list(audio), prompt=PromptEmbeds.cat([prompt] * size), paths=["x"] * size, fps=24.0,
        loss_multiplier=torch.ones(size), i2v=torch.tensor(i2v or [0.0] * size),
        audio_only=only, direction=torch.tensor([DIRECTIONS.index(d) for d in directions]))


def trainer_for(model, network, seed=5, **settings) -> SDTrainer:
    defaults = {"audio_preservation": "none", "noise_offset": 0.0}
    return SDTrainer(model, network, LossSettings(**{**defaults, **settings}),
                     generator=torch.Generator().manual_seed(seed))


def spy(model, monkeypatch) -> tuple[list, list]:
    """Records the transformer's keyword arguments (after the conditioning hooks) and keeps the
    predictions' gradients."""
    calls, preds = [], []
    forward = model.transformer.forward

    def recording(*args, **kwargs):
        calls.append({k: v.detach().clone() if torch.is_tensor(v) else v for k, v in kwargs.items()})
        return forward(*args, **kwargs)

    predict = model.predict

    def keep(*args, **kwargs):
        video, audio = predict(*args, **kwargs)
        video.retain_grad()
        audio.retain_grad()
        preds.append((video, audio))
        return video, audio

    monkeypatch.setattr(model.transformer, "forward", recording)
    monkeypatch.setattr(model, "predict", keep)
    return calls, preds


@pytest.mark.parametrize("version", ["2.0", "2.3", "2.5"])
@pytest.mark.parametrize("direction", ["video_to_audio", "audio_to_video"])
def test_the_clean_modality_gets_no_noise_and_no_loss(models, monkeypatch, version, direction):
    from diffusers import LTX2Pipeline

    model, network, prompt = models(version)
    batch = make_batch(model, prompt, directions=(direction, "joint"))
    calls, preds = spy(model, monkeypatch)
    own_inputs, handles = {}, []
    if model.cross_timestep_routing == "reference":  # 2.3, 2.5: scale/shift from each modality's own timesteps
        for name in ("av_cross_attn_video_scale_shift", "av_cross_attn_audio_scale_shift"):
            handles.append(getattr(model.transformer, name).register_forward_pre_hook(
                lambda m, args, n=name: own_inputs.__setitem__(n, args[0].clone())))
    try:
        losses = trainer_for(model, network).compute(batch)
    finally:
        for handle in handles:
            handle.remove()
    losses.total.backward()
    call, (video_pred, audio_pred) = calls[0], preds[0]
    clean, joint = 0, 1
    if direction == "video_to_audio":
        packed = LTX2Pipeline._pack_latents(batch.video_latents)
        assert torch.equal(call["hidden_states"][clean], packed[clean]), "the clean video is not noised"
        assert not torch.allclose(call["hidden_states"][joint], packed[joint], atol=1e-3)
        assert torch.all(call["timestep"].reshape(2, -1)[clean] == 0) and call["sigma"][clean] == 0
        assert torch.all(video_pred.grad[clean] == 0), "no video loss on the clean video"
        assert video_pred.grad[joint].abs().sum() > 0 and audio_pred.grad[clean].abs().sum() > 0
        assert losses.metrics["v2a_items"] == 1 and losses.metrics["video_scored_items"] == 1
        if own_inputs:
            assert torch.all(own_inputs["av_cross_attn_video_scale_shift"].reshape(2, -1)[clean] == 0)
            assert torch.all(own_inputs["av_cross_attn_audio_scale_shift"].reshape(2, -1)[clean] > 0)
    else:
        assert torch.equal(call["audio_hidden_states"][clean], batch.audio_latents[clean]), "the clean audio is not noised"
        assert not torch.allclose(call["audio_hidden_states"][joint], batch.audio_latents[joint], atol=1e-3)
        assert torch.all(call["audio_timestep"].reshape(2, -1)[clean] == 0) and call["audio_sigma"][clean] == 0
        assert torch.all(audio_pred.grad[clean] == 0), "no audio loss on the clean audio"
        assert audio_pred.grad[joint].abs().sum() > 0 and video_pred.grad[clean].abs().sum() > 0
        assert losses.metrics["a2v_items"] == 1 and losses.metrics["audio_supervised_items"] == 2
        if own_inputs:
            assert torch.all(own_inputs["av_cross_attn_audio_scale_shift"].reshape(2, -1)[clean] == 0)
    if version != "2.0":
        assert call["use_cross_timestep"] is True, "2.3/2.5 gate each modality by the other's sigma"


def test_audio_only_items_score_the_audio_beside_one_unknown_video_token(models, monkeypatch):
    model, network, prompt = models("2.0")
    batch = make_batch(model, prompt, directions=("joint",), audio_only=[True])
    calls, preds = spy(model, monkeypatch)
    losses = trainer_for(model, network).compute(batch)
    losses.total.backward()
    call, (video_pred, audio_pred) = calls[0], preds[0]
    assert call["hidden_states"].shape[1] == 1, "one placeholder video token"
    assert torch.all(call["timestep"] == 1000.0), "the placeholder video is pure noise (sigma 1)"
    assert torch.all(video_pred.grad == 0), "no loss reaches the placeholder video (it stays in the graph at weight 0)"
    assert audio_pred.grad.abs().sum() > 0
    assert losses.metrics["video_loss"] == 0 and losses.metrics["video_scored_items"] == 0
    assert losses.metrics["audio_only_items"] == 1 and losses.metrics["audio_loss_raw"] > 0


def test_an_audio_only_timestep_is_shifted_by_its_own_audio_token_count(models):
    """With one shared sigma (ai-toolkit's setting) an audio-only batch draws it for its audio
    tokens, not for its one video token."""
    model, network, prompt = models("2.0")
    batch = make_batch(model, prompt, directions=("joint", "joint"), audio_only=[True, True])
    trainer = trainer_for(model, network, independent_audio_timestep=False)
    expected_gen = torch.Generator().manual_seed(5)
    expected = sample_sigmas("weighted", 2, batch.audio_latents.shape[1], expected_gen)
    one_token = sample_sigmas("weighted", 2, 1, torch.Generator().manual_seed(5))
    _, sigma_audio = trainer.sample_sigmas(batch)
    assert torch.equal(sigma_audio, expected) and not torch.equal(sigma_audio, one_token)


def test_mode_draws_come_after_the_sigmas_and_noise_and_only_when_asked(models):
    model, network, prompt = models("2.0")
    batch = make_batch(model, prompt, directions=("joint",) * 4, i2v=[1.0, 0.0, 0.5, 0.5])
    plain = trainer_for(model, network, seed=9)
    asked = trainer_for(model, network, seed=9, draw_i2v=True, video_to_audio_probability=0.5)
    for trainer in (plain, asked):
        trainer.drawn = (trainer.sample_sigmas(batch), trainer.draw_noise(batch))
        trainer.after = trainer.generator.get_state()
        trainer.modes = draw_item_modes(batch, trainer.mode_settings, trainer.generator, DistContext())
    assert all(torch.equal(a, b) for a, b in zip(plain.drawn[0] + plain.drawn[1], asked.drawn[0] + asked.drawn[1],
                                                  strict=True)), "the step's sigmas and noise are unchanged"
    assert torch.equal(plain.generator.get_state(), plain.after), "nothing asked, nothing drawn"
    assert not torch.equal(asked.generator.get_state(), asked.after)
    assert plain.modes.i2v.tolist() == [True, False, False, False], "do_i2v 1 and 0 need no draw"
    assert asked.modes.i2v[0] and not asked.modes.i2v[1]


def test_shares_are_drawn_per_item_and_seeded():
    batch = TrainBatch(video_latents=torch.zeros(4000, 1, 2, 1, 1), audio_latents=torch.zeros(4000, 2, 1),
                       audio_supervised=torch.tensor([True, False] * 2000), audio_per_item=[], prompt=None,
                       paths=[], fps=24.0, loss_multiplier=torch.ones(4000), i2v=torch.full((4000,), 0.3),
                       audio_only=torch.zeros(4000, dtype=torch.bool), direction=torch.zeros(4000, dtype=torch.long))
    settings = ModeSettings(draw_i2v=True, video_to_audio_probability=0.25, audio_to_video_probability=0.5)
    first = draw_item_modes(batch, settings, torch.Generator().manual_seed(1), DistContext())
    again = draw_item_modes(batch, settings, torch.Generator().manual_seed(1), DistContext())
    assert torch.equal(first.video_clean, again.video_clean) and torch.equal(first.i2v, again.i2v)
    voiced = batch.audio_supervised
    assert not (first.video_clean | first.audio_clean)[~voiced].any(), "a clip without voice has no pair"
    assert abs(first.video_clean[voiced].float().mean() - 0.25) < 0.03
    assert abs(first.audio_clean[voiced].float().mean() - 0.5) < 0.03
    assert not (first.video_clean & first.audio_clean).any()
    assert abs(first.i2v[~first.video_clean].float().mean() - 0.3) < 0.03
    assert not first.i2v[first.video_clean].any(), "a clean video needs no clean first frame"


@pytest.mark.parametrize("mode", ["auto", "fixed", "off"])
def test_the_audio_balance_mode_sets_the_audio_weight(models, mode):
    model, network, prompt = models("2.0")
    batch = make_batch(model, prompt, directions=("joint",))
    trainer = trainer_for(model, network, audio_balance_mode=mode, audio_loss_multiplier=2.5,
                          auto_balance_target_ratio=0.5)
    metrics = trainer.compute(batch).metrics
    expected = {"fixed": 2.5, "off": 1.0, "auto": 0.5 * metrics["video_loss"] / metrics["audio_loss_raw"]}[mode]
    assert metrics["audio_multiplier"] == pytest.approx(expected)
    assert metrics["audio_loss_scaled"] == pytest.approx(metrics["audio_loss_raw"] * expected)
    assert (trainer.balancer.ema_audio is not None) == (mode == "auto")


def test_steps_without_video_move_only_the_audio_ema(models):
    model, network, prompt = models("2.0")
    trainer = trainer_for(model, network)
    joint = trainer.compute(make_batch(model, prompt, directions=("joint",))).metrics
    video_ema = trainer.balancer.ema_video
    audio_only = trainer.compute(make_batch(model, prompt, audio_only=[True], seed=1)).metrics
    assert trainer.balancer.ema_video == video_ema == joint["video_loss"], "an audio-only step says nothing of video"
    assert trainer.balancer.ema_audio == pytest.approx(0.99 * joint["audio_loss_raw"] + 0.01 * audio_only["audio_loss_raw"])


def test_a_loss_term_is_one_class_with_its_own_settings(models):
    """The step loss is the sum of named terms (extensions_built_in/sd_trainer/loss_terms.py),
    each handed its own fields of LossSettings; a term added to a trainer adds its weighted
    value to the total and its metrics, and changes no draw and no other term."""
    from dataclasses import dataclass, fields

    from extensions_built_in.sd_trainer.loss_terms import LossTerm
    from extensions_built_in.sd_trainer.SDTrainer import LOSS_TERMS

    for term in LOSS_TERMS:  # a term's settings class is among LossSettings' bases: the run fills it by name
        assert term.Settings is None or issubclass(LossSettings, term.Settings), term.name
    assert len({term.name for term in LOSS_TERMS}) == len(LOSS_TERMS)
    model, network, prompt = models("2.0")
    trainer = trainer_for(model, network, seed=3, audio_preservation="silence", audio_preservation_multiplier=0.7)
    own = trainer.term("audio_preservation").settings
    assert {f.name for f in fields(own)} == {"audio_preservation", "audio_preservation_multiplier"}
    assert (own.audio_preservation, own.audio_preservation_multiplier) == ("silence", 0.7)

    @dataclass
    class ExtraSettings:
        extra_loss_multiplier: float = 0.5

    class ExtraTerm(LossTerm):
        name = "extra"
        Settings = ExtraSettings
        prediction = "video"

        def compute(self, step):
            value = self.settings.extra_loss_multiplier * step.video_items.mean()
            return value, {"extra_loss": value.item()}

    batch = make_batch(model, prompt, directions=("joint", "joint"))
    plain = trainer_for(model, network, seed=3).compute(batch).metrics
    extended = trainer_for(model, network, seed=3)
    extended.terms.append(ExtraTerm(ExtraSettings(), extended.dist))
    metrics = extended.compute(batch).metrics
    assert metrics["extra_loss"] > 0 and metrics["loss"] == pytest.approx(plain["loss"] + metrics["extra_loss"])
    assert {k: v for k, v in metrics.items() if k not in ("loss", "extra_loss")} == \
        {k: v for k, v in plain.items() if k != "loss"}


def test_a_dataset_direction_marks_only_clips_with_their_voice():
    """`datasets[].direction` from the config to the step: the dataset's clips with voice
    train in that direction; its clip without audio and its audio file train joint, said once."""

    from dataset_helpers import ListLog

    from jobs.process.dataset_setup import mark_direction
    from toolkit.configuration.loader import validate_config_data
    from toolkit.data_transfer_object.data_loader import EncodedItem, collate

    cfg = validate_config_data({"job": "extension", "config": {"name": "d", "process": [{
        "model": {"name_or_path": "unused"}, "datasets": [{"folder_path": "clips", "num_frames": 9,
                                                         "direction": "Video_To_Audio"}]}]}})
    direction = cfg.job.config.process[0].datasets[0].direction
    assert direction == "video_to_audio"

    def item(audio: bool, audio_only: bool = False) -> EncodedItem:
        return EncodedItem(path="x", caption="", video_latent=torch.zeros(4, 2, 1, 1),
                           audio_latent=torch.zeros(3, 2) if audio else None,
                           audio_status="ok" if audio else "no_stream", fps=24.0, num_audio_samples=6000,
                           audio_only=audio_only)

    items = [item(True), item(False), item(True), item(True, audio_only=True)]
    log = ListLog()
    mark_direction("clips", items, direction, log)
    assert [i.direction for i in items] == ["video_to_audio", "joint", "video_to_audio", "joint"]
    assert log.messages("warning") == ["clips: direction video_to_audio needs clips with their voice; 2 of its "
                                             "items (stills, clips without voice, audio files) train joint"]
    batch = collate(items[:3], None, torch.zeros(3, 2))
    modes = draw_item_modes(batch, ModeSettings(), None, DistContext())
    assert modes.video_clean.tolist() == [True, False, True] and not modes.audio_clean.any()
    assert modes.video_scored.tolist() == [False, True, False]


@pytest.mark.parametrize(("overrides", "path", "words"), [
    ({"datasets.0.do_i2v": 1.5}, "datasets[0].do_i2v", "do_i2v (1.5) must be <= 1"),
    ({"datasets.0.do_audio": False, "datasets.0.direction": "video_to_audio"}, "",
     "direction video_to_audio or audio_to_video need do_audio"),
    ({"datasets.0.do_audio": False, "train.audio_lr": 1e-4}, "", "train.audio_lr needs the voice trained"),
    ({"train.video_to_audio_probability": 0.7, "train.audio_to_video_probability": 0.5}, "train",
     "together they are a share of the items and must not pass 1"),
    ({"train.audio_balance_mode": "off", "train.auto_balance_audio_loss": True}, "train",
     "audio_balance_mode off and auto_balance_audio_loss true disagree"),
])
def test_voice_mode_settings_that_cannot_work_are_refused_by_key(overrides, path, words):
    from conftest import tiny_config

    from toolkit.configuration.loader import config_issues

    issues = config_issues(tiny_config(Path("m"), Path("d"), Path("o"), **overrides))
    assert any(words in issue["message"] and path in issue["path"] for issue in issues), issues


def test_do_i2v_true_is_every_step_as_in_ai_toolkit():
    from conftest import tiny_config

    from toolkit.configuration.loader import validate_config_data

    for value, expected in ((True, 1.0), (False, 0.0), (0.25, 0.25)):
        process = validate_config_data(tiny_config(Path("m"), Path("d"), Path("o"), **{"datasets.0.do_i2v": value}))
        assert process.job.config.process[0].datasets[0].do_i2v == expected
