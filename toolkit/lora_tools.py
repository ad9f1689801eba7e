"""LoRA tools for any LTX-2 LoRA file (this trainer's, ai-toolkit's, musubi-tuner's, ltx-trainer's;
ComfyUI, diffusers or Lightricks key names):

    python -m toolkit.lora_tools inspect FILE [--json]
    python -m toolkit.lora_tools strip-audio FILE [-o OUT]
    python -m toolkit.lora_tools split FILE [--out-dir DIR] [--shared-to video|audio]
    python -m toolkit.lora_tools convert FILE --to comfyui|diffusers|musubi [-o OUT] [--base MODEL]
    python -m toolkit.lora_tools merge A.safetensors:1.0 B.safetensors:0.5 -o OUT [--rank R] [--to NAMING]
    python -m toolkit.lora_tools resize FILE --rank R [-o OUT] [--base MODEL]

Every tool writes atomically, never over its input (nor, without --overwrite, over any file),
and refuses a file that is not an LTX-2 LoRA with one line and exit 2. `--json` prints one
JSON object (what the web UI reads). docs/lora_tools.md explains each tool.

The command stays here, where ai-toolkit's users call it; the tools are the default family's
(extensions_built_in/diffusion_models/ltx2/lora_files/, reached through toolkit/family/registry.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import toolkit  # noqa: F401  (sets the torchao environment knob before torch imports)
from toolkit.errors import ToolkitError, UserInputError
from toolkit.family.registry import default_family, lora_file_tools

# The default family's LoRA file tools (extensions_built_in/diffusion_models/ltx2/lora_files/),
# found through the registry: toolkit/ imports no family.
_TOOLS = lora_file_tools(default_family())
BY_NAME, WRITABLE, BaseWeights = _TOOLS.BY_NAME, _TOOLS.WRITABLE, _TOOLS.BaseWeights
read_lora, facts, render, to_json = _TOOLS.read_lora, _TOOLS.facts, _TOOLS.render, _TOOLS.to_json
strip_audio, split, convert, merge, resize = _TOOLS.strip_audio, _TOOLS.split, _TOOLS.convert, _TOOLS.merge, _TOOLS.resize


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolkit.lora_tools", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="tool", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        tool = sub.add_parser(name, help=help_text, description=help_text)
        tool.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        return tool

    tool = add("inspect", "version, naming, network type, ranks and alphas per module family, layers per stream, "
                          "keys ComfyUI and diffusers will not load, training metadata")
    tool.add_argument("file", type=Path)

    tool = add("strip-audio", "a copy without the layers that write the audio stream")
    tool.add_argument("file", type=Path)
    tool.add_argument("-o", "--output", type=Path, help="default: <name>_noaudio.safetensors next to FILE")
    tool.add_argument("--overwrite", action="store_true", help="replace an existing output file (never the input)")

    tool = add("split", "<name>_video.safetensors and <name>_audio.safetensors, which sum to FILE")
    tool.add_argument("file", type=Path)
    tool.add_argument("--out-dir", type=Path, help="default: the folder of FILE")
    tool.add_argument("--shared-to", choices=("video", "audio"),
                      help="the file that gets the layers writing both streams (without it such files are refused)")
    tool.add_argument("--overwrite", action="store_true", help="replace existing output files (never the input)")

    tool = add("convert", "the same LoRA in another key naming")
    tool.add_argument("file", type=Path)
    tool.add_argument("--to", required=True, choices=WRITABLE)
    tool.add_argument("-o", "--output", type=Path, help="default: <name>_<naming>.safetensors next to FILE")
    tool.add_argument("--base", type=Path, help="the base model (diffusers folder or original .safetensors), "
                                                "needed only for DoRA files whose target form of the magnitude is missing")
    tool.add_argument("--overwrite", action="store_true", help="replace an existing output file (never an input)")

    tool = add("merge", "several LoRAs of one LTX-2 version at their strengths, into one file")
    tool.add_argument("files", nargs="+", metavar="FILE[:STRENGTH]")
    tool.add_argument("-o", "--output", type=Path, required=True)
    tool.add_argument("--rank", type=int, help="cut the merged updates to this rank by SVD (required where a LoKr "
                                               "meets another adapter)")
    tool.add_argument("--to", choices=WRITABLE, help="the output's naming (default: the first file's)")
    tool.add_argument("--overwrite", action="store_true", help="replace an existing output file (never an input)")

    tool = add("resize", "every layer cut to rank R by SVD, with the energy kept per module family")
    tool.add_argument("file", type=Path)
    tool.add_argument("--rank", type=int, required=True)
    tool.add_argument("-o", "--output", type=Path, help="default: <name>_rank<R>.safetensors next to FILE")
    tool.add_argument("--base", type=Path, help="the base model, needed only for a ComfyUI-named DoRA")
    tool.add_argument("--overwrite", action="store_true", help="replace an existing output file (never the input)")
    return parser


def _beside(path: Path, tail: str) -> Path:
    return path.with_name(f"{path.stem}_{tail}.safetensors")


def parse_strength(value: str) -> tuple[Path, float]:
    """`FILE:0.5` -> (FILE, 0.5); a bare FILE has strength 1."""
    head, sep, tail = value.rpartition(":")
    if sep:
        try:
            return Path(head), float(tail)
        except ValueError:
            pass
    return Path(value), 1.0


def _family_lines(rows: dict, columns: list[tuple[str, str, str]]) -> list[str]:
    """A table of per-family results: columns are (title, key, format)."""
    lines = [f"  {'family':<14}" + "".join(f"{title:>16}" for title, _, _ in columns)]
    for name, row in rows.items():
        lines.append(f"  {name:<14}" + "".join(f"{fmt.format(row[key]):>16}" for _, key, fmt in columns))
    return lines


def run(args: argparse.Namespace) -> tuple[dict, str]:
    """(the result as data, the same as text) of one tool."""
    if args.tool == "inspect":
        found = facts(read_lora(args.file))
        return found, render(found)
    if args.tool == "strip-audio":
        lora = read_lora(args.file)
        result = strip_audio(lora, args.output or _beside(lora.path, "noaudio"), args.overwrite)
        removed = ", ".join(f"{name} ({BY_NAME[name].label})" for name in result["removed_families"].split(", "))
        return result, (f"wrote {result['output']}: removed {result['removed']} layers that write audio: {removed}; "
                        f"kept {result['kept']}" + (f" (of them {result['shared_kept']} write both streams)"
                                                    if result["shared_kept"] else ""))
    if args.tool == "split":
        result = split(read_lora(args.file), args.out_dir, args.shared_to, args.overwrite)
        shared = f"; the {result['shared_layers']} layers writing both streams went to the {result['shared_to']} file" \
            if result["shared_layers"] else ""
        return result, (f"wrote {result['video']} ({result['video_layers']} layers) and {result['audio']} "
                        f"({result['audio_layers']} layers){shared}; at strength 1 both together equal the original")
    if args.tool == "convert":
        lora = read_lora(args.file)
        base = BaseWeights(args.base) if args.base else None
        result = convert(lora, args.to, args.output or _beside(lora.path, args.to), base, args.overwrite)
        return result, f"wrote {result['output']}: {result['layers']} layers in {result['to_label']}"
    if args.tool == "merge":
        inputs = [(read_lora(path), strength) for path, strength in map(parse_strength, args.files)]
        result = merge(inputs, args.output, args.rank, args.to, args.overwrite)
        lines = [f"wrote {result['output']}: {result['layers']} layers, rank {_ranks(result['ranks'])}, "
                 + ("exact (ranks concatenated)" if result["exact"] else f"SVD to rank {args.rank} where needed")]
        lines += _family_lines(result["families"], [("layers", "layers", "{}"), ("by SVD", "svd_layers", "{}"),
                                                    ("relative error", "relative_error", "{:.2e}")])
        lines.append(f"  {'all':<14}{'':>32}{result['relative_error']:>16.2e}")
        return result, "\n".join(lines)
    if args.tool == "resize":
        lora = read_lora(args.file)
        base = BaseWeights(args.base) if args.base else None
        result = resize(lora, args.rank, args.output or _beside(lora.path, f"rank{args.rank}"), base, args.overwrite)
        lines = [f"wrote {result['output']}: {result['cut_layers']} of {result['layers']} layers cut to rank "
                 f"{args.rank}" + (" (LoKr layers became LoRA)" if "LoKr" in result["source_kinds"] else "")]
        lines += _family_lines(result["families"], [("layers", "layers", "{}"), ("cut", "cut", "{}"),
                                                    ("energy kept", "retained", "{:.4%}"),
                                                    ("lowest layer", "lowest", "{:.4%}")])
        lines.append(f"  {'all':<14}{'':>32}{result['retained']:>16.4%}")
        return result, "\n".join(lines)
    raise UserInputError(f"unknown tool {args.tool}")


def _ranks(ranks: list[int]) -> str:
    return str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]}-{ranks[-1]}" if ranks else "-"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The tools' work is many small products and thin QR/SVDs (rank x width), where a second
    # thread only adds OpenMP hand-offs: on a busy 2-core machine one thread made an exact
    # merge of two real-size files 10x faster (164 s -> 17 s CPU; docs/lora_tools.md).
    torch.set_num_threads(1)
    try:
        result, text = run(args)
    except ToolkitError as exc:
        print(f"lora_tools {args.tool}: {exc}", file=sys.stderr)
        return exc.exit_code
    print(to_json(result) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
