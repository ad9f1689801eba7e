"""Find the media files of a dataset folder and pair them with their captions.

ai-toolkit layout: media files next to captions with the same base name
(``clip.mp4`` + ``clip.txt``), subfolders walked, hidden files and folders (name
starting with ``.``) skipped. Extensions are matched case-insensitively.

Captions are read as UTF-8 (a BOM is ignored) and stripped. A media file without a
caption file gets ``default_caption`` (source ``"default"``) or, when that is empty,
the empty caption (source ``"missing"``); :attr:`DatasetScan.missing_captions` lists
those files so the caller can report them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.dataset.confinement import check_inside, confinement_root
from toolkit.errors import UserInputError
from toolkit.media.audio_decode import AUDIO_EXTENSIONS
from toolkit.media.video_decode import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS


@dataclass(frozen=True)
class DatasetFile:
    """One media file of the dataset.

    Attributes:
        path: absolute path of the media file.
        kind: ``"video"``, ``"image"`` or ``"audio"`` (an audio-only file: it trains the
            voice alone).
        caption: caption text (stripped; may be empty).
        caption_source: ``"file"`` (read from the caption file), ``"default"``
            (``default_caption``) or ``"missing"`` (no caption file, no default).
    """

    path: Path
    kind: str
    caption: str
    caption_source: str


@dataclass
class DatasetScan:
    """Result of :func:`discover_dataset`.

    Attributes:
        folder: the dataset folder (absolute).
        files: media files in deterministic order (sorted by relative POSIX path).
        ignored: files that are neither media nor captions (sorted), for reporting.
    """

    folder: Path
    files: list[DatasetFile] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

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
    ext = caption_ext.lower().lstrip(".")
    if not ext:
        raise UserInputError("caption_ext must not be empty (e.g. 'txt')")
    default_caption = default_caption.strip()

    root = confinement_root()
    check_inside(folder, "dataset folder", root)
    scan = DatasetScan(folder=folder)
    for path in _walk(folder):
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
        caption, source = _caption_for(path, ext, default_caption)
        scan.files.append(DatasetFile(path=path, kind=kind, caption=caption, caption_source=source))

    if not scan.files:
        raise UserInputError(
            f"dataset folder {folder} holds no media files; put videos "
            f"({', '.join(VIDEO_EXTENSIONS)}), images ({', '.join(IMAGE_EXTENSIONS)}) or audio files "
            f"({', '.join(AUDIO_EXTENSIONS)}) in it, each with a .{ext} caption beside it (clip.mp4 + clip.{ext})"
        )
    return scan


def _walk(folder: Path) -> list[Path]:
    """Non-hidden files under ``folder`` (hidden folders pruned), sorted by relative path."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith("."):
                found.append(Path(root) / name)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _caption_for(media: Path, ext: str, default_caption: str) -> tuple[str, str]:
    """Caption text and source for ``media`` (see :class:`DatasetFile`)."""
    candidates = [media.with_suffix("." + ext)]
    if ext != ext.upper():
        candidates.append(media.with_suffix("." + ext.upper()))
    for caption_path in candidates:
        if caption_path.is_file():
            try:
                return caption_path.read_text(encoding="utf-8-sig").strip(), "file"
            except UnicodeDecodeError as exc:
                raise UserInputError(
                    f"caption file {caption_path} is not valid UTF-8 ({exc.reason} at byte "
                    f"{exc.start}); re-save it as UTF-8"
                ) from exc
            except OSError as exc:
                raise UserInputError(f"caption file {caption_path} cannot be read ({exc})") from exc
    if default_caption:
        return default_caption, "default"
    return "", "missing"
