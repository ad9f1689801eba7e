"""Speech to text for short windows, offline: Whisper through transformers when a Whisper
model is at hand, else pocketsphinx.

- ``whisper``: a model named by path or hub id (``--asr-model``), or the smallest Whisper
  model found in the local Hugging Face cache; loaded with ``local_files_only`` (never a
  download). It transcribes (never translates) in the language it detects per window, greedy,
  at most 120 tokens. Confidence: the mean probability of the tokens of its text.
- ``pocketsphinx``: pocketsphinx 5, whose wheel carries a US English acoustic model, language
  model and dictionary (~39 MB installed), so it works offline out of the box. Its accuracy
  on clean studio speech is modest and on synthetic voices poor (docs/prepare.md has the
  measured word error rates); captions made from it are marked for review. Confidence: the
  mean posterior probability of its words.

Both take 16 kHz mono float audio and return lower-case words without punctuation from
pocketsphinx, Whisper's own text from Whisper.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from huggingface_hub import constants, scan_cache_dir
from huggingface_hub.errors import CacheNotFound

from toolkit.errors import UserInputError

SAMPLE_RATE = 16000
WHISPER_MAX_TOKENS = 120  # a window of a few seconds holds far fewer; a model that loops stops here
_ADVICE = ("name a folder with a Whisper model or a hub id already in the local Hugging Face cache with "
           "--asr-model, or pass --asr-model pocketsphinx (or none: no transcripts)")
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
    """A Whisper model through transformers, from a folder or the local Hugging Face cache.

    ``name``: what the transcripts say heard them (default: the folder's name, or the hub
    id); ``where``: how messages name the model (default: as the ``--asr-model`` it came from)."""

    def __init__(self, model: str, name: str | None = None, where: str | None = None):
        import torch  # noqa: PLC0415 (heavy: only when Whisper transcribes)
        from transformers import WhisperForConditionalGeneration, WhisperProcessor  # noqa: PLC0415 (heavy)

        where = where or f"--asr-model {model}"
        check_whisper(model, where)
        try:
            self.processor = WhisperProcessor.from_pretrained(model, local_files_only=True)
            self.model, loading = WhisperForConditionalGeneration.from_pretrained(
                model, local_files_only=True, output_loading_info=True)
        except (OSError, ValueError) as exc:
            raise UserInputError(f"{where}: cannot load a Whisper model from it ({exc}); {_ADVICE}") from exc
        missing = loading["missing_keys"]
        if missing:  # transformers would fill them with random numbers: a model that babbles
            raise UserInputError(f"{where}: {len(missing)} of the model's tensors are not in its weights (e.g. "
                                 f"{sorted(missing)[0]}): the download is incomplete or the weights are not "
                                 f"Whisper's; {_ADVICE}")
        self.model.eval()
        self.torch = torch
        # set as the model's own: generate() also reads that one (a max_length there counts as
        # set beside a passed config's)
        self.model.generation_config = self._generation_config()
        self.special_ids = set(self.processor.tokenizer.all_special_ids)
        self.name = f"whisper {name or (Path(model).name if Path(model).exists() else model)}"

    def _generation_config(self):
        config = copy.deepcopy(self.model.generation_config)
        # The line's bound as max_length, which Whisper's generate() counts after its prompt:
        # with max_new_tokens instead, transformers warns on every window (max_length is filled in).
        config.max_length, config.max_new_tokens = WHISPER_MAX_TOKENS, None
        config.num_beams, config.do_sample = 1, False  # greedy: one score per chosen token
        config.return_dict_in_generate, config.output_scores = True, True
        if hasattr(config, "task_to_id") and getattr(config, "is_multilingual", True):
            # Transcribe, never translate: generation configs without forced_decoder_ids (many
            # fine-tunes) would leave the task token out of the prompt. The language is
            # detected per window.
            config.task = "transcribe"
        return config

    def transcribe(self, wave_16k: np.ndarray) -> Transcript:
        inputs = self.processor(wave_16k.astype(np.float32), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with self.torch.no_grad():
            out = self.model.generate(inputs.input_features)
        text = " ".join(self.processor.batch_decode(out.sequences, skip_special_tokens=True)[0].split())
        # out.scores: one per generated token (the end of the line included); the confidence
        # counts the tokens of the text only
        chosen = out.sequences[0, -len(out.scores):].tolist() if out.scores else []
        log_probs = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
        said = [float(lp) for token, lp in zip(chosen, log_probs, strict=True) if token not in self.special_ids]
        confidence = round(float(np.mean(np.exp(said))), 4) if said else None
        return Transcript(text, confidence, self.name)


def check_whisper(model: str, where: str | None = None) -> None:
    """Fail early (before any footage is analysed), naming ``model``, when its config cannot be
    read or is not a Whisper's."""
    from transformers import PretrainedConfig  # noqa: PLC0415 (heavy: only when Whisper is named)

    where = where or f"--asr-model {model}"
    try:
        config, _ = PretrainedConfig.get_config_dict(model, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{where}: cannot load a Whisper model from it ({exc}); {_ADVICE}") from exc
    if config.get("model_type") != "whisper":
        raise UserInputError(f"{where}: its config.json is a {config.get('model_type') or 'unknown'} model's, not a "
                             f"Whisper's; {_ADVICE}")


def check_asr_model(asr_model: str | None) -> None:
    """Whether ``--asr-model`` names something usable, from a named Whisper's config alone
    (its weights load when the first window is transcribed)."""
    if asr_model and asr_model.lower() not in ("none", "pocketsphinx"):
        check_whisper(asr_model)


@dataclass(frozen=True)
class CachedModel:
    repo_id: str
    folder: Path  # the snapshot that is loaded


def cached_whisper(cache_dir: str | None = None) -> CachedModel | None:
    """The smallest Whisper model in the local Hugging Face cache (``cache_dir``, default the
    hub's), if any: its snapshot of ``main`` (else its newest snapshot) holding a config.json.
    The engine loads that folder, so what is loaded is what was found here."""
    try:  # the hub's cache as it is set now (scan_cache_dir's default is the one at its import)
        repos = scan_cache_dir(cache_dir or constants.HF_HUB_CACHE).repos
    except CacheNotFound:
        return None
    found = []
    for repo in repos:
        if repo.repo_type != "model" or "whisper" not in repo.repo_id.lower():
            continue
        complete = [rev for rev in repo.revisions if (rev.snapshot_path / "config.json").is_file()]
        if complete:
            rev = next((r for r in complete if "main" in r.refs), max(complete, key=lambda r: r.last_modified))
            found.append((repo.size_on_disk, repo.repo_id, rev.snapshot_path))
    if not found:
        return None
    _, repo_id, folder = min(found)
    return CachedModel(repo_id, folder)


def choose_engine(asr_model: str | None):
    """The engine for ``--asr-model`` (None: a cached Whisper, else pocketsphinx;
    "pocketsphinx": pocketsphinx even when a Whisper is cached; "none": no transcripts,
    returns None)."""
    if asr_model and asr_model.lower() == "none":
        return None
    if asr_model and asr_model.lower() == "pocketsphinx":
        return SphinxEngine()
    if asr_model:
        return WhisperEngine(asr_model)
    cached = cached_whisper()
    if cached is None:
        return SphinxEngine()
    return WhisperEngine(str(cached.folder), name=cached.repo_id,
                         where=f"the Whisper model {cached.repo_id} in the Hugging Face cache ({cached.folder})")


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
