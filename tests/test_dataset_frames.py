"""Frame windows, auto frame count, buckets, resize/crop and flips."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from toolkit.dataset.frames import (
    auto_frame_count,
    choose_bucket,
    choose_window,
    flip_x,
    flip_y,
    resize_and_crop,
)
from toolkit.errors import MediaError


def test_contiguous_window_frames_are_one_over_fps_apart():
    window = choose_window(10.0, 25, 24, random.Random(0))
    gaps = np.diff(window.times_s)
    assert np.allclose(gaps, 1 / 24)
    assert window.times_s[0] == window.start_s
    assert window.duration_s == pytest.approx(25 / 24)
    assert 0 <= window.start_s <= 10.0 - 25 / 24


def test_contiguous_window_start_is_random_and_seeded():
    starts = {choose_window(10.0, 9, 24, random.Random(seed)).start_s for seed in range(20)}
    assert len(starts) == 20 and max(starts) - min(starts) > 2.0
    assert choose_window(10.0, 9, 24, random.Random(7)) == choose_window(10.0, 9, 24, random.Random(7))


def test_window_that_fills_the_clip_starts_at_zero():
    window = choose_window(49 / 24, 49, 24, random.Random(3))
    assert window.start_s == 0.0 and window.times_s[-1] == pytest.approx(48 / 24)


def test_spread_covers_the_whole_clip():
    window = choose_window(6.0, 9, 24, random.Random(0), spread=True)
    assert (window.start_s, window.duration_s) == (0.0, 6.0)
    assert window.times_s[0] == 0.0
    assert window.times_s[-1] == pytest.approx(6.0 - 6.0 / 9)
    assert np.allclose(np.diff(window.times_s), 6.0 / 9)


@pytest.mark.parametrize("spread", [False, True])
def test_too_short_clip_says_length_frames_and_what_to_do(spread):
    with pytest.raises(MediaError) as err:
        choose_window(1.0, 49, 24, random.Random(0), spread=spread, path="clips/short.mp4")
    message = str(err.value)
    assert "clips/short.mp4" in message and "1.000 s" in message and "49 frames" in message
    assert "2.042 s" in message and "num_frames" in message and "auto_frame_count" in message
    assert "17 frames" in message  # what this clip does hold as 8k+1


@pytest.mark.parametrize(
    "duration, fps, cap, expected",
    [(49 / 24, 24, None, 49), (2.0, 24, None, 41), (0.5, 24, None, 9), (10.0, 24, 121, 121),
     (0.04, 24, None, 0), (1 / 24, 24, None, 1), (3.0, 30, 50, 49)],
)  # fmt: skip
def test_auto_frame_count_is_the_largest_8k_plus_1(duration, fps, cap, expected):
    count = auto_frame_count(duration, fps, cap)
    assert count == expected
    if count:
        assert (count - 1) % 8 == 0 and count <= duration * fps + 1e-6


@pytest.mark.parametrize(
    "size, resolution, expected",
    [((1920, 1080), 512, (672, 384)), ((1080, 1920), 512, (384, 672)), ((640, 640), 512, (512, 512)),
     ((500, 500), 500, (512, 512)), ((64, 64), 64, (64, 64)), ((100, 30), 32, (32, 32))],
)  # fmt: skip
def test_bucket_sizes(size, resolution, expected):
    assert choose_bucket(*size, resolution) == expected


@pytest.mark.parametrize("size", [(1920, 1080), (720, 1280), (1000, 1000), (2000, 500), (333, 777)])
@pytest.mark.parametrize("resolution", [256, 512, 768])
def test_bucket_rules(size, resolution):
    w, h = choose_bucket(*size, resolution)
    assert w % 32 == 0 and h % 32 == 0 and w >= 32 and h >= 32
    assert abs(w * h - resolution**2) <= 32 * max(w, h)
    # no other multiple-of-32 size of similar area has an aspect closer to the source
    src = math.log(size[0] / size[1])
    for ow in range(32, 4 * resolution, 32):
        oh = max(32, round(resolution**2 / ow / 32) * 32)
        assert abs(math.log(w / h) - src) <= abs(math.log(ow / oh) - src) + 1e-9


def test_resize_and_crop_scales_to_cover_and_centre_crops():
    frames = np.zeros((2, 40, 120, 3), np.uint8)
    frames[:, :, :40] = 255  # left third white
    frames[:, :, 40:80] = (255, 0, 0)  # middle third red
    out = resize_and_crop(frames, 32, 32)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 32, 32)
    assert out.min() >= -1 and out.max() <= 1
    # cover: 40 px high -> 32 (scale 0.8), width 96, crop the middle 32: red (the
    # outermost columns blend with the neighbours when downscaling)
    inner = out[..., 2:-2]
    assert torch.allclose(inner[:, 0], torch.ones(2, 32, 28), atol=0.02)
    assert torch.allclose(inner[:, 1:], -torch.ones(2, 2, 32, 28), atol=0.02)


def test_resize_and_crop_upscales_small_sources_and_maps_to_minus_one_one():
    frames = torch.zeros((1, 4, 4, 3), dtype=torch.uint8)
    frames[..., 0] = 255
    out = resize_and_crop(frames, 32, 64)
    assert out.shape == (1, 3, 64, 32)
    assert torch.allclose(out[0, 0], torch.ones(64, 32)) and torch.allclose(out[0, 2], -torch.ones(64, 32))


def test_flips():
    x = torch.arange(2 * 3 * 2 * 3, dtype=torch.float32).reshape(2, 3, 2, 3)
    assert torch.equal(flip_x(x)[..., 0], x[..., 2]) and torch.equal(flip_x(flip_x(x)), x)
    assert torch.equal(flip_y(x)[..., 0, :], x[..., 1, :]) and torch.equal(flip_y(flip_y(x)), x)
