"""Strict audio mode (``train.strict_audio_mode``): stop a run that would train without voice.

Voice means speech: an item counts when its window has speech by the trainer's one speech
detector (toolkit/voice/speech.py, the one `--check`, the caching summary and the voice
metric use). Music, tones, noise and silence train the audio track, but a set of them is not
a voice, so strict mode does not count them.

Only items that should carry a voice count: clips of datasets with ``do_audio`` on. Images
and clips of ``do_audio: false`` datasets are not missing anything, so they are in neither
side of the share (a character preset with a clip dataset and an image dataset is never
stopped for its images).

Two decisions, both against ``strict_audio_min_supervised_ratio``, each a :class:`Verdict`
the run acts on (this module never sees the run):

* :func:`after_caching`: once the items are cached, their share with speech is known
  exactly; when it is already too low the run stops before the first step, naming the files
  without speech. Waiting for the warm-up would only spend GPU time on a result that is
  already decided.
* :func:`in_training`: after ``strict_audio_warmup_steps``, the share among the items the
  steps actually trained (``speech_ratio`` in metrics.jsonl, counted in :class:`ItemCounts`).
  The warm-up applies here only: a few batches are too few to judge a share by. Its stop
  saves the step first (the loop counts the step, saves it, and fails on every rank together).

When strict mode stops a run, ``log.txt`` holds the reason and ``status.json`` the error and
the checkpoint saved (none when it stopped before training).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from toolkit.configuration.defaults import config_field
from toolkit.dataset.audio_status import AudioStatus
from toolkit.voice.speech import KIND_WORDS

#: Audio statuses of items that are not meant to carry a voice (see EncodedItem.audio_status).
NOT_EXPECTED = (AudioStatus.IMAGE, AudioStatus.NOT_REQUESTED)
#: Why an item that should carry a voice has none, as the file list says it ("ok": its audio
#: trains, but holds no speech).
REASONS = {AudioStatus.NO_STREAM: "no audio stream", AudioStatus.FAILED: "audio not usable",
           AudioStatus.SILENT: "silent audio track", AudioStatus.OK: f"no speech: {KIND_WORDS['sound']} or silence"}
#: Files named in the message itself; the problems file lists them all.
NAMED_FILES = 8


@dataclass
class StrictAudioSettings:
    """The train section's strict audio keys; each default is the config's."""

    strict_audio_mode: bool = config_field("train.strict_audio_mode")
    strict_audio_min_supervised_ratio: float = config_field("train.strict_audio_min_supervised_ratio")
    strict_audio_warmup_steps: int = config_field("train.strict_audio_warmup_steps")


class Action(Enum):
    TRAIN = "train"  # go on (the verdict's message, if any, is a line for the log)
    STOP = "stop"  # fail the run now: nothing was trained, nothing to save
    SAVE_AND_STOP = "save_and_stop"  # count the step, save it, then fail the run (every rank together)


@dataclass(frozen=True)
class Verdict:
    action: Action
    message: str = ""  # why the run stops; going on, a line for the log ("": nothing to say)

    @property
    def stops(self) -> bool:
        return self.action is not Action.TRAIN


GO_ON = Verdict(Action.TRAIN)


@dataclass
class ItemCounts:
    """The trained items that should carry a voice (every rank's, summed), saved with each
    checkpoint: how many, how many trained with their real audio, how many had speech."""

    seen: int = 0
    supervised: int = 0  # of seen, those trained with their real audio (speech or not)
    speech: int = 0  # of seen, those whose window has speech (toolkit/voice/speech.py)

    def add(self, seen: int, supervised: int, speech: int) -> None:
        self.seen += seen
        self.supervised += supervised
        self.speech += speech

    @property
    def supervised_ratio(self) -> float:
        """`audio_supervised_ratio` in metrics.jsonl."""
        return self.supervised / self.seen if self.seen else 0.0

    @property
    def speech_ratio(self) -> float:
        """`speech_ratio` in metrics.jsonl: what strict audio mode holds to its minimum."""
        return self.speech / self.seen if self.seen else 0.0


def expects_voice(item) -> bool:
    """The item is a clip of a dataset with audio on (whether or not its audio arrived)."""
    return item.audio_status not in NOT_EXPECTED


def count_expected(items) -> int:
    return sum(expects_voice(item) for item in items)


def after_caching(settings: StrictAudioSettings, items, problems_file: Path | None = None) -> Verdict:
    """Whether the cached items already fall short (STOP), or the share that passed (TRAIN)."""
    if not settings.strict_audio_mode:
        return GO_ON
    expected = [item for item in items if expects_voice(item)]
    minimum = settings.strict_audio_min_supervised_ratio
    if not expected:
        return Verdict(Action.STOP, "strict audio mode: no training item should carry a voice (no clip of a "
                                    "dataset with do_audio on was loaded); add clips with the character speaking, "
                                    "or turn train.strict_audio_mode off")
    speaking = sum(item.speech for item in expected)
    share = speaking / len(expected)
    if share >= minimum:
        return Verdict(Action.TRAIN, f"strict audio mode: {speaking} of {len(expected)} items that should carry a "
                                     f"voice have speech ({share:.0%}, minimum {minimum:.0%})")
    files = _files_without_speech(expected)
    named = ", ".join(files[:NAMED_FILES])
    more = f" and {len(files) - NAMED_FILES} more" if len(files) > NAMED_FILES else ""
    where = f" (files without audio: {problems_file}; without speech: `run.py CONFIG --check`)" if problems_file else ""
    return Verdict(Action.STOP, f"strict audio mode: only {share:.0%} of the {len(expected)} items that should "
                                f"carry a voice have speech after caching (minimum {minimum:.0%}), so the run stops "
                                f"before training. Files without speech: {named}{more}{where}. Replace them with "
                                "clips of the character speaking or remove them, set do_audio: false on a "
                                "video-only dataset, or lower train.strict_audio_min_supervised_ratio")


def _files_without_speech(expected) -> list[str]:
    """Each file with items lacking speech, named once with why: files with no speech at all
    first, then those with some windows between words (e.g. "3 of 5 windows without speech")."""
    by_file: dict[str, list] = defaultdict(list)
    for item in expected:
        by_file[item.path].append(item)
    whole, partial = [], []
    for path, items in sorted(by_file.items()):
        lacking = [item for item in items if not item.speech]
        if not lacking:
            continue
        if len(lacking) == len(items):
            whole.append(f"{Path(path).name} ({REASONS.get(lacking[0].audio_status, lacking[0].audio_status)})")
        else:
            partial.append(f"{Path(path).name} ({len(lacking)} of {len(items)} windows without speech)")
    return whole + partial


def in_training(settings: StrictAudioSettings, step: int, counts: ItemCounts) -> Verdict:
    """After the warm-up: SAVE_AND_STOP when the trained items' share with speech is too low.
    `step`: the step just trained (counted from 1). The run appends the saved checkpoint's
    name to the message."""
    if not settings.strict_audio_mode or step <= settings.strict_audio_warmup_steps:
        return GO_ON
    if not counts.seen:
        return GO_ON  # no item that should carry a voice trained yet (e.g. image batches first)
    ratio = counts.speech_ratio
    if ratio >= settings.strict_audio_min_supervised_ratio:
        return GO_ON
    return Verdict(Action.SAVE_AND_STOP, (
        f"strict audio mode: only {ratio:.0%} of the trained items that should carry a voice had speech after "
        f"step {step} (minimum {settings.strict_audio_min_supervised_ratio:.0%}). Likely causes: clips "
        f"whose audio is {KIND_WORDS['sound']} or silence (`run.py CONFIG --check` lists them), clips without an "
        "audio stream or with an undecodable audio track (see dataset_problems.txt), or stale latent caches."))
