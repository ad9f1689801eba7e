"""Samples during training: one mp4 with video and sound per prompt, named with its step
(and, for an audio-only run, its sound as a .wav of the same name beside it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.dataloader_mixins import apply_trigger
from toolkit.media.mp4_writer import write_mp4
from toolkit.media.wav_writer import write_wav
from toolkit.run.progress import Progress


@dataclass
class SampleJob:
    prompt: str
    negative: str
    width: int
    height: int
    num_frames: int
    fps: float
    steps: int
    guidance_scale: float
    seed: int
    ctrl_img: str | None = None  # first-frame image: image-to-video sampling
    audio_guidance_scale: float | None = None  # None: the video's guidance scale
    stg_scale: float = 0.0  # spatio-temporal guidance; 0: off (saves a transformer pass a step)
    audio_stg_scale: float | None = None  # None: the video's STG scale


def sample_jobs(sample_cfg, trigger_word: str | None) -> list[SampleJob]:
    """`sample.samples[]` with the section defaults and per-sample overrides filled in."""
    return [
        SampleJob(
            prompt=apply_trigger(item.prompt, trigger_word),
            negative=item.neg or "",
            width=item.width,
            height=item.height,
            num_frames=item.num_frames,
            fps=item.fps,
            steps=item.sample_steps,
            guidance_scale=item.guidance_scale,
            seed=item.seed,
            ctrl_img=item.ctrl_img,
            audio_guidance_scale=item.audio_guidance_scale,
            stg_scale=sample_cfg.stg_scale,
            audio_stg_scale=sample_cfg.audio_stg_scale,
        )
        for item in sample_cfg.resolved()
    ]


def render_samples(model, jobs: list[SampleJob], folder: Path, step: int, write: bool = True,
                   encode_text=None, wav: bool = False, log=None) -> list[Path]:
    """Generate every job with the network as it is now; returns the mp4 paths. `write=False`:
    generate only (another rank of a sharded model writes), return nothing. `encode_text`:
    prompt -> Gemma output, from the run's text cache (the model runs Gemma when None).
    `wav`: also write the sound as `<step>_<i>.wav` (written before the mp4, so a reader that
    sees the mp4 finds its wav). `log`: the run's output, for progress lines
    (toolkit/run/progress.py)."""
    paths = []  # the folder is made by the atomic writer with the first file
    with Progress(len(jobs), f"sampling step {step}", "sample", log, enabled=write) as progress:
        for index, job in enumerate(jobs):
            frames, audio, rate = generate_job(model, job, encode_text)
            if write:
                path = folder / f"{step:09d}_{index:02d}.mp4"
                if wav:
                    write_wav(path.with_suffix(".wav"), audio, rate)
                write_mp4(path, frames, job.fps, audio, rate)
                paths.append(path)
            progress.update(f"{step:09d}_{index:02d}.mp4")
    return paths


def generate_job(model, job: SampleJob, encode_text=None):
    """One job through the model as it is now: (frames, audio, sample rate)."""
    return model.generate(
        prompt=job.prompt,
        negative_prompt=job.negative,
        width=job.width,
        height=job.height,
        num_frames=job.num_frames,
        fps=job.fps,
        steps=job.steps,
        guidance_scale=job.guidance_scale,
        seed=job.seed,
        image=job.ctrl_img,
        audio_guidance_scale=job.audio_guidance_scale,
        stg_scale=job.stg_scale,
        audio_stg_scale=job.audio_stg_scale,
        encode_text=encode_text,
    )
