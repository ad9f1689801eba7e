"""What makes a latent cache file trustworthy: the media's content, and its own tensors.

* :func:`file_digest`: a hash of a media file's bytes for the cache key. Size and mtime
  alone miss a file replaced by another of the same size whose mtime was kept (copies with
  ``cp -p``, rsync, archive tools, a re-export over the old name): the cache would then
  train the old clip's latents. BLAKE2b reads at several hundred MB/s, and each file is
  hashed once per process (memoised on path, size, mtime and inode).
* :func:`tensors_checksum`: a hash of a cache file's tensors (names, dtypes, shapes and
  bytes), stored in its metadata and verified on load, so bit rot or a damaged copy of
  the cache folder is re-encoded instead of trained on.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import torch

#: Metadata key of the tensors' checksum in a cache file.
CHECKSUM_KEY = "tensors_blake2b"
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike) -> str:
    """Hex BLAKE2b-128 of the file's bytes (memoised per file version in this process)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@lru_cache(maxsize=4096)
def _digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def tensors_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """Hex BLAKE2b-128 over every tensor's name, dtype, shape and bytes, in name order."""
    hasher = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        hasher.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        # bytes through uint8, which every dtype (bf16 included) can be viewed as
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()
