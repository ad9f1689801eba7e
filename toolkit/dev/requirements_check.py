"""Are the pinned requirements already installed? (used by ``make setup``)

    python -m toolkit.dev.requirements_check TORCH_SPEC FILE [FILE ...]

Exit 0 when every ``name==version`` pin of the files (and TORCH_SPEC) is installed at that
version, 1 otherwise, naming what is missing. Standard library only: it runs before
anything is installed. ``make`` used to decide by file dates, so a fresh clone (every
file new) re-ran pip over a virtual environment that already had everything; the
installed versions are what matters. A local version label (``2.13.0+cu128``) satisfies
``==2.13.0``, as it does for pip, so a CUDA build of torch is kept.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def pins(lines: list[str]) -> list[tuple[str, str]]:
    found = []
    for line in lines:
        match = _PIN.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def missing(required: list[tuple[str, str]]) -> list[str]:
    problems = []
    for name, version in required:
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}=={version} (not installed)")
            continue
        if installed.split("+", 1)[0] != version:
            problems.append(f"{name}=={version} (found {installed})")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print("usage: python -m toolkit.dev.requirements_check TORCH_SPEC FILE [FILE ...]", file=sys.stderr)
        return 2
    lines = [argv[0]]
    for name in argv[1:]:
        with open(name, encoding="utf-8") as handle:
            lines += handle.read().splitlines()
    problems = missing(pins(lines))
    if problems:
        print("to install: " + ", ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
