"""`python -m toolkit.prepare SOURCE OUT --trigger NAME [--reference CLIP_OR_FOLDER] ...`

Turns long footage into a training folder; see toolkit/prepare/__init__.py and
docs/prepare.md. Exit codes: 0 done (some sources may have been skipped, each named), 2
nothing usable or bad arguments or an unwritable OUT, 1 a failure while writing (a full
disk), 130 stopped with Ctrl-C (run the same command again to go on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolkit.errors import ToolkitError
from toolkit.prepare.captions import DEFAULT_TEMPLATE, check_template
from toolkit.prepare.pipeline import MANIFEST, Preparer, PrepareResult, PrepareSettings
from toolkit.prepare.speakers import BACKGROUND_DB, OTHER_THRESHOLD, SAME_THRESHOLD

MAX_LISTED = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m toolkit.prepare",
                                description="Cut long footage into a voice training folder: clips that start and end "
                                            "in pauses inside one shot, transcripts in the captions, a speaker check.")
    p.add_argument("source", type=Path, help="a video file or a folder of videos (read only)")
    p.add_argument("out", type=Path, help="the training folder to fill (created)")
    p.add_argument("--trigger", required=True, help="the trigger word that starts every caption")
    p.add_argument("--reference", type=Path, help="a clip or a folder of clips (video or audio) of the character's "
                                                  "voice; without it the footage's dominant speaker is the character")
    p.add_argument("--num-frames", type=int, default=121, help="frames per clip, 8n+1 (default 121)")
    p.add_argument("--fps", type=float, default=24.0, help="frame rate of the clips (the dataset's fps; default 24)")
    p.add_argument("--silent-share", type=float, default=0.1,
                   help="the share of clips that may have no speech (default 0.1)")
    p.add_argument("--asr-model", help="a Whisper model (folder or hub id in the local cache); 'pocketsphinx'; "
                                       "'none': no transcripts; default: the smallest Whisper model in the local "
                                       "Hugging Face cache, else pocketsphinx")
    p.add_argument("--caption-template", default=DEFAULT_TEMPLATE,
                   help=f"caption template with {{trigger}}, {{seen}}, {{transcript}} (default {DEFAULT_TEMPLATE!r})")
    p.add_argument("--seen", default="", help="what the footage shows, for {seen} (e.g. 'a woman in a red coat')")
    p.add_argument("--merge", action="store_true", help="add the transcript to existing captions that have no quoted "
                                                        "line (they are never replaced)")
    p.add_argument("--loudnorm", nargs="?", type=float, const=-23.0, default=None, metavar="LUFS",
                   help="normalise each clip's loudness (EBU R128, default target -23 LUFS)")
    p.add_argument("--keep-marked", action="store_true",
                   help="keep windows marked as another speaker, several speakers or music too")
    p.add_argument("--left-out-clips", action="store_true",
                   help="also cut the marked windows, into OUT/.prepare/left_out/, to listen to them")
    p.add_argument("--same-threshold", type=float, default=SAME_THRESHOLD,
                   help=f"speaker score from which a voice is the character's (default {SAME_THRESHOLD})")
    p.add_argument("--other-threshold", type=float, default=OTHER_THRESHOLD,
                   help=f"a phrase below this beside the character's voice: several speakers (default {OTHER_THRESHOLD})")
    p.add_argument("--background-db", type=float, default=BACKGROUND_DB,
                   help=f"music or noise this close to the voice's level (dB) marks a window (default {BACKGROUND_DB})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> PrepareSettings:
    return PrepareSettings(
        source=args.source, out=args.out, trigger=args.trigger, reference=args.reference,
        num_frames=args.num_frames, fps=args.fps, silent_share=args.silent_share, asr_model=args.asr_model,
        template=args.caption_template, seen=args.seen, merge=args.merge, loudness=args.loudnorm,
        keep_marked=args.keep_marked, left_out_clips=args.left_out_clips, same_threshold=args.same_threshold,
        other_threshold=args.other_threshold, background_db=args.background_db, show_progress=not args.no_progress)


def report(result: PrepareResult, settings: PrepareSettings) -> list[str]:
    kept, marked = result.kept, result.marked
    speech = [r for r in kept if r["speech_s"] > 0]
    lines = [f"reference voice: {result.reference}"]
    lines.append(f"clips: {len(kept)} kept ({len(speech)} with speech, {len(kept) - len(speech)} without), "
                 f"{len(marked)} left out; {result.written} written now, {result.captions_written} captions written now")
    if marked:
        lines.append("left out (reasons, speaker score, background dB):")
        for row in marked[:MAX_LISTED]:
            score = "-" if row["speaker_score"] is None else f"{row['speaker_score']:.2f}"
            background = "-" if row.get("background_db") is None else f"{row['background_db']:.1f}"
            lines.append(f"  {row['id']}  {row['start_s']:.2f}-{row['end_s']:.2f} s  "
                         f"{','.join(row['reasons']) or row.get('decision') or '-'}  score {score}  background {background}")
        if len(marked) > MAX_LISTED:
            lines.append(f"  ... and {len(marked) - MAX_LISTED} more in {MANIFEST}")
    clipped = [r for r in kept if (r.get("clipping_share") or 0) > 0.001]
    if clipped:
        lines.append(f"clipping: {len(clipped)} clips have over 0.1% of their samples at full scale: "
                     + ", ".join(r["id"] for r in clipped[:5]) + (" ..." if len(clipped) > 5 else ""))
    if result.too_long:
        lines.append(f"{result.too_long} phrases were longer than a {settings.length_s:.2f} s window without a pause "
                     "and give no clip")
    for line in result.bad_sources:
        lines.append(f"skipped: {line}")
    review = sum(bool(r.get("caption_review")) for r in kept)
    if review:
        lines.append(f"{review} captions are machine-made: review them (the UI's Datasets page lists them)")
    if not result.written and not result.captions_written and not result.manifest_written:
        lines.append("nothing to do: every clip was already prepared")
    lines.append(f"wrote {settings.out / MANIFEST}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = check_template(args.caption_template)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not 0 <= args.silent_share <= 1:
        print(f"error: --silent-share {args.silent_share} must be between 0 and 1", file=sys.stderr)
        return 2
    settings = settings_from(args)
    import torch  # noqa: PLC0415 (heavy: after the arguments are checked)

    # The VAD and speaker encoder are tiny; on a shared machine extra threads only spin (a
    # 44 s recording took 42 s of CPU for the VAD with the default threads, 1.7 s with one).
    torch.set_num_threads(1)
    try:
        result = Preparer(settings).run()
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stopped: run the same command again to go on where it stopped", file=sys.stderr)
        return 130
    for line in report(result, settings):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
