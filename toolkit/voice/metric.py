"""Per-sample voice similarity during a run (`sample.voice_metric`, docs/voice_metric.md).

After each sampling, every sample's audio is embedded and compared with
- the reference voice (the training clips' speech, toolkit.voice.reference): `similarity`;
- the base model's sample of the same job (`samples/base/<key>.mp4`, rendered with the
  network switched off at the run's first sampling and kept: toolkit/voice/base_samples.py): `vs_base`;
and the base sample's own similarity is the prompt's `baseline`.

Written to metrics.jsonl as one row per sampling (flat keys, so TensorBoard gets scalars):
    {"step": 100, "voice_similarity": mean, "voice_similarity_00": .., "voice_vs_base_00": ..,
     "voice_baseline_00": .., "voice_speech_s_00": .., "time": ..}
and to status.json under "voice" (reference counts, prompts, baseline and the whole history
with each sample's seconds of speech, which the web UI charts and uses to say why a chart is
empty or flat), and printed on the console. A sample without speech scores 0.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from toolkit.errors import MediaError, NoAudioStream, UserInputError
from toolkit.media.audio_decode import decode_audio
from toolkit.run.sampling import SampleJob
from toolkit.voice.base_samples import base_sample_paths, model_source
from toolkit.voice.reference import build_reference_voice
from toolkit.voice.similarity import SpeakerEncoder, VoiceScorerUnavailable, cosine

HISTORY_LIMIT = 2000  # samplings kept in status.json (metrics.jsonl keeps them all)


def voice_row_keys(index: int) -> tuple[str, str, str, str]:
    return (f"voice_similarity_{index:02d}", f"voice_vs_base_{index:02d}", f"voice_baseline_{index:02d}",
            f"voice_speech_s_{index:02d}")


class VoiceMetric:
    def __init__(self, out, encoder, reference, prompts: list[str], base_paths: list[Path]):
        """`base_paths`: where each prompt's base sample is kept (toolkit/voice/base_samples.py); a
        file not there yet (rendered at the first sampling) scores "base n/a" until it is."""
        self.out = out
        self.encoder = encoder
        self.reference = reference
        self.prompts = prompts
        self.base_paths = base_paths
        self._base: dict[int, tuple[tuple, np.ndarray | None]] = {}  # index -> (file identity, embedding)
        self.history: list[dict] = self._history_from_metrics()
        self._publish()

    # ------------------------------------------------------------------ setup
    @classmethod
    def setup(cls, config, out, is_main: bool, jobs: list[SampleJob]) -> VoiceMetric | None:
        """The run's voice metric, or None when it is off (or on a process that does not write)."""
        sample, train = config.sample, config.train
        if not sample.voice_metric or train.disable_sampling or not jobs or not is_main:
            return None
        if not any(ds.do_audio for ds in config.datasets):
            out.warning("sample.voice_metric is on but no dataset has do_audio: there is no voice to compare "
                        "samples with; the voice metric is off")
            return None
        try:
            encoder = SpeakerEncoder()
        except VoiceScorerUnavailable as exc:
            raise UserInputError(str(exc)) from exc
        started = time.perf_counter()
        reference = build_reference_voice(config.datasets, encoder, out)
        # "; built in": a bare "(2.7 s)" after "N clips from the cache" read as seconds of audio
        out.info(f"{reference.summary()}; built in {time.perf_counter() - started:.1f} s")
        if reference.vector is None:
            out.warning("voice metric: no speech in the training clips, so there is no voice to compare samples "
                        "with: samples are compared with the base model's samples only (voice_similarity is not "
                        "computed). `run.py CONFIG --check` lists the clips without speech")
        prompts = [job.prompt for job in jobs]
        return cls(out, encoder, reference, prompts, base_sample_paths(out.base_samples, jobs, model_source(config)))

    def _history_from_metrics(self) -> list[dict]:
        """Earlier samplings of this run (a resume), read back from metrics.jsonl."""
        path = Path(self.out.metrics_path)
        if not path.exists():
            return []
        by_step: dict[int, dict] = {}
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash; the UI reports such lines
                if isinstance(row, dict) and "voice_similarity" in row and isinstance(row.get("step"), int):
                    by_step[row["step"]] = self._entry_from_row(row)  # a repeated step: the last one wins
        return [by_step[s] for s in sorted(by_step)]

    def _entry_from_row(self, row: dict) -> dict:
        sims, vs_base, speech = [], [], []
        for i in range(len(self.prompts)):
            sim_key, base_key, _, speech_key = voice_row_keys(i)
            sims.append(row.get(sim_key))
            vs_base.append(row.get(base_key))
            speech.append(row.get(speech_key))
        return {"step": row["step"], "similarity": sims, "vs_base": vs_base, "speech_s": speech}

    # ------------------------------------------------------------------ scoring
    def _embed_file(self, path: Path):
        try:
            wave = decode_audio(path, sample_rate=16000)
        except NoAudioStream:
            return None
        except MediaError as exc:
            self.out.warning(f"voice metric: could not decode the audio of {path} ({exc.problem}); it scores 0")
            return None
        voice = self.encoder.embed(wave, 16000)
        return voice

    def _base_embedding(self, index: int) -> np.ndarray | None:
        """The base model's sample for prompt `index`, embedded once (re-read if the file changes)."""
        path = self.base_paths[index]
        if not path.exists():
            return None
        stat = path.stat()
        identity = (stat.st_size, stat.st_mtime_ns)
        cached = self._base.get(index)
        if cached is None or cached[0] != identity:
            voice = self._embed_file(path)
            self._base[index] = (identity, None if voice is None else voice.vector)
        return self._base[index][1]

    def score(self, step: int, paths: list[Path]) -> dict:
        """Score the samples of one sampling; writes metrics, status and a console line."""
        reference = self.reference.vector
        row: dict = {"step": step}
        sims, vs_base, speech, parts = [], [], [], []
        for index, path in enumerate(paths):
            voice = self._embed_file(Path(path))
            vector = None if voice is None else voice.vector
            base = self._base_embedding(index)
            sim = cosine(vector, reference) if reference is not None else None
            against_base = cosine(vector, base) if base is not None else None
            baseline = cosine(base, reference) if base is not None and reference is not None else None
            sim_key, base_key, baseline_key, speech_key = voice_row_keys(index)
            row.update({sim_key: sim, base_key: against_base, baseline_key: baseline,
                        speech_key: 0.0 if voice is None else round(voice.speech_s, 2)})
            sims.append(sim)
            vs_base.append(against_base)
            speech.append(row[speech_key])
            parts.append(f"#{index} {_fmt(sim)} (base {_fmt(baseline)}, vs base {_fmt(against_base)}"
                         f"{', no speech' if voice is None else ''})")
        scored = [s for s in sims if s is not None]
        row["voice_similarity"] = float(np.mean(scored)) if scored else None
        row["time"] = time.time()
        self.out.append_metrics(row)
        self.history = [h for h in self.history if h["step"] != step]
        self.history.append({"step": step, "similarity": sims, "vs_base": vs_base, "speech_s": speech})
        self._publish()
        self.out.info(f"voice similarity at step {step}: mean {_fmt(row['voice_similarity'])}; " + "; ".join(parts))
        return row

    def _publish(self) -> None:
        reference = self.reference.vector
        baseline = []
        for index in range(len(self.prompts)):
            base = self._base_embedding(index)
            baseline.append(cosine(base, reference) if base is not None and reference is not None else None)
        self.out.update_status(voice={
            "reference": self.reference.counts(),
            "prompts": self.prompts,
            "baseline": baseline,
            "history": self.history[-HISTORY_LIMIT:],
        })


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
