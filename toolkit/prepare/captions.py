"""Captions of prepared clips in LTX-2's prompt style: the trigger word, what is seen, and the
spoken line in quotes (``NAME, a woman in a red coat, speaks: "..."``).

The template is plain text with ``{trigger}``, ``{seen}`` (``--seen``: what the footage
shows, typed once per run: there is no image captioner offline) and ``{transcript}``;
parts left empty are dropped with their comma, and a window without speech loses the
``speaks`` part. Existing caption files are never overwritten: a caption that is not the
one prepare wrote is the user's. ``--merge`` adds the transcript to such a caption when it
has no quoted line yet.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from toolkit.atomic import atomic_write_text

DEFAULT_TEMPLATE = '{trigger}, {seen}, speaks: "{transcript}"'
_SPEAKS = re.compile(r",?\s*[^,{}]*\"\{transcript\}\"")


def quotable(transcript: str) -> str:
    """The transcript as it goes between the caption's double quotes: its own double quotes
    (an ASR engine may write them, a user may type them) become single ones, so the caption
    has one quoted line and `--merge` still sees where it is."""
    return re.sub(r'["\u201c\u201d]', "'", transcript.strip())


def render(template: str, trigger: str, seen: str, transcript: str) -> str:
    """The caption for one window."""
    if not transcript.strip():
        template = _SPEAKS.sub("", template)
    text = template.format(trigger=trigger.strip(), seen=seen.strip(), transcript=quotable(transcript))
    parts = [p.strip() for p in text.split(",")]
    return ", ".join(p for p in parts if p)


def check_template(template: str) -> str | None:
    """What is wrong with a template, or None."""
    try:
        template.format(trigger="t", seen="s", transcript="x")
    except (KeyError, IndexError, ValueError) as exc:
        return f"the caption template {template!r} cannot be filled ({exc}); use {{trigger}}, {{seen}}, {{transcript}}"
    if "{trigger}" not in template:
        return f"the caption template {template!r} has no {{trigger}}: every caption must hold the trigger word"
    return None


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def place_caption(path: Path, machine_text: str, written_sha: str | None, transcript: str,
                  merge: bool) -> tuple[str, str, str | None, bool]:
    """Write or keep the caption of one clip.

    ``written_sha``: the hash of the caption prepare wrote there before (None: never).
    Returns (caption text now in the file, who made it: "machine" | "user" | "merged",
    the hash of what prepare wrote, whether the file was written now)."""
    if not path.exists():
        atomic_write_text(path, machine_text + "\n")
        return machine_text, "machine", text_sha(machine_text), True
    current = path.read_text(encoding="utf-8-sig").strip()
    if written_sha is not None and text_sha(current) == written_sha:
        return current, "machine", written_sha, False
    if merge and transcript.strip() and '"' not in current:
        merged = f'{current.rstrip(" ,.")}, speaks: "{quotable(transcript)}"'
        atomic_write_text(path, merged + "\n")
        return merged, "merged", text_sha(merged), True
    return current, "user", written_sha, False
