"""toolkit/ in rooms, and who may import whom.

The rules are the table "Rooms" at the top of docs/architecture.md: one row per room (and per
module still loose at toolkit/'s top), with every room it may import and why. This test reads
that table and the code (ast only: nothing is imported, so it takes well under a second) and
fails on an import the table does not allow, on an allowed import nothing uses any more (the
table must say what is), on a room without its one-line purpose, and on a toolkit/ top level
that grows past a dozen loose modules.

Every import counts, at the top of a module or inside a function (a deferred import is still a
dependency). A signpost module kept at toolkit/'s top for ai-toolkit's users belongs to its
room here: config_modules to configuration, dataloader_mixins and data_transfer_object to
dataset, train_tools to train, and lora_tools (the command's name) to lora. Anything may import
toolkit.errors and toolkit.atomic (the foundation: they import nothing else of ours).
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = REPO / "docs" / "architecture.md"
FOUNDATION = {"errors", "atomic", "toolkit"}  # "toolkit": the package's own __init__ (log filters)
SIGNPOSTS = {"config_modules": "configuration", "dataloader_mixins": "dataset", "data_transfer_object": "dataset",
             "train_tools": "train", "lora_tools": "lora"}
LTX2 = ("extensions_built_in", "diffusion_models", "ltx2")
MAX_LOOSE = 12


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    where: str  # file:line, for the message


def _is_module(root: Path, dotted: str) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _node(dotted: str, as_source: bool) -> str | None:
    """The room (or loose module, or outside part) a module belongs to; None for third-party code."""
    parts = dotted.split(".")
    if parts[0] == "toolkit":
        if len(parts) == 1:
            return "toolkit"
        name = parts[1]
        return SIGNPOSTS.get(name, name)
    if tuple(parts[:3]) == LTX2:
        return "ltx2" if as_source or len(parts) == 3 else f"ltx2/{parts[3]}"
    if parts[0] == "extensions_built_in":
        return parts[1] if len(parts) > 1 else "extensions_built_in"
    if parts[0] == "jobs":
        return "jobs"
    if dotted == "run":
        return "run.py"
    return None


def _module_of(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(root: Path, tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            found += [(a.name, n.lineno) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                anchor = package.split(".")[: len(package.split(".")) - (n.level - 1)]
                base = ".".join(anchor + ([n.module] if n.module else []))
            for a in n.names:  # `from toolkit.run import sampling` imports the module toolkit.run.sampling
                full = f"{base}.{a.name}"
                found.append((full if _is_module(root, full) else base, n.lineno))
    return found


@functools.cache
def _edges(root: Path = REPO) -> frozenset[Edge]:
    edges = set()
    for folder in ("toolkit", "extensions_built_in"):
        for path in sorted((root / folder).rglob("*.py")):
            module = _module_of(root, path)
            src = _node(module, as_source=True)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for target, line in _imported(root, tree, module, path.name == "__init__.py"):
                dst = _node(target, as_source=False)
                if dst is None or dst in FOUNDATION or dst == src or (src == "ltx2" and dst.startswith("ltx2/")):
                    continue
                edges.add(Edge(src, dst, f"{path.relative_to(root)}:{line}"))
    return frozenset(edges)


def _rules() -> dict[str, dict[str, str]]:
    """docs/architecture.md's Rooms table: row name -> {allowed target: why}."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("\n## Rooms", 1)[1].split("\n## ", 1)[0]
    rules: dict[str, dict[str, str]] = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if not row.startswith("|") or len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        allowed: dict[str, str] = {}
        if cells[2] not in ("", "nothing"):
            for item in re.split(r",\s*(?=`)", cells[2]):
                m = re.fullmatch(r"`([^`]+)` \((.+)\)", item.strip())
                assert m, f"docs/architecture.md, Rooms, row {names}: {item!r} is not '`room` (why)'"
                allowed[m.group(1)] = m.group(2)
        for name in names:
            name = name.removeprefix("toolkit/").removesuffix("/").removesuffix(".py")
            rules[SIGNPOSTS.get(name, name)] = allowed
    return rules


def _forbidden(edges: frozenset[Edge], rules: dict[str, dict[str, str]]) -> list[str]:
    return sorted(f"{e.where}: {e.src} -> {e.dst}" for e in edges if e.dst not in rules.get(e.src, {}))


def test_every_import_between_rooms_is_one_the_architecture_allows():
    forbidden = _forbidden(_edges(), _rules())
    assert not forbidden, (
        "imports docs/architecture.md's Rooms table does not allow (import through a room the row "
        "allows, move the code to the room it belongs to, or add the edge to the row with its reason):\n"
        + "\n".join(forbidden))


def test_every_allowed_import_is_still_used():
    used = {(e.src, e.dst) for e in _edges()}
    stale = sorted(f"{src} -> {dst}" for src, allowed in _rules().items() for dst in allowed
                   if (src, dst) not in used)
    assert not stale, ("docs/architecture.md's Rooms table allows imports nothing makes any more; "
                       "remove them so the table says what is:\n" + "\n".join(stale))


def test_toolkit_imports_nothing_from_extensions_built_in():
    """toolkit/ reaches a model family only through toolkit/family's registry (issue 26): no
    import of extensions_built_in anywhere in toolkit/, and no toolkit row allowing one."""
    family_parts = {"extensions_built_in", "sd_trainer", "diffusion_models"}
    reached = sorted(f"{e.where}: {e.src} -> {e.dst}" for e in _edges()
                     if e.where.startswith("toolkit/") and (e.dst.split("/")[0] == "ltx2" or e.dst in family_parts))
    assert not reached, "toolkit/ imports the family (ask toolkit.family.registry instead):\n" + "\n".join(reached)
    allowed = sorted(f"{src} -> {dst}" for src, rule in _rules().items() if src not in ("ltx2", "sd_trainer")
                     for dst in rule if dst.split("/")[0] == "ltx2" or dst in family_parts)
    assert not allowed, f"docs/architecture.md lets toolkit/ import the family: {allowed}"


def test_every_room_says_its_purpose_in_one_line_and_has_a_row():
    rules = _rules()
    rooms = sorted(p.parent for p in (REPO / "toolkit").glob("*/__init__.py"))
    assert len(rooms) >= 10
    for room in rooms:
        doc = ast.get_docstring(ast.parse((room / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"{room.relative_to(REPO)}/__init__.py has no docstring saying what the room holds"
        first = doc.splitlines()[0]
        assert len(first.split()) >= 5 and first.endswith("."), (
            f"{room.relative_to(REPO)}/__init__.py: its docstring's first line is not a one-line purpose: {first!r}")
        assert SIGNPOSTS.get(room.name, room.name) in rules, f"docs/architecture.md's Rooms table has no row for {room.name}"


def test_toolkit_top_level_keeps_at_most_a_dozen_loose_modules():
    loose = sorted(p.stem for p in (REPO / "toolkit").glob("*.py") if p.stem != "__init__")
    assert len(loose) <= MAX_LOOSE, (
        f"toolkit/ has {len(loose)} loose modules ({', '.join(loose)}); a new module goes into a room "
        "(docs/architecture.md, Rooms)")
    rules = _rules()
    missing = [m for m in loose if m not in rules and SIGNPOSTS.get(m, m) not in rules]
    assert not missing, f"loose modules without a row in docs/architecture.md's Rooms table: {missing}"


def test_a_new_import_between_rooms_fails_wherever_it_is_written(tmp_path):
    """The checker itself, on a copy of two rooms: media may import nothing of ours, so each of
    these spellings of media -> run is reported (deferred, `from package import module`,
    relative, plain `import`), and the foundation is not."""
    for room in ("media", "run"):
        (tmp_path / "toolkit" / room).mkdir(parents=True)
        (tmp_path / "toolkit" / room / "__init__.py").write_text('"""A room."""\n')
    (tmp_path / "toolkit" / "__init__.py").write_text("")
    for module in ("output", "sampling", "lock"):
        (tmp_path / "toolkit" / "run" / f"{module}.py").write_text("")
    (tmp_path / "toolkit" / "errors.py").write_text("")
    (tmp_path / "toolkit" / "media" / "bad.py").write_text(
        "from toolkit import errors\n"
        "from toolkit.run import sampling\n"
        "import toolkit.run.lock\n"
        "from ..run import output\n"
        "def later():\n"
        "    from toolkit.run.output import RunOutput  # noqa: PLC0415\n")
    forbidden = _forbidden(_edges(tmp_path), _rules())
    assert forbidden == [f"toolkit/media/bad.py:{line}: media -> run" for line in (2, 3, 4, 6)]
