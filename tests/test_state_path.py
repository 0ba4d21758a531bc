"""`state.path` in a pull request: a plan edit cannot make billplan read, lock, back up or
write any file but its own state, and `plan` writes nothing at all.

The plan sits two levels down in a repository (`plans/billing/`), beside the repository's
README.md and .git/config. Each test takes a snapshot of the whole repository before and
after the command and asserts they are equal: no lock file, no backup, no `.damaged-` copy,
no directory created.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import AS_OF_TEXT, HEAD, KICKOFF, Remote, Run, sandboxed, write_plan

from compiler.state.local import LocalBackend

STATE = {"format_version": 1, "lineage": "5e0c0b0a-1d1e-4f00-9a9a-0123456789ab", "serial": 1,
         "entries": []}  # fmt: skip
COMMANDS = {
    "plan": ("plan",),
    "refresh-only": ("plan", "--refresh-only"),
    "apply": ("apply",),
    "state list": ("state", "list"),
    "state show": ("state", "show", KICKOFF),
    "state rm": ("state", "rm", KICKOFF),
    "import": ("import", KICKOFF, "d077258e-0000-4000-8000-000000000000"),
    "force-unlock": ("force-unlock", "5e0c0b0a-1d1e-4f00-9a9a-0123456789ab"),
}


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under root, not following symlinks: file bytes, a symlink's target, or
    the kind of a directory or FIFO."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        name = str(path.relative_to(root))
        if stat.S_ISLNK(mode):
            found[name] = ("symlink", os.readlink(path))
        elif stat.S_ISREG(mode):
            found[name] = path.read_bytes()
        else:
            found[name] = ("directory" if stat.S_ISDIR(mode) else "other", stat.S_IFMT(mode))
    return found


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository holding README.md, .git/config and the plan in plans/billing/."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n\tbare = false\n", "utf-8")
    (root / "README.md").write_text("# Billing\n", "utf-8")
    (root / "plans" / "billing").mkdir(parents=True)
    return root


def planned(ruddr: Remote, repository: Path, path: str) -> Path:
    """The test plan in plans/billing/, against the loopback emulator, with state.path."""
    head = ruddr.head + f"state: {{backend: local, path: {json.dumps(path)}}}\n"
    return write_plan(repository / "plans" / "billing", head=head)


def run(ruddr: Remote, command: str, directory: Path) -> Run:
    argv = COMMANDS[command]
    extra = ["--auto-approve"] if command == "apply" else []
    return ruddr.billplan(*argv[:1], *argv[1:], directory, *extra)


def assert_refused(result: Run, message: str) -> None:
    assert result.code == 1, result.text
    assert "Traceback" not in result.text
    assert message in result.errors, result.errors


# ---- paths that leave the plan's directory --------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../../README.md", "must name a .json file"),
        ("../../.git/config", "must name a .json file"),
        ("../state/acme.json", "leads out of the plan's directory"),
        # Absolute: the repository's README (as /etc/passwd would be), a new file elsewhere.
        ("{repo}/README.md", "must be relative to the plan's directory"),
        ("{repo}.state.json", "must be relative to the plan's directory"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply", "state list", "import"])
def test_a_state_path_outside_the_plan_directory_is_refused_at_its_line(
    ruddr: Remote, repository: Path, path: str, message: str, command: str
) -> None:
    path = path.format(repo=repository)
    directory = planned(ruddr, repository, path)
    before = snapshot(repository.parent)

    result = run(ruddr, command, directory)

    assert_refused(result, f"plan.yaml:7:31: $.state.path: {path!r} {message}")
    assert snapshot(repository.parent) == before
    assert ruddr.admin.requests() == []  # refused before any vendor is asked


def test_validate_reports_a_state_path_outside_the_plan_directory(
    ruddr: Remote, repository: Path
) -> None:
    directory = planned(ruddr, repository, "../../README.md")

    result = ruddr.billplan("validate", directory)

    assert_refused(result, "$.state.path: '../../README.md' must name a .json file")


def test_a_symlink_leading_out_of_the_plan_directory_is_refused(
    ruddr: Remote, repository: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    directory = planned(ruddr, repository, ".billplan/state.json")
    (directory / ".billplan").symlink_to(elsewhere)  # as a pull request can commit one
    before = snapshot(tmp_path)

    result = run(ruddr, "apply", directory)

    assert_refused(result, "'.billplan/state.json' leads out of the plan's directory")
    assert snapshot(tmp_path) == before


def test_a_symlink_leading_out_of_the_plan_directory_is_refused_for_the_default_path(
    ruddr: Remote, repository: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    directory = write_plan(repository / "plans" / "billing", head=ruddr.head)
    (directory / ".billplan").symlink_to(elsewhere)
    before = snapshot(tmp_path)

    result = run(ruddr, "plan", directory)

    assert_refused(
        result,
        "plan.yaml:1:1: $.state.path: '.billplan/state.json' (the default state.path) leads "
        "out of the plan's directory",
    )
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("", "(the default state.path) leads out of the plan's directory"),
        # The sandbox keeps its state in .billplan whatever the backend.
        ("state: {backend: postgres, name: acme}\n", "$: .billplan leads out of the plan's"),
    ],
)
def test_a_symlink_leading_out_of_the_plan_directory_is_refused_for_the_sandbox_too(
    repository: Path, tmp_path: Path, state: str, message: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    directory = write_plan(repository / "plans" / "billing", head=HEAD + state)
    (directory / ".billplan").symlink_to(elsewhere)

    result = sandboxed("plan", directory)

    assert_refused(result, message)
    assert list(elsewhere.iterdir()) == []  # no sandbox.sqlite written there


@pytest.mark.parametrize("name", ["sandbox.sqlite", "sandbox.sqlite-wal", "sandbox-state.json"])
@pytest.mark.parametrize("command", ["plan", "apply", "state list"])
def test_a_symlink_in_the_state_directory_leading_out_of_the_plan_directory_is_refused(
    repository: Path, tmp_path: Path, name: str, command: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    directory = write_plan(repository / "plans" / "billing")
    (directory / ".billplan").mkdir()
    (directory / ".billplan" / name).symlink_to(elsewhere / "created")
    before = snapshot(tmp_path)

    result = sandboxed(*COMMANDS[command], directory)

    assert_refused(result, f".billplan/{name} leads out of the plan's directory")
    assert snapshot(tmp_path) == before  # nothing created elsewhere, nor in the plan


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_sandbox_database_that_is_not_one_is_refused_without_a_traceback(
    repository: Path, command: str
) -> None:
    directory = write_plan(repository / "plans" / "billing")
    (directory / ".billplan").mkdir()
    (directory / ".billplan" / "sandbox.sqlite").write_text("not a database\n", "utf-8")

    result = sandboxed(command, directory)

    assert_refused(result, "sandbox.sqlite is not a sandbox database billplan can open")
    assert "remove it" in result.errors


# ---- files inside the plan's directory that are not billplan's state ----------------------


def _not_state(directory: Path, kind: str) -> None:
    target = directory / "other.json"
    if kind == "JSON of another tool":
        target.write_text('{"compilerOptions": {"strict": true}}\n', "utf-8")
    elif kind == "a JSON list":
        target.write_text("[1, 2, 3]\n", "utf-8")
    elif kind == "text":
        target.write_text("name,amount\nacme,100\n", "utf-8")
    elif kind == "a directory":
        target.mkdir()
    elif kind == "a FIFO":
        os.mkfifo(target)


NOT_STATE = {
    "JSON of another tool": "is not a billplan state file: it has no format_version",
    "a JSON list": "is not a billplan state file: it is not a JSON object",
    "text": "is not a billplan state file: it is not JSON",
    "a directory": "is not a billplan state file: it is a directory",
    "a FIFO": "is not a billplan state file: it is a FIFO",
}


# Every command meets another tool's JSON; every kind of file meets plan (only reads) and
# apply (locks, backs up, writes).
CASES = [("JSON of another tool", command) for command in sorted(COMMANDS)] + [
    (kind, command)
    for kind in sorted(NOT_STATE)
    for command in ("apply", "plan")
    if kind != "JSON of another tool"
]


@pytest.mark.parametrize(("kind", "command"), CASES)
def test_a_state_path_naming_a_file_that_is_not_state_is_refused_without_side_effects(
    ruddr: Remote, repository: Path, kind: str, command: str
) -> None:
    directory = planned(ruddr, repository, "other.json")
    _not_state(directory, kind)
    before = snapshot(repository)

    result = run_bounded(command, directory) if kind == "a FIFO" else run(ruddr, command, directory)

    assert_refused(result, f"plan.yaml:7:31: $.state.path: {directory / 'other.json'} ")
    assert NOT_STATE[kind] in result.errors
    assert snapshot(repository) == before
    assert ruddr.admin.requests() == []


def run_bounded(command: str, directory: Path) -> Run:
    """The command in a process of its own, stopped after 60 s: reading a FIFO as a file
    would wait for a writer forever."""
    argv = [*COMMANDS[command][:1], *COMMANDS[command][1:], str(directory)]
    if argv[0] in ("plan", "apply", "import"):
        argv += ["--as-of", AS_OF_TEXT]
    if argv[0] == "apply":
        argv.append("--auto-approve")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "compiler", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "1000"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"billplan {' '.join(argv)} did not finish in 60 s")
    return Run(done.returncode, done.stdout, done.stderr)


# ---- plan writes nothing -----------------------------------------------------------------


def test_plan_writes_nothing_beside_a_valid_state(ruddr: Remote, repository: Path) -> None:
    directory = planned(ruddr, repository, "state/acme.json")
    assert run(ruddr, "apply", directory).code == 0
    before = snapshot(repository)

    for command in ("plan", "refresh-only", "state list"):
        assert run(ruddr, command, directory).code == 0

    assert snapshot(repository) == before


def test_plan_on_a_damaged_state_writes_nothing_and_apply_keeps_a_copy(
    ruddr: Remote, repository: Path
) -> None:
    directory = planned(ruddr, repository, "state/acme.json")
    state = directory / "state" / "acme.json"
    state.parent.mkdir()
    state.write_text(json.dumps(STATE)[:30], "utf-8")  # cut short, as by a full disk
    before = snapshot(repository)

    planning = run(ruddr, "plan", directory)

    assert_refused(planning, f"state file {state} is damaged: it ends early")
    assert "Nothing was written" in planning.errors
    assert snapshot(repository) == before

    applying = run(ruddr, "apply", directory)

    assert_refused(applying, f"state file {state} is damaged: it ends early")
    (copy,) = state.parent.glob("acme.json.damaged-*")
    assert f"a copy of the damaged file is kept as {copy}" in applying.errors


def test_reading_a_state_path_never_creates_its_directory(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "missing" / "state.json")

    assert backend.read().entries == {}
    assert list(tmp_path.iterdir()) == []


def test_plan_in_the_sandbox_writes_only_the_sandbox_database(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    assert sandboxed("plan", directory).code == 0

    assert sorted(snapshot(directory)) == [".billplan", ".billplan/sandbox.sqlite", "plan.yaml"]
