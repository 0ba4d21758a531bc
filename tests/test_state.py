"""State on disk: one writer at a time (a lock file naming its owner), writes that are whole or
not at all (temp file, fsync, rename), a way to remove the lock of a run that died, and a
clear error for a file that cannot be read.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    ADDRESSES,
    MILESTONE,
    Remote,
    Run,
    WaitingApply,
    billplan,
    remote,
    sandboxed,
    state_file,
    state_json,
    step,
    variant,
    write_plan,
)

from compiler.state.local import LocalBackend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ruddr() -> Iterator[Remote]:
    with remote() as served:
        yield served


def _wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def _two_applies_at_once(ruddr: Remote, directory: Path, *second: str) -> list[tuple[int, str]]:
    """Start an apply and, once it holds the lock (kept busy by a slow first read), another."""
    ruddr.admin.fault("GET", "/project-invoice-milestones", delay_ms=1000)
    lock = state_file(directory, sandbox=False).with_name("state.json.lock")
    first, other = WaitingApply(directory), WaitingApply(directory, *second)
    first.go()
    _wait_for(lock)
    other.go()
    return [first.outcome(), other.outcome()]


def test_of_two_concurrent_applies_one_proceeds_and_the_other_stops_at_the_lock(
    ruddr: Remote, tmp_path: Path
) -> None:
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    (first, first_said), (second, second_said) = _two_applies_at_once(ruddr, directory)

    assert first == 0, first_said
    assert "Apply complete: 7 created." in first_said
    assert second == 1
    assert "is locked: lock " in second_said and "apply by " in second_said
    assert "wait for it to finish" in second_said
    entries = state_json(directory, sandbox=False)["entries"]
    assert [e["address"] for e in entries] == ADDRESSES
    assert len(ruddr.admin.requests("POST")) == 7


def test_a_second_apply_with_a_lock_timeout_waits_and_then_finds_nothing_to_do(
    ruddr: Remote, tmp_path: Path
) -> None:
    directory = write_plan(tmp_path / "billing", head=ruddr.head)

    (first, first_said), (second, second_said) = _two_applies_at_once(
        ruddr, directory, "--lock-timeout", "30"
    )

    assert (first, second) == (0, 0), first_said + second_said
    assert "No changes." in second_said
    assert len(ruddr.admin.requests("POST")) == 7
    assert len(ruddr.admin.objects(MILESTONE)) == 6


def test_apply_leaves_no_temporary_files_and_no_lock(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    assert sandboxed("apply", directory).code == 0
    assert sandboxed("apply", directory).code == 0

    names = sorted(p.name for p in (directory / ".billplan").iterdir())
    assert [n for n in names if "state" in n] == [
        "sandbox-state.json",
        "sandbox-state.json.backup",
        "sandbox-state.json.ledger",  # what each write changed, kept for a restored backup
    ]


def test_a_reader_never_sees_a_half_written_state_file(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    path = state_file(directory)
    problems: list[str] = []
    reads = 0
    done = threading.Event()

    def read_constantly() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            try:
                json.loads(text)
                reads += 1
            except ValueError as exc:
                problems.append(str(exc))

    reader = threading.Thread(target=read_constantly)
    reader.start()
    try:
        assert step(directory, apply=True).applied.ok
    finally:
        done.set()
        reader.join()

    assert problems == []
    assert reads > 0


def test_the_backup_holds_the_state_as_it_was_before_the_run(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    after_first = state_file(directory).read_bytes()
    write_plan(directory, variant(("amount: 10000}", "amount: 12000}")))

    assert sandboxed("apply", directory).code == 0

    assert state_file(directory).with_name("sandbox-state.json.backup").read_bytes() == after_first
    assert state_file(directory).read_bytes() != after_first


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plan directory whose sandbox state is locked by another run (this test)."""
    directory = write_plan(tmp_path / "billing")
    with LocalBackend(state_file(directory)).lock("apply") as info:
        yield directory, info.id


def test_a_run_that_finds_the_state_locked_says_who_holds_it_and_how_to_unlock(
    held: tuple[Path, str],
) -> None:
    directory, lock_id = held

    run = sandboxed("apply", directory)

    assert run.code == 1
    assert f"lock {lock_id}: apply by " in run.errors
    assert f"billplan force-unlock {lock_id} PATH" in run.errors
    assert not state_file(directory).exists()


def test_force_unlock_with_another_lock_id_refuses_and_keeps_the_lock(
    held: tuple[Path, str],
) -> None:
    directory, lock_id = held

    run = billplan_force_unlock("not-the-lock", directory)

    assert run.code == 1
    assert f"held by a different lock: lock {lock_id}" in run.errors
    assert "nothing was removed" in run.errors
    assert state_file(directory).with_name("sandbox-state.json.lock").exists()


def test_force_unlock_with_the_lock_id_removes_the_lock(held: tuple[Path, str]) -> None:
    directory, lock_id = held

    run = billplan_force_unlock(lock_id, directory)

    assert run.code == 0, run.text
    assert f"Removed lock {lock_id}." in run.out
    assert not state_file(directory).with_name("sandbox-state.json.lock").exists()
    assert sandboxed("apply", directory).code == 0


def billplan_force_unlock(lock_id: str, directory: Path) -> Run:
    return billplan("force-unlock", lock_id, directory, "--sandbox")


def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    state_file(directory).parent.mkdir(parents=True)
    state_file(directory).write_text('{"format_version": 1, "lineage": ', encoding="utf-8")

    run = sandboxed("plan", directory)

    assert run.code == 1
    assert f"state file {state_file(directory)} is damaged" in run.errors
    assert "it ends early, as if truncated" in run.errors
    assert "There is no backup" in run.errors and "sandbox-state.json.backup" in run.errors


def test_a_state_file_from_a_newer_billplan_is_refused(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    state_file(directory).parent.mkdir(parents=True)
    state_file(directory).write_text(
        '{"format_version": 99, "lineage": "x", "serial": 1, "entries": []}', encoding="utf-8"
    )

    run = sandboxed("apply", directory)

    assert run.code == 1
    assert "state format_version 99 is not one this billplan reads (1); upgrade billplan" in (
        run.errors
    )


def test_a_lock_is_released_when_the_backup_cannot_be_written(tmp_path: Path) -> None:
    from compiler.state import State, StateError
    from compiler.state.local import LocalBackend

    backend = LocalBackend(tmp_path / "state.json")
    backend.write(State())
    backend.backup_path.mkdir()  # a directory where the backup file should go

    with pytest.raises(StateError, match="cannot back up the state"), backend.lock("apply"):
        pass

    assert backend.current_lock() is None


def test_a_lock_file_of_unexpected_shape_is_still_a_lock(tmp_path: Path) -> None:
    from compiler.state.local import LocalBackend

    backend = LocalBackend(tmp_path / "state.json")
    backend.lock_path.write_text('{"id": "x"}')

    assert backend.current_lock().id == "unknown"
