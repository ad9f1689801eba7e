"""Caption text as the text encoder will get it: control characters out, length said.

* :func:`clean_caption`: control characters (NUL, escape, form feed, ...: Unicode class Cc
  other than tab and newlines) cannot mean anything to the text encoder; they come from
  files saved as UTF-16 (a NUL after every letter) or pasted from terminals. They are
  removed, and the note says how many and which, so the caption that trains is the
  one a person reads.
* The text encoder reads a fixed number of tokens (LTX-2: 1024, ``LTX2Model.text_max_length``)
  and cuts the rest off. :func:`long_caption_lines` names the captions it cuts, with their
  token counts (exact in the run, from the model's tokenizer); `--check`, which loads no
  tokenizer, estimates from the length (:func:`estimated_tokens`).
"""

from __future__ import annotations

import unicodedata
from collections import Counter

#: Tokens LTX-2's text encoder reads from a prompt (the pipeline's max_sequence_length).
TEXT_ENCODER_TOKENS = 1024
#: Characters per token of English prose, a rough rule for subword tokenizers like Gemma's:
#: `--check`'s estimate only (the run counts with the model's tokenizer).
CHARS_PER_TOKEN = 4.0
_KEPT_CONTROLS = {"\t", "\n", "\r"}


def clean_caption(text: str) -> tuple[str, str | None]:
    """``(text without control characters, note or None)``. A NUL is dropped; any other
    control character becomes a space (it stood between words)."""
    found = Counter(ch for ch in text if ch not in _KEPT_CONTROLS and unicodedata.category(ch) == "Cc")
    if not found:
        return text, None
    cleaned = "".join("" if ch == "\0" else " " if ch in found else ch for ch in text).strip()
    names = ", ".join(f"{_name(ch)} x{count}" for ch, count in found.most_common())
    note = f"{sum(found.values())} control character(s) removed ({names})"
    if found.get("\0", 0) * 4 >= len(text):
        note += "; the file looks saved as UTF-16: re-save it as UTF-8"
    return cleaned, note


def _name(ch: str) -> str:
    return {"\0": "NUL", "\x1b": "ESC", "\x0c": "form feed", "\x0b": "vertical tab", "\x08": "backspace",
            "\x7f": "DEL"}.get(ch, f"U+{ord(ch):04X}")


def estimated_tokens(text: str) -> int:
    """About how many tokens ``text`` is (its length / :data:`CHARS_PER_TOKEN`)."""
    return int(round(len(text) / CHARS_PER_TOKEN))


def long_caption_lines(captions: dict[str, list[str]], count_tokens, limit: int, exact: bool) -> list[tuple[str, str]]:
    """``(file, what happens to its caption)`` for each caption longer than ``limit`` tokens.

    ``captions``: caption text -> the files that train with it; ``count_tokens(text)``: its
    tokens (the tokenizer's count, or an estimate when ``exact`` is false)."""
    out = []
    for text, files in captions.items():
        tokens = count_tokens(text)
        if tokens <= limit:
            continue
        about = "" if exact else "about "
        what = (f"its caption is {about}{tokens:,} tokens ({len(text):,} characters); the text encoder reads the "
                f"first {limit:,} and ignores the rest: shorten it")
        out += [(file, what) for file in files]
    return out
