"""`python run.py CONFIG --check`: read every dataset of a process, load no model.

For each dataset it prints counts of clips, images and audio files, clips with and without an audio
stream, clip durations (min/median/max), frame rates, sizes, caption problems (missing or
empty caption files), clips shorter than ``num_frames`` at ``fps``, the items an epoch
gives, then each problem by file with what to do about it.

Every window the run will use is examined, planned exactly as the run plans it
(:mod:`toolkit.dataset.window_plan`: the same seed, the same window sets, windows only where
both tracks are): its last frame must decode and, with audio on, its audio must decode as
training decodes it. So a folder that passes never loses items or voice in the run for
reasons in the data. The audio lines count those windows as the run does, with the trainer's
one speech detector (toolkit/voice/speech.py): speech, non-speech audio (music, tones,
noise), silence, and without audio; then a ``voice:`` line says what the run will do with
that (a set of music clips trains audio, but it is not a voice), the clips with no speech at
all are noted by file (a note, not a problem), and the clips whose audio ends before their
video are counted, each named with by how much ("truncated?" when its video packets also
end before the length its header declares: a file cut short, itself a problem).

A *problem* is a file the training run would skip (corrupt, zero-byte, truncated,
unsupported, too short) or lose windows of, or train without something it was meant to
have: without its voice (no audio stream, undecodable audio, an audio track that is silent
or shorter than one window, while ``do_audio`` is on) or without its caption. An audio file
(.wav .flac .mp3 .m4a .ogg .opus) is planned and decoded window by window as the run does
(toolkit.dataset.window_plan.plan_audio_file); its windows count as voice, and one that would
give no window with voice (no stream, undecodable, silent, shorter than one window, or in a
dataset with ``do_audio`` off) is a problem. A run over such a folder still trains (it skips or degrades those files with a
warning each), but ``--check`` is the gate before hours of training: a dataset that would
lose files, windows, voice or captions is bad input, like a bad config. It returns normally
(exit 0) when no file has a problem, whatever notes it printed (clips whose audio ends
early, clips without speech, a model not downloaded yet), and raises :class:`toolkit.errors.UserInputError`
(exit 2) otherwise, with a one-line summary naming the files. A missing folder, or one
without media, is the same error, as in the run.

Only the media layer is imported here (PyAV, numpy, torch): never diffusers, transformers
or the model adapter, so a check runs in seconds without the model's weights.
"""

from __future__ import annotations

import random
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from toolkit.dataloader_mixins import CACHE_DIR_NAME
from toolkit.dataset.audio_coverage import audio_notes
from toolkit.dataset.audio_status import AudioStatus
from toolkit.dataset.captions import TEXT_ENCODER_TOKENS, estimated_tokens, long_caption_lines
from toolkit.dataset.discovery import DatasetFile, discover_dataset
from toolkit.dataset.frames import MAX_WINDOWS_PER_CLIP, spread_audio_warning
from toolkit.dataset.items import frame_window, load_audio_window, window_audio
from toolkit.dataset.window_plan import ClipPlan, plan_audio_file, plan_clip
from toolkit.errors import MediaError, UserInputError
from toolkit.family.registry import family_for_arch
from toolkit.media.video_decode import decode_frames, demuxed_video_end_s, probe_media
from toolkit.voice.consistency import consistency_lines
from toolkit.voice.speech import KIND_WORDS, KINDS, SPEECH, counts_line

#: A video stream may end this much (s) before its declared length without being called
#: truncated (a header rounded up, a last frame's duration); 5 % of the clip counts too.
TRUNCATION_SLACK_S = 0.5


@dataclass
class FileCheck:
    """What the check found about one media file."""

    path: Path
    kind: str  # "video" | "image" | "audio"
    readable: bool = False
    duration_s: float | None = None
    fps: float | None = None
    size: tuple[int, int] | None = None
    has_audio: bool | None = None
    too_short: bool = False
    windows: int = 0  # items this file gives per flip and repeat
    encoded: int = 0  # windows the run encodes per flip and resolution (every window set)
    kinds: Counter = field(default_factory=Counter)  # of those, windows by kind (speech, sound, silence)
    has_speech: bool = False  # the whole track holds speech (the reference voice's rule)
    audio_ends_early_s: float = 0.0
    frames_end_s: float | None = None  # set when the video's packets end well before its declared length
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was done about it that the run does too


@dataclass
class DatasetCheck:
    """The check of one dataset: its settings and every file's findings."""

    folder: Path
    num_frames: int
    fps: float
    do_audio: bool
    spread: bool
    auto_frames: bool
    resolutions: list
    copies: int  # flips x num_repeats
    flips: int
    seed: int
    max_windows: int
    window_variants: int
    audio_normalize: bool
    preserve_pitch: bool = True  # spread only: audio time-stretched at its own pitch, as the run does
    cache_to_disk: bool = False  # read (and keep) each clip's audio scan where the run keeps it
    files: list[FileCheck] = field(default_factory=list)
    missing_captions: list[Path] = field(default_factory=list)
    empty_captions: list[Path] = field(default_factory=list)
    outputs_line: str | None = None  # training output folders inside, left out (said once)

    @property
    def problems(self) -> list[tuple[Path, str]]:
        return [(f.path, p) for f in self.files for p in f.problems]

    @property
    def notes(self) -> list[tuple[Path, str]]:
        return [(f.path, n) for f in self.files for n in f.notes]

    @property
    def items(self) -> int:
        pictures = sum(f.windows for f in self.files if f.kind != "audio") * self.copies * len(self.resolutions)
        return pictures + sum(f.windows for f in self.files if f.kind == "audio") * (self.copies // self.flips)

    def encoded_counts(self) -> dict:
        """Windows the run encodes ("windows") and how many are speech, sound and silence,
        flips and resolutions included (num_repeats not: a repeat is the same encoded item; an
        audio file is encoded once)."""
        times = self.flips * len(self.resolutions)

        def total(count) -> int:
            return sum(count(f) * (1 if f.kind == "audio" else times) for f in self.files)

        counts = {"windows": total(lambda f: f.encoded)}
        counts.update({kind: total(lambda f, k=kind: f.kinds[k]) for kind in KINDS})
        return counts

    def voice_line(self) -> str:
        """What the data holds and what the run does with it, in the words of every report."""
        clips = [f for f in self.files if f.kind in ("video", "audio") and f.readable]
        counts = self.encoded_counts()
        audio = sum(counts[kind] for kind in KINDS)
        speaking = sum(f.has_speech for f in clips)
        if not audio:
            return ("voice: no clip trains audio (see the problems above): the run learns no voice; the voice "
                    "metric has no voice to compare samples with, and strict audio mode would stop the run")
        if not counts[SPEECH]:
            return (f"voice: no speech in these clips: the run trains their audio ({audio} windows of "
                    f"{KIND_WORDS['sound']} or silence), but learns no voice; the voice metric has no voice to "
                    "compare samples with, and strict audio mode would stop the run. Add clips of the character "
                    "speaking")
        files = "clips and audio files" if any(f.kind == "audio" for f in clips) else "clips"
        return (f"voice: {counts[SPEECH]} of {counts['windows']} windows have speech "
                f"({counts[SPEECH] / counts['windows']:.0%}), in {speaking} of {len(clips)} {files}; every window "
                "with audio trains it, the speech windows teach the voice (strict audio mode counts them)")

    def lines(self) -> list[str]:
        clips = [f for f in self.files if f.kind == "video"]
        images = [f for f in self.files if f.kind == "image"]
        audios = [f for f in self.files if f.kind == "audio"]
        readable = [f for f in clips if f.readable]
        window_s = self.num_frames / self.fps
        mode = "frames spread over each whole clip" if self.spread else "contiguous natural-speed windows"
        out = [
            f"  settings: {self.num_frames} frames at {self.fps:g} fps ({window_s:.3f} s), {mode}"
            f"{', auto_frame_count' if self.auto_frames else ''}, audio {'on' if self.do_audio else 'off'}, "
            f"resolution {', '.join(str(r) for r in self.resolutions)}",
        ]
        if self.spread and self.do_audio:
            out.append("  warning: " + spread_audio_warning(self.num_frames, self.preserve_pitch))
        if self.outputs_line:
            out.append(f"  skipped: {self.outputs_line}")
        out += [
            f"  files: {len(self.files)} = {len(clips)} clips + {len(images)} images"
            + (f" + {len(audios)} audio files" if audios else "")
            + f" ({sum(not f.readable for f in self.files)} unreadable)",
            f"  clips with audio: {sum(bool(f.has_audio) for f in readable)}, "
            f"without audio: {sum(f.has_audio is False for f in readable)}",
        ]
        durations = [f.duration_s for f in readable]
        if durations:
            out.append(f"  duration: min {min(durations):.2f} s, median {statistics.median(durations):.2f} s, "
                       f"max {max(durations):.2f} s")
            rates = Counter(f"{f.fps:.4g}" for f in readable)
            out.append("  fps: " + ", ".join(f"{r} ({n} clips)" for r, n in rates.most_common()))
        sizes = Counter(f"{f.size[0]}x{f.size[1]}" for f in self.files if f.size)
        if sizes:
            shown = sizes.most_common(6)
            more = f", {len(sizes) - len(shown)} more sizes" if len(sizes) > len(shown) else ""
            out.append("  sizes: " + ", ".join(f"{s} ({n})" for s, n in shown) + more)
        out.append(f"  captions: {len(self.missing_captions)} missing, {len(self.empty_captions)} empty")
        out.append(f"  clips shorter than {window_s:.3f} s ({self.num_frames} frames at {self.fps:g} fps): "
                   f"{sum(f.too_short for f in clips)}")
        out.append(f"  items per epoch: {self.items} (windows of long clips, flips, repeats and resolutions "
                   "included)")
        if audios:
            lengths = [f.duration_s for f in audios if f.duration_s]
            span = f", {min(lengths):.2f}-{max(lengths):.2f} s long" if lengths else ""
            out.append(f"  audio files: {len(audios)}{span}, {sum(f.windows for f in audios)} windows of "
                       f"{window_s:.3f} s (sound without picture: they train the audio only, once per epoch "
                       "whatever the flips and resolutions)")
        if self.do_audio and (clips or audios):
            counts = self.encoded_counts()
            without = counts["windows"] - sum(counts[kind] for kind in KINDS)
            out.append(f"  audio: {counts['windows']} windows checked (every cached window set, flips and "
                       f"resolutions): {counts_line(counts)}, {without} without audio")
            out.append("  " + self.voice_line())
            early = [f for f in clips if f.audio_ends_early_s > 0]
            if early:
                worst = max(f.audio_ends_early_s for f in early)
                out.append(f"  clips whose audio ends before their video: {len(early)} (by up to {worst:.2f} s; "
                           "their windows stay where both tracks are):")
                out += [f"    {f.path}: by {f.audio_ends_early_s:.2f} s"
                        + (" (truncated?)" if f.frames_end_s is not None else "") for f in early]
        notes = self.notes
        if notes:
            out.append(f"  notes ({len(notes)}):")
            out += [f"    {path}: {text}" for path, text in notes]
        problems = self.problems
        if problems:
            out.append(f"  problems ({len(problems)}):")
            out += [f"    {path}: {text}" for path, text in problems]
        else:
            out.append("  problems: none")
        return out


def check_datasets(process_config, show_progress: bool = True) -> list[DatasetCheck]:
    """Check every dataset of ``process_config`` and print the findings to stdout.

    Returns the checks when no file has a problem. Raises UserInputError (exit 2) naming the
    files with problems, or a missing or media-less folder.
    """
    family = family_for_arch(process_config.model.arch)
    print(f"model: {family.describe_model_source(process_config.model)}")
    for note in family.hub_download_notes(process_config.model):
        # the data can be checked while the model downloads; --validate and the run refuse it
        print(f"warning: {note} (the training run stops on this; the data check goes on)", file=sys.stderr)
    checks = []
    seed = process_config.train.seed  # as the run
    datasets = list(process_config.datasets)
    for number, ds in enumerate(datasets, 1):
        check = check_dataset(ds, show_progress=show_progress, seed=seed)
        checks.append(check)
        print(f"dataset {number} of {len(datasets)}: {check.folder}")
        for line in check.lines():
            print(line)
        for line in consistency_lines(ds):  # toolkit/voice/consistency.py
            print(line)
        sys.stdout.flush()
    bad_files = list(dict.fromkeys(path for check in checks for path, _ in check.problems))
    if bad_files:
        count = sum(len(check.problems) for check in checks)
        named = ", ".join(str(p) for p in bad_files[:3]) + (
            f" and {len(bad_files) - 3} more" if len(bad_files) > 3 else "")
        raise UserInputError(
            f"dataset check: {count} problem{'s' if count != 1 else ''} in {len(bad_files)} "
            f"file{'s' if len(bad_files) != 1 else ''} ({named}; each listed above with what to do): fix or "
            "remove them: a training run would skip them or train them without their voice or caption"
        )
    items = sum(check.items for check in checks)
    print(f"dataset check: ok: {len(checks)} dataset{'s' if len(checks) != 1 else ''}, "
          f"{items} items per epoch can train")
    return checks


def check_dataset(ds, seed: int, show_progress: bool = True) -> DatasetCheck:
    """Check one dataset config (a toolkit.config_modules.DatasetConfig); ``seed`` is the
    run's (train.seed), which places the windows."""
    scan = discover_dataset(ds.folder_path, caption_ext=ds.caption_ext, default_caption=ds.default_caption)
    flips = 1 + bool(ds.flip_x) + bool(ds.flip_y)
    check = DatasetCheck(
        folder=scan.folder, num_frames=int(ds.num_frames), fps=float(ds.fps), do_audio=bool(ds.do_audio),
        spread=bool(ds.shrink_video_to_frames), auto_frames=bool(ds.auto_frame_count),
        resolutions=list(ds.resolution), copies=flips * int(ds.num_repeats), flips=flips, seed=seed,
        max_windows=MAX_WINDOWS_PER_CLIP, window_variants=int(ds.window_variants),
        audio_normalize=bool(ds.audio_normalize), preserve_pitch=bool(ds.audio_preserve_pitch),
        cache_to_disk=bool(ds.cache_latents_to_disk),
    )
    check.outputs_line = scan.outputs_line()
    long_captions = dict(long_caption_lines(_captions_of(scan), estimated_tokens, TEXT_ENCODER_TOKENS,
                                            exact=False))
    for file in tqdm(scan.files, desc=f"checking {scan.folder.name}", unit="file", leave=False,
                     disable=not show_progress, file=sys.stderr):
        found = _check_file(file, check)
        _check_caption(file, found, check, ds.caption_ext)
        if str(file.path) in long_captions:
            found.notes.append(long_captions[str(file.path)])
        check.files.append(found)
    return check


def _captions_of(scan) -> dict[str, list[str]]:
    """caption text -> the files with it (the run adds the trigger word: a few tokens)."""
    captions: dict[str, list[str]] = {}
    for file in scan.files:
        captions.setdefault(file.caption, []).append(str(file.path))
    return captions


def _check_caption(file: DatasetFile, found: FileCheck, check: DatasetCheck, caption_ext: str) -> None:
    caption_file = Path(file.path).with_suffix("." + caption_ext)
    if file.caption_source == "missing":
        check.missing_captions.append(file.path)
        found.problems.append(f"no caption file: add {caption_file.name} beside it (or set default_caption)")
    elif file.caption_source == "unreadable":
        check.missing_captions.append(file.path)
        found.problems.append(f"{file.caption_problem}; the caption must be a text file beside the clip")
    elif file.caption_source == "file" and not file.caption:
        check.empty_captions.append(file.path)
        found.problems.append(f"the caption file {caption_file.name} is empty: write the caption in it")
    if file.caption_note:
        found.notes.append(file.caption_note)


def _check_file(file: DatasetFile, check: DatasetCheck) -> FileCheck:
    found = FileCheck(path=file.path, kind=file.kind)
    if file.kind == "audio":
        return _check_audio_file(file, check, found)
    try:
        info = probe_media(file.path)
    except MediaError as exc:
        found.problems.append(f"unreadable, a run skips it: {exc.problem}")
        return found
    found.readable = True
    found.size = (info.width, info.height)
    if file.kind != "video":
        found.windows = 1
        return found
    found.duration_s, found.fps, found.has_audio = info.duration_s, info.fps, info.has_audio
    _check_truncation(file.path, info.duration_s, found)
    try:
        plan = plan_clip(file.path, info.duration_s, info.has_audio, num_frames=check.num_frames, fps=check.fps,
                         spread=check.spread, auto_frames=check.auto_frames, do_audio=check.do_audio,
                         seed=check.seed, max_windows=check.max_windows, window_variants=check.window_variants,
                         keep_scan_in=Path(file.path).parent / CACHE_DIR_NAME if check.cache_to_disk else None)
    except MediaError as exc:
        found.too_short = True
        found.problems.append(f"too short, a run skips it: {exc.problem}")
        return found
    found.windows = sum(w.variant == 0 for w in plan.windows)
    found.encoded = len(plan.windows)
    found.audio_ends_early_s = plan.audio_ends_early_s
    windows = [frame_window(info.duration_s, w.num_frames, check.fps, random.Random(w.index), check.spread,
                            path=file.path, start_s=w.start_s, span=w.span) for w in plan.windows]
    lost = _check_frames(file.path, windows)
    if lost:
        found.problems.append(lost)
    if check.do_audio:
        _check_audio(file.path, plan, windows, check, found)
    return found


def _check_audio_file(file: DatasetFile, check: DatasetCheck, found: FileCheck) -> FileCheck:
    """An audio-only file: planned as the run plans it, each window decoded as the run decodes
    it and named speech, non-speech audio or silence by the same detector."""
    if not check.do_audio:
        found.problems.append("an audio file in a dataset with do_audio off trains nothing, a run skips it: set "
                              "num_frames above 1 (audio files are cut into windows of num_frames / fps seconds) "
                              "and leave do_audio on, or remove it")
        return found
    try:
        plan = plan_audio_file(file.path, num_frames=check.num_frames, fps=check.fps, auto_frames=check.auto_frames,
                               seed=check.seed, max_windows=check.max_windows, window_variants=check.window_variants,
                               keep_scan_in=Path(file.path).parent / CACHE_DIR_NAME if check.cache_to_disk else None)
    except MediaError as exc:
        found.problems.append(f"a run skips it: {exc.problem}")
        return found
    found.readable, found.has_audio = True, True
    found.duration_s = plan.coverage.end_s if plan.coverage is not None else None
    found.windows = sum(w.variant == 0 for w in plan.windows)
    found.encoded = len(plan.windows)
    found.notes += audio_notes(plan.coverage) if plan.coverage is not None else []
    found.has_speech = plan.coverage is not None and plan.coverage.has_speech
    failed = []
    for number, window in enumerate(plan.windows):
        _, status, problem = load_audio_window(file, num_frames=window.num_frames, fps=check.fps,
                                               start_s=window.start_s, audio_normalize=check.audio_normalize,
                                               stream=plan.audio_stream)
        if status == AudioStatus.OK:
            found.kinds[plan.kinds[number]] += 1
        else:
            failed.append((window.start_s, problem))
    if not found.has_speech:  # a note, not a problem: its audio trains, it is just not a voice
        found.notes.append(f"no speech in its audio ({KIND_WORDS['sound']}): it trains audio, but no voice")
    if failed:
        found.problems.append(f"{len(failed)} of its {len(plan.windows)} windows cannot be decoded (from "
                              f"{failed[0][0]:.2f} s), a run skips them: {failed[0][1]}")
    return found


def _check_truncation(path: Path, declared_s: float, found: FileCheck) -> None:
    """A clip whose video packets end well before the length its header declares was cut
    short (an upload that stopped, a copy that failed): it is a problem, named as such, even
    though its first part trains; its audio then "ends early" too, and says why."""
    try:
        end = demuxed_video_end_s(path)
    except MediaError:
        return  # probing opened it; a failure here shows up in the frame check
    if end is None or declared_s - end <= max(TRUNCATION_SLACK_S, 0.05 * declared_s):
        return
    found.frames_end_s = end
    found.problems.append(
        f"truncated? its video stream declares {declared_s:.2f} s but its frames end at {end:.2f} s "
        f"({end / declared_s:.0%}); a run trains only the part that is there: copy or export the whole file again")


def _check_frames(path: Path, windows: list) -> str | None:
    """Every window's last frame decodes (one pass over the clip); else which windows a run
    would skip, and why."""
    try:
        decode_frames(path, [w.times_s[-1] for w in windows])
        return None
    except MediaError as first:
        failing = []
        for w in windows:  # only for a broken file: find which windows fail
            try:
                decode_frames(path, [w.times_s[-1]])
            except MediaError:
                failing.append(w)
        if not failing:
            return f"its frames cannot be decoded in one pass, a run may skip windows of it: {first.problem}"
        return (f"{len(failing)} of its {len(windows)} windows cannot be decoded (from {failing[0].start_s:.2f} s), "
                f"a run skips them: {first.problem}")


def _check_audio(path: Path, plan: ClipPlan, windows: list, check: DatasetCheck, found: FileCheck) -> None:
    """The plan's verdict on the clip's audio, then each window's audio decoded as training
    decodes it (the decoders' errors are named)."""
    if plan.coverage is not None:
        found.notes += audio_notes(plan.coverage)
    if plan.audio_status == AudioStatus.NO_STREAM:
        found.has_audio = False
        found.problems.append("has no audio stream, so it would train without voice: add the character's "
                              "voice to it, remove it, or set do_audio: false for a video-only dataset")
        return
    if plan.audio_status == AudioStatus.SILENT:
        found.problems.append(f"{plan.audio_problem}, so it would train without voice: replace its audio with "
                              "the character speaking, or remove it")
        return
    if plan.audio_status == AudioStatus.FAILED:
        found.problems.append(f"it would train without voice: {plan.audio_problem}")
        return
    found.has_speech = plan.coverage.has_speech
    failed = []
    for number, (planned, window) in enumerate(zip(plan.windows, windows, strict=True)):
        _, status, problem = window_audio(path, window, planned.num_frames, check.fps, check.spread,
                                          check.audio_normalize, check.preserve_pitch, plan.audio_stream)
        if status == AudioStatus.OK:
            found.kinds[plan.kinds[number]] += 1
        else:
            failed.append((window.start_s, problem))
    if not found.has_speech:  # a note, not a problem: its audio trains, it is just not a voice
        found.notes.append(f"no speech in its audio ({KIND_WORDS['sound']}): it trains audio, but no voice")
    if failed:
        found.problems.append(
            f"the audio of {len(failed)} of its {len(windows)} windows cannot be decoded (from {failed[0][0]:.2f} s), "
            f"so they would train without voice: {failed[0][1]}")
