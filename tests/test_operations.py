"""The operations the command line calls, without the command line: state edited by hand, a
saved plan's checks before anything is planned, and where a served sandbox is reached. The
commands' output and exit codes are pinned by tests/test_cli_*.py, test_state*.py and
test_apply_reviewed.py; these pin what each operation does and refuses on its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import support

from compiler import planfile
from compiler.apply import Applied, Progress
from compiler.diff import Plan
from compiler.model.change import Mode
from compiler.operations import applying, planning, saved_plan, state_edit
from compiler.operations.sandbox_server import root_url
from compiler.state import Entry, State
from compiler.state.local import LocalBackend
from compiler.targets import Targets
from compiler.workspace import open_workspace

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


# ---- applying and planning, seen through a view that records what it is shown ---------------


class RecordingView:
    """An ApplyView and a PlanView: what it was shown, in order; approves as told."""

    def __init__(self, *, approve: bool = True, record: bool = False) -> None:
        self.approve = approve
        self.record = record
        self.seen: list[str] = []

    def agreed(self, plan_dir: Path, as_of: date, path: Path, plan: Plan) -> None:
        self.seen.append("agreed")

    def planned(self, plan: Plan) -> None:
        self.seen.append(f"planned {plan.count('create')} creates")

    def approved(self, plan: Plan) -> bool:
        self.seen.append("asked")
        return self.approve

    @contextmanager
    def progress(self, total: int) -> Iterator[Progress]:
        self.seen.append(f"progress of {total}")
        yield lambda change: self.seen.append(f"done {change.address}")

    def warn(self, plan: Plan) -> None:
        self.seen.append("warned")

    def show(self, plan: Plan, record: str) -> None:
        self.seen.append(f"shown {plan.mode}" + (" with its record" if record else ""))


def _applied(directory: Path, view: RecordingView) -> Applied | None:
    with open_workspace(directory, support.AS_OF, sandbox=True) as workspace:
        return applying.apply_dir(workspace, Targets(), lock_timeout=0, view=view)


def test_an_apply_shows_the_plan_asks_then_shows_progress_per_change(tmp_path: Path) -> None:
    directory = support.write_plan(tmp_path / "billing")
    view = RecordingView()
    applied = _applied(directory, view)
    assert applied is not None and applied.ok and len(applied.done) == 7
    assert view.seen[:3] == ["planned 7 creates", "asked", "progress of 7"]
    assert sorted(view.seen[3:]) == [f"done {address}" for address in support.ADDRESSES]


def test_an_apply_that_is_not_approved_changes_nothing(tmp_path: Path) -> None:
    directory = support.write_plan(tmp_path / "billing")
    view = RecordingView(approve=False)
    with pytest.raises(applying.NotApproved):
        _applied(directory, view)
    assert view.seen == ["planned 7 creates", "asked"]
    assert not support.state_file(directory).exists()


def test_an_apply_with_nothing_to_do_shows_the_plan_and_asks_nothing(tmp_path: Path) -> None:
    directory = support.write_plan(tmp_path / "billing")
    _applied(directory, RecordingView())
    view = RecordingView()
    assert _applied(directory, view) is None
    assert view.seen == ["planned 0 creates"]


def _planned(
    directory: Path, view: RecordingView, mode: Mode = "normal", save_to: Path | None = None
) -> Plan:
    with open_workspace(directory, support.AS_OF, sandbox=True) as workspace:
        return planning.plan(workspace, Targets(), mode, view, save_to=save_to)


class FilesView(RecordingView):
    """Records, when it shows the plan, whether the saved plan and the job summary exist."""

    def __init__(self, saved: Path, summary: Path) -> None:
        super().__init__()
        self.saved, self.summary = saved, summary

    def show(self, plan: Plan, record: str) -> None:
        self.seen.append(
            f"shown when saved: {self.saved.exists()}, summarised: {self.summary.exists()}"
        )


def test_a_plan_is_saved_before_it_is_shown_and_copied_to_the_job_summary_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = support.write_plan(tmp_path / "billing")
    saved, summary = tmp_path / "saved.json", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    view = FilesView(saved, summary)
    _planned(directory, view, save_to=saved)
    assert view.seen == ["warned", "shown when saved: True, summarised: False"]
    assert planfile.load(saved).plan.count("create") == 7
    assert "Plan: 7 to create" in summary.read_text(encoding="utf-8")


def test_a_plan_is_recorded_as_a_saved_plan_only_for_a_view_that_asks(tmp_path: Path) -> None:
    directory = support.write_plan(tmp_path / "billing")
    for asks, shown in ((False, "shown normal"), (True, "shown normal with its record")):
        view = RecordingView(record=asks)
        _planned(directory, view)
        assert view.seen == ["warned", shown]


def test_a_refresh_only_plan_is_no_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = support.write_plan(tmp_path / "billing")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    view = RecordingView(record=True)
    plan = _planned(directory, view, mode="refresh-only")
    assert plan.mode == "refresh-only"
    assert view.seen == ["warned", "shown refresh-only"]
    assert not summary.exists()
