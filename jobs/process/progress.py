"""What the loop shows and is asked while it trains: the run's `StepLog` and `Requests` parts.

`StepLog` owns the progress bar, the metrics.jsonl row and console line of each logged step,
the performance line and the ETA's parts. The step pace and the pauses are measured by
toolkit/run/step_clock.py; this part knows the config, so it counts the samplings and saves
still due. `Requests` takes Save now / Sample now from files a launcher creates
(toolkit/run/requests.py); every rank learns of them from the main process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from jobs.process.run_state import RunPart, RunState
from toolkit.run.requests import RunRequests


def multiples_between(every: int, after: int, before: int) -> int:
    """How many multiples of `every` lie in after < s < before."""
    if every <= 0 or before - 1 <= after:
        return 0
    return (before - 1) // every - max(after, 0) // every


def _shift_bar(bar, seconds: float) -> None:
    """Move a tqdm bar's clocks past a pause, so its rate and elapsed time leave the pause out
    (what ai-toolkit's progress bar does around sampling and saving)."""
    if getattr(bar, "disable", True):
        return
    bar.start_t += seconds
    bar.last_print_t += seconds


class StepLog(RunPart):
    """The bar opens when training starts (after the step-0 samples) and follows each step."""

    def __init__(self, state: RunState):
        self.state = state
        self.bar = None
        self._perf_mark = (0.0, 0)  # (training seconds, steps) at the last performance line

    def on_train_start(self) -> None:
        run = self.state
        total = run.config.train.steps
        self.bar = tqdm(total=total, initial=run.step, desc=run.name, unit="step", dynamic_ncols=True,
                        disable=not run.dist.is_main)
        bar = self.bar
        run.clock.on_pause = lambda seconds: _shift_bar(bar, seconds)  # its rate leaves pauses out too
        run.clock.start()
        self._perf_mark = (run.clock.train_s, run.clock.steps)

    def close(self) -> None:
        """Before a line that must not land inside the bar (a stop, an error: run() calls it too)."""
        if self.bar is not None:
            self.bar.close()

    def on_post_optimizer_step(self, metrics: dict) -> None:
        run = self.state
        cfg, counts, total = run.config, run.counts, run.config.train.steps
        s_per_it = run.clock.s_per_it
        lr = metrics.get("lr", run.scheduler.get_last_lr()[0])
        if self.bar is not None:
            self.bar.update(1)
            if "video_loss" in metrics:
                self.bar.set_postfix(loss=f"{metrics['loss']:.4f}", video=f"{metrics['video_loss']:.4f}",
                                     audio=f"{metrics['audio_loss_raw']:.4f}", s_it=f"{s_per_it or 0:.3f}",
                                     refresh=False)
        if run.step % cfg.logging.log_every == 0 or run.step == 1 or run.step == total:
            record = {"step": run.step, **metrics, "lr": lr, "audio_supervised_ratio": counts.supervised_ratio,
                      "speech_ratio": counts.speech_ratio, "s_per_it": s_per_it, "time": time.time()}
            run.out.append_metrics(record)
            if "video_loss" in metrics:
                run.out.info(
                    f"step {run.step}/{total} loss {metrics['loss']:.4f} video {metrics['video_loss']:.4f} "
                    f"audio raw {metrics['audio_loss_raw']:.4f} scaled {metrics['audio_loss_scaled']:.4f} "
                    f"mult {metrics['audio_multiplier']:.3f} audio {counts.supervised_ratio:.2f} "
                    f"speech {counts.speech_ratio:.2f} "
                    f"sigma v {metrics['sigma_video']:.3f} a {metrics['sigma_audio']:.3f} lr {lr:.2e}")
        if cfg.performance_log_every and run.step % cfg.performance_log_every == 0:
            self._log_step_time()

    def _log_step_time(self) -> None:
        """performance_log_every: the mean step time since the last report (sampling and saving left out)."""
        run, clock = self.state, self.state.clock
        train_s, steps = self._perf_mark
        self._perf_mark = (clock.train_s, clock.steps)
        count = clock.steps - steps
        if count > 0:
            run.out.info(f"performance: {(clock.train_s - train_s) / count:.3f} s/step over steps "
                         f"{run.step - count + 1}-{run.step} (sampling and saving not counted)")

    def eta_fields(self) -> dict:
        run = self.state
        total = run.config.train.steps
        return run.clock.eta(total - run.step, self._samplings_left(total), self._saves_left(total))

    def _samplings_left(self, total: int) -> int:
        """Periodic samplings after this step, plus the one at the end of the run."""
        run = self.state
        train, sample = run.config.train, run.config.sample
        if train.disable_sampling or not sample.samples:
            return 0
        after = max(run.step, sample.sample_start_step - 1)
        return multiples_between(sample.sample_every, after, total) + 1

    def _saves_left(self, total: int) -> int:
        """Periodic checkpoints after this step, plus the end's two files (the last step's
        checkpoint and the final LoRA)."""
        return multiples_between(self.state.config.save.save_every, self.state.step, total) + 2


class Requests(RunPart):
    """Save now / Sample now, at the end of a step. `save`: the run's save (its hooks follow);
    `sample(force)` and `sampled_at`: the run's samples (sampling_steps.py)."""

    def __init__(self, state: RunState, save: Callable[[], Path], samples):
        self.state = state
        self.save = save
        self.samples = samples
        self.requests = RunRequests()  # the files a launcher named in the environment

    def on_step_end(self) -> None:
        """The run's end saves and samples anyway, so a request taken at the last step is left to it."""
        if not self.requests.files:  # no launcher named request files (every rank has the same environment)
            return
        run = self.state
        total = run.config.train.steps
        save = run.dist.any(run.dist.is_main and self.requests.take("save"))
        sample = run.dist.any(run.dist.is_main and self.requests.take("sample"))
        if run.step >= total:
            if save or sample:
                run.out.info(f"{' and '.join(k for k, on in (('save', save), ('sample', sample)) if on)} requested "
                             f"at the last step: the end of the run does it")
            return
        if save:
            if run.last_checkpoint == str(run.out.lora_path(run.step)):
                run.out.info(f"save requested: step {run.step} is saved already ({run.out.lora_path(run.step).name})")
            else:
                run.out.info(f"save requested: saving at step {run.step}")
                self.save()
        if sample:
            train, sample_cfg = run.config.train, run.config.sample
            if train.disable_sampling or not sample_cfg.samples:
                why = "train.disable_sampling is on" if train.disable_sampling else "sample.samples is empty"
                run.out.warning(f"sample requested at step {run.step}, but there is nothing to sample ({why})")
            elif self.samples.sampled_at == run.step:
                run.out.info(f"sample requested: step {run.step} is sampled already")
            else:
                run.out.info(f"sample requested: sampling at step {run.step}")
                self.samples.sample(force=True)
