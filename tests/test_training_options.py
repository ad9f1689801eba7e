"""The knobs ai-toolkit users expect (issue 6, items 1-3): optimizers and LR schedules,
noise offsets on image and video latents, min-SNR on flow matching, timestep bias, loss
types, gradient clipping and accumulation, batches within buckets, caption dropout and
differential output preservation."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from conftest import prepared, run_config, tiny_config

from extensions_built_in.sd_trainer.loss_terms import PSEUDO_HUBER_C, elementwise_loss
from toolkit.errors import UserInputError
from toolkit.train.batching import BucketBatchSampler
from toolkit.train.optimizers import build_optimizer, build_scheduler
from toolkit.train.timestep_samplers import SAMPLERS, sample_sigmas
from toolkit.train_tools import apply_dynamic_noise_offset, apply_noise_offset


# ---------------------------------------------------------------------------- optimizers
def _quadratic_steps(optimizer, param, steps=60) -> tuple[float, float]:
    target = torch.linspace(-1, 1, param.numel())
    start = float(((param.detach() - target) ** 2).sum())
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((param - target) ** 2).sum()
        loss.backward()
        optimizer.step()
    return start, float(((param.detach() - target) ** 2).sum())


@pytest.mark.parametrize("name,lr,params", [
    ("adamw", 0.05, {"weight_decay": 0.0, "betas": [0.9, 0.99]}),
    ("prodigy", 1.0, {"weight_decay": 0.0, "d_coef": 2.0}),
    ("dadaptation", 1.0, {"weight_decay": 0.0}),
    ("adafactor", 0.05, {"weight_decay": 0.0}),
])
def test_each_optimizer_builds_takes_its_params_and_optimizes(name, lr, params):
    param = torch.nn.Parameter(torch.zeros(16))
    optimizer = build_optimizer(name, [param], lr, dict(params))
    group = optimizer.param_groups[0]
    for key, value in params.items():
        assert group[key] == (tuple(value) if isinstance(value, list) else value), key
    start, end = _quadratic_steps(optimizer, param)
    assert end < 0.9 * start, (name, start, end)
    # the state round-trips (resume)
    clone = torch.nn.Parameter(param.detach().clone())
    other = build_optimizer(name, [clone], lr, dict(params))
    other.load_state_dict(optimizer.state_dict())
    assert other.state_dict()["param_groups"][0]["lr"] == optimizer.state_dict()["param_groups"][0]["lr"]


def test_optimizer_names_the_real_classes():
    import dadaptation
    import prodigyopt

    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(build_optimizer("adamw", p, 1e-3, {}), torch.optim.AdamW)
    assert isinstance(build_optimizer("prodigy", p, 1.0, {}), prodigyopt.Prodigy)
    assert isinstance(build_optimizer("dadaptation", p, 1.0, {}), dadaptation.DAdaptAdam)
    assert type(build_optimizer("adafactor", p, 1e-3, {})).__name__ == "Adafactor"


def test_adamw8bit_without_bitsandbytes_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import fails as where it does not install
    with pytest.raises(UserInputError) as info:
        build_optimizer("adamw8bit", [torch.nn.Parameter(torch.zeros(2))], 1e-4, {})
    message = str(info.value)
    assert "bitsandbytes" in message and "pip install bitsandbytes" in message and "optimizer: adamw" in message


def test_wrong_optimizer_params_are_a_clear_error():
    with pytest.raises(UserInputError, match="optimizer_params .* do not fit optimizer 'adamw'"):
        build_optimizer("adamw", [torch.nn.Parameter(torch.zeros(2))], 1e-4, {"no_such_knob": 1})


# ---------------------------------------------------------------------------- schedules
def _lr_curve(name, steps, warmup, params=None, lr=1.0) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = build_scheduler(name, optimizer, steps, warmup, params or {})
    curve = []
    for _ in range(steps):
        curve.append(optimizer.param_groups[0]["lr"])  # the lr this step trains with
        optimizer.step()
        scheduler.step()
    return curve


def test_constant_schedules_and_warmup():
    assert _lr_curve("constant", 6, 0) == [1.0] * 6
    assert _lr_curve("constant_with_warmup", 6, 4) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_cosine_decays_from_lr_to_eta_min_after_warmup():
    curve = _lr_curve("cosine", 12, 2, lr=2.0)
    assert curve[:2] == pytest.approx([1.0, 2.0])
    expected = [2.0 * 0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(10)]
    assert curve[2:] == pytest.approx(expected)
    floor = _lr_curve("cosine", 12, 0, {"eta_min": 0.5}, lr=2.0)
    assert floor[0] == pytest.approx(2.0) and min(floor) >= 0.5 - 1e-9
    assert floor[6] == pytest.approx(0.5 + 1.5 * 0.5 * (1 + math.cos(math.pi * 6 / 12)))


def test_cosine_with_restarts_restarts_num_cycles_times():
    curve = _lr_curve("cosine_with_restarts", 12, 0, {"num_cycles": 3})
    restarts = [i for i in range(1, 12) if curve[i] > curve[i - 1] + 1e-9]
    assert restarts == [4, 8]
    assert curve[0] == curve[4] == curve[8] == pytest.approx(1.0)
    assert curve[2] == pytest.approx(0.5)


def test_linear_decays_to_end_factor():
    assert _lr_curve("linear", 5, 0) == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    curve = _lr_curve("linear", 7, 2, {"end_factor": 0.5})
    assert curve == pytest.approx([0.5, 1.0, 1.0, 0.9, 0.8, 0.7, 0.6])


def test_unknown_scheduler_params_name_what_applies():
    with pytest.raises(UserInputError) as info:
        _lr_curve("linear", 5, 0, {"num_cycles": 2})
    assert "num_cycles" in str(info.value) and "end_factor" in str(info.value)


def test_schedule_reaches_the_run(tiny_model_dir, clip_data, tmp_path):
    """lr in metrics.jsonl follows the configured schedule, warm-up included."""
    import json

    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="sched", steps=4,
                      **{"train.lr": 1e-3, "train.lr_scheduler": "linear", "train.lr_warmup_steps": 2,
                         "train.optimizer": "prodigy", "train.optimizer_params": {"d_coef": 0.5}})
    proc = run_config(cfg)
    assert type(proc.optimizer).__name__ == "Prodigy" and proc.optimizer.param_groups[0]["d_coef"] == 0.5
    records = [json.loads(line) for line in (proc.out.folder / "metrics.jsonl").read_text().splitlines()]
    # metrics record the lr each step trained with: warm-up 1/2, 2/2, then the linear decay
    assert [r["lr"] for r in records] == pytest.approx([0.5e-3, 1e-3, 1e-3, 0.5e-3])


# ---------------------------------------------------------------------------- noise offset
@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (2, 4, 3, 8, 8)], ids=["4d-image", "5d-video"])
def test_noise_offset_is_a_per_sample_per_channel_constant(shape):
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    out = apply_noise_offset(noise, 0.1, torch.Generator().manual_seed(1))
    delta = out - noise
    assert delta.abs().max() > 0
    flat = delta.reshape(shape[0], shape[1], -1)
    assert torch.allclose(flat, flat[..., :1].expand_as(flat), atol=1e-6), "one value per (sample, channel)"
    assert not torch.allclose(flat[0, 0, 0], flat[0, 1, 0])
    assert torch.equal(apply_noise_offset(noise, 0.0), noise)


@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (2, 4, 3, 8, 8)], ids=["4d-image", "5d-video"])
def test_dynamic_noise_offset_moves_the_channel_mean_toward_the_latents(shape):
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(2)) + 3.0
    out = apply_dynamic_noise_offset(noise, latents, 0.2)
    dims = tuple(range(2, len(shape)))
    expected = noise.mean(dim=dims) + 0.2 * latents.mean(dim=dims)
    assert torch.allclose(out.mean(dim=dims), expected, atol=1e-5)


def test_noise_offsets_reject_other_shapes():
    with pytest.raises(ValueError):
        apply_noise_offset(torch.zeros(2, 5, 7), 0.1)
    with pytest.raises(ValueError):
        apply_dynamic_noise_offset(torch.zeros(2, 5, 7), torch.zeros(2, 5, 7), 0.1)


# ---------------------------------------------------------------------------- loss / timesteps
def test_loss_types():
    pred, target = torch.tensor([0.0, 1.0, -3.0]), torch.tensor([0.5, 1.0, 1.0])
    assert elementwise_loss(pred, target, "mse").tolist() == pytest.approx([0.25, 0.0, 16.0])
    assert elementwise_loss(pred, target, "mae").tolist() == pytest.approx([0.5, 0.0, 4.0])
    c = PSEUDO_HUBER_C
    expected = [math.sqrt(d * d + c * c) - c for d in (0.5, 0.0, 4.0)]
    assert elementwise_loss(pred, target, "pseudo_huber").tolist() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kind", sorted(SAMPLERS))
def test_content_or_style_biases_the_noise_level(kind):
    means = {}
    for bias in ("style", "balanced", "content"):
        g = torch.Generator().manual_seed(0)
        means[bias] = sample_sigmas(kind, 4000, 1024, g, bias).mean().item()
    assert means["style"] < means["balanced"] - 0.02 < means["content"] - 0.04, means


def test_settings_reach_the_trainer_and_video_noise_offset_trains(tiny_model_dir, clip_data, tmp_path):
    """Root cause #11: noise offsets on 5D video latents used to crash the first step."""
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path,
                      **{"train.content_or_style": "content", "train.loss_type": "pseudo_huber",
                         "train.noise_offset": 0.1, "train.dynamic_noise_offset": True})
    proc = prepared(cfg)
    s = proc.trainer.settings
    assert (s.content_or_style, s.loss_type, s.noise_offset, s.dynamic_noise_offset) == ("content", "pseudo_huber", 0.1, True)
    metrics = proc.train_step()
    assert math.isfinite(metrics["loss"]) and metrics["video_loss"] > 0


def test_min_snr_gamma_warns_once_and_never_per_step(tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="snr", steps=3, **{"train.min_snr_gamma": 5.0})
    proc = run_config(cfg)
    log = (proc.out.folder / "log.txt").read_text()
    assert log.count("does not apply to flow-matching") == 1, log
    assert log.count("min_snr") == 2 and "step 3/3 loss" in log  # the one warning names it twice


def test_max_grad_norm_clips_and_zero_disables(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"train.max_grad_norm": 1e-4}))

    def grad_norm():
        return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in proc.network.parameters()])).item()

    proc.train_step()
    assert grad_norm() <= 1e-4 * 1.001
    proc.config.train.max_grad_norm = 0.0
    proc.train_step()
    assert grad_norm() > 1e-3


# ---------------------------------------------------------------------------- batches
class _Item:
    def __init__(self, key):
        self.key = key

    def bucket_key(self):
        return self.key


def test_batches_never_mix_buckets_and_cover_each_epoch():
    items = [_Item("a")] * 5 + [_Item("b")] * 3 + [_Item("c")]
    items = [_Item(i.key) for i in items]
    sampler = BucketBatchSampler(items, batch_size=2, seed=0)
    for _ in range(3):
        seen = []
        for _ in range(len(sampler._batches)):
            batch = sampler.next_batch()
            assert 1 <= len(batch) <= 2 and len({i.bucket_key() for i in batch}) == 1
            seen += batch
        assert sorted(map(id, seen)) == sorted(map(id, items))
    # the order is reproducible from its state (resume)
    state = sampler.state_dict()
    replay = BucketBatchSampler(items, batch_size=2, seed=0)
    replay.load_state_dict(state)
    assert [list(map(id, replay.next_batch())) for _ in range(4)] == [list(map(id, sampler.next_batch())) for _ in range(4)]


def _fixed_randomness(proc):
    """Noise and sigmas drawn per item from its path, so a batch of two and two batches of
    one see exactly the same numbers."""

    def seed_of(path, salt):
        return (sum(map(ord, path)) * 31 + salt) % (2**31)

    def draw_noise(batch):
        video = torch.stack([torch.randn(batch.video_latents.shape[1:], generator=torch.Generator().manual_seed(seed_of(p, 1)))
                             for p in batch.paths])
        audio = torch.stack([torch.randn(batch.audio_latents.shape[1:], generator=torch.Generator().manual_seed(seed_of(p, 2)))
                             for p in batch.paths])
        return video, audio

    def sample(batch):
        sig = torch.tensor([0.2 + 0.6 * (seed_of(p, 3) % 100) / 100 for p in batch.paths])
        return sig, torch.full_like(sig, 0.5)

    proc.trainer.draw_noise = draw_noise
    proc.trainer.sample_sigmas = sample


def test_gradient_accumulation_matches_the_bigger_batch(tiny_model_dir, clip_data, tmp_path):
    common = {"train.auto_balance_audio_loss": False, "train.max_grad_norm": 0.0}
    big = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path / "big", **common, **{"train.batch_size": 2}))
    acc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path / "acc", **common,
                               **{"train.batch_size": 1, "train.gradient_accumulation": 2}))
    sizes = []
    pair = [0, next(i for i, item in enumerate(big.items) if item.path != big.items[0].path
                    and item.bucket_key() == big.items[0].bucket_key())]
    plans = {id(big): [pair], id(acc): [pair[:1], pair[1:]]}
    with torch.no_grad():  # both start from the same adapter (lora_A is random)
        for p_big, p_acc in zip(big.network.parameters(), acc.network.parameters(), strict=True):
            p_acc.copy_(p_big)
    for proc in (big, acc):
        plan = iter(plans[id(proc)])
        proc.sampler.next_batch = lambda proc=proc, plan=plan: [proc.items[i] for i in next(plan)]
        _fixed_randomness(proc)
        original = proc.trainer.compute
        proc.trainer.compute = lambda batch, original=original: (sizes.append(len(batch.paths)), original(batch))[1]
        proc.train_step()
    assert sizes == [2, 1, 1]
    grads_big = torch.cat([p.grad.flatten() for p in big.network.parameters()])
    grads_acc = torch.cat([p.grad.flatten() for p in acc.network.parameters()])
    assert grads_big.norm() > 0
    relative = ((grads_big - grads_acc).norm() / grads_big.norm()).item()
    assert relative < 1e-4, relative


# ---------------------------------------------------------------------------- captions / DOP
def test_caption_dropout_uses_the_empty_prompt_embedding(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"datasets.0.caption_dropout_rate": 0.5}))
    item = proc.items[0]
    assert item.caption_dropout_rate == 0.5 and item.caption
    # both were encoded before training (the caption phases), the empty prompt for the dropout
    empty, caption = proc.text.embeds[""].video, proc.text.embeds[item.caption].video
    assert not torch.allclose(empty, caption)
    dropped = 0
    for _ in range(200):
        video = proc.batches.prompt_for([item]).video
        if torch.equal(video, empty):
            dropped += 1
        else:
            assert torch.equal(video, caption)
    assert 70 < dropped < 130, dropped
    item.caption_dropout_rate = 0.0
    assert all(torch.equal(proc.batches.prompt_for([item]).video, caption) for _ in range(20))


def _perturb_lora(proc, scale=0.5):
    """lora_B starts at zero (network = base); move it so the network changes the output."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in proc.model.transformer.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def test_diff_output_preservation_targets_the_base_model_on_the_class_prompt(tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, **{
        "trigger_word": "sks", "train.diff_output_preservation": True,
        "train.diff_output_preservation_multiplier": 0.7, "train.diff_output_preservation_class": "person",
        "train.auto_balance_audio_loss": False})
    proc = prepared(cfg)
    _perturb_lora(proc)
    item = proc.items[0]
    assert "sks" in item.caption
    class_caption = proc.batches.dop_caption(item.caption)
    assert "sks" not in class_caption and "person" in class_caption

    enabled = {"on": True}
    original_set = proc.network.set_enabled

    def tracking_set(on):
        enabled["on"] = on
        original_set(on)

    proc.network.set_enabled = tracking_set
    calls = []
    original_predict = proc.model.predict

    def spy(*args, **kwargs):
        video, audio = original_predict(*args, **kwargs)
        calls.append({"prompt": args[4], "network": enabled["on"], "video": video.detach(), "audio": audio.detach(),
                      "inputs": [a.detach().clone() for a in args[:4]]})
        return video, audio

    proc.model.predict = spy
    batch = proc.batches.build([item])
    class_embeds = proc.text.embeds[class_caption]  # encoded before training, with the captions
    assert torch.equal(batch.dop_prompt.video, class_embeds.video)

    losses = proc.trainer.compute(batch)
    assert len(calls) == 3, "main prediction, base target (network off), network prediction on the class prompt"
    main, target, pred = calls
    assert main["network"] and not target["network"] and pred["network"]
    assert main["prompt"] is batch.prompt and target["prompt"] is batch.dop_prompt and pred["prompt"] is batch.dop_prompt
    for call in (target, pred):  # the same noisy inputs and sigmas as the main prediction
        assert all(torch.equal(a, b) for a, b in zip(call["inputs"], main["inputs"], strict=True))
    m = losses.metrics
    dop_video = ((pred["video"] - target["video"]) ** 2).mean().item()
    dop_audio = ((pred["audio"] - target["audio"]) ** 2).mean().item()
    assert m["dop_video_loss"] == pytest.approx(dop_video, rel=1e-4) and dop_video > 0
    assert m["dop_audio_loss"] == pytest.approx(dop_audio, rel=1e-4) and dop_audio > 0
    expected = (m["video_loss"] + m["audio_loss_scaled"] + m["audio_preservation_loss"]
                + 0.7 * (m["dop_video_loss"] + m["dop_audio_loss"]))
    assert m["loss"] == pytest.approx(expected, rel=1e-5)
    assert enabled["on"], "the network is back on after the step"


def test_diff_output_preservation_off_adds_nothing(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"trigger_word": "sks"}))
    calls = []
    original = proc.model.predict
    proc.model.predict = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    batch = proc.batches.build([proc.items[0]])
    assert batch.dop_prompt is None
    metrics = proc.trainer.compute(batch).metrics
    assert len(calls) == 1 and "dop_video_loss" not in metrics
