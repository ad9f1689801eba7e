"""The trainer's console, passed on to ai-toolkit's, in whole lines.

ai-toolkit's UI starts a job with its console appended to `<job folder>/log.txt` and shows
that file as the job's log. The trainer writes its own `log.txt` in the same folder, so with
both appending, every line came twice and the two writers' lines were glued mid-line. When
this process's console is that file (`console_is_file`), the trainer is told so
(LTX2_CONSOLE_LOG) and leaves the file to the console, unless the console breaks.

Lines are written whole: a chunk read from the pipe may end mid-line, and another writer
(this extension's own messages, ai-toolkit's worker) must not land inside it. A progress
bar's redraw ("\\r" + the bar, no newline) is passed on at once, since the next redraw
replaces it; a message of ours after one starts on a new line.
"""

from __future__ import annotations

import codecs
import os
import threading
from pathlib import Path

CONSOLE_LOG_ENV = "LTX2_CONSOLE_LOG"


def console_is_file(stream, path: Path) -> bool:
    """True when `stream` (this process's stdout) writes into the file `path`."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a wrapper without a file (a test's capture, a GUI)
        return False
    try:
        mine, theirs = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


class LineSink:
    """Whole lines onto `sink` (ai-toolkit's stdout), from the child's pipe and from us."""

    def __init__(self, sink):
        self.sink = sink
        self._lock = threading.RLock()  # a signal handler in the main thread may write while it holds it
        self._held = ""  # the child's text after its last line end: written when the line is whole
        self._mid_line = False  # the last thing written was a progress bar's redraw (no newline)

    def _write(self, text: str) -> None:
        if not text:
            return
        self.sink.write(text)
        self.sink.flush()
        self._mid_line = not text.endswith("\n")

    def child(self, text: str) -> None:
        """Text from the child: its whole lines now, a bar redraw now, a partial line later."""
        with self._lock:
            text = self._held + text
            cut = text.rfind("\n") + 1
            rest = text[cut:]
            redraw = rest.rfind("\r")
            if redraw > 0 or (redraw == 0 and len(rest) > 1):  # a redraw of the bar: show it
                cut, rest = len(text), ""
            self._held = rest
            self._write(text[:cut])

    def own(self, line: str) -> None:
        """A line of this extension's, never inside the child's."""
        with self._lock:
            self._write(("\n" if self._mid_line else "") + line.rstrip("\n") + "\n")

    def finish(self) -> None:
        """The child's last text without a line end (its output has ended)."""
        with self._lock:
            held, self._held = self._held, ""
            self._write(held + ("\n" if held and not held.endswith("\n") else ""))


def pump(source, lines: LineSink) -> None:
    """Copy the child's pipe into `lines` until it closes (a thread's body)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        chunk = source.read1(65536) if hasattr(source, "read1") else source.read(4096)
        if not chunk:
            break
        lines.child(decoder.decode(chunk))
    lines.child(decoder.decode(b"", final=True))
    lines.finish()
