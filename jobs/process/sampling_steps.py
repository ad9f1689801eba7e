"""Samples during training: the run's `Samples` part.

Samples are rendered at step 0 (unless `skip_first_sample`), every `sample.sample_every`
steps from `sample_start_step`, from the final LoRA once it is saved, and when a launcher
asks (progress.py); a resumed run first renders the samples of its step that a kill lost.
Rendering is toolkit/run/sampling.py's; each sampling is scored by the voice metric
(toolkit/voice/metric.py) against its base samples (base_sampling.py), and the score goes to
`voice_scored` (validation_steps.py: the best-voice file and the drift warning).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobs.process.base_sampling import BaseSamples
from jobs.process.run_state import RunPart, RunState
from toolkit.run import sampling  # render_samples looked up at run time: tests replace it
from toolkit.run.sampling import sample_jobs
from toolkit.voice.base_samples import copy_as_base
from toolkit.voice.metric import VoiceMetric


class Samples(RunPart):
    """`enter_phase`: the run's phases (the decoders join the transformer to sample);
    `voice_scored(step, similarity)`: told after each sampling the voice metric scored."""

    def __init__(self, state: RunState, enter_phase: Callable[[str], None],
                 voice_scored: Callable[[int, float | None], None]):
        self.state = state
        self.enter_phase = enter_phase
        self.voice_scored = voice_scored
        self.base = BaseSamples(state)
        self.sampled_at: int | None = None  # the step of the last sampling of this start

    def setup_voice_metric(self) -> None:
        """sample.voice_metric: the reference voice of the training clips (cached with the
        latents), then each sampling is scored against it (toolkit/voice/metric.py)."""
        run = self.state
        jobs = sample_jobs(run.config.sample, run.config.trigger_word)
        run.voice_metric = VoiceMetric.setup(run.config, run.out, run.dist.is_main, jobs)

    # ------------------------------------------------------------------ hooks
    def on_train_start(self) -> None:
        if (self.state.step == 0 and not self.state.config.train.skip_first_sample) or self._lost_on_resume():
            self.sample(force=True)

    def on_step_end(self) -> None:
        if self.state.step < self.state.config.train.steps:  # the last step's are the final file's
            self.sample()

    def on_post_save(self, path: Path, final: bool) -> None:
        if final:
            self.sample(force=True)

    # ------------------------------------------------------------------ work
    def sample(self, force: bool = False) -> None:
        run = self.state
        train, sample = run.config.train, run.config.sample
        if train.disable_sampling or not sample.samples:
            return
        if not force and (run.step % sample.sample_every != 0 or run.step < sample.sample_start_step):
            return
        with run.clock.pause("sampling"):
            self._render()
        self.sampled_at = run.step

    def _render(self) -> None:
        run = self.state
        sample = run.config.sample
        run.out.update_status(state="sampling")
        jobs = sample_jobs(sample, run.config.trigger_word)
        # A sharded transformer needs every rank in its forward; otherwise the main process
        # samples alone while the others wait.
        renders = run.dist.is_main or run.parallel.sharded
        if renders:
            self.enter_phase("sample")  # the decoders join the transformer; no text side (phases.py)
        as_base = self.base.ensure(jobs)  # the voice metric's "vs base" (base_sampling.py)
        paths = []
        if renders:
            paths = sampling.render_samples(run.model, jobs, run.out.samples, run.step,
                                            write=run.dist.is_main, encode_text=run.text.for_sampling,
                                            wav=self._as_wav(), log=run.out)
            if not run.complete and run.step < run.config.train.steps:  # the final sampling ends the run
                self.enter_phase("train")
        run.dist.barrier()
        similarity = None
        if paths:
            for index, base in as_base:  # before scoring: "vs base" reads them
                copy_as_base(paths[index], base)
            run.last_sample = str(paths[-1])
            run.out.info(f"samples for step {run.step}: {', '.join(p.name for p in paths)}")
            if run.voice_metric is not None:
                similarity = run.voice_metric.score(run.step, paths)["voice_similarity"]
        if run.dist.any(run.voice_metric is not None):  # the best-voice file and the drift warning
            self.voice_scored(run.step, similarity)

    def _as_wav(self) -> bool:
        """sample.audio_only: a .wav of each sample's sound beside its mp4 (automatic: when
        every training item is an audio file)."""
        wanted = self.state.config.sample.audio_only
        if wanted is None:
            items = self.state.items
            return bool(items) and all(item.audio_only for item in items)
        return wanted

    def _lost_on_resume(self) -> bool:
        """A kill during sampling loses that step's samples; the resumed run renders them."""
        run = self.state
        sample, train = run.config.sample, run.config.train
        if run.step == 0 or train.disable_sampling or not sample.samples or run.step % sample.sample_every:
            return False
        if run.step >= train.steps:  # the end of the run samples this step anyway: not twice
            return False
        count = len(sample_jobs(sample, run.config.trigger_word))
        return any(not (run.out.samples / f"{run.step:09d}_{i:02d}.mp4").exists() for i in range(count))
