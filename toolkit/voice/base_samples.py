"""The base model's sample of each sample prompt: what the voice metric's "vs base" compares with.

A base sample is the sample job rendered with the network switched off, so it is the base
model's answer whatever the network holds: a pretrained LoRA at step 0, a resumed run's
weights, or nothing yet. Assuming the step-0 sample was the base was wrong in exactly those
cases, and there is no step-0 sample at all with `train.skip_first_sample`.

Each file is `samples/base/<key>.mp4`, where the key is a hash of everything that shapes
the render: the whole job (prompt with trigger word, negative prompt, size, frames, fps,
steps, guidance and STG scales, seed, the first-frame image's content) and the model source
(the model section's weight, version and quantization keys, and the compute dtype). A
resumed run, or a later run into the same folder, finds the file and renders nothing; a
changed prompt or setting gets a new key and a new render. Files of old keys are left in
place (a prompt changed back reuses its file).

Not the model's files themselves: replacing the weights under the same `name_or_path`
keeps the key, so delete `samples/base/` after doing that.

At step 0 of a network that adds nothing yet (no pretrained LoRA, no resumed weights, not
DoRA: `Network.adds_nothing`), the step-0 sample is the base model's render, bit for bit. It
is rendered once and copied into `samples/base/` (`copy_as_base`) instead of twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

from toolkit.atomic import atomic_write_path, sha256_of
from toolkit.media.mp4_writer import write_mp4
from toolkit.run.progress import Progress
from toolkit.run.sampling import SampleJob, generate_job

KEY_CHARS = 16  # hex characters of the sha256 in a file name: 64 bits, no collision between a run's prompts


def model_source(config) -> dict:
    """The config keys that decide which base model renders (not where it is held: low_vram,
    offloading, compile and fsdp move weights, they do not change them)."""
    model = config.model
    return {
        "name_or_path": model.name_or_path,
        "arch": model.arch,
        "te_name_or_path": model.te_name_or_path,
        "extras_name_or_path": model.extras_name_or_path,
        "qtype": model.qtype if model.quantize else None,
        "qtype_te": model.qtype_te if model.quantize_te else None,
        "model_kwargs": model.model_kwargs.model_dump(mode="json"),
        "dtype": config.train.dtype,
    }


def base_key(job: SampleJob, source: dict) -> str:
    fields = dataclasses.asdict(job)
    if job.ctrl_img:
        image = Path(job.ctrl_img).expanduser()
        # The image's content, not its name: an image replaced under the same name is another job.
        fields["ctrl_img"] = sha256_of(image) if image.is_file() else job.ctrl_img
    text = json.dumps({"job": fields, "model": source}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_CHARS]


def base_sample_paths(folder: Path, jobs: list[SampleJob], source: dict) -> list[Path]:
    """Where the base sample of each job is kept (`folder` is the run's `samples/base/`)."""
    return [folder / f"{base_key(job, source)}.mp4" for job in jobs]


def render_base_samples(model, network, jobs: list[SampleJob], paths: list[Path], write: bool = True,
                        encode_text=None, log=None) -> None:
    """Render each job with the network off and write it to its path (atomically: a kill
    leaves no half file that a resume would take for a kept one). `write=False`: render
    only (a rank of a sharded model that does not write). `log`: the run's output, for the
    progress lines (a bar shows on the console either way)."""
    network.set_enabled(False)
    try:
        with Progress(len(jobs), "base samples", "sample", log, enabled=write) as progress:
            for job, path in zip(jobs, paths, strict=True):
                frames, audio, rate = generate_job(model, job, encode_text)
                if write:
                    write_mp4(path, frames, job.fps, audio, rate)
                progress.update(path.name)
    finally:
        network.set_enabled(True)


def copy_as_base(sample: Path, base: Path) -> None:
    """A step-0 sample kept as the base sample of its job (atomically, as a render would be)."""
    atomic_write_path(base, lambda tmp: shutil.copyfile(sample, tmp))
