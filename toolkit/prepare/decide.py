"""The user's word on a prepared window (the UI's table, or by hand):

    python -m toolkit.prepare.decide OUT ID --keep | --drop
    python -m toolkit.prepare.decide OUT ID --transcript "what is really said"

- ``--keep`` / ``--drop``: recorded in ``OUT/.prepare/decisions.json`` (a later prepare run
  honours it) and applied now: the clip moves into OUT (a new caption is written from the
  run's template) or out of it, into ``OUT/.prepare/left_out/`` (its caption goes with it).
  A window whose clip was never cut (prepare ran without ``--left-out-clips``) is recorded and
  cut by the next prepare run.
- ``--transcript``: the corrected line, kept as the window's transcript (engine "user"); a
  caption prepare wrote is written again with it, a caption the user wrote is left alone.

prepare.jsonl is updated in place (atomically). Exit 2 for an unknown OUT or ID.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from toolkit.atomic import atomic_write_text
from toolkit.errors import ToolkitError, UserInputError
from toolkit.prepare.captions import render, text_sha
from toolkit.prepare.state import (
    load_decisions,
    read_json,
    read_manifest,
    save_decisions,
    state_dir,
    write_json_if_changed,
    write_manifest,
)

MANIFEST = "prepare.jsonl"
LEFT_OUT = "left_out"


def _row(out: Path, wid: str) -> tuple[list[dict], dict]:
    rows = read_manifest(out / MANIFEST)
    if not rows:
        raise UserInputError(f"{out / MANIFEST} is missing: run `python -m toolkit.prepare SOURCE {out} ...` first")
    for row in rows:
        if row["id"] == wid:
            return rows, row
    raise UserInputError(f"no window {wid!r} in {out / MANIFEST}")


def _move(wid: str, src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for ext in (".mp4", ".txt"):
        if (src / f"{wid}{ext}").exists():
            os.replace(src / f"{wid}{ext}", dst / f"{wid}{ext}")


def _machine_caption(out: Path, row: dict) -> str:
    settings = read_json(state_dir(out) / "settings.json", {})
    return render(settings.get("template", '{trigger}, {seen}, speaks: "{transcript}"'), settings.get("trigger", ""),
                  settings.get("seen", ""), row.get("transcript") or "")


def _write_caption(out: Path, row: dict, text: str) -> None:
    atomic_write_text(out / f"{row['id']}.txt", text + "\n")
    captions = read_json(state_dir(out) / "captions.json", {})
    captions[row["id"]] = text_sha(text)
    write_json_if_changed(state_dir(out) / "captions.json", captions)
    row.update(caption=text, caption_by="machine", caption_review=True)


def decide(out: Path, wid: str, keep: bool) -> dict:
    rows, row = _row(out, wid)
    decisions = load_decisions(out)
    decisions[wid] = "keep" if keep else "drop"
    save_decisions(out, decisions)
    left = state_dir(out) / LEFT_OUT
    if keep:
        _move(wid, left, out)
        if (out / f"{wid}.mp4").exists():
            row.update(status="kept", clip=f"{wid}.mp4")
            if not (out / f"{wid}.txt").exists():
                _write_caption(out, row, _machine_caption(out, row))
        else:
            row.update(status="kept", clip=None)  # cut by the next prepare run
    else:
        _move(wid, out, left)
        row.update(status="left_out",
                   clip=f"{state_dir(out).name}/{LEFT_OUT}/{wid}.mp4" if (left / f"{wid}.mp4").exists() else None)
    row["decision"] = decisions[wid]
    write_manifest(out / MANIFEST, rows)
    return row


def set_transcript(out: Path, wid: str, text: str) -> dict:
    rows, row = _row(out, wid)
    text = " ".join(text.split())
    transcripts = read_json(state_dir(out) / "transcripts.json", {})
    transcripts[wid] = {"text": text, "confidence": None, "engine": "user"}
    write_json_if_changed(state_dir(out) / "transcripts.json", transcripts)
    row.update(transcript=text, asr_engine="user", asr_confidence=None)
    caption_path = out / f"{wid}.txt"
    captions = read_json(state_dir(out) / "captions.json", {})
    if row["status"] == "kept" and caption_path.exists():
        current = caption_path.read_text(encoding="utf-8-sig").strip()
        if captions.get(wid) == text_sha(current):  # prepare's caption: written again with the line
            _write_caption(out, row, _machine_caption(out, row))
    write_manifest(out / MANIFEST, rows)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m toolkit.prepare.decide", description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("id")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--keep", action="store_true")
    what.add_argument("--drop", action="store_true")
    what.add_argument("--transcript")
    args = p.parse_args(argv)
    try:
        row = set_transcript(args.out, args.id, args.transcript) if args.transcript is not None \
            else decide(args.out, args.id, keep=args.keep)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"{row['id']}: {row['status']}" + (f", caption: {row['caption']}" if row.get("caption") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
