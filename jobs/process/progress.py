"""What the loop shows and is asked while it trains: the ETA's parts and Save now / Sample now.

The step pace and the pauses are measured by toolkit/run/step_clock.py; this mixin knows the
config, so it counts the samplings and saves still due. Requests come from files a launcher
creates (toolkit/run/requests.py); every rank learns of them from the main process.
"""

from __future__ import annotations


def multiples_between(every: int, after: int, before: int) -> int:
    """How many multiples of `every` lie in after < s < before."""
    if every <= 0 or before - 1 <= after:
        return 0
    return (before - 1) // every - max(after, 0) // every


class ProgressMixin:
    """Needs: config, out, dist, step, clock, requests, last_checkpoint, maybe_sample,
    save_checkpoint, _sampled_at (see TrainProcess)."""

    def _samplings_left(self, total: int) -> int:
        """Periodic samplings after this step, plus the one at the end of the run."""
        train, sample = self.config.train, self.config.sample
        if train.disable_sampling or not sample.samples:
            return 0
        after = max(self.step, sample.sample_start_step - 1)
        return multiples_between(sample.sample_every, after, total) + 1

    def _saves_left(self, total: int) -> int:
        """Periodic checkpoints after this step, plus the end's two files (the last step's
        checkpoint and the final LoRA)."""
        return multiples_between(self.config.save.save_every, self.step, total) + 2

    def _eta_fields(self, total: int) -> dict:
        return self.clock.eta(total - self.step, self._samplings_left(total), self._saves_left(total))

    def _honour_requests(self, total: int) -> None:
        """Save now / Sample now, at this step boundary. The run's end saves and samples
        anyway, so a request taken at the last step is left to it."""
        if not self.requests.files:  # no launcher named request files (every rank has the same environment)
            return
        save = self.dist.any(self.dist.is_main and self.requests.take("save"))
        sample = self.dist.any(self.dist.is_main and self.requests.take("sample"))
        if self.step >= total:
            if save or sample:
                self.out.info(f"{' and '.join(k for k, on in (('save', save), ('sample', sample)) if on)} requested "
                              f"at the last step: the end of the run does it")
            return
        if save:
            if self.last_checkpoint == str(self.out.lora_path(self.step)):
                self.out.info(f"save requested: step {self.step} is saved already ({self.out.lora_path(self.step).name})")
            else:
                self.out.info(f"save requested: saving at step {self.step}")
                self.save_checkpoint()
        if sample:
            train, sample_cfg = self.config.train, self.config.sample
            if train.disable_sampling or not sample_cfg.samples:
                why = "train.disable_sampling is on" if train.disable_sampling else "sample.samples is empty"
                self.out.warning(f"sample requested at step {self.step}, but there is nothing to sample ({why})")
            elif self._sampled_at == self.step:
                self.out.info(f"sample requested: step {self.step} is sampled already")
            else:
                self.out.info(f"sample requested: sampling at step {self.step}")
                self.maybe_sample(force=True)
