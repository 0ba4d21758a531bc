"""Two `billplan apply` processes at once on one plan and one state, as two CI jobs or two
people would run them, on both state backends, against the Ruddr emulator served over
loopback. One applies; the other stops at the lock naming the holder, or waits for it with
--lock-timeout and then finds nothing to do. The vendor ends up with exactly the planned
objects, each once, and the state owns each of them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    ADDRESSES,
    MILESTONE,
    PRODUCT_ITEM,
    Remote,
    WaitingApply,
    remote,
    write_plan,
)

from compiler.state import Backend, State
from compiler.state.local import LocalBackend
from compiler.state.postgres import PostgresBackend

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ruddr() -> Iterator[Remote]:
    with remote() as served:
        yield served


@pytest.fixture(params=["local", "postgres"])
def billing(request: pytest.FixtureRequest, ruddr: Remote, tmp_path: Path) -> tuple[Path, Backend]:
    """A plan directory whose state is on the backend under test, and that backend."""
    directory = tmp_path / "billing"
    if request.param == "local":
        write_plan(directory, head=ruddr.head)
        return directory, LocalBackend(directory / ".billplan" / "state.json")
    request.getfixturevalue("pg_dsn")
    name = f"race-{uuid.uuid4().hex[:12]}"
    write_plan(directory, head=ruddr.head + f"state: {{backend: postgres, name: {name}}}\n")
    return directory, PostgresBackend.from_config({"backend": "postgres", "name": name})


def _two_applies_at_once(
    ruddr: Remote, directory: Path, backend: Backend, *second: str
) -> list[tuple[int, str]]:
    """Start an apply and, once it holds the lock (kept busy by a slow first read), another."""
    ruddr.admin.fault("GET", "/project-invoice-milestones", delay_ms=1000)
    first, other = WaitingApply(directory), WaitingApply(directory, *second)
    first.go()
    deadline = time.monotonic() + 30
    while backend.current_lock() is None:
        assert time.monotonic() < deadline, "the first apply never took the lock"
        assert first.process.poll() is None, first.outcome()
        time.sleep(0.01)
    other.go()
    return [first.outcome(), other.outcome()]


def _assert_exactly_the_plan(ruddr: Remote, state: State) -> None:
    milestones = ruddr.admin.objects(MILESTONE)
    products = ruddr.admin.objects(PRODUCT_ITEM)
    held = [o["id"] for o in milestones + products]
    assert (len(milestones), len(products)) == (6, 1)
    assert len(ruddr.admin.requests("POST")) == 7  # each object created once
    assert sorted(state.entries) == ADDRESSES
    owned = [e.remote_id for e in state.entries.values()]
    assert sorted(owned) == sorted(held)  # one entry per object, none pending, none twice
    assert all(e.status == "managed" for e in state.entries.values())


def test_of_two_applies_at_once_one_applies_and_the_other_stops_naming_the_holder(
    ruddr: Remote, billing: tuple[Path, Backend]
) -> None:
    directory, backend = billing

    (first, first_said), (second, second_said) = _two_applies_at_once(ruddr, directory, backend)

    assert first == 0, first_said
    assert "Apply complete: 7 created." in first_said
    assert second == 1, second_said
    assert f"the state at {backend.describe()} is locked: lock " in second_said
    assert "apply by " in second_said and "(pid " in second_said
    assert "Traceback" not in second_said
    _assert_exactly_the_plan(ruddr, backend.read())
    assert backend.current_lock() is None


def test_an_apply_that_waits_for_the_lock_then_finds_nothing_to_do(
    ruddr: Remote, billing: tuple[Path, Backend]
) -> None:
    directory, backend = billing

    (first, first_said), (second, second_said) = _two_applies_at_once(
        ruddr, directory, backend, "--lock-timeout", "60"
    )

    assert (first, second) == (0, 0), first_said + second_said
    assert "Apply complete: 7 created." in first_said
    assert "No changes." in second_said
    state = backend.read()
    _assert_exactly_the_plan(ruddr, state)
    assert state.serial > 1
