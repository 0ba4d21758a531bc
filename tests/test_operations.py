"""The operations the command line calls, without the command line: state edited by hand, a
saved plan's checks before anything is planned, and where a served sandbox is reached. The
commands' output and exit codes are pinned by tests/test_cli_*.py, test_state*.py and
test_apply_reviewed.py; these pin what each operation does and refuses on its own."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from compiler import planfile
from compiler.diff import Plan
from compiler.operations import saved_plan, state_edit
from compiler.operations.sandbox_server import root_url
from compiler.state import Entry, State
from compiler.state.local import LocalBackend

KICKOFF = "acme/milestones/kickoff"
DESIGN = "acme/milestones/design"


def _entry(address: str) -> Entry:
    return Entry(
        address=address,
        provider="ruddr",
        type="ruddr_invoice_milestone",
        project="acme",
        project_id="p-1",
        remote_id=f"id-{address.rsplit('/', 1)[-1]}",
        attributes={"amount": 100},
        currency="EUR",
        date=date(2026, 3, 1),
        amount=Decimal("100"),
    )


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    """A local state holding the design and kickoff milestones."""
    backend = LocalBackend(tmp_path / "state.json")
    state = State(entries={a: _entry(a) for a in (KICKOFF, DESIGN)})
    with backend.lock("test"):
        backend.write(state)
    return backend


def test_state_entries_are_listed_by_address(backend: LocalBackend) -> None:
    assert [entry.address for entry in state_edit.entries(backend)] == [DESIGN, KICKOFF]


def test_showing_an_address_not_in_state_names_where_the_state_is(
    backend: LocalBackend,
) -> None:
    with pytest.raises(
        state_edit.NotInState, match=f"acme/x is not in the state at {backend.path}"
    ):
        state_edit.entry(backend, "acme/x")


def test_forgetting_an_address_keeps_every_other_entry(backend: LocalBackend) -> None:
    state_edit.forget(backend, [KICKOFF], lock_timeout=0)
    assert list(backend.read().entries) == [DESIGN]


def test_forgetting_addresses_removes_none_when_one_is_not_in_state(
    backend: LocalBackend,
) -> None:
    with pytest.raises(state_edit.NotInState, match="not in state: acme/x; nothing was removed"):
        state_edit.forget(backend, [KICKOFF, "acme/x"], lock_timeout=0)
    assert sorted(backend.read().entries) == [DESIGN, KICKOFF]


def test_a_plan_whose_state_file_leads_out_of_its_directory_opens_no_backend(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\nstate:\n  path: ../elsewhere.json\n", encoding="utf-8")
    with pytest.raises(state_edit.BackendUnopened) as refused:
        state_edit.open_backend(plan, sandbox=False)
    [problem] = refused.value.diagnostics
    assert str(problem).startswith(f"{plan}:3:9: $.state.path: ")


def _saved(tmp_path: Path, *, sandbox: bool, as_of: date = date(2026, 3, 1)) -> Path:
    path = tmp_path / "reviewed.json"
    text = planfile.dumps(Plan(), plan_path=str(tmp_path), as_of=as_of, sandbox=sandbox)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_saved_plan_needs_the_plan_directory_to_check_it_against(tmp_path: Path) -> None:
    path = _saved(tmp_path, sandbox=False)
    with pytest.raises(saved_plan.SavedPlanRefused, match="name the plan directory"):
        saved_plan.opened(path, plan_dir=None, sandbox=False, as_of=None)


def test_a_saved_plan_made_against_the_sandbox_is_not_applied_to_the_real_vendors(
    tmp_path: Path,
) -> None:
    path = _saved(tmp_path, sandbox=True)
    with pytest.raises(saved_plan.SavedPlanRefused, match="add --sandbox to apply it"):
        saved_plan.opened(path, plan_dir="billing", sandbox=False, as_of=None)


def test_a_saved_plan_is_checked_only_at_its_own_as_of_date(tmp_path: Path) -> None:
    path = _saved(tmp_path, sandbox=False)
    with pytest.raises(saved_plan.SavedPlanRefused, match="drop --as-of 2026-02-01"):
        saved_plan.opened(path, plan_dir="billing", sandbox=False, as_of="2026-02-01")
    saved = saved_plan.opened(path, plan_dir="billing", sandbox=False, as_of="2026-03-01")
    assert saved.as_of == date(2026, 3, 1)


def test_a_sandbox_served_on_every_address_is_reached_through_loopback() -> None:
    assert root_url("0.0.0.0", 8765) == "http://127.0.0.1:8765"
    assert root_url("::", 8765) == "http://127.0.0.1:8765"
    assert root_url("::1", 8080) == "http://[::1]:8080"
