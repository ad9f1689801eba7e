"""Speech to text for short windows, offline: Whisper through transformers when a Whisper
model is at hand, else pocketsphinx.

- ``whisper``: a model named by path or hub id (``--asr-model``), or the first Whisper model
  found in the local Hugging Face cache; loaded with ``local_files_only`` (never a download).
  Confidence: the mean probability of the tokens it chose.
- ``pocketsphinx``: pocketsphinx 5, whose wheel carries a US English acoustic model, language
  model and dictionary (~39 MB installed), so it works offline out of the box. Its accuracy
  on clean studio speech is modest and on synthetic voices poor (docs/prepare.md has the
  measured word error rates); captions made from it are marked for review. Confidence: the
  mean posterior probability of its words.

Both take 16 kHz mono float audio and return lower-case words without punctuation from
pocketsphinx, Whisper's own text from Whisper.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import UserInputError

SAMPLE_RATE = 16000
SPHINX_INSTALL = "pip install --no-deps pocketsphinx==5.1.1 (what `make setup` does)"
_FILLER = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")


@dataclass
class Transcript:
    text: str
    confidence: float | None
    engine: str


class SphinxEngine:
    """pocketsphinx 5 with the en-us model its wheel bundles."""

    def __init__(self):
        if importlib.util.find_spec("pocketsphinx") is None:
            raise UserInputError(f"no speech recogniser: pocketsphinx is not installed ({SPHINX_INSTALL}), and no "
                                 "Whisper model was named (--asr-model) or found in the Hugging Face cache; or "
                                 "pass --asr-model none to prepare without transcripts")
        from pocketsphinx import Decoder  # noqa: PLC0415 (optional package, loaded only when transcribing)

        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        self.name = f"pocketsphinx {importlib.metadata.version('pocketsphinx')} en-us"

    def transcribe(self, wave_16k: np.ndarray) -> Transcript:
        pcm = (np.clip(wave_16k, -1, 1) * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        if hyp is None:
            return Transcript("", None, self.name)
        words = [(re.sub(r"\(\d+\)$", "", seg.word), seg.prob) for seg in self.decoder.seg()]
        words = [(w, p) for w, p in words if not _FILLER.match(w)]
        confidence = round(float(np.mean([p for _, p in words])), 4) if words else None
        return Transcript(" ".join(w for w, _ in words), confidence, self.name)


class WhisperEngine:
    """A Whisper model through transformers, from a folder or the local Hugging Face cache."""

    def __init__(self, model: str):
        import torch  # noqa: PLC0415 (heavy: only when Whisper transcribes)
        from transformers import WhisperForConditionalGeneration, WhisperProcessor  # noqa: PLC0415 (heavy)

        try:
            self.processor = WhisperProcessor.from_pretrained(model, local_files_only=True)
            self.model = WhisperForConditionalGeneration.from_pretrained(model, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise UserInputError(f"--asr-model {model}: cannot load a Whisper model from it ({exc}); name a folder "
                                 "with a Whisper model or a hub id already in the local Hugging Face cache") from exc
        self.torch = torch
        self.name = f"whisper {Path(model).name}"

    def transcribe(self, wave_16k: np.ndarray) -> Transcript:
        inputs = self.processor(wave_16k.astype(np.float32), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with self.torch.no_grad():
            out = self.model.generate(inputs.input_features, return_dict_in_generate=True, output_scores=True,
                                      max_new_tokens=120)
        text = self.processor.batch_decode(out.sequences, skip_special_tokens=True)[0].strip()
        scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        confidence = round(float(self.torch.exp(scores[0]).mean()), 4) if scores.numel() else None
        return Transcript(text, confidence, self.name)


def cached_whisper(cache_dir: str | None = None) -> str | None:
    """The hub id of a Whisper model in the local Hugging Face cache (the smallest), if any."""
    from huggingface_hub import scan_cache_dir  # noqa: PLC0415 (only when choosing an engine)
    from huggingface_hub.errors import CacheNotFound  # noqa: PLC0415 (as above)

    try:
        repos = scan_cache_dir(cache_dir).repos
    except CacheNotFound:
        return None
    found = [r for r in repos if r.repo_type == "model" and "whisper" in r.repo_id.lower()
             and any((rev.snapshot_path / "config.json").is_file() for rev in r.revisions)]
    return min(found, key=lambda r: r.size_on_disk).repo_id if found else None


def choose_engine(asr_model: str | None):
    """The engine for ``--asr-model`` (None: a cached Whisper, else pocketsphinx; "none": no
    transcripts, returns None)."""
    if asr_model and asr_model.lower() == "none":
        return None
    if asr_model:
        return WhisperEngine(asr_model)
    cached = cached_whisper()
    return WhisperEngine(cached) if cached else SphinxEngine()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance over the reference's word count."""
    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())
