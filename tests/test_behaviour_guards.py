"""Guards for fixes that fail silently when lost: rank and module dropout change the
forward; gradient checkpointing is on by default in the loaded transformer; prompt masks
are bool in sampling and float32 in training whatever the compute dtype; the step-0
sample runs with layer offloading; the start-up lines say what differs from ai-toolkit."""

from __future__ import annotations

import av
import pytest
import torch
from conftest import copy_media, run_config, tiny_config
from network_helpers import load_transformer, perturb_adapters, tuner_layers

from toolkit.lora.network import Network, NetworkSettings

CALLS = 400


@pytest.fixture(scope="module")
def fp32_transformer(tiny_model_dir):
    return load_transformer(tiny_model_dir, torch.float32)


def _one_layer(transformer, **settings):
    """A fresh copy of the first adapted Linear, its adapters perturbed off zero, in training mode."""
    import copy

    model = copy.deepcopy(transformer)
    Network(model, NetworkSettings(type="lora", rank=8, alpha=8, **settings))
    perturb_adapters(model, scale=0.2)
    model.train()
    name, layer = sorted(tuner_layers(model).items())[0]
    return layer


def _deltas(layer, x: torch.Tensor) -> torch.Tensor:
    """The adapter's contribution to the output over CALLS forwards: (CALLS, out)."""
    with torch.no_grad():
        base = layer.base_layer(x)
        return torch.stack([layer(x) - base for _ in range(CALLS)])


def test_rank_dropout_zeroes_rank_channels_at_its_rate_and_stays_unbiased(fp32_transformer):
    torch.manual_seed(0)
    layer = _one_layer(fp32_transformer, rank_dropout=0.5)
    x = torch.randn(1, layer.in_features)
    kept = []
    handle = layer.lora_A["default"].register_forward_hook(
        lambda m, i, out: kept.append((out != 0).float().mean().item()))
    deltas = _deltas(layer, x)
    handle.remove()
    layer.eval()
    with torch.no_grad():
        full = layer(x) - layer.base_layer(x)
    # Each forward drops about half of the 8 rank channels; the kept ones are rescaled by
    # 1/(1-p), so the mean contribution is the full one.
    assert 0.45 < sum(kept) / len(kept) < 0.55
    assert len({tuple(d.flatten().tolist()) for d in deltas[:20]}) > 10  # forwards differ
    spread = deltas.std(0).mean()
    assert (deltas.mean(0) - full).abs().mean() < 0.25 * spread
    # eval mode: no dropout, the same output every time
    with torch.no_grad():
        assert torch.equal(layer(x) - layer.base_layer(x), full)


def test_module_dropout_skips_the_whole_adapter_at_its_rate(fp32_transformer):
    torch.manual_seed(1)
    layer = _one_layer(fp32_transformer, module_dropout=0.3, rank_dropout=0.0)  # module dropout alone
    x = torch.randn(1, layer.in_features)
    deltas = _deltas(layer, x)
    dropped = (deltas.abs().amax(dim=(1, 2)) == 0).float().mean().item()
    assert 0.24 < dropped < 0.36
    layer.eval()
    with torch.no_grad():
        full = layer(x) - layer.base_layer(x)
    kept = deltas[deltas.abs().amax(dim=(1, 2)) > 0]
    assert torch.allclose(kept, full.expand_as(kept), atol=1e-6)  # otherwise untouched


def test_checkpointing_masks_offloaded_step0_sample_and_startup_lines(tiny_model_dir, synthetic_dir, tmp_path,
                                                                        monkeypatch):
    """One short bf16 run with layer offloading and the defaults for checkpointing."""
    from diffusers import LTX2Pipeline, LTX2VideoTransformer3DModel

    checkpointed = []
    real_checkpoint = torch.utils.checkpoint.checkpoint

    def checkpoint_spy(fn, *args, **kwargs):
        checkpointed.append(torch.is_grad_enabled())
        return real_checkpoint(fn, *args, **kwargs)

    masks = {"train": set(), "pipeline": set()}
    real_forward = LTX2VideoTransformer3DModel.forward

    def forward_spy(self, *args, **kwargs):
        if torch.is_grad_enabled():
            masks["train"].add(kwargs["encoder_attention_mask"].dtype)
            masks["train"].add(kwargs["audio_encoder_attention_mask"].dtype)
        return real_forward(self, *args, **kwargs)

    real_call = LTX2Pipeline.__call__

    def pipeline_spy(self, *args, **kwargs):
        masks["pipeline"].add(kwargs["prompt_attention_mask"].dtype)
        masks["pipeline"].add(kwargs["negative_prompt_attention_mask"].dtype)
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", checkpoint_spy)
    monkeypatch.setattr(LTX2VideoTransformer3DModel, "forward", forward_spy)
    monkeypatch.setattr(LTX2Pipeline, "__call__", pipeline_spy)

    data = copy_media(synthetic_dir, tmp_path / "data", ["clip_000.mp4"])
    cfg = tiny_config(tiny_model_dir, data, tmp_path / "out", name="guards", steps=1,
                      **{"train.dtype": "bf16", "train.skip_first_sample": False, "train.disable_sampling": False,
                         "model.layer_offloading": True, "save.dtype": "bf16"})
    del cfg["config"]["process"][0]["train"]["gradient_checkpointing"]  # the default must switch it on
    del cfg["config"]["process"][0]["train"]["noise_offset"]  # leave one changed default unset
    proc = run_config(cfg)

    assert proc.model.transformer.gradient_checkpointing
    assert checkpointed and all(checkpointed)  # blocks were recomputed in the training step
    assert masks["train"] == {torch.float32}  # connector masks, with bf16 compute
    assert masks["pipeline"] == {torch.bool}  # prompt masks handed to the sampling pipeline
    step0 = proc.out.folder / "samples" / "000000000_00.mp4"
    assert step0.is_file()
    with av.open(str(step0)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        assert sum(1 for _ in container.decode(audio=0)) > 0
    log = (proc.out.folder / "log.txt").read_text()
    assert "layer offloading" in log
    assert "LoRA scale alpha/rank = 8/8 = 1" in log
    assert "train.noise_offset = 0.05 (ai-toolkit: 0; off: train.noise_offset: 0)" in log
