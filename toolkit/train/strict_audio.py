"""Strict audio mode (``train.strict_audio_mode``): stop a run that would train without voice.

Voice means speech: an item counts when its window has speech by the trainer's one speech
detector (toolkit/voice/speech.py, the one `--check`, the caching summary and the voice
metric use). Music, tones, noise and silence train the audio track, but a set of them is not
a voice, so strict mode does not count them.

Only items that should carry a voice count: clips of datasets with ``do_audio`` on. Images
and clips of ``do_audio: false`` datasets are not missing anything, so they are in neither
side of the share (a character preset with a clip dataset and an image dataset is never
stopped for its images).

Two decisions, both against ``strict_audio_min_supervised_ratio``:

* :func:`check_after_caching`: once the items are cached, their share with speech is
  known exactly; when it is already too low the run stops before the first step, naming
  the files without speech. Waiting for the warm-up would only spend GPU time on a result
  that is already decided.
* :func:`check_in_training`: after ``strict_audio_warmup_steps``, the share among the items
  the steps actually trained (``speech_ratio`` in metrics.jsonl). The warm-up applies here
  only: a few batches are too few to judge a share by.

When strict mode stops a run, ``log.txt`` holds the reason and ``status.json`` the error and
the checkpoint saved (none when it stopped before training).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from toolkit.dataset.audio_status import AudioStatus
from toolkit.errors import RunFailed
from toolkit.voice.speech import KIND_WORDS

#: Audio statuses of items that are not meant to carry a voice (see EncodedItem.audio_status).
NOT_EXPECTED = (AudioStatus.IMAGE, AudioStatus.NOT_REQUESTED)
#: Why an item that should carry a voice has none, as the file list says it ("ok": its audio
#: trains, but holds no speech).
REASONS = {AudioStatus.NO_STREAM: "no audio stream", AudioStatus.FAILED: "audio not usable",
           AudioStatus.SILENT: "silent audio track", AudioStatus.OK: f"no speech: {KIND_WORDS['sound']} or silence"}
#: Files named in the message itself; the problems file lists them all.
NAMED_FILES = 8


def expects_voice(item) -> bool:
    """The item is a clip of a dataset with audio on (whether or not its audio arrived)."""
    return item.audio_status not in NOT_EXPECTED


def count_expected(items) -> int:
    return sum(expects_voice(item) for item in items)


def check_after_caching(train, items, out, problems_file: Path | None = None) -> None:
    """Stop before training when the cached items already fall short. Raises RunFailed."""
    if not train.strict_audio_mode:
        return
    expected = [item for item in items if expects_voice(item)]
    minimum = train.strict_audio_min_supervised_ratio
    if not expected:
        _stop(out, "strict audio mode: no training item should carry a voice (no clip of a dataset with do_audio "
                   "on was loaded); add clips with the character speaking, or turn train.strict_audio_mode off")
    speaking = sum(item.speech for item in expected)
    share = speaking / len(expected)
    if share >= minimum:
        out.info(f"strict audio mode: {speaking} of {len(expected)} items that should carry a voice have speech "
                 f"({share:.0%}, minimum {minimum:.0%})")
        return
    files = _files_without_speech(expected)
    named = ", ".join(files[:NAMED_FILES])
    more = f" and {len(files) - NAMED_FILES} more" if len(files) > NAMED_FILES else ""
    where = f" (files without audio: {problems_file}; without speech: `run.py CONFIG --check`)" if problems_file else ""
    _stop(out, f"strict audio mode: only {share:.0%} of the {len(expected)} items that should carry a voice have "
               f"speech after caching (minimum {minimum:.0%}), so the run stops before training. Files without "
               f"speech: {named}{more}{where}. Replace them with clips of the character speaking or remove them, "
               "set do_audio: false on a video-only dataset, or lower train.strict_audio_min_supervised_ratio")


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


def check_in_training(process) -> None:
    """After the warm-up: stop when the trained items' share with speech is too low, saving a
    checkpoint first. Called after each optimizer step (before the step counter moves)."""
    train = process.config.train
    if not train.strict_audio_mode or process.step + 1 <= train.strict_audio_warmup_steps:
        return
    if not process.items_seen:
        return  # no item that should carry a voice trained yet (e.g. image batches first)
    ratio = process.speech_ratio()
    if ratio >= train.strict_audio_min_supervised_ratio:
        return
    process.step += 1
    path = process.save_checkpoint()
    process.out.update_status(last_checkpoint=str(path))
    message = (
        f"strict audio mode: only {ratio:.0%} of the trained items that should carry a voice had speech after "
        f"step {process.step} (minimum {train.strict_audio_min_supervised_ratio:.0%}). Likely causes: clips "
        f"whose audio is {KIND_WORDS['sound']} or silence (`run.py CONFIG --check` lists them), clips without an "
        "audio stream or with an undecodable audio track (see dataset_problems.txt), or stale latent caches. "
        f"Checkpoint saved: {path.name}")
    process.out.log_failure(message)
    process._fail_together(message)


def _stop(out, message: str) -> None:
    out.log_failure(message)
    raise RunFailed(message)
