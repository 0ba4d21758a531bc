"""How many state writes an apply makes (issue 20): one per vendor call, as before, and one for
everything that calls no vendor (`moved:` renames, protection marks, adopts and forgets),
recorded together before the first vendor call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ADDRESSES, state_file, step, write_plan

from compiler.state import State
from compiler.state.local import LocalBackend


def _counting_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of entries of each state write from now on."""
    sizes: list[int] = []
    write = LocalBackend.write

    def counted(self: LocalBackend, state: State) -> None:
        sizes.append(len(state.entries))
        write(self, state)

    monkeypatch.setattr(LocalBackend, "write", counted)
    return sizes


def test_objects_adopted_after_the_state_was_lost_are_recorded_in_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write_plan(tmp_path / "billing")
    step(directory, apply=True)
    state_file(directory).unlink()  # state lost: every object is found again and adopted
    writes = _counting_writes(monkeypatch)

    done = step(directory, apply=True)

    assert {c.action for c in done.plan.changes} == {"adopt"}
    assert writes == [len(ADDRESSES)]
    assert sorted(done.state.entries) == ADDRESSES


def test_a_first_apply_writes_state_once_per_create_request_and_once_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write_plan(tmp_path / "billing")
    writes = _counting_writes(monkeypatch)

    done = step(directory, apply=True)

    creates = [r for r in done.requests if r["method"] == "POST"]
    assert len(writes) == len(creates) + 1
