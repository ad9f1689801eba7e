"""Why an item has (or has no) audio: the one list of audio statuses.

A ``str`` enum, so a status compares equal to its plain name (``AudioStatus.OK == "ok"``)
and is written as that name into cache metadata, JSON and status files; cache files
written before the enum existed hold the same names and read back unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class AudioStatus(StrEnum):
    OK = "ok"  # the item's waveform is there
    NO_STREAM = "no_stream"  # the video has no audio stream
    NOT_REQUESTED = "not_requested"  # the dataset's do_audio is off
    IMAGE = "image"  # a still image: no audio to have
    FAILED = "failed"  # the file has audio, but it cannot be decoded or is shorter than one window
    SILENT = "silent"  # the whole audio track is silent


def read_status(text: str | None) -> AudioStatus | None:
    """The status a cache file's metadata names, or None for a name no version ever wrote."""
    try:
        return AudioStatus(text)
    except ValueError:
        return None
