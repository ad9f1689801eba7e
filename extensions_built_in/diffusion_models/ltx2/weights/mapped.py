"""A .safetensors file read through one private memory map: tensors without copies, pages given back.

    file = MappedSafetensors(path)
    weight = file.tensor("proj_in.weight")   # a view on the map: nothing is read until used
    module.weight = weight.to("cuda")        # the one copy, straight to where it rests
    file.release("proj_in.weight")           # its pages leave this process's memory

Why not the safetensors reader: it maps the whole file too, but every page a tensor touched
stays mapped, and so resident, until the file is closed. Loading a 38 GB transformer to the
GPU that way leaves 38 GB of file pages in the process's resident memory. Here a tensor
whose weights went elsewhere (to the GPU, to another dtype, into a quantized form) gives its
pages back at once, and a weight that rests on the CPU in the file's own dtype stays a view
on the file (no copy at all; the kernel can drop and re-read those clean pages under
pressure).

The map is private (copy-on-write): a view can be written to without touching the file.
Giving pages back is only done for tensors the loader has copied elsewhere; a page shared
with a tensor that is still in use is kept.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path

import torch

from toolkit.memory.aligned import ALIGNMENT

# safetensors dtype names -> torch dtypes
DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "U16": torch.uint16,
    "I32": torch.int32, "U32": torch.uint32, "I64": torch.int64, "U64": torch.uint64,
    "F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
MAX_HEADER = 100_000_000
# torch's CPU allocator aligns to ALIGNMENT (64) bytes, and its kernels pick their code path by
# alignment: a weight at an unaligned address computes (slightly) differently and the VAE's
# convolutions ~8% slower (docs/benchmarks.md, weight alignment). Such a tensor is copied.
COPY_CHUNK = 64 * 2 ** 20  # such a copy is made a slice at a time, each slice's file pages given back


class HeaderError(ValueError):
    """The file is not a readable .safetensors file (the caller names it)."""


class MappedSafetensors:
    """One file, mapped once; see the module doc."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= MAX_HEADER:
                raise HeaderError(f"header length {size} is not plausible")
            try:
                header = json.loads(handle.read(size))
            except (ValueError, UnicodeDecodeError) as exc:
                raise HeaderError(f"its header is not JSON ({exc})") from exc
            if not isinstance(header, dict):
                raise HeaderError("its header is not a table")
            total = self.path.stat().st_size
            # An empty file cannot be mapped; a header-only file has no tensors to map.
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY) if total > 8 + size else None
        self.metadata: dict[str, str] = {str(k): str(v) for k, v in (header.pop("__metadata__", None) or {}).items()}
        self._start = 8 + size
        self._entries: dict[str, tuple[torch.dtype, tuple[int, ...], int, int]] = {}
        for key, entry in header.items():
            try:
                dtype = DTYPES[entry["dtype"]]
                begin, end = (int(x) for x in entry["data_offsets"])
                shape = tuple(int(x) for x in entry["shape"])
            except (KeyError, TypeError, ValueError) as exc:
                raise HeaderError(f"tensor {key!r} has an unreadable entry {entry!r}") from exc
            if not 0 <= begin <= end <= total - self._start:
                raise HeaderError(f"tensor {key!r} lies outside the file (offsets {begin}..{end})")
            self._entries[key] = (dtype, shape, begin, end)
        self.keys = set(self._entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._entries[key][1]

    def dtype(self, key: str) -> torch.dtype:
        return self._entries[key][0]

    def nbytes(self, key: str) -> int:
        _, _, begin, end = self._entries[key]
        return end - begin

    def tensor(self, key: str) -> torch.Tensor:
        """A view on the file where its bytes lie at an aligned address (see ALIGNMENT), else a
        copy; a tensor of 0 elements is made fresh (there is nothing to map)."""
        dtype, shape, begin, end = self._entries[key]
        if end == begin or self._map is None:
            return torch.empty(shape, dtype=dtype)
        count = (end - begin) // torch.empty((), dtype=dtype).element_size()
        view = torch.frombuffer(self._map, dtype=dtype, count=count, offset=self._start + begin).view(shape)
        if view.data_ptr() % ALIGNMENT == 0:
            return view
        copy = torch.empty_like(view)  # aligned
        source, target = view.view(-1), copy.view(-1)
        size = view.element_size()
        step = max(1, COPY_CHUNK // size)
        for first in range(0, count, step):
            last = min(first + step, count)
            target[first:last] = source[first:last]
            self._give_back(begin + first * size, begin + last * size)  # never the whole tensor twice
        return copy

    def release(self, key: str) -> None:
        """Give back the pages that only this tensor's bytes lie on (after it was copied elsewhere)."""
        _, _, begin, end = self._entries[key]
        self._give_back(begin, end)

    def _give_back(self, begin: int, end: int) -> None:
        """Drop the whole pages inside bytes [begin, end) of the data from this process's memory."""
        if self._map is None or not hasattr(self._map, "madvise"):  # no madvise on Windows: pages stay
            return
        page = mmap.PAGESIZE
        first = -(-(self._start + begin) // page) * page
        last = (self._start + end) // page * page
        if last > first:
            self._map.madvise(mmap.MADV_DONTNEED, first, last - first)

    def close(self) -> None:
        """Drop this reader's hold on the map; tensors that still view it keep it alive."""
        self._map = None
