"""Silent audio latents: what stands in for the audio of an item that has none (SOP change D).

The joint transformer always takes an audio latent. An image, a clip without an audio
stream, a silent or undecodable track, or any item of a `do_audio: false` dataset gets the
packed latent of digital silence as long as its frames (one per audio length: items of one
bucket share it), and the loss marks the item unsupervised.

The dataset encoder makes them while it encodes, so a training step never runs a VAE. With
the disk cache on they are kept beside the latents, in `_latent_cache/silence/`, keyed by the
model's latent space and the length and checksummed like the items' files: a run served from
the cache runs no VAE at all. They live apart from the items' files because they belong to a
length, not to a clip, and an item's cache file holds only what that item encoded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from toolkit.atomic import atomic_save_tensors
from toolkit.dataset.cache_integrity import CHECKSUM_KEY, tensors_checksum
from toolkit.errors import WriteFailed

SILENCE_DIR_NAME = "silence"
_TENSOR = "silence_latent"


class SilenceLatents:
    """The run's silent audio latents, (L, Ca) float32 on the CPU, by number of 16 kHz samples.

    `ensure` (the dataset encoder, per item) makes or loads the one for a length; `get`
    (the batch builder, per step) only reads what was made."""

    def __init__(self, model, identity: str, log):
        self.model = model
        self.identity = identity  # cache version + the model's latent space and source
        self.log = log
        self.encoded = 0  # lengths that ran the audio VAE in this process (the rest came from disk)
        self._by_length: dict[int, torch.Tensor] = {}

    def ensure(self, num_samples: int, cache_dir: Path | None,
               write_failed: Callable[[WriteFailed], None] | None = None) -> torch.Tensor:
        """The latent for `num_samples`, from memory, from `cache_dir/silence/` or encoded now
        (and written there when `cache_dir` is given). A failed write keeps it in memory and
        goes to `write_failed` (the encoder warns once for all its cache writes); without
        one it is raised."""
        if num_samples in self._by_length:
            return self._by_length[num_samples]
        path = None if cache_dir is None else Path(cache_dir) / SILENCE_DIR_NAME / f"{self._key(num_samples)}.safetensors"
        latent = self._load(path) if path is not None and path.exists() else None
        if latent is None:
            latent = self.model.silent_audio_latent(num_samples)[0].cpu()
            self.encoded += 1
            if path is not None:
                self._write(path, latent, num_samples, write_failed)
        self._by_length[num_samples] = latent
        return latent

    def get(self, num_samples: int) -> torch.Tensor:
        try:
            return self._by_length[num_samples]
        except KeyError:
            made = ", ".join(str(n) for n in sorted(self._by_length)) or "none"
            raise LookupError(f"no silent audio latent for {num_samples} samples (made: {made}); the dataset "
                              "encoder makes one for every item it encodes") from None

    def _key(self, num_samples: int) -> str:
        digest = hashlib.sha256(f"{self.identity}|{num_samples}".encode()).hexdigest()[:16]
        return f"{num_samples}_{digest}"

    def _load(self, path: Path) -> torch.Tensor | None:
        """The stored latent, or None (with a note) when the file is unreadable or damaged."""
        try:
            with safe_open(str(path), "pt") as handle:
                meta = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            why = f"unreadable ({exc})"
        else:
            if _TENSOR in tensors and meta.get(CHECKSUM_KEY) == tensors_checksum(tensors):
                return tensors[_TENSOR]
            why = "its tensors do not match the checksum stored with them"
        self.log.info(f"note: re-encoding stale silence cache {path}: {why}")
        return None

    def _write(self, path: Path, latent: torch.Tensor, num_samples: int, write_failed) -> None:
        tensors = {_TENSOR: latent.contiguous()}
        meta = {"num_audio_samples": str(num_samples), "model": self.identity, CHECKSUM_KEY: tensors_checksum(tensors)}
        try:
            atomic_save_tensors(path, tensors, meta)
        except WriteFailed as exc:  # as for the items' files: the run goes on with it in memory
            if write_failed is None:
                raise
            write_failed(exc)
