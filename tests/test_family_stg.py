"""Spatio-temporal guidance in samples: each version's defaults, its block, and 0 to switch it off."""

from __future__ import annotations

import pytest
import torch
from conftest import ARCH_OF_VERSION, prepared, tiny_config

from extensions_built_in.diffusion_models.ltx2.stg import stg_blocks
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
from toolkit.configuration.loader import ConfigError, validate_config_data
from toolkit.run.sampling import sample_jobs


def _sample_section(overrides: dict, arch: str = "ltx2.3"):
    cfg = tiny_config("/m", "/d", "/o", **{"model.arch": arch, **overrides})
    return validate_config_data(cfg).job.config.process[0].sample


def test_stg_defaults_come_from_the_version_and_audio_follows_video():
    for arch in VERSIONS:
        sample = _sample_section({}, arch)
        assert (sample.stg_scale, sample.audio_stg_scale) == (1.0, 1.0)
    # The released 48-block transformers get exactly the table's block.
    assert stg_blocks(VERSIONS["ltx2"].stg_blocks, 48) == [29]
    assert stg_blocks(VERSIONS["ltx2.3"].stg_blocks, 48) == stg_blocks(VERSIONS["ltx2.5"].stg_blocks, 48) == [28]
    sample = _sample_section({"sample.stg_scale": 0.5})
    assert sample.audio_stg_scale == 0.5  # a config that sets only the video's scale guides the audio alike
    assert (sample_jobs(sample, None)[0].stg_scale, sample_jobs(sample, None)[0].audio_stg_scale) == (0.5, 0.5)
    with pytest.raises(ConfigError, match="audio_stg_scale 0 with stg_scale 1.0"):
        _sample_section({"sample.audio_stg_scale": 0.0})


def _perturbed_blocks(model) -> tuple[list[int], callable]:
    """Which transformer blocks were handed a perturbation mask (the STG pass)."""
    seen: set[int] = set()
    handles = [
        block.register_forward_pre_hook(
            lambda _m, _a, kw, i=i: seen.add(i) if kw.get("perturbation_mask") is not None else None,
            with_kwargs=True)
        for i, block in enumerate(model.transformer.transformer_blocks)
    ]
    return seen, lambda: [h.remove() for h in handles]


@pytest.mark.parametrize("version", ["2.3", "2.0"])
def test_stg_changes_the_sample_at_the_versions_block(version, tiny_version_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_version_dir(version), clip_data, tmp_path,
                                **{"model.arch": ARCH_OF_VERSION[version], "train.disable_sampling": False}))
    model, job = proc.model, sample_jobs(proc.config.sample, None)[0]
    model.enter_phase("sample")  # as the run does before it samples
    depth = len(model.transformer.transformer_blocks)
    processors = [type(b.attn1.get_processor()) for b in model.transformer.transformer_blocks]

    def render(stg: float):
        return model.generate(job.prompt, "", job.width, job.height, job.num_frames, job.fps, job.steps,
                              job.guidance_scale, job.seed, stg_scale=stg, audio_stg_scale=stg,
                              encode_text=proc.text.for_sampling)

    seen, remove = _perturbed_blocks(model)
    try:
        frames_off, audio_off, _ = render(0.0)
        assert seen == set()  # off: no STG pass at all
        frames_on, audio_on, _ = render(job.stg_scale)
    finally:
        remove()
    assert job.stg_scale == 1.0
    # The tiny transformer has `depth` blocks: the version's block at the same relative place.
    assert sorted(seen) == stg_blocks(VERSIONS[ARCH_OF_VERSION[version]].stg_blocks, depth)
    assert not torch.equal(frames_on, frames_off) or not torch.equal(audio_on, audio_off)
    assert (audio_on - audio_off).abs().max() > 0  # the audio is guided too
    # 2.0's blocks are made perturbable only while sampling; training sees the plain processors.
    assert [type(b.attn1.get_processor()) for b in model.transformer.transformer_blocks] == processors
