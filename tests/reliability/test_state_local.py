"""A damaged local state file: a clear error naming the file and the problem, a copy of the
damaged file kept by a command that takes the lock (a command that only reads writes
nothing), the backup the last lock made left as it was, and the exact command that restores
it. Never a traceback, never a write over the damaged file or over the backup.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ADDRESSES, sandboxed, state_file, write_plan

from compiler.state import StateError
from compiler.state.local import LocalBackend


def _truncated(text: str) -> str:
    """Cut in the middle of the third entry's line, as a full disk or a crash might."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[:3]) + lines[3][: len(lines[3]) // 2]


def _without(field: str) -> Callable[[str], str]:
    def damage(text: str) -> str:
        raw = json.loads(text)
        del raw["entries"][1][field]
        return json.dumps(raw)

    return damage


DAMAGES: dict[str, tuple[Callable[[str], str], str]] = {
    "invalid JSON": (
        lambda text: text.replace('"lineage"', "lineage", 1),
        "it is not valid JSON (Expecting property name enclosed in double quotes at line 1",
    ),
    "truncated mid-line": (_truncated, "it ends early, as if truncated ("),
    "empty": (lambda text: "", "it ends early, as if truncated ("),
    "cut inside a string": (
        lambda text: text[: text.index('"lineage"') + 4],
        "it ends early, as if truncated (Unterminated string starting at line 1 column ",
    ),
    "an entry missing fields": (
        _without("project_id"),
        f"entry 2 ({ADDRESSES[1]}): missing field(s) project_id",
    ),
    "entries not a list": (
        lambda text: json.dumps({**json.loads(text), "entries": {}}),
        "entries is missing or not a list",
    ),
    "a bad amount": (
        lambda text: json.dumps(
            {**(raw := json.loads(text)), "entries": [{**raw["entries"][0], "amount": "lots"}]}
        ),
        f"entry 1 ({ADDRESSES[0]}): amount or date cannot be read",
    ),
    "not UTF-8": (lambda text: text[:40] + "\udcff", "it is not UTF-8 text"),
}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A sandbox state after two applies (so a backup exists): (state, backup) bytes."""
    directory = write_plan(tmp_path_factory.mktemp("applied") / "billing")
    for _ in range(2):
        assert sandboxed("apply", directory).code == 0
    path = state_file(directory)
    return path.read_bytes(), path.with_name(path.name + ".backup").read_bytes()


def _damaged_plan(tmp_path: Path, applied: tuple[bytes, bytes], damage: str) -> Path:
    state, backup = applied
    directory = write_plan(tmp_path / "billing")
    path = state_file(directory)
    path.parent.mkdir(parents=True)
    change, _ = DAMAGES[damage]
    text = change(state.decode("utf-8"))
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    path.with_name(path.name + ".backup").write_bytes(backup)
    return directory


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("command", ["plan", "apply", "state"])
def test_a_damaged_state_file_is_a_clear_error_and_is_kept(
    damage: str, command: str, tmp_path: Path, applied: tuple[bytes, bytes]
) -> None:
    directory = _damaged_plan(tmp_path, applied, damage)
    path = state_file(directory)
    damaged = path.read_bytes()
    backup = path.with_name(path.name + ".backup")

    run = sandboxed(*(["state", "list"] if command == "state" else [command]), directory)

    assert run.code == 1
    assert "Traceback" not in run.text
    assert f"state file {path} is damaged: " in run.errors
    assert DAMAGES[damage][1] in run.errors.split(" is damaged: ", 1)[1].split(". Nothing")[0]
    assert path.read_bytes() == damaged  # never written over
    assert backup.read_bytes() == applied[1]  # the good backup is not replaced by the damage
    copies = list(path.parent.glob(path.name + ".damaged-*"))
    if command == "apply":  # it takes the lock: the copy is kept before it says how to restore
        assert len(copies) == 1 and copies[0].read_bytes() == damaged
        assert f"a copy of the damaged file is kept as {copies[0]}" in run.errors
    else:  # plan and state list only read, and write nothing (issue 14)
        assert copies == []
        assert "Nothing was written (this command only reads)" in run.errors
    assert f"restore it from there with: cp {backup} {path}" in run.errors
    assert not path.with_name(path.name + ".lock").exists()


def test_the_command_given_restores_the_state_and_apply_finds_its_objects_again(
    tmp_path: Path, applied: tuple[bytes, bytes]
) -> None:
    directory = _damaged_plan(tmp_path, applied, "truncated mid-line")
    said = sandboxed("apply", directory).errors  # as one line: rich folds long lines
    command = said.split("restore it from there with: ", 1)[1].split(" then run", 1)[0]

    assert subprocess.run(shlex.split(command), check=False).returncode == 0
    # The sandbox database in this directory is new: the objects are created again here.
    run = sandboxed("apply", directory)

    assert run.code == 0, run.text
    assert len(LocalBackend(state_file(directory)).read().entries) == len(ADDRESSES)


def test_a_state_file_from_a_newer_billplan_names_the_file_and_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format_version": 2, "lineage": "x", "serial": 3, "entries": []}\n')

    with pytest.raises(StateError) as raised:
        LocalBackend(path).read()

    assert str(raised.value) == (
        f"state file {path}: state format_version 2 is not one this billplan reads (1); "
        "upgrade billplan"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_without_a_backup_the_error_says_what_else_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format_version": 1, "lin')

    with pytest.raises(StateError) as raised:
        LocalBackend(path).read()

    assert f"There is no backup ({tmp_path / 'state.json.backup'} does not exist)" in str(
        raised.value
    )


def test_locking_the_same_damage_twice_keeps_one_copy(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{")
    for _ in range(2):
        with pytest.raises(StateError), LocalBackend(path).lock("apply"):
            pass

    assert len(list(tmp_path.glob("state.json.damaged-*"))) == 1


def test_reading_a_damaged_state_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{")

    with pytest.raises(StateError, match="is damaged"):
        LocalBackend(path).read()

    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_lock_file_whose_run_died_is_removed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    dead = {"id": "dead-1", "operation": "apply", "who": "ana@ci", "pid": 99999999,
            "created": "2026-11-23T09:00:00+00:00"}  # fmt: skip
    backend.lock_path.write_text(json.dumps(dead))  # nobody holds a flock on it: its run died

    with backend.lock("apply") as info:
        assert backend.current_lock() == info

    assert "removed lock dead-1: apply by ana@ci (pid 99999999)" in caplog.text
    assert not backend.lock_path.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left either
