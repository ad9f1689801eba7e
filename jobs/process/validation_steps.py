"""Validation, the best step per criterion and the voice drift warning, in the run's loop
(split out of BaseSDTrainProcess; the parts themselves live in toolkit/train/).

Validation runs at step 0 (before training), every `train.validate_every` steps and at the
last step, on every rank (data parallel wrappers need each rank in a forward); the main
process writes a metrics.jsonl row (`val_loss`, `val_video_loss`, `val_audio_loss`), the
status (`validation`: the whole history, which the web UI charts) and a console line. When
a criterion improves, the file it keeps is written at once (toolkit/train/best_checkpoints.py).
"""

from __future__ import annotations

import time

from toolkit.memory.dtypes import DTYPES
from toolkit.train.best_checkpoints import BestTracker, file_suffix
from toolkit.train.validation import SIGMAS, ValidationResult, Validator

HISTORY_LIMIT = 2000  # validations kept in status.json (metrics.jsonl keeps them all)


class ValidationMixin:
    """Needs: config, name, out, dist, model, network, parallel, batches, step,
    validation_items, silence_latents, clock (see TrainProcess)."""

    def _setup_validation(self) -> None:
        items = getattr(self, "validation_items", [])
        val_criterion = None
        if items:
            val_criterion = "val_audio_loss" if any(i.has_audio for i in items) else "val_video_loss"
        self.best = BestTracker(val_criterion=val_criterion)
        self.validator = Validator(self.model, items, self.batches.encode_caption, self.silence_latents.get,
                                   self.device) if items else None
        self.validation_history: list[dict] = []
        self._last_validation: ValidationResult | None = None

    def _maybe_validate(self, force: bool = False) -> None:
        if self.validator is None:
            return
        every = self.config.train.validate_every
        if not force and self.step % every != 0:
            return
        if any(entry["step"] == self.step for entry in self.validation_history):
            return  # this step was validated already (the last step that is also a multiple)
        with self.clock.pause("validation"):
            self.out.update_status(state="validating")
            result = self.validator.run(self.step)
        self._last_validation = result
        self.validation_history = [h for h in self.validation_history if h["step"] != result.step]
        self.validation_history.append({"step": result.step, "video": result.video, "audio": result.audio,
                                        "loss": result.total})
        self.out.append_metrics({"step": result.step, **result.metrics(), "val_items": len(self.validator.items),
                                 "time": time.time()})
        parts = [f"{label} {value:.4f}" for label, value in (("video", result.video), ("audio", result.audio))
                 if value is not None]
        self.out.info(f"validation at step {result.step}: {', '.join(parts)} (flow-matching MSE over "
                      f"{len(self.validator.items)} held-out items at sigmas {', '.join(str(s) for s in SIGMAS)})")
        self._offer_best(result.step, {"val_audio_loss": result.audio, "val_video_loss": result.video})

    def _offer_best(self, step: int, values: dict) -> None:
        """Record a measurement; a criterion that improved rewrites its file now (every rank
        takes part: a sharded network is gathered collectively)."""
        improved = self.best.offer(step, values) if self.dist.is_main else []
        for criterion in ("voice_similarity", self.best.val_criterion):
            if criterion is None:
                continue
            # The voice metric runs on the main process only: it decides for every rank.
            if self.dist.any(criterion in improved):
                self._write_best(file_suffix(criterion, self.best.val_criterion), step)
        self._publish_validation()

    def _write_best(self, suffix: str, step: int) -> None:
        save = self.config.save
        path = self.out.folder / f"{self.name}_{suffix}.safetensors"
        with self.clock.pause("saving"):
            if self.dist.is_main:
                self.network.save(path, fmt=save.format, dtype=DTYPES[save.dtype],
                                  extra_metadata={"ltx2_trainer.step": step, "ltx2_trainer.name": self.name,
                                                  "ltx2_trainer.best": suffix})
            elif self.parallel.sharded:
                self.network.export_state_dict(save.format, DTYPES[save.dtype])
            self.dist.barrier()

    def _publish_validation(self) -> None:
        fields = {"best": self.best.status(self.name)}
        if self.validator is not None:
            fields["validation"] = {"items": len(self.validator.items), "sigmas": list(SIGMAS),
                                    "criterion": self.best.val_criterion,
                                    "history": self.validation_history[-HISTORY_LIMIT:]}
        self.out.update_status(**fields)

    def _after_voice_score(self, step: int, similarity: float | None) -> None:
        """After the voice metric scored a sampling (main process; None without a reference).
        A sampling whose samples hold no speech scores 0: it measured no voice, so it
        picks no best step."""
        if self.best is None:  # samples re-rendered after a complete run (due_samples.py)
            return
        if similarity is not None and similarity <= 0:
            similarity = None
        self._offer_best(step, {"voice_similarity": similarity})
        if not self.dist.is_main:
            return
        last = self._last_validation
        warning = self.best.voice_drift(step, similarity, last.total if last is not None else None)
        if warning:
            self.out.warning(warning.replace("<name>", self.name))

    def _report_best(self) -> None:
        for line in self.best.summary_lines(self.name):
            self.out.info(line)

    def _validation_state(self) -> dict:
        return {"tracker": self.best.state_dict(), "history": self.validation_history}

    def _load_validation_state(self, state: dict | None) -> None:
        if not state:
            return
        self.best.load_state_dict(state.get("tracker", {}))
        self.validation_history = [h for h in state.get("history", []) if h["step"] <= self.step]
        self._publish_validation()
