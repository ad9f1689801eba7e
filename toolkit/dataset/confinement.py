"""A job started from the web UI reads dataset files only inside the UI's datasets root.

From the command line the trainer follows the links a user made in a dataset folder (a clip
linked from another disk trains like a copy), as ai-toolkit does. The web UI is different: its
own file routes refuse a link that leaves the datasets root (ui/src/lib/server/pathGuard.ts),
and a job it starts must not read through one either, or a link dropped into a dataset would
train on (and show in samples and logs) whatever it points at. The UI starts the trainer with
`LTX2_CONFINE_DATASETS` set to its datasets root; then a media or caption file whose real path
(links resolved) is outside that root stops the run with a message naming the link.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.errors import UserInputError

CONFINE_VAR = "LTX2_CONFINE_DATASETS"


def confinement_root(environ=None) -> Path | None:
    """The real datasets root a UI job is confined to, or None (the command line: no limit)."""
    raw = (os.environ if environ is None else environ).get(CONFINE_VAR)
    return Path(raw).expanduser().resolve() if raw else None


def check_inside(path: Path, what: str, root: Path | None) -> None:
    """Refuse `path` when its real path leaves `root` (nothing to do without a root)."""
    if root is None:
        return
    real = Path(os.path.realpath(path))
    if real != root and root not in real.parents:
        link = f" (a link to {real})" if real != Path(os.path.abspath(path)) else ""
        raise UserInputError(
            f"{what} {path}{link} is outside the datasets root {root}: a job started from the web UI "
            f"reads only files inside it ({CONFINE_VAR}); copy the file into the dataset or remove the "
            "link (the command line follows links)")
