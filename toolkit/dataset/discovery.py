"""Find the media files of a dataset folder and pair them with their captions.

ai-toolkit layout: media files next to captions with the same base name
(``clip.mp4`` + ``clip.txt``), subfolders walked, hidden files and folders (name
starting with ``.``) skipped. Extensions are matched case-insensitively.

Captions are read as UTF-8 (a BOM is ignored), control characters removed with a note
(toolkit/dataset/captions.py) and stripped. A media file without a caption file gets
``default_caption`` (source ``"default"``) or, when that is empty, the empty caption
(source ``"missing"``); :attr:`DatasetScan.missing_captions` lists those files so the
caller can report them. A caption path that exists but cannot be read as a file (a
folder, a link that loops or points nowhere, a named pipe) is source ``"unreadable"``,
with what it is in ``caption_problem``: the file trains with an empty caption and is
reported, as a missing caption is.

Output folders of a training run inside the dataset folder (this trainer's or
ai-toolkit's: a run writes its samples, .mp4 with sound, next to its LoRA files) are never
read as data: a run started on the dataset's parent folder would otherwise train on its
own samples at the next start. They are recognised by the files a run writes
(:func:`training_output`) and listed in :attr:`DatasetScan.skipped_outputs`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.dataset.captions import clean_caption
from toolkit.dataset.confinement import check_inside, confinement_root
from toolkit.errors import UserInputError
from toolkit.media.audio_decode import AUDIO_EXTENSIONS
from toolkit.media.file_kind import not_a_file
from toolkit.media.video_decode import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

# A step checkpoint, `<name>_000000250.safetensors`: both trainers name them so.
_STEP_LORA = re.compile(r".+_\d{9}\.safetensors")
# An ai-toolkit sample, `<time>__<step:09d>_<index>.<ext>`.
_AITK_SAMPLE = re.compile(r"\d+__\d{9}_\d+\.\w+")


@dataclass(frozen=True)
class DatasetFile:
    """One media file of the dataset.

    Attributes:
        path: absolute path of the media file.
        kind: ``"video"``, ``"image"`` or ``"audio"`` (an audio-only file: it trains the
            voice alone).
        caption: caption text (stripped; may be empty).
        caption_source: ``"file"`` (read from the caption file), ``"default"``
            (``default_caption``), ``"missing"`` (no caption file, no default) or
            ``"unreadable"`` (the caption path is not a readable file).
        caption_problem: for ``"unreadable"``: the caption path and what it is.
        caption_note: what was cleaned out of the caption file (control characters), or None.
    """

    path: Path
    kind: str
    caption: str
    caption_source: str
    caption_problem: str | None = None
    caption_note: str | None = None


@dataclass
class DatasetScan:
    """Result of :func:`discover_dataset`.

    Attributes:
        folder: the dataset folder (absolute).
        files: media files in deterministic order (sorted by relative POSIX path).
        ignored: files that are neither media nor captions (sorted), for reporting.
        skipped_outputs: ``(folder, why)`` of each training run's output folder found
            inside, never read as data.
    """

    folder: Path
    files: list[DatasetFile] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)
    skipped_outputs: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def videos(self) -> list[DatasetFile]:
        return [f for f in self.files if f.kind == "video"]

    @property
    def images(self) -> list[DatasetFile]:
        return [f for f in self.files if f.kind == "image"]

    @property
    def audios(self) -> list[DatasetFile]:
        """Audio-only files (.wav .flac .mp3 .m4a .ogg .opus)."""
        return [f for f in self.files if f.kind == "audio"]

    @property
    def missing_captions(self) -> list[Path]:
        """Media files that had no caption file and no default caption."""
        return [f.path for f in self.files if f.caption_source == "missing"]

    @property
    def empty_captions(self) -> list[Path]:
        """Media files whose caption file exists but is empty after stripping."""
        return [f.path for f in self.files if f.caption_source == "file" and not f.caption]

    def outputs_line(self) -> str | None:
        """The one line that says which output folders were left out, or None."""
        if not self.skipped_outputs:
            return None
        named = "; ".join(f"{folder} ({why})" for folder, why in self.skipped_outputs)
        return (f"{len(self.skipped_outputs)} training output folder(s) inside {self.folder} are not read as "
                f"data (a run's samples and checkpoints must not train the next run): {named}. Keep "
                "training_folder outside the dataset folder")

    def summary(self) -> str:
        """One line for the log, e.g. "12 files (10 videos, 2 images), 1 without caption"."""
        text = f"{len(self.files)} files ({len(self.videos)} videos, {len(self.images)} images"
        text += f", {len(self.audios)} audio files)" if self.audios else ")"
        if self.missing_captions:
            text += f", {len(self.missing_captions)} without caption"
        if self.empty_captions:
            text += f", {len(self.empty_captions)} with an empty caption file"
        return text


def discover_dataset(folder, caption_ext: str = "txt", default_caption: str = "") -> DatasetScan:
    """Walk ``folder`` and return its media files with captions.

    Args:
        folder: dataset folder.
        caption_ext: caption file extension, with or without the dot (``"txt"``).
        default_caption: caption for media files without a caption file.

    Raises:
        UserInputError: the folder does not exist, is not a folder, holds no media
            file, or a caption file is not valid UTF-8.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise UserInputError(
            f"dataset folder {folder} does not exist; check folder_path in the config "
            "(relative paths are resolved from the current directory)"
        )
    if not folder.is_dir():
        raise UserInputError(f"dataset folder {folder} is not a folder; set folder_path to a folder")
    folder = folder.resolve()
    why = training_output(folder)
    if why is not None:
        raise UserInputError(
            f"dataset folder {folder} is the output folder of a training run ({why}), not a dataset: set "
            "folder_path to the folder with your clips and captions"
        )
    ext = caption_ext.lower().lstrip(".")
    if not ext:
        raise UserInputError("caption_ext must not be empty (e.g. 'txt')")
    default_caption = default_caption.strip()

    root = confinement_root()
    check_inside(folder, "dataset folder", root)
    scan = DatasetScan(folder=folder)
    for path in _walk(folder, scan.skipped_outputs):
        suffix = path.suffix.lower().lstrip(".")
        if suffix in VIDEO_EXTENSIONS:
            kind = "video"
        elif suffix in IMAGE_EXTENSIONS:
            kind = "image"
        elif suffix in AUDIO_EXTENSIONS:
            kind = "audio"
        else:
            if suffix != ext:
                scan.ignored.append(path)
            continue
        check_inside(path, "dataset file", root)
        for caption_path in (path.with_suffix("." + ext), path.with_suffix("." + ext.upper())):
            if caption_path.is_symlink():
                check_inside(caption_path, "caption file", root)
        scan.files.append(_with_caption(path, kind, ext, default_caption))

    if not scan.files:
        raise UserInputError(
            f"dataset folder {folder} holds no media files; put videos "
            f"({', '.join(VIDEO_EXTENSIONS)}), images ({', '.join(IMAGE_EXTENSIONS)}) or audio files "
            f"({', '.join(AUDIO_EXTENSIONS)}) in it, each with a .{ext} caption beside it (clip.mp4 + clip.{ext})"
        )
    return scan


def training_output(folder: Path, names: list[str] | None = None, dirs: list[str] | None = None) -> str | None:
    """Why ``folder`` is the output folder of a training run (the files that say so), or None.

    This trainer's: ``run.lock``, or ``status.json`` beside its log, metrics or config copy.
    ai-toolkit's: ``config.yaml`` beside ``optimizer.pt``, a step checkpoint
    (``<name>_000000250.safetensors``) or a ``samples/`` folder of its samples
    (``<time>__<step>_<n>.<ext>``)."""
    if names is None or dirs is None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return None  # unreadable: the walk reports nothing from it either
        dirs = [e.name for e in entries if _is_dir(e)]
        names = [e.name for e in entries if e.name not in dirs]
    files = set(names)
    if "run.lock" in files:
        return "run.lock"
    if "status.json" in files:
        beside = [n for n in ("log.txt", "metrics.jsonl", "config.yaml") if n in files]
        if beside:
            return ", ".join(["status.json", *beside])
    if "config.yaml" in files:
        if "optimizer.pt" in files:
            return "config.yaml, optimizer.pt"
        step = next((n for n in sorted(names) if _STEP_LORA.fullmatch(n)), None)
        if step:
            return f"config.yaml, {step}"
        if "samples" in dirs and _holds_aitk_samples(folder / "samples"):
            return "config.yaml, samples/ of ai-toolkit"
    return None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link that loops: not a folder (the walk lists it as a file, reported by name)
        return False


def _holds_aitk_samples(folder: Path) -> bool:
    try:
        return any(_AITK_SAMPLE.fullmatch(e.name) for e in os.scandir(folder))
    except OSError:
        return False


def _walk(folder: Path, skipped_outputs: list[tuple[Path, str]]) -> list[Path]:
    """Non-hidden files under ``folder`` (hidden folders and training output folders pruned,
    the latter recorded in ``skipped_outputs``), sorted by relative path."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        kept = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            sub = Path(root) / d
            why = training_output(sub)
            if why is not None:
                skipped_outputs.append((sub, why))
            else:
                kept.append(d)
        dirs[:] = kept
        for name in names:
            if not name.startswith("."):
                found.append(Path(root) / name)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _with_caption(media: Path, kind: str, ext: str, default_caption: str) -> DatasetFile:
    """The media file with its caption (see :class:`DatasetFile`)."""
    candidates = [media.with_suffix("." + ext)]
    if ext != ext.upper():
        candidates.append(media.with_suffix("." + ext.upper()))
    for caption_path in candidates:
        if not (caption_path.exists() or caption_path.is_symlink()):
            continue
        problem = not_a_file(caption_path)
        if problem is not None:
            return DatasetFile(media, kind, default_caption, "unreadable",
                               caption_problem=f"its caption path {caption_path.name} {problem}")
        try:
            text = caption_path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UserInputError(
                f"caption file {caption_path} is not valid UTF-8 ({exc.reason} at byte "
                f"{exc.start}); re-save it as UTF-8"
            ) from exc
        except OSError as exc:
            raise UserInputError(f"caption file {caption_path} cannot be read ({exc})") from exc
        text, note = clean_caption(text)
        return DatasetFile(media, kind, text.strip(), "file",
                           caption_note=None if note is None else f"caption {caption_path.name}: {note}")
    if default_caption:
        return DatasetFile(media, kind, default_caption, "default")
    return DatasetFile(media, kind, "", "missing")
