"""A state write costs what it changed, not the size of the state (issue 20).

While a run holds the lock, each write appends the entries it changed to the ledger (fsynced)
and leaves the state file alone; the file is written whole once, when the run lets go of the
lock. A run that dies in between leaves the file behind its ledger, which the next read
replays. Writes made without the lock (nothing in billplan does so) still write the file at
once.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from compiler.state import Entry, State
from compiler.state.local import LocalBackend


def _entry(n: int, remote_id: str | None = None) -> Entry:
    return Entry(
        address=f"acme/milestones/m{n:05d}",
        provider="ruddr",
        type="ruddr_invoice_milestone",
        project="acme",
        project_id="p-1",
        remote_id=remote_id if remote_id is not None else f"r-{n}",
        attributes={"name": f"Milestone {n}", "amount": Decimal(100 + n)},
        currency="USD",
        date=None,
        amount=Decimal(100 + n),
    )


def _state_of(backend: LocalBackend, count: int) -> None:
    """A state file of `count` entries, written by a run that held the lock."""
    with backend.lock("setup"):
        state = backend.read()
        for n in range(count):
            state.entries[_entry(n).address] = _entry(n)
        backend.write(state)


def _ledger_lines(backend: LocalBackend) -> list[dict[str, object]]:
    return [json.loads(line) for line in backend.ledger_path.read_bytes().splitlines()]


def test_a_write_under_the_lock_leaves_the_state_file_as_it_was(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 50)
    before = backend.path.read_bytes()

    with backend.lock("apply"):
        state = backend.read()
        state.entries[_entry(50).address] = _entry(50)
        backend.write(state)

        assert backend.path.read_bytes() == before


def test_a_write_appends_only_the_entries_it_changed_to_the_ledger(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 50)
    recorded = len(_ledger_lines(backend))

    with backend.lock("apply"):
        state = backend.read()
        state.entries[_entry(50).address] = _entry(50)
        state.entries[_entry(7).address] = replace(_entry(7), amount=Decimal(1))
        del state.entries[_entry(8).address]
        backend.write(state)

    added = _ledger_lines(backend)[recorded:]
    assert sorted((r["address"], r["entry"] is None) for r in added) == [
        (_entry(7).address, False),
        (_entry(8).address, True),
        (_entry(50).address, False),
    ]


def test_a_write_under_the_lock_encodes_only_the_entries_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 200)
    encoded: list[str] = []
    to_json = Entry.to_json

    def counted(entry: Entry) -> dict[str, object]:
        encoded.append(entry.address)
        return to_json(entry)

    with backend.lock("apply"):
        state = backend.read()
        monkeypatch.setattr(Entry, "to_json", counted)
        for n in (200, 201, 202):
            state.entries[_entry(n).address] = replace(_entry(n), remote_id=None, status="pending")
            backend.write(state)

        assert encoded == [_entry(n).address for n in (200, 201, 202)]


def test_the_state_file_is_written_whole_when_the_lock_is_released(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 20)

    with backend.lock("apply"):
        state = backend.read()
        for n in range(20, 25):
            state.entries[_entry(n).address] = _entry(n)
            backend.write(state)
        del state.entries[_entry(0).address]
        backend.write(state)

    written = json.loads(backend.path.read_text(encoding="utf-8"))
    assert written["serial"] == state.serial
    assert [e["address"] for e in written["entries"]] == sorted(state.entries)
    assert LocalBackend(backend.path).read() == state


def test_the_state_file_is_written_when_the_run_fails_while_holding_the_lock(
    tmp_path: Path,
) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 3)

    with pytest.raises(RuntimeError), backend.lock("apply"):
        state = backend.read()
        state.entries[_entry(3).address] = _entry(3)
        backend.write(state)
        raise RuntimeError("a vendor call went wrong")

    written = json.loads(backend.path.read_text(encoding="utf-8"))["entries"]
    assert _entry(3).address in [e["address"] for e in written]


def test_a_run_that_dies_holding_the_lock_loses_no_write(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 3)
    lock = backend.lock("apply")
    lock.__enter__()  # and never left: the run is killed while it holds the lock
    state = backend.read()
    state.entries[_entry(3).address] = replace(_entry(3), remote_id=None, status="pending")
    backend.write(state)

    read = LocalBackend(backend.path).read()

    assert read.entries == state.entries
    assert read.serial == state.serial


def test_a_read_under_the_lock_after_a_write_finds_it_without_taking_anything_back(
    tmp_path: Path,
) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 3)

    with backend.lock("apply"):
        state = backend.read()
        state.entries[_entry(3).address] = _entry(3)
        backend.write(state)
        again = backend.read()

    assert again.entries == state.entries
    assert backend.taken_back == []


def test_a_state_behind_its_ledger_is_brought_up_to_it_by_the_next_run_that_locks_it(
    tmp_path: Path,
) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 3)
    behind = backend.path.read_bytes()
    lock = backend.lock("apply")
    lock.__enter__()  # a run that dies after its write
    state = backend.read()
    state.entries[_entry(3).address] = _entry(3)
    backend.write(state)
    assert backend.path.read_bytes() == behind

    backend.lock_path.unlink()  # as the next run does with a dead run's lock
    successor = LocalBackend(backend.path)
    with successor.lock("apply"):
        assert successor.read().entries == state.entries

    assert LocalBackend(backend.path).read().entries == state.entries
    assert json.loads(backend.path.read_text(encoding="utf-8"))["serial"] == state.serial


def test_entries_replaced_wholesale_are_all_compared_by_the_next_write(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    _state_of(backend, 5)

    with backend.lock("apply"):
        state = backend.read()
        kept = {a: e for a, e in state.entries.items() if a != _entry(0).address}
        state.entries = {**kept, _entry(9).address: _entry(9)}
        backend.write(state)

    assert sorted(LocalBackend(backend.path).read().entries) == sorted(
        _entry(n).address for n in (1, 2, 3, 4, 9)
    )


def test_a_write_without_the_lock_writes_the_state_file_at_once(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state.json")
    state = State()
    state.entries[_entry(0).address] = _entry(0)

    backend.write(state)

    assert LocalBackend(backend.path).read().entries == state.entries
