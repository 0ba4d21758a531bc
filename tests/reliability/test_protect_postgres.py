"""A protection mark (`protect: true`, compiler.keep) is kept by both state backends: written
by one run, read back by the next, so that a charge removed from the plan is still refused;
and a state written before the mark existed still loads, unprotected."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from compiler.state import Backend, Entry, State
from compiler.state.local import LocalBackend
from compiler.state.postgres import PostgresBackend

KICKOFF = "cloud-infra/milestones/kickoff"


def entry(address: str, remote_id: str) -> Entry:
    return Entry(
        address=address,
        provider="ruddr",
        type="ruddr_invoice_milestone",
        project="cloud-infra",
        project_id="d077258e",
        remote_id=remote_id,
        attributes={"name": "Kickoff", "fee": Decimal("10000")},
        currency="USD",
        date=date(2026, 1, 15),
        amount=Decimal("10000"),
    )


@pytest.fixture(params=["local", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return LocalBackend(tmp_path / "state.json")
    request.getfixturevalue("pg_dsn")
    name = f"test-{uuid.uuid4().hex[:12]}"
    return PostgresBackend.from_config({"backend": "postgres", "name": name})


def test_a_protection_mark_is_read_back_as_written_and_an_unmarked_entry_stays_unmarked(
    backend: Backend,
) -> None:
    marked = replace(entry(KICKOFF, "r-1"), protected=True)
    plain = entry("cloud-infra/milestones/design", "r-2")
    with backend.lock("apply"):
        backend.write(State(entries={KICKOFF: marked, plain.address: plain}))

    read = backend.read()

    assert read.entries[KICKOFF].protected is True
    assert read.entries[plain.address].protected is False


def test_clearing_a_mark_is_written_like_any_other_change_of_an_entry(backend: Backend) -> None:
    with backend.lock("apply"):
        backend.write(State(entries={KICKOFF: replace(entry(KICKOFF, "r-1"), protected=True)}))
        state = backend.read()
        state.entries[KICKOFF] = replace(state.entries[KICKOFF], protected=False)
        backend.write(state)

    assert backend.read().entries[KICKOFF].protected is False
