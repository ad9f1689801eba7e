"""Which step is best, by each criterion, and the warning when the voice drifts away.

Criteria (the first two from validation, toolkit/train/validation.py; the last from the
voice metric, toolkit/voice/metric.py):

* ``val_audio_loss`` (lowest), ``val_video_loss`` (lowest), ``voice_similarity`` (highest).

Two files are kept beside the final LoRA, each rewritten when its criterion improves (the
weights of that step are gone after it, so they are saved at once):

* ``<name>_best_val.safetensors``: the lowest validation audio loss (the video loss when
  the validation data has no voice);
* ``<name>_best_voice.safetensors``: the highest voice similarity to the training voice.

The best steps are in status.json (``best``), named in the log at the end, and kept in the
training state, so a resumed run keeps comparing with what it found before.

The voice drift warning: when the voice similarity falls at three samplings in a row
while the loss still improves (the validation loss when there is one, else the mean
training loss since the previous sampling), the LoRA is learning something other than the
voice, and the best-voice file is the one to keep. Said once per such run of falls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CRITERIA = {"val_audio_loss": "lowest", "val_video_loss": "lowest", "voice_similarity": "highest"}
LABELS = {"val_audio_loss": "validation audio loss", "val_video_loss": "validation video loss",
          "voice_similarity": "voice similarity"}
FALLS_TO_WARN = 3


def file_suffix(criterion: str, val_criterion: str | None) -> str | None:
    """The file a criterion keeps: "best_voice", "best_val", or None."""
    if criterion == "voice_similarity":
        return "best_voice"
    if criterion == val_criterion:
        return "best_val"
    return None


@dataclass
class BestTracker:
    """Best value and step per criterion; the voice drift watch."""

    val_criterion: str | None = None  # the validation criterion that picks <name>_best_val
    best: dict = field(default_factory=dict)  # criterion -> {"step": int, "value": float}
    voice: list = field(default_factory=list)  # [(step, similarity, loss)] of the recent samplings
    warned_at: int | None = None  # the sampling step of the last drift warning
    _losses: list = field(default_factory=list)  # training losses since the last sampling

    def offer(self, step: int, values: dict) -> list[str]:
        """Record one measurement; returns the criteria for which this step is now the best."""
        improved = []
        for key, value in values.items():
            if key not in CRITERIA or value is None or not math.isfinite(value):
                continue
            held = self.best.get(key)
            better = held is None or (value < held["value"] if CRITERIA[key] == "lowest" else value > held["value"])
            if better:
                self.best[key] = {"step": int(step), "value": float(value)}
                improved.append(key)
        return improved

    def note_training_loss(self, loss: float) -> None:
        if math.isfinite(loss):
            self._losses.append(float(loss))

    def voice_drift(self, step: int, similarity: float | None, validation_loss: float | None) -> str | None:
        """After a sampling: the warning to give when the voice fell three times in a row
        while the loss improved, else None."""
        training = sum(self._losses) / len(self._losses) if self._losses else None
        self._losses = []
        loss = validation_loss if validation_loss is not None else training
        if similarity is None or loss is None:
            return None
        self.voice = (self.voice + [(int(step), float(similarity), float(loss))])[-(FALLS_TO_WARN + 1):]
        if len(self.voice) <= FALLS_TO_WARN:
            return None
        sims = [s for _, s, _ in self.voice]
        falling = all(b < a for a, b in zip(sims, sims[1:], strict=False))
        improving = self.voice[-1][2] < self.voice[0][2]
        first = self.voice[0][0]
        if not (falling and improving) or (self.warned_at is not None and self.warned_at > first):
            return None
        self.warned_at = int(step)
        steps = ", ".join(str(s) for s, _, _ in self.voice)
        what = "validation loss" if validation_loss is not None else "training loss"
        best = self.best.get("voice_similarity")
        keep = f"; the voice was best at step {best['step']} ({best['value']:.3f})" if best else ""
        return (f"voice similarity fell at {FALLS_TO_WARN} samplings in a row (steps {steps}: "
                f"{' > '.join(f'{s:.3f}' for s in sims)}) while the {what} still improved "
                f"({self.voice[0][2]:.4f} -> {self.voice[-1][2]:.4f}): the LoRA is drifting from the voice{keep} "
                "(its weights are in <name>_best_voice.safetensors). Lower train.audio_lr or the lr, or stop here")

    def summary_lines(self, name: str) -> list[str]:
        lines = []
        for key in CRITERIA:
            held = self.best.get(key)
            if held is None:
                continue
            suffix = file_suffix(key, self.val_criterion)
            where = f" -> {name}_{suffix}.safetensors" if suffix else ""
            lines.append(f"best step by {LABELS[key]} ({CRITERIA[key]}): {held['step']} ({held['value']:.4f}){where}")
        return lines

    def status(self, name: str) -> dict:
        """status.json's `best`: per criterion its step, value and the file that holds it."""
        out = {}
        for key, held in self.best.items():
            suffix = file_suffix(key, self.val_criterion)
            out[key] = {**held, "label": LABELS[key], "file": f"{name}_{suffix}.safetensors" if suffix else None}
        return out

    def state_dict(self) -> dict:
        return {"best": self.best, "voice": self.voice, "warned_at": self.warned_at, "losses": self._losses}

    def load_state_dict(self, state: dict) -> None:
        self.best = dict(state.get("best", {}))
        self.voice = [tuple(v) for v in state.get("voice", [])]
        self.warned_at = state.get("warned_at")
        self._losses = list(state.get("losses", []))
