"""A preparation from start to end: sources -> analysis -> reference voice -> verdicts ->
clips, captions and prepare.jsonl.

Each step reuses what an earlier run kept (toolkit.prepare.state), so a second run over the
same footage writes nothing and an interrupted one goes on where it stopped. Only OUT is
written; SOURCE is only read.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from toolkit.atomic import remove_temp_files, write_error
from toolkit.errors import MediaError, UserInputError
from toolkit.media.audio_decode import AUDIO_EXTENSIONS, decode_audio
from toolkit.media.channels import phase_safe_mono
from toolkit.media.video_decode import VIDEO_EXTENSIONS
from toolkit.prepare import shots as shot_settings
from toolkit.prepare.analyse import SourceUnusable, analyse_source
from toolkit.prepare.captions import DEFAULT_TEMPLATE, place_caption, render
from toolkit.prepare.clips import window_audio as clip_audio
from toolkit.prepare.clips import write_clip
from toolkit.prepare.speakers import (
    BACKGROUND_DB,
    OTHER_THRESHOLD,
    SAME_THRESHOLD,
    Reference,
    WindowVoice,
    dominant_cluster,
    judge,
    reference_from_files,
)
from toolkit.prepare.state import (
    load_analysis,
    load_decisions,
    read_json,
    save_analysis,
    source_key,
    state_dir,
    write_json_if_changed,
    write_manifest,
)
from toolkit.prepare.windows import silent_quota, spread_pick
from toolkit.voice import speech, speech_segments
from toolkit.voice.similarity import SAMPLE_RATE, to_mono_16k
from toolkit.voice.transcribe import check_asr_model, choose_engine

MANIFEST = "prepare.jsonl"
LEFT_OUT = "left_out"  # under OUT/.prepare/: clips of windows left out, for review
SILENT_MUSIC_DBFS = -40.0  # a window without speech but louder than this holds music or noise
MEDIA_SUFFIXES = {"." + e for e in VIDEO_EXTENSIONS}
#: a reference voice may also come as an audio file, of any format a dataset takes
REFERENCE_SUFFIXES = MEDIA_SUFFIXES | {"." + e for e in AUDIO_EXTENSIONS}


@dataclass
class PrepareSettings:
    source: Path
    out: Path
    trigger: str
    reference: Path | None = None
    num_frames: int = 121
    fps: float = 24.0
    silent_share: float = 0.1
    asr_model: str | None = None
    template: str = DEFAULT_TEMPLATE
    seen: str = ""
    merge: bool = False
    loudness: float | None = None  # target LUFS, None: the audio is left as it is
    keep_marked: bool = False  # marked windows become clips of the dataset too
    left_out_clips: bool = False  # marked windows are cut into OUT/.prepare/left_out/ for review
    same_threshold: float = SAME_THRESHOLD
    other_threshold: float = OTHER_THRESHOLD
    background_db: float = BACKGROUND_DB
    show_progress: bool = True

    @property
    def length_s(self) -> float:
        return self.num_frames / self.fps


@dataclass
class PrepareResult:
    rows: list[dict] = field(default_factory=list)
    bad_sources: list[str] = field(default_factory=list)
    reference: str = ""
    written: int = 0  # clips written now
    captions_written: int = 0
    manifest_written: bool = False
    too_long: int = 0

    @property
    def kept(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "kept"]

    @property
    def marked(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "left_out"]


def _analysis_settings(s: PrepareSettings) -> dict:
    """What shapes an analysis (a change analyses every source again)."""
    return {"num_frames": s.num_frames, "fps": s.fps,
            "vad": [speech.VAD_THRESHOLD, speech.TARGET_DBFS, speech.MIN_SPEECH_S,
                    speech_segments.BRIDGE_S, speech_segments.MIN_RUN_S, speech_segments.PAUSE_MARGIN_S],
            "shots": [shot_settings.THRESHOLD, shot_settings.RATIO, shot_settings.MIN_SHOT_S]}


def list_sources(source: Path, out: Path, reference: Path | None) -> list[Path]:
    """The video files of SOURCE (a file or a folder, searched recursively; hidden folders,
    OUT and the reference folder left out)."""
    if not source.exists():
        raise UserInputError(f"SOURCE {source} does not exist: name a video file or a folder of videos")
    if source.is_file():
        return [source]
    skip = {p.resolve() for p in (out, reference) if p is not None and p.exists()}
    found = []
    for root, dirs, names in os.walk(source):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (root_path / d).resolve() not in skip)
        found += [root_path / n for n in sorted(names) if not n.startswith(".") and Path(n).suffix.lower() in MEDIA_SUFFIXES]
    if not found:
        raise UserInputError(f"SOURCE {source} holds no videos ({', '.join(VIDEO_EXTENSIONS)})")
    return found


def check_writable(out: Path) -> None:
    """Fail now, naming OUT, rather than after the analysis."""
    try:
        state_dir(out).mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise write_error(out, exc) from exc


def window_ids(sources: list[Path], analyses: dict[Path, dict]) -> dict[tuple[Path, float], str]:
    """A file-name-safe id per window: ``<source stem>_<start in ms>`` (a number added when
    two sources share a stem)."""
    stems: dict[str, int] = {}
    ids = {}
    for path in sources:
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem) or "source"
        stems[stem] = stems.get(stem, 0) + 1
        if stems[stem] > 1:
            stem = f"{stem}-{stems[stem]}"
        for w in analyses[path]["windows"] + analyses[path]["silent"]:
            ids[(path, w["start_s"])] = f"{stem}_{int(round(w['start_s'] * 1000)):08d}"
    return ids


class Preparer:
    def __init__(self, settings: PrepareSettings, log=None):
        self.s = settings
        self.log = log or (lambda line: print(line, flush=True))
        self._encoder = None
        self._engine = "unset"

    # --------------------------------------------------------------- lazy models
    @property
    def encoder(self):
        if self._encoder is None:
            from toolkit.voice.similarity import SpeakerEncoder  # noqa: PLC0415 (torch model: only when embedding)

            self._encoder = SpeakerEncoder()
        return self._encoder

    @property
    def engine(self):
        if self._engine == "unset":
            self._engine = choose_engine(self.s.asr_model)
            self.log(f"speech recognition: {self._engine.name if self._engine else 'off (--asr-model none)'}")
        return self._engine

    def _bar(self, items, desc: str, unit: str):
        return tqdm(items, desc=desc, unit=unit, disable=not self.s.show_progress, file=sys.stderr, leave=False)

    # --------------------------------------------------------------- steps
    def run(self) -> PrepareResult:
        s = self.s
        if s.num_frames < 9 or (s.num_frames - 1) % 8:
            raise UserInputError(f"--num-frames {s.num_frames}: LTX-2 windows are 8n+1 frames (9, 17, ..., 121)")
        check_asr_model(s.asr_model)  # a wrong --asr-model is named now, not after the analysis
        sources = list_sources(s.source, s.out, s.reference)
        check_writable(s.out)
        remove_temp_files(s.out)
        remove_temp_files(state_dir(s.out) / LEFT_OUT)
        # what a later keep (toolkit/prepare/decide.py) needs to caption a clip as this run would
        write_json_if_changed(state_dir(s.out) / "settings.json",
                              {"trigger": s.trigger, "template": s.template, "seen": s.seen,
                               "num_frames": s.num_frames, "fps": s.fps})
        result = PrepareResult()
        analyses = self._analyse(sources, result)
        usable = [p for p in sources if p in analyses]
        ids = window_ids(usable, analyses)
        reference = self._reference(usable, analyses, ids, result)
        result.reference = reference.source
        result.rows = self._verdicts(usable, analyses, ids, reference)
        self._write(result)
        if not result.kept:
            bad = "; ".join(result.bad_sources[:5]) or "no window passed"
            raise UserInputError(f"nothing usable in {s.source}: {bad}")
        return result

    def _analyse(self, sources: list[Path], result: PrepareResult) -> dict[Path, dict]:
        settings = _analysis_settings(self.s)
        analyses = {}
        bar = self._bar(sources, "analysing", "file")
        for path in bar:
            key = source_key(path, settings)
            found = load_analysis(self.s.out, key)
            if found is None:
                bar.set_postfix_str(path.name)
                try:
                    found = analyse_source(path, self.s.length_s, self.encoder)
                    found.update(version=1, source=str(path))
                except SourceUnusable as exc:
                    found = {"version": 1, "source": str(path), "unusable": exc.reason}
                save_analysis(self.s.out, key, found)
            if found.get("unusable"):
                result.bad_sources.append(f"{path}: {found['unusable']}")
                self.log(f"skipped {path}: {found['unusable']}")
                continue
            if not found["spans"]:
                result.bad_sources.append(f"{path}: {speech_segments.NO_SPEECH}")
                self.log(f"skipped {path}: {speech_segments.NO_SPEECH}")
                continue
            result.too_long += len(found["too_long"])
            analyses[path] = found
        return analyses

    def _reference(self, sources, analyses, ids, result) -> Reference:
        if self.s.reference is not None:
            return self._reference_files()
        keys, vectors, weights = [], [], []
        for path in sources:
            for w in analyses[path]["windows"]:
                if w["voice"]["vector"] is not None:
                    keys.append(ids[(path, w["start_s"])])
                    vectors.append(np.asarray(w["voice"]["vector"], np.float32))
                    weights.append(w["voice"]["speech_s"])
        return dominant_cluster(keys, vectors, weights)

    def _reference_files(self) -> Reference:
        ref = self.s.reference
        if not ref.exists():
            raise UserInputError(f"--reference {ref} does not exist: name a clip or a folder of clips of the character")
        files = [ref] if ref.is_file() else sorted(p for p in ref.rglob("*") if p.suffix.lower() in REFERENCE_SUFFIXES)
        if not files:
            raise UserInputError(f"--reference {ref} holds no clips with sound")
        stats = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
        cache_path = state_dir(self.s.out) / "reference.json"
        cached = read_json(cache_path, {})
        if cached.get("files") == stats and cached.get("vector"):
            return Reference(np.asarray(cached["vector"], np.float32), cached["source"])

        def decode(path):
            return phase_safe_mono(decode_audio(path, sample_rate=SAMPLE_RATE).numpy())

        reference, problems = reference_from_files(self.encoder, files, decode)
        for line in problems:
            self.log(f"reference: {line}")
        if reference.vector is None:
            raise UserInputError(f"--reference {ref}: no speech in any of its {len(files)} files; give clips where the "
                                 "character speaks")
        write_json_if_changed(cache_path, {"files": stats, "vector": [float(v) for v in reference.vector],
                                           "source": reference.source})
        return reference

    def _verdicts(self, sources, analyses, ids, reference: Reference) -> list[dict]:
        s = self.s
        decisions = load_decisions(s.out)
        rows, silent = [], []
        for path in sources:
            analysis = analyses[path]
            for w in analysis["windows"]:
                voice = WindowVoice(**w["voice"])
                verdict = judge(voice, reference.vector, s.same_threshold, s.other_threshold, s.background_db)
                if reference.vector is None and voice.vector is not None:
                    verdict.reasons.append("no_reference")
                row = self._row(path, ids[(path, w["start_s"])], w, analysis)
                row.update(speaker_score=verdict.score, phrase_scores=verdict.phrase_scores,
                           background_db=voice.background_db, reasons=verdict.reasons,
                           status="left_out" if verdict.reasons and not s.keep_marked else "kept")
                rows.append(row)
            for w in analysis["silent"]:
                row = self._row(path, ids[(path, w["start_s"])], w, analysis)
                row.update(speaker_score=None, phrase_scores=[], background_db=None, level_dbfs=w["level_dbfs"],
                           reasons=["music"] if w["level_dbfs"] > SILENT_MUSIC_DBFS else [], status="silent")
                silent.append(row)
        kept_speech = sum(r["status"] == "kept" for r in rows)
        quiet = [r for r in silent if not r["reasons"]]
        chosen = {r["id"] for r in spread_pick(quiet, silent_quota(kept_speech, s.silent_share))}
        for row in silent:
            if row["id"] in chosen:
                row["status"] = "kept"
                rows.append(row)
            elif row["reasons"] or row["id"] in decisions:
                row["status"] = "left_out"
                rows.append(row)
        for row in rows:
            row["decision"] = decisions.get(row["id"])
            if row["decision"]:
                row["status"] = "kept" if row["decision"] == "keep" else "left_out"
        rows.sort(key=lambda r: (r["source"], r["start_s"]))
        return rows

    def _row(self, path: Path, wid: str, w: dict, analysis: dict) -> dict:
        length = self.s.length_s
        return {"id": wid, "source": str(path), "start_s": w["start_s"], "end_s": round(w["start_s"] + length, 4),
                "shot": w["shot"], "num_frames": self.s.num_frames, "fps": self.s.fps,
                "speech_s": w["speech_s"], "speech_share": round(min(1.0, w["speech_s"] / length), 4)}

    # --------------------------------------------------------------- writing
    def _write(self, result: PrepareResult) -> None:
        s = self.s
        transcripts_path = state_dir(s.out) / "transcripts.json"
        transcripts = read_json(transcripts_path, {})
        captions_path = state_dir(s.out) / "captions.json"
        written_captions = read_json(captions_path, {})
        reports_path = state_dir(s.out) / "clips.json"
        reports = read_json(reports_path, {})
        left = state_dir(s.out) / LEFT_OUT
        todo = [r for r in result.rows if r["status"] == "kept" or s.left_out_clips]
        bar = self._bar(todo, "writing clips", "clip")
        try:
            for row in bar:
                self._place(row, left, transcripts, written_captions, reports, result)
                if result.written and result.written % 10 == 0:  # a resumed run keeps what was transcribed
                    write_json_if_changed(transcripts_path, transcripts)
                    write_json_if_changed(captions_path, written_captions)
                    write_json_if_changed(reports_path, reports)
        finally:
            write_json_if_changed(transcripts_path, transcripts)
            write_json_if_changed(captions_path, written_captions)
            write_json_if_changed(reports_path, reports)
        for row in result.rows:
            if row["status"] != "kept" and (s.out / f"{row['id']}.mp4").exists():
                self._move(row, s.out, left)  # dropped since: out of the training folder, kept for review
            row["clip"] = (f"{row['id']}.mp4" if row["status"] == "kept"
                           else f"{state_dir(s.out).name}/{LEFT_OUT}/{row['id']}.mp4"
                           if (left / f"{row['id']}.mp4").exists() else None)
            said = transcripts.get(row["id"], {})
            row.setdefault("transcript", said.get("text"))
            row.setdefault("asr_engine", said.get("engine"))
            row.setdefault("asr_confidence", said.get("confidence"))
            row.update(reports.get(row["id"], {}))
        result.manifest_written = write_manifest(s.out / MANIFEST, result.rows)

    def _move(self, row: dict, src: Path, dst: Path) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        for ext in (".mp4", ".txt"):
            if (src / f"{row['id']}{ext}").exists():
                os.replace(src / f"{row['id']}{ext}", dst / f"{row['id']}{ext}")

    def _place(self, row, left: Path, transcripts, written_captions, reports, result) -> None:
        s = self.s
        kept = row["status"] == "kept"
        folder = s.out if kept else left
        clip = folder / f"{row['id']}.mp4"
        other = (left if kept else s.out) / f"{row['id']}.mp4"
        if not clip.exists() and other.exists():
            self._move(row, other.parent, folder)  # the user's keep / drop: the clip changes folder
        source = Path(row["source"])
        audio = None
        entry = transcripts.get(row["id"])
        if row["speech_s"] > 0 and entry is None:
            audio = clip_audio(source, row["start_s"], s.num_frames, s.fps)
            if self.engine is not None:
                said = self.engine.transcribe(to_mono_16k(audio, 48000))
                entry = {"text": said.text, "confidence": said.confidence, "engine": said.engine}
                transcripts[row["id"]] = entry
        entry = entry or {"text": "", "confidence": None, "engine": None}
        row.update(transcript=entry["text"], asr_engine=entry["engine"], asr_confidence=entry["confidence"])
        if not clip.exists():
            if audio is None:
                audio = clip_audio(source, row["start_s"], s.num_frames, s.fps)
            folder.mkdir(parents=True, exist_ok=True)
            try:
                reports[row["id"]] = write_clip(source, clip, row["start_s"], s.num_frames, s.fps, audio, s.loudness)
            except MediaError as exc:
                result.bad_sources.append(f"{source}: the window at {row['start_s']:.2f} s cannot be cut ({exc.problem})")
                self.log(f"skipped the window at {row['start_s']:.2f} s of {source}: {exc.problem}")
                row["status"] = "failed"
                return
            result.written += 1
        if not kept:
            return
        machine = render(s.template, s.trigger, s.seen, entry["text"])
        caption, by, sha, wrote = place_caption(s.out / f"{row['id']}.txt", machine,
                                                written_captions.get(row["id"]), entry["text"], s.merge)
        if sha is not None:
            written_captions[row["id"]] = sha
        result.captions_written += wrote
        row.update(caption=caption, caption_by=by, caption_review=by != "user")
