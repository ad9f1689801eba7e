"""The memory model (toolkit/memory/estimate.py) and the start-up memory line/warning.

The real-size figures are checked on the meta device (no memory, no arithmetic); the
activation model is checked against autograd's own accounting on the tiny model; the
warning is checked in a real run's prepare() on the tiny model.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from conftest import prepared, tiny_config

from extensions_built_in.diffusion_models.ltx2.real_configs import (
    BLOCK_PARAMS,
    CONNECTOR_PARAMS,
    TRANSFORMER_PARAMS,
    VERSIONS,
    transformer_config,
    version_of,
)
from toolkit.memory import estimate as est_mod
from toolkit.memory.activations import block_inputs, build_transformer, saved_bytes, trace_block
from toolkit.memory.estimate import MemorySettings, TrainShape, estimate, param_counts


def tiny_transformer_config(tiny_model_dir) -> dict:
    config = json.loads((tiny_model_dir / "transformer" / "config.json").read_text())
    return {k: v for k, v in config.items() if not k.startswith("_")}


@pytest.mark.parametrize("version", VERSIONS)
def test_real_configs_have_the_released_parameter_counts(version):
    counts = param_counts(transformer_config(version))
    block = counts.block_linear_weights + counts.block_other
    assert block == BLOCK_PARAMS[version]
    assert counts.outside_blocks + 48 * block == TRANSFORMER_PARAMS[version]


def test_clip_shape_in_tokens():
    shape = TrainShape.from_clip(768, 768, 121, 24.0, audio_seconds=5.0)
    assert (shape.video_tokens, shape.audio_tokens) == (16 * 24 * 24, 125)
    assert TrainShape.from_clip(512, 768, 49, 24.0).audio_tokens == 51  # 49 frames at 24 fps = 2.04 s


def test_bytes_per_parameter_offloading_network_and_checkpointing():
    config = transformer_config("2.3")
    counts = param_counts(config)
    shape = TrainShape.from_clip(768, 768, 121, 24.0, 5.0)
    bf16 = estimate(config, shape, MemorySettings())
    q8 = estimate(config, shape, MemorySettings(qtype="qfloat8"))
    per_block_bf16 = (counts.block_linear_weights + counts.block_other) * 2
    assert bf16.components["transformer blocks"] == 48 * per_block_bf16
    # quantized: one byte per Linear weight, a bf16 scale per output channel, the rest bf16
    per_block_q8 = counts.block_linear_weights + counts.block_linear_out_features * 2 + counts.block_other * 2
    assert q8.components["transformer blocks"] == 48 * per_block_q8
    assert 0.5 < per_block_q8 / per_block_bf16 < 0.51
    assert bf16.components["text connectors"] == CONNECTOR_PARAMS["2.3"] * 2

    half = estimate(config, shape, MemorySettings(qtype="qfloat8", offload_percent=0.5))
    assert half.components["transformer blocks"] == 24 * per_block_q8
    assert half.host["offloaded blocks"] == 24 * per_block_q8
    assert half.components["offload buffers"] == per_block_q8  # the next block, prefetched

    # AdamW: float32 adapter + two moments = 12 bytes per adapter parameter at rest, and the
    # float32 gradient (4) while the optimizer steps; 8-bit AdamW 6 at rest
    n_net = counts.network_per_block * 48
    assert bf16.components["network + optimizer state"] == 12 * n_net
    resting = sum(v for k, v in bf16.components.items() if k not in est_mod.STEP_PARTS)
    assert bf16.optimizer_step == resting + 4 * n_net  # the step's activations are gone by then
    assert estimate(config, shape, MemorySettings(optimizer="adamw8bit")).components[
        "network + optimizer state"] == 6 * n_net
    # lever (d): the state and a float32 master copy with its gradient buffer rest on the host
    host_opt = estimate(config, shape, MemorySettings(optimizer_offload=True))
    assert host_opt.components["network + optimizer state"] == 4 * n_net
    assert sum(host_opt.host.values()) == 16 * n_net
    # rank 32 on all 34 Linears of a block: r * (in + out) each
    assert counts.network_per_block == 7_018_496

    # checkpointing keeps each block's input hidden states, plus what one block's step adds
    # once; with lever (b) they go to the host, and the peak moves to the end of the backward
    # pass, where the adapter gradients of the other 47 blocks exist
    boundary = (shape.video_tokens * 4096 + shape.audio_tokens * 2048) * 2
    off = estimate(config, shape, MemorySettings(checkpointing=False))
    assert bf16.total < off.total / 4
    assert bf16.components["checkpointed block inputs"] == 48 * boundary
    stash = estimate(config, shape, MemorySettings(offload_checkpoints=True))
    assert stash.components["checkpointed block inputs"] == boundary
    assert stash.components["adapter gradients (blocks done)"] == 47 * counts.network_per_block * 4
    assert stash.host["checkpointed block inputs"] == pytest.approx(47 * boundary)


def test_counted_step_when_nothing_was_measured():
    """Settings with no measured step term (DoRA here) fall back to the count by hand: one
    block's saved set (activations.py) on top of the checkpointed inputs."""
    config = transformer_config("2.3")
    shape = TrainShape.from_clip(768, 768, 121, 24.0, 5.0)
    dora = estimate(config, shape, MemorySettings(network="dora"))
    acts = est_mod.block_activations(config, "dora")
    full = acts.bytes(shape.video_tokens, shape.audio_tokens)
    boundary = (shape.video_tokens * 4096 + shape.audio_tokens * 2048) * 2
    assert dora.components["activations"] == pytest.approx(full)
    assert dora.components["checkpointed block inputs"] == pytest.approx(48 * boundary)
    off = estimate(config, shape, MemorySettings(network="dora", checkpointing=False))
    assert off.components["activations"] == pytest.approx(48 * full)


def test_activation_model_extrapolates_autograds_own_count(tiny_model_dir):
    """Coefficients from two small shapes predict the saved bytes at a larger one (linear in tokens)."""
    config = dict(tiny_transformer_config(tiny_model_dir), num_layers=1)
    acts = trace_block(config, torch.float32, text_tokens=128)
    transformer = build_transformer(config, torch.float32)
    measured = saved_bytes(transformer, block_inputs(config, 5, 6, 6, 70, 128, torch.float32))
    assert acts.bytes(5 * 6 * 6, 70) == pytest.approx(measured, rel=0.01)
    assert acts.per_video_token > 0 and acts.per_audio_token > 0


def test_the_estimate_leaves_the_runs_random_stream_alone(tiny_model_dir):
    """The start-up trace builds a block after the run has seeded torch: it must not move the
    global generator, or a run's adapter init (and so resume equality) would depend on it."""
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    trace_block(dict(tiny_transformer_config(tiny_model_dir), num_layers=1), torch.float32, text_tokens=128)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_quantized_linears_keep_more_for_backward_and_the_model_counts_it(tiny_model_dir):
    """quanto keeps an extra input copy per token, torchao the dequantized weights: both traced."""
    config = dict(tiny_transformer_config(tiny_model_dir), num_layers=1)
    plain = trace_block(config, torch.bfloat16, text_tokens=128)
    quanto = trace_block(config, torch.bfloat16, text_tokens=128, qtype="qint8")
    torchao = trace_block(config, torch.bfloat16, text_tokens=128, qtype="torchao_int8")
    assert quanto.per_video_token > plain.per_video_token and quanto.fixed == plain.fixed
    assert torchao.fixed > plain.fixed and torchao.per_video_token == plain.per_video_token
    real = transformer_config("2.3")
    shape = TrainShape.from_clip(768, 768, 121, 24.0, 5.0)
    for qtype, extra in est_mod.QUANTIZED_EXTRA.items():
        with_q = est_mod.block_activations(real, qtype=qtype).bytes(shape.video_tokens, shape.audio_tokens)
        without = est_mod.block_activations(real).bytes(shape.video_tokens, shape.audio_tokens)
        assert with_q - without == pytest.approx(extra.bytes(shape.video_tokens, shape.audio_tokens))


def test_version_from_arch_or_path():
    assert version_of("ltx2", "Lightricks/LTX-2") == "2.0"
    assert version_of("ltx2.3", None) == "2.3"
    assert version_of(None, "Lightricks/LTX-2.3/ltx-2.3-22b-dev.safetensors") == "2.3"
    assert version_of("ltx2.5", "Lightricks/LTX-2.5") == "2.5"


def test_startup_plan_prints_device_and_host_and_warns_naming_what_to_change(tiny_model_dir, clip_data, tmp_path,
                                                                            monkeypatch):
    """Before anything loads, the run prints its plan for the device and the host and, when a
    memory is short, warns with the config keys to change."""
    from toolkit.configuration.loader import validate_config_data
    from toolkit.memory.startup import plan, run_settings, run_shape

    levers_off = {"train.gradient_checkpointing": True, "model.layer_offloading": False,
                  "train.offload_checkpoints": False, "train.optimizer_offload": False, "train.ff_chunk_tokens": 0}
    data = tiny_config(tiny_model_dir, clip_data, tmp_path, name="mem", steps=1, **levers_off)
    process = validate_config_data(data).job.config.process[0]
    config = tiny_transformer_config(tiny_model_dir)
    shape, settings = run_shape(process), run_settings(process, cuda=True)
    full = estimate(config, shape, settings).total
    quantized = estimate(config, shape, replace(settings, qtype="qfloat8")).total
    assert quantized < full
    # a device between the two: with the levers set off, quantizing fits (or a smaller resolution)
    monkeypatch.setenv("LTX2_PLAN_DEVICE_GB", f"{(quantized + full) / 2 / 0.95 / 2**30:.9f}")
    monkeypatch.setenv("LTX2_PLAN_HOST_GB", "1")  # less than the process itself needs
    planned = plan(process, torch.device("cpu"))
    assert not planned.fits and not planned.host_fits

    proc = prepared(data)
    log = proc.out.log_path.read_text()
    expected = log.index("expected memory on a ")
    assert expected < log.index("LTX-2 from")
    assert "; host: " in log[expected:].splitlines()[0]
    warning = log[log.index("warning: this run needs about"):].splitlines()[0]
    assert "Settings that would fit: model.quantize: true (qtype qfloat8)" in warning
    assert "warning: host memory is short" in log

    monkeypatch.delenv("LTX2_PLAN_DEVICE_GB")
    monkeypatch.delenv("LTX2_PLAN_HOST_GB")
    assert plan(process, torch.device("cpu")).fits  # the machine's RAM holds the tiny model


@pytest.mark.parametrize(("version", "layout"), [("2.3", "single"), ("2.5", "split")])
def test_weight_files_are_sized_by_the_config_they_record(version, layout, tiny_files, tiny_version_dir):
    """A tiny model as original files is estimated as the tiny model it is (the config its
    file records, which the loader builds it from), not as the released 19 B transformer."""
    from toolkit.memory.startup import run_transformer_config

    files = tiny_files(version, layout)
    model = SimpleNamespace(name_or_path=str(files), arch=f"ltx{version}", model_kwargs={})
    assert run_transformer_config(model) == tiny_transformer_config(tiny_version_dir(version))
    assert run_transformer_config(SimpleNamespace(name_or_path=f"Lightricks/LTX-{version}", arch=f"ltx{version}",
                                                  model_kwargs={}))["num_layers"] == 48


def test_a_local_folder_is_planned_with_its_own_component_sizes(tiny_model_dir, clip_data, tmp_path):
    """A cut-down or variant folder (a released transformer config, a short Gemma, small
    decoders) is planned with the sizes its weight headers give, not the release's: the text
    phase holds the folder's Gemma language model (its vision tower and output head are not
    loaded, so not counted) and the clip phase its VAEs. Before, every folder of a released
    width was planned with a 48-layer 12B Gemma."""
    from safetensors.torch import save_file

    from toolkit.configuration.loader import validate_config_data
    from toolkit.memory.plan.phases import ComponentSizes
    from toolkit.memory.startup import plan

    folder = tmp_path / "cut"
    parts = {"transformer": ({**transformer_config("2.3"), "num_layers": 2}, {}),
             "text_encoder": ({"text_config": {"num_hidden_layers": 2}},
                              {"model.language_model.embed_tokens.weight": (1000, 64),
                               "model.language_model.layers.0.mlp.up_proj.weight": (64, 64),
                               "model.vision_tower.patch.weight": (500, 500), "lm_head.weight": (1000, 64)}),
             "vae": ({}, {"decoder.conv.weight": (100, 100)}), "audio_vae": ({}, {"decoder.weight": (10, 10)})}
    for name, (config, tensors) in parts.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "config.json").write_text(json.dumps(config))
        if tensors:
            save_file({k: torch.zeros(shape) for k, shape in tensors.items()}, str(folder / name / "w.safetensors"))
    data = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="cut", steps=1)
    data["config"]["process"][0]["model"]["name_or_path"] = str(folder)
    data["config"]["process"][0]["train"]["disable_sampling"] = False
    resolved = plan(validate_config_data(data).job.config.process[0], torch.device("cpu")).resolved
    assert resolved.version == "2.3"
    sizes = resolved.sizes
    assert (sizes.text_encoder, sizes.text_layers, sizes.video_vae, sizes.audio_vae) == (64000 + 4096, 2, 10000, 100)
    assert resolved.memory.phase("text").device["text encoder"] == pytest.approx((64000 + 4096) * 4, rel=0.02)
    assert sizes.connectors == ComponentSizes.released("2.3").connectors  # no local connectors: the release's
    # a 64x64 sample's peak is its decode: the decoders are on the device then, not also on the host
    sample = resolved.memory.phase("sample")
    assert "decoders + VAE decode" in sample.device and "decoders resting for sampling" not in sample.host
    assert "decoders resting for sampling" in resolved.memory.phase("train").host
