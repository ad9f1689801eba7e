"""Host memory of loading (and quantizing) an LTX-2 model, before and after the phases (CPU: peak RSS).

    python bench/load_memory.py --model DIR [--before TREE] [--qtype qfloat8] [--dtype bf16]

Each measurement is a fresh child process: its RSS after the imports, then the peak RSS
(sampled every 5 ms, bench/real_size.py's RssPeak) while the model loads, and the RSS once
it is loaded and every weight was read once (a weight loaded as a view on its file is
resident only once read: each way is measured as it will be used). Three ways:
- `whole`: `LTX2Model.load(model, settings)`, every component at once, quantized
  (`model.quantize` and `quantize_te` with `--qtype`), as a tool or test loads it; with
  `--before TREE` also the same call in another source tree (the trainer before streaming:
  `git archive <commit> | tar -x -C TREE`): every component read whole by diffusers' and
  transformers' from_pretrained, then quantized;
- `phased`: what a run does: `LTX2Model.load(..., phased=True)`, then each phase in turn
  (captions, connectors, clips, training): the peak is the largest phase's.
On a CPU the compute device is the host, so everything loaded counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(args) -> None:
    sys.path.insert(0, args.tree)
    import psutil
    import torch

    import toolkit  # noqa: F401  (torchao environment knob)
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
    from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
    from toolkit.memory.dtypes import DTYPES

    sys.path.insert(0, str(REPO))
    from bench.real_size import RssPeak

    torch.set_num_threads(args.threads)
    # the libraries are imported before the start is taken: what is measured is the weights
    import diffusers.pipelines.ltx2  # noqa: F401
    import transformers.models.gemma3.modeling_gemma3  # noqa: F401
    if args.qtype != "none":
        import optimum.quanto  # noqa: F401

    dtype = DTYPES[args.dtype]
    quantized = args.qtype != "none"
    settings = LTX2Settings(version=VERSIONS[args.arch], dtype=dtype, gradient_checkpointing=True,
                            quantize=quantized, qtype=args.qtype if quantized else "qfloat8",
                            quantize_te=quantized, qtype_te=args.qtype if quantized else "qfloat8")
    process = psutil.Process()
    start = process.memory_info().rss
    began = time.perf_counter()
    phases = {}

    def touch(model) -> None:
        """Read every weight once, as computing with it will: a weight still paged out of the
        file counts only from then on, whichever way it was loaded."""
        with torch.no_grad():
            for name in ("text_encoder", "connectors", "vae", "audio_vae", "vocoder", "transformer"):
                module = getattr(model, name)
                if module is not None:
                    for tensor in module.state_dict().values():
                        tensor.float().sum() if tensor.numel() < 2 ** 24 else [chunk.float().sum() for chunk in
                                                                                 tensor.reshape(-1).split(2 ** 24)]

    with RssPeak() as peak:
        if args.way == "whole":
            model = LTX2Model.load(args.model, settings)
            touch(model)
        else:
            model = LTX2Model.load(args.model, settings, phased=True)
            for phase in ("text", "connectors", "clips", "train"):
                with RssPeak() as inner:
                    model.enter_phase(phase)
                    touch(model)
                phases[phase] = inner.peak - start
        loaded = process.memory_info().rss
    print(json.dumps({"peak_above_start": peak.peak - start, "loaded_above_start": loaded - start,
                      "seconds": time.perf_counter() - began, "phases": phases}))


def measure(args, tree: Path, way: str) -> dict:
    command = [sys.executable, __file__, "--child", "--tree", str(tree), "--way", way, "--model", str(args.model),
               "--qtype", args.qtype, "--dtype", args.dtype, "--arch", args.arch, "--threads", str(args.threads)]
    # glibc told to give large blocks back at once, so RSS follows live tensors (bench/memory.py)
    env = {**os.environ, "PYTHONPATH": str(tree), "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    if out.returncode != 0:
        raise SystemExit(f"{tree} {way}: failed\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--arch", default="ltx2.3")
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--qtype", default="qfloat8", help="quantize transformer and text encoder to this; none: bf16")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(REPO), help=argparse.SUPPRESS)
    parser.add_argument("--way", default="whole", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.model = str(args.model)
        child(args)
        return 0
    args.model = args.model.resolve()  # the children run in their own trees
    runs = ([("before", args.before, "whole")] if args.before else []) + [("after", REPO, "whole"),
                                                                           ("after", REPO, "phased")]
    for label, tree, way in runs:
        row = measure(args, tree.resolve(), way)
        phases = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in row["phases"].items())
        print(f"{label:>6} {way:>6}: peak {row['peak_above_start'] / 2**20:8.0f} MiB above the start, "
              f"{row['loaded_above_start'] / 2**20:8.0f} MiB once loaded, {row['seconds']:.0f} s"
              + (f" (peak per phase, MiB: {phases})" if phases else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
