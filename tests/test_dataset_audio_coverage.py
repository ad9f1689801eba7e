"""Windows lie where both tracks are, `--check` and the run agree window for window on what
each window's audio is (speech, non-speech audio, silence: one speech detector), the check's
clips with speech are the reference voice's, and a silent audio track trains video only."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_media, prepared, tiny_config
from dataset_helpers import encode, load_tiny
from test_dataset_check import check
from test_media_factory import grey_frames, tone, write_media

from toolkit.dataset.audio_coverage import scan_audio
from toolkit.dataset.window_plan import plan_clip
from toolkit.errors import UserInputError

W = 9 / 24  # one 9-frame window at 24 fps, s
needs_speech_tools = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("espeak-ng")),
                                        reason="needs the ffmpeg and espeak-ng programs")


def early_clip(path, video_s=2.0, audio_s=1.4, seed=0, pause_after_s=None, caption="a caption"):
    """h264 video of `video_s` with a noise AAC track that ends at `audio_s` (PyAV); with
    `pause_after_s`, the track is silent (digital zeros) from then on."""
    rng = np.random.default_rng(seed)
    wave = (0.3 * rng.standard_normal(int(round(audio_s * 44100)))).astype(np.float32)
    if pause_after_s is not None:
        wave[int(pause_after_s * 44100):] = 0.0
    write_media(path, frames=grey_frames(int(round(video_s * 24)), 64, 64, step=3), audio=wave)
    path.with_suffix(".txt").write_text(caption, encoding="utf-8")
    return path


def speech_clip(path, video_s=2.0, audio_s=1.4):
    """What users' files look like: ffmpeg muxes espeak-ng speech with a video, the audio
    track trimmed so it ends `video_s - audio_s` before the video."""
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en", "-s", "160", "-w", str(wav), "hello there, this is my own voice"],
                   check=True, capture_output=True, timeout=60)
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=24",
                    "-i", str(wav), "-filter_complex", f"[1:a]apad,atrim=end={audio_s}[a]", "-map", "0:v",
                    "-map", "[a]", "-t", str(video_s), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(path)], check=True, capture_output=True, timeout=120)
    wav.unlink()
    path.with_suffix(".txt").write_text("a voice says hello", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_tiny(tiny_model_dir)


def test_windows_stay_inside_the_audio_and_all_carry_voice(model, tmp_path):
    early_clip(tmp_path / "early.mp4")  # video 2.0 s, audio ends 0.6 s earlier
    items, report, log = encode(model, tmp_path, cache_to_disk=False, window_variants=2)
    # 1.4 s of audio hold three 0.375 s windows (the 2.0 s video would give five)
    assert len(items) == 6 and {i.variants for i in items} == {2}
    assert all(i.window_start_s + W <= 1.4 + 0.02 for i in items), [i.window_start_s for i in items]
    assert all(i.audio_status == "ok" and i.audio_latent is not None for i in items)
    assert report.audio_encoded == 6 and not report.audio_failed and not log.messages("warning")


def test_audio_shorter_than_one_window_gets_one_clear_message(model, tmp_path):
    early_clip(tmp_path / "short_audio.mp4", video_s=1.0, audio_s=0.25)
    items, report, log = encode(model, tmp_path, cache_to_disk=False)
    assert items and all(i.audio_latent is None and i.audio_status == "failed" for i in items)
    [warning] = log.messages("warning")
    assert "short_audio.mp4" in warning and "covers only 0.250 s" in warning and "auto_frame_count" in warning
    assert {p for p, _ in report.audio_failed} == {str(tmp_path / "short_audio.mp4")}
    # every window failed for the same reason: dataset_problems.txt names the clip once
    assert len(items) > 1
    report.write_problems(tmp_path / "problems.txt")
    assert (tmp_path / "problems.txt").read_text().count("short_audio.mp4") == 1


@needs_speech_tools
def test_a_speech_clip_made_with_ffmpeg_is_planned_inside_its_audio(tmp_path):
    clip = speech_clip(tmp_path / "speech.mp4")
    coverage = scan_audio(clip)
    assert coverage.end_s == pytest.approx(1.4, abs=0.03) and not coverage.silent
    plan = plan_clip(clip, 2.0, True, num_frames=9, fps=24.0, spread=False, auto_frames=False, do_audio=True,
                     seed=0)
    assert plan.audio_status is None and plan.audio_ends_early_s == pytest.approx(0.6, abs=0.05)
    assert len(plan.windows) == 3 and all(w.start_s + W <= coverage.end_s + 0.02 for w in plan.windows)


KINDS_TEXT = r"(\d+) speech, (\d+) non-speech audio \(music, tones, noise\), (\d+) silence"


def _check_counts(stdout: str) -> dict:
    items = int(re.search(r"items per epoch: (\d+)", stdout).group(1))
    audio = re.search(rf"audio: (\d+) windows checked .*?: {KINDS_TEXT}, (\d+) without audio", stdout)
    return {"items": items, "windows": int(audio.group(1)), "speech": int(audio.group(2)),
            "sound": int(audio.group(3)), "silence": int(audio.group(4))}


@needs_speech_tools
def test_check_and_run_agree_on_every_window(tiny_model_dir, synthetic_dir, tmp_path):
    from dataset_helpers import ListLog

    from toolkit.voice.reference import dataset_clip_voices
    from toolkit.voice.similarity import SpeakerEncoder

    data = copy_media(synthetic_dir, tmp_path / "data", ["image_000.png"])
    early_clip(data / "early.mp4", seed=1)  # noise: sound, but no speech
    early_clip(data / "pauses.mp4", video_s=2.0, audio_s=2.0, pause_after_s=0.25, seed=2)  # noise, then silence
    speech_clip(data / "speech.mp4")
    result = check(tmp_path, data, model=tiny_model_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "problems: none" in result.stdout and "clips whose audio ends before their video" in result.stdout
    checked = _check_counts(result.stdout)
    # the clips without any speech are named (a note: they train audio, but no voice); the speaking one is not
    quiet = re.findall(r"^    .*/(\w+\.mp4): no speech in its audio", result.stdout, re.M)
    assert sorted(quiet) == ["early.mp4", "pauses.mp4"], result.stdout
    speaking = re.search(r"voice: (\d+) of (\d+) windows have speech \(\d+%\), in (\d+) of 3 clips", result.stdout)
    assert speaking and int(speaking.group(1)) == checked["speech"] and int(speaking.group(3)) == 1, result.stdout

    proc = prepared(tiny_config(tiny_model_dir, data, tmp_path / "run", name="agree", steps=1))
    proc.out.close()
    log = proc.out.log_path.read_text(encoding="utf-8")
    summary = re.search(rf"Audio latent caching: (\d+) audio latents .*?, (\d+) failed.*?; windows with audio: "
                        rf"{KINDS_TEXT};", log)
    clips = [i for i in proc.items if i.audio_status != "image"]
    run = {"items": sum(i.variant == 0 for i in proc.items), "windows": len(clips),
           "speech": int(summary.group(3)), "sound": int(summary.group(4)), "silence": int(summary.group(5))}
    assert run == checked, (run, checked)
    assert int(summary.group(1)) == len(clips) and int(summary.group(2)) == 0
    assert all(i.audio_latent is not None for i in clips)
    assert sum(i.speech for i in clips) == checked["speech"] > 0  # strict mode counts these items
    assert checked["silence"] >= 2  # pauses.mp4 is silent after 0.25 s: its later windows are silence
    assert checked["sound"] >= 2  # the noise of early.mp4 is sound, not voice
    assert f"voice: {checked['speech']} of {len(clips)} windows with audio have speech" in log
    assert (proc.out.folder / "dataset_problems.txt").read_text() == ""
    # the reference voice (the voice metric's) finds speech in the same clips as the check
    voices, _ = dataset_clip_voices(str(data), SpeakerEncoder(), False, ListLog())
    assert [Path(v.path).name for v in voices if v.vector is not None] == ["speech.mp4"]


def test_a_silent_track_is_no_voice_in_check_and_caching(model, tiny_model_dir, tmp_path, capsys):
    early_clip(tmp_path / "speaks.mp4", audio_s=2.0, seed=3)
    write_media(tmp_path / "silent.mp4", frames=grey_frames(24, 64, 64), audio=np.zeros(44100, np.float32))
    (tmp_path / "silent.txt").write_text("a clip with a silent track")
    items, report, log = encode(model, tmp_path, cache_to_disk=False)
    silent = [i for i in items if i.path.endswith("silent.mp4")]
    assert silent and all(i.audio_status == "silent" and i.audio_latent is None for i in silent)
    assert [p for p, _ in report.silent_clips] == [str(tmp_path / "silent.mp4")]
    assert "1 clips with a silent audio track (video only)" in report.summary(None)
    assert sum("silent.mp4" in m and "silent" in m for m in log.messages("warning")) == 1
    from toolkit.configuration.loader import validate_config_data
    from toolkit.dataset.check import check_datasets

    config = validate_config_data(tiny_config(tiny_model_dir, tmp_path, tmp_path / "out")).job.config.process[0]
    with pytest.raises(UserInputError, match="1 problem in 1 file"):
        check_datasets(config, show_progress=False)
    out = capsys.readouterr().out
    listed = out.split("  problems (1):\n")[1].splitlines()  # the notes (clips without speech) come before
    problems = [line for line in listed if line.startswith("    ")]
    assert len(problems) == 1 and "silent.mp4" in problems[0] and "silent" in problems[0], out
    assert "-60 dBFS" in problems[0]


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs the ffmpeg program")
def test_check_names_the_windows_a_truncated_video_loses_in_the_run(model, tiny_model_dir, synthetic_dir, tmp_path,
                                                                    capsys):
    """The index at the front (faststart) survives a cut, so the file probes fine but its last
    frames are gone: `--check` must count the windows the run then skips."""
    from toolkit.configuration.loader import validate_config_data
    from toolkit.dataset.check import check_datasets

    data = tmp_path / "data"
    data.mkdir()
    whole = tmp_path / "whole.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(synthetic_dir / "clip_000.mp4"), "-c", "copy",
                    "-movflags", "+faststart", str(whole)], check=True, timeout=60)
    (data / "cut.mp4").write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    (data / "cut.txt").write_text("a cut clip")
    cfg = tiny_config(tiny_model_dir, data, tmp_path / "out", **{"datasets.0.do_audio": False,
                                                                  "datasets.0.shrink_video_to_frames": False})
    with pytest.raises(UserInputError, match="2 problems in 1 file"):  # cut short, and the windows it loses
        check_datasets(validate_config_data(cfg).job.config.process[0], show_progress=False)
    out = capsys.readouterr().out
    assert re.search(r"cut\.mp4: truncated\? its video stream declares 2\.04 s but its frames end at", out), out
    found = re.search(r"cut\.mp4: (\d+) of its (\d+) windows cannot be decoded", out)
    assert found, "the check must name the windows a run would lose"
    lost, planned = int(found.group(1)), int(found.group(2))
    items, report, log = encode(model, data, seed=3, do_audio=False, cache_to_disk=False, window_variants=2)
    assert 0 < lost < planned and len(items) == planned - lost
    assert [p for p, _ in report.skipped] == [str(data / "cut.mp4")]
    # the run's warning says a window is lost, not the clip (its other windows train)
    [warning] = [m for m in log.messages("warning") if "cut.mp4" in m]
    assert re.search(r"skipping window \d+ of \d+ of .*cut\.mp4 \(its other windows train\)", warning), warning


def test_tones_train_audio_but_are_no_voice_in_check_and_caching(model, tiny_model_dir, tmp_path, capsys,
                                                                   monkeypatch):
    """A set of tone clips trains audio, but it is not a voice: the caching summary, the check and
    the items (what strict mode counts) all say so, and the kept scan carries the verdict."""
    from toolkit.configuration.loader import validate_config_data
    from toolkit.dataset import audio_coverage
    from toolkit.dataset.check import check_datasets

    data = tmp_path / "tones"
    data.mkdir()
    for i, freq in enumerate((220.0, 330.0)):
        write_media(data / f"tone_{i}.mp4", frames=grey_frames(24, 64, 64), audio=tone(44100, 1.0, freq))
        (data / f"tone_{i}.txt").write_text("a shape, a tone plays")
    items, report, _ = encode(model, data, cache_to_disk=True)
    assert items and all(i.audio_latent is not None and not i.speech for i in items)  # the audio trains
    assert dict(report.kinds) == {"sound": len(items)}
    assert f"{len(items)} audio latents ({len(items)} encoded now, 0 from the cache)" in report.summary(None)
    assert f"windows with audio: 0 speech, {len(items)} non-speech audio (music, tones, noise), 0 silence;" \
        in report.summary(None)
    level, line = report.voice_line()
    assert level == "warning" and "no speech in the training clips" in line and "learns no voice" in line

    # The verdict is kept with the audio scan: a cache-served start decodes nothing again.
    audio_coverage._scan.cache_clear()
    monkeypatch.setattr(audio_coverage, "decode_audio", lambda *a, **k: pytest.fail("decoded again"))
    kept = scan_audio(data / "tone_0.mp4", data / "_latent_cache")
    assert kept.speech.size == 31 and not kept.speech.any() and not kept.silent  # 1 s: 31 chunks of 32 ms
    monkeypatch.undo()

    config = validate_config_data(tiny_config(tiny_model_dir, data, tmp_path / "out")).job.config.process[0]
    check_datasets(config, show_progress=False)  # exit 0: a note, not a problem
    out = capsys.readouterr().out
    assert re.search(r"audio: \d+ windows checked .*: 0 speech, \d+ non-speech audio \(music, tones, noise\)", out)
    assert "voice: no speech in these clips: the run trains their audio" in out
    assert "strict audio mode would stop the run" in out
    assert sorted(re.findall(r"^    .*/(tone_\d)\.mp4: no speech in its audio", out, re.M)) == ["tone_0", "tone_1"], out
