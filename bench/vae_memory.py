"""Memory of the real-width LTX-2 video VAE encoding a clip, whole and in tiles (CPU: peak RSS).

    python bench/vae_memory.py [--model DIR] [--sizes 9x128x128,17x256x256] [--dtype bf16]

The VAE is the released 2.3 configuration with random weights (from `--model`, a folder
written by bench/real_width_model.py, or built here). Each clip size runs in its own child
process: peak RSS while encoding, above the RSS before it (sampled every 5 ms, bench/real_size.py's
RssPeak), divided by the clip's pixels (frames x height x width): the figure
toolkit/memory/placement.py's VAE_ENCODE_BYTES_PER_PIXEL (and, with --decode,
VAE_DECODE_BYTES_PER_PIXEL) comes from. With --tiles the same clip is
encoded in diffusers' default tiles (512 px, 16 frames) as well; with --decode the latents of
each clip size are decoded instead (what a sample's decode holds).
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
sys.path.insert(0, str(REPO))

from bench.real_size import RssPeak  # noqa: E402

# glibc keeps freed heap memory and raises its mmap threshold after large frees: told to give
# large blocks back at once, RSS follows the live tensors (as bench/memory.py does)
MALLOC_ENV = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")


def child(args) -> None:
    import psutil
    import torch
    from diffusers import AutoencoderKLLTX2Video

    import toolkit  # noqa: F401  (torchao environment knob)
    from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
    from toolkit.memory.dtypes import DTYPES

    torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]
    if args.model:
        vae = AutoencoderKLLTX2Video.from_pretrained(str(Path(args.model) / "vae"), torch_dtype=dtype)
    else:
        vae = AutoencoderKLLTX2Video(**VERSIONS["ltx2.3"].vae_config).to(dtype)
    vae.requires_grad_(False)
    if args.tiled:
        vae.enable_tiling()
        vae.use_framewise_encoding = vae.use_framewise_decoding = True
    frames, height, width = (int(x) for x in args.size.split("x"))
    if args.decode:  # the latents of such a clip
        work = torch.randn(1, vae.config.latent_channels, (frames - 1) // 8 + 1, height // 32, width // 32, dtype=dtype)
    else:
        work = torch.rand(1, 3, frames, height, width, dtype=dtype) * 2 - 1
    rss0 = psutil.Process().memory_info().rss
    start = time.perf_counter()
    with torch.no_grad(), RssPeak() as peak:
        if args.decode:
            temb = torch.zeros(1, dtype=dtype) if vae.config.timestep_conditioning else None
            vae.decode(work, temb)
        else:
            vae.encode(work).latent_dist.mode()
    seconds = time.perf_counter() - start
    pixels = frames * height * width
    print(json.dumps({"size": args.size, "tiled": args.tiled, "dtype": args.dtype, "decode": args.decode, "peak_above_start": peak.peak - rss0,
                      "bytes_per_pixel": (peak.peak - rss0) / pixels, "seconds": seconds}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--sizes", default="9x128x128,17x256x256")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiles", action="store_true", help="also encode each clip in diffusers' default tiles")
    parser.add_argument("--decode", action="store_true", help="decode the latents of each clip size instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tiled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    for size in args.sizes.split(","):
        for tiled in (False, True) if args.tiles else (False,):
            command = [sys.executable, __file__, "--child", "--size", size, "--dtype", args.dtype,
                       "--threads", str(args.threads)] + (["--model", args.model] if args.model else []) + (
                       ["--tiled"] if tiled else []) + (["--decode"] if args.decode else [])
            out = subprocess.run(command, capture_output=True, text=True, check=True,
                                 env=MALLOC_ENV).stdout.strip().splitlines()[-1]
            row = json.loads(out)
            print(f"{'decode' if row['decode'] else 'encode'} {row['size']:>12} {'tiled' if row['tiled'] else 'whole':>5} "
                  f"{row['dtype']}: peak "
                  f"{row['peak_above_start'] / 2**20:8.0f} MiB above the start, {row['bytes_per_pixel']:7.0f} bytes "
                  f"per pixel, {row['seconds']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
