"""Where a plan's files may be: its YAML files, and a local state file (a `.json` file),
inside the plan's directory, reached without a symlink that leads out of it.

A pull request can edit `state.path`, and commit a symlink. Confined here, neither can make
billplan read, lock, back up or write a file that is not the plan's own state: the
repository's README, .git/config, another plan's state, /etc/passwd. A state kept elsewhere
is what the postgres backend is for (docs/state.md). Nor can a plan file be a symlink leading
out: the plan would then be whatever that path holds on the machine it runs on (in CI, the
apply job's downloaded artifact), not what the repository holds.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from compiler.diagnostics import Diagnostic, Mark
from compiler.load import PLAN_SUFFIXES, Document
from compiler.state import StateError

STATE_DIR = ".billplan"
DEFAULT_PATH = f"{STATE_DIR}/state.json"
_AT = ("state", "path")


class StateLocationError(StateError):
    """A local state file billplan may not use; carries the located problem."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


def state_path_problems(document: Document) -> list[Diagnostic]:
    """What is wrong with the plan's local state file, at `state.path` (or where the plan
    begins, for the default path); [] when it may be used, or the state is not local."""
    config = document.root.get("state") or {}
    if not isinstance(config, dict) or config.get("backend", "local") != "local":
        return []
    written = config.get("path", DEFAULT_PATH)
    if not isinstance(written, str) or not written:
        return []  # the schema reports it
    problem = _problem(document.base_dir, written)
    if problem is None:
        return []
    default = "" if "path" in config else " (the default state.path)"
    return [document.diagnostic(_AT, f"{written!r}{default} {problem}")]


def plan_file_problems(target: Path) -> list[Diagnostic]:
    """Each plan file that is a symlink leading out of the plan's directory, whether what it
    names exists or not: a *.yaml or *.yml of the directory `target`, or the file `target`.
    Checked before any is read."""
    if target.is_dir():
        base, named = target, [path for path in _symlinks(target) if path.suffix in PLAN_SUFFIXES]
    else:
        base, named = target.parent, [target]
    return [
        Diagnostic(
            Mark(str(path), 1, 1),
            "$",
            f"{path.name} leads out of the plan's directory (a symlink): billplan reads a "
            "plan only from the files in its directory, so that what is planned and applied "
            "is what the repository holds. Put the file itself here instead of a link",
        )
        for path in sorted(named)
        if _leaves(base, path.name)
    ]


def local_state_path(document: Document) -> Path:
    """The plan's local state file; StateLocationError if it may not be used."""
    problems = state_path_problems(document)
    if problems:
        raise StateLocationError(problems)
    config = document.root.get("state") or {}
    return document.base_dir / (config.get("path") or DEFAULT_PATH)


def state_dir(document: Document) -> Path:
    """The plan's `.billplan` directory (the sandbox's database and state), if it is inside
    the plan's directory; StateLocationError if it, or a file in it, is a symlink leading out
    (SQLite would create or write the sandbox's database, or its journal, through it)."""
    directory = document.base_dir / STATE_DIR
    names = [STATE_DIR]
    if not _leaves(document.base_dir, STATE_DIR):
        names = [f"{STATE_DIR}/{entry.name}" for entry in _symlinks(directory)]
    for name in names:
        if _leaves(document.base_dir, name):
            message = (
                f"{name} leads out of the plan's directory (a symlink): billplan keeps its "
                f"sandbox there and writes nothing through it. Remove {document.base_dir / name}"
            )
            raise StateLocationError([document.diagnostic((), message)])
    return directory


def _symlinks(directory: Path) -> list[Path]:
    try:
        return [entry for entry in directory.iterdir() if entry.is_symlink()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _problem(base_dir: Path, written: str) -> str | None:
    relative = PurePath(written)
    fix = (
        f"keep the state in the plan's directory (the default is {DEFAULT_PATH}), or use "
        "the postgres backend"
    )
    if relative.is_absolute():
        return f"must be relative to the plan's directory: {fix}"
    if relative.suffix != ".json":
        return f"must name a .json file (billplan's state is JSON): {fix}"
    if _leaves(base_dir, written):
        return f"leads out of the plan's directory (by .. or a symlink): {fix}"
    return None


def _leaves(base_dir: Path, written: str) -> bool:
    """True if base_dir/written is not inside base_dir once `..` and every symlink that
    exists on the way are followed (a loop counts as leaving)."""
    try:
        inside = base_dir.resolve()
        target = (base_dir / written).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return True
    return target == inside or not target.is_relative_to(inside)
