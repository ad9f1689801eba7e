"""Validation, the best step per criterion and the voice drift warning: the run's `Validation`
part (the pieces themselves live in toolkit/train/).

Validation runs at step 0 (before training), every `train.validate_every` steps and at the
last step, on every rank (data parallel wrappers need each rank in a forward); the main
process writes a metrics.jsonl row (`val_loss`, `val_video_loss`, `val_audio_loss`), the
status (`validation`: the whole history, which the web UI charts) and a console line. When
a criterion improves, the file it keeps is written at once (toolkit/train/best_checkpoints.py).
"""

from __future__ import annotations

import time

from jobs.process.run_state import RunPart, RunState
from toolkit.memory.dtypes import DTYPES
from toolkit.train.best_checkpoints import BestTracker, file_suffix
from toolkit.train.validation import SIGMAS, ValidationResult, Validator

HISTORY_LIMIT = 2000  # validations kept in status.json (metrics.jsonl keeps them all)


class Validation(RunPart):
    """Hooks: the step-0 held-out loss at the start, the training loss noted each step (the
    drift warning's), a validation every `validate_every` steps and one at the end (before
    the last checkpoint holds the tracker), the best steps' summary when the run ends. Its
    tracker and history are saved with each checkpoint."""

    state_key = "validation"

    def __init__(self, state: RunState):
        self.state = state
        self.best: BestTracker | None = None  # None until setup: owed samples pick no best step
        self.validator: Validator | None = None
        self.history: list[dict] = []
        self._last: ValidationResult | None = None

    def setup(self) -> None:
        """Once the batch builder is built (the validator encodes captions through its text cache)."""
        run = self.state
        items = run.validation_items
        val_criterion = None
        if items:
            val_criterion = "val_audio_loss" if any(i.has_audio for i in items) else "val_video_loss"
        self.best = BestTracker(val_criterion=val_criterion)
        self.validator = Validator(run.model, items, run.batches.encode_caption, run.silence_latents.get,
                                   run.device) if items else None
        self.history = []
        self._last = None

    # ------------------------------------------------------------------ hooks
    def on_train_start(self) -> None:
        if self.state.step == 0:
            self.validate(force=True)  # where the held-out loss starts

    def on_post_optimizer_step(self, metrics: dict) -> None:
        if "loss" in metrics:
            self.best.note_training_loss(metrics["loss"])  # the voice drift warning's training loss

    def on_step_end(self) -> None:
        if self.state.step < self.state.config.train.steps:  # the last step's comes with on_train_end
            self.validate()

    def on_train_end(self) -> None:
        self.validate(force=True)  # the last step's held-out loss, before its checkpoint holds the tracker

    def on_run_end(self) -> None:
        for line in self.best.summary_lines(self.state.name):
            self.state.out.info(line)

    def state_dict(self) -> dict:
        return {"tracker": self.best.state_dict(), "history": self.history}

    def load_state_dict(self, state: dict | None) -> None:
        if not state:
            return
        self.best.load_state_dict(state.get("tracker", {}))
        self.history = [h for h in state.get("history", []) if h["step"] <= self.state.step]
        self._publish()

    # ------------------------------------------------------------------ work
    def validate(self, force: bool = False) -> None:
        run = self.state
        if self.validator is None:
            return
        every = run.config.train.validate_every
        if not force and run.step % every != 0:
            return
        if any(entry["step"] == run.step for entry in self.history):
            return  # this step was validated already (the last step that is also a multiple)
        with run.clock.pause("validation"):
            run.out.update_status(state="validating")
            result = self.validator.run(run.step)
        self._last = result
        self.history = [h for h in self.history if h["step"] != result.step]
        self.history.append({"step": result.step, "video": result.video, "audio": result.audio,
                             "loss": result.total})
        run.out.append_metrics({"step": result.step, **result.metrics(), "val_items": len(self.validator.items),
                                "time": time.time()})
        parts = [f"{label} {value:.4f}" for label, value in (("video", result.video), ("audio", result.audio))
                 if value is not None]
        run.out.info(f"validation at step {result.step}: {', '.join(parts)} (flow-matching MSE over "
                     f"{len(self.validator.items)} held-out items at sigmas {', '.join(str(s) for s in SIGMAS)})")
        self._offer(result.step, {"val_audio_loss": result.audio, "val_video_loss": result.video})

    def voice_scored(self, step: int, similarity: float | None) -> None:
        """After the voice metric scored a sampling (the main process's score; None on the
        others and without a reference). A sampling whose samples hold no speech scores 0: it
        measured no voice, so it picks no best step."""
        if self.best is None:  # samples re-rendered after a complete run (due_samples.py)
            return
        if similarity is not None and similarity <= 0:
            similarity = None
        self._offer(step, {"voice_similarity": similarity})
        if not self.state.dist.is_main:
            return
        last = self._last
        warning = self.best.voice_drift(step, similarity, last.total if last is not None else None)
        if warning:
            self.state.out.warning(warning.replace("<name>", self.state.name))

    def _offer(self, step: int, values: dict) -> None:
        """Record a measurement; a criterion that improved rewrites its file now (every rank
        takes part: a sharded network is gathered collectively)."""
        dist = self.state.dist
        improved = self.best.offer(step, values) if dist.is_main else []
        for criterion in ("voice_similarity", self.best.val_criterion):
            if criterion is None:
                continue
            # The voice metric runs on the main process only: it decides for every rank.
            if dist.any(criterion in improved):
                self._write_best(file_suffix(criterion, self.best.val_criterion), step)
        self._publish()

    def _write_best(self, suffix: str, step: int) -> None:
        run = self.state
        save = run.config.save
        path = run.out.folder / f"{run.name}_{suffix}.safetensors"
        with run.clock.pause("saving"):
            if run.dist.is_main:
                run.network.save(path, fmt=save.format, dtype=DTYPES[save.dtype],
                                 extra_metadata={"ltx2_trainer.step": step, "ltx2_trainer.name": run.name,
                                                 "ltx2_trainer.best": suffix})
            elif run.parallel.sharded:
                run.network.export_state_dict(save.format, DTYPES[save.dtype])
            run.dist.barrier()

    def _publish(self) -> None:
        fields = {"best": self.best.status(self.state.name)}
        if self.validator is not None:
            fields["validation"] = {"items": len(self.validator.items), "sigmas": list(SIGMAS),
                                    "criterion": self.best.val_criterion,
                                    "history": self.history[-HISTORY_LIMIT:]}
        self.state.out.update_status(**fields)
