"""`sample.sample_steps` below 2 is refused: the LTX-2 scheduler cannot make a one-step schedule.

diffusers' LTX2Pipeline asks its FlowMatchEulerDiscreteScheduler for the sigmas
linspace(1, 1/n, n); the scheduler then stretches them so the last one is `shift_terminal`
(0.1 in every LTX-2 version). With n = 1 the only sigma is 1.0, the stretch divides
(1 - 1.0) by itself and the sigma is NaN: the whole sample, sound included, comes out NaN.
The second test holds that reason, so it fails (and the refusal can go) if diffusers changes it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config

from toolkit.configuration.loader import ConfigValidationError, validate_config_data


@pytest.mark.parametrize(("key", "override"), [
    ("sample.sample_steps", {"sample.sample_steps": 1}),
    ("sample.sample_steps", {"sample.sample_steps": "1"}),
    ("sample.samples[0].sample_steps", {"sample.samples": [{"prompt": "a red circle", "sample_steps": 1}]}),
])
def test_one_sample_step_is_refused_with_the_reason(key, override):
    with pytest.raises(ConfigValidationError) as info:
        validate_config_data(tiny_config(Path("m"), Path("d"), Path("o"), **override))
    message = str(info.value)
    assert f"{key} (1) must be 2 or more" in message
    assert "NaN" in message and "give 2 or more" in message


def test_two_steps_are_accepted():
    process = validate_config_data(tiny_config(Path("m"), Path("d"), Path("o"), **{
        "sample.samples": [{"prompt": "a red circle", "sample_steps": 2}]})).job.config.process[0]
    assert [item.sample_steps for item in process.sample.resolved()] == [2]


def test_the_ltx2_scheduler_gives_nan_for_one_step_and_finite_sigmas_from_two(tiny_model_dir):
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(tiny_model_dir / "scheduler")
    assert scheduler.config.shift_terminal == pytest.approx(0.1)
    for steps in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's 0/0 warning, the one runs showed
            scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=1.0)  # as LTX2Pipeline asks
        sigmas = scheduler.sigmas.numpy()
        if steps == 1:
            assert np.isnan(sigmas[0])
        else:
            assert np.isfinite(sigmas).all() and sigmas[-2] == pytest.approx(0.1)
