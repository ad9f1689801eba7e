"""Datasets that read the same files, and a sample section with nothing to sample.

Two `datasets` entries on one folder give every file twice: with the same settings that
only doubles each item (what `num_repeats: 2` does, said plainly), so it is refused; with
different settings (another resolution, frame count or caption extension) it can be
deliberate, so it is a warning that says what differs. A folder inside another dataset's
folder is read by both (discovery walks subfolders): a warning too.
"""

from __future__ import annotations

import os


def _real(folder: str) -> str:
    return os.path.realpath(os.path.expanduser(folder))


def _inside(inner: str, outer: str) -> bool:
    return inner != outer and inner.startswith(outer.rstrip(os.sep) + os.sep)


def _differences(a, b) -> list[str]:
    first, second = a.model_dump(exclude={"folder_path"}), b.model_dump(exclude={"folder_path"})
    return [f"{key} {first[key]!r} / {second[key]!r}" for key in first if first[key] != second[key]]


def duplicate_dataset_error(datasets) -> str | None:
    """The refusal for two entries on one folder with the same settings, or None."""
    for i, a in enumerate(datasets):
        for j in range(i + 1, len(datasets)):
            b = datasets[j]
            if _real(a.folder_path) == _real(b.folder_path) and not _differences(a, b):
                return (f"datasets[{i}] and datasets[{j}] both read {a.folder_path} with the same settings: every "
                        f"file would train twice as often. Remove datasets[{j}] (to weight the folder, set "
                        f"num_repeats: 2 on datasets[{i}])")
    return None


def overlap_warnings(job) -> list[str]:
    """One warning per pair of datasets whose files overlap but whose settings differ."""
    out = []
    for p, process in enumerate(job.config.process):
        where = f"config.process[{p}].datasets"
        for i, a in enumerate(process.datasets):
            for j in range(i + 1, len(process.datasets)):
                b = process.datasets[j]
                first, second = _real(a.folder_path), _real(b.folder_path)
                if first == second:
                    differs = "; ".join(_differences(a, b))
                    out.append(f"{where}[{i}] and [{j}] both read {a.folder_path} (they differ in: {differs}): each "
                               "file trains once per entry. Fine if deliberate (e.g. two resolutions); otherwise "
                               "remove one")
                elif _inside(second, first) or _inside(first, second):
                    inner, outer = (j, i) if _inside(second, first) else (i, j)
                    out.append(f"{where}[{inner}]'s folder is inside {where}[{outer}]'s: its files are read by "
                               f"both and train twice as often. Move it out, or remove {where}[{inner}]")
    return out


def sampling_warnings(job) -> list[str]:
    """A `sample` section with no prompt while sampling is on: said once, at config load. A
    config without a `sample` section asks for no samples and hears nothing about them."""
    out = []
    for p, process in enumerate(job.config.process):
        asked = "sample" in process.model_fields_set
        if asked and not process.train.disable_sampling and not process.sample.samples:
            out.append(f"config.process[{p}].sample.samples is empty while sampling is on: no samples are "
                       "rendered during training (and the voice metric has nothing to score). Add prompts under "
                       "sample.samples, or set train.disable_sampling: true")
    return out
