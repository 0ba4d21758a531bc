"""A plan directory read in two processes (compiler/halves.py) tells a plan author exactly
what one process tells: every problem, worded and located the same, and where each value
was written, even inside the projects the worker read."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compiler import halves
from compiler.expand import parallel
from compiler.model import Item
from compiler.render.items import json_record, to_json
from compiler.validate import Checked, check

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from portfolio import AS_OF, write_portfolio, write_under_defaults

LAST = "projects-zz.yaml"  # the worker's file: the last in the directory
SECOND = """\
projects:
  zz-second:
    provider: ruddr
    project_id: 00000000-0000-4000-8000-00000000000f
    name: Second site
    milestones:
      kickoff: {description: Kickoff, date: 2026-03-02, amount: 1200}
"""


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    write_portfolio(tmp_path, 6, seed=11)
    (tmp_path / LAST).write_text(SECOND, encoding="utf-8")
    return tmp_path


def checked(path: Path, in_two: bool, monkeypatch: pytest.MonkeyPatch) -> Checked:
    with monkeypatch.context() as patch:
        patch.setattr(parallel, "_can_fork", lambda: in_two)
        patch.setattr(parallel, "MIN_PLAN_BYTES", 0)
        patch.setattr(parallel, "OWN_BYTES_SHARE", 0.99)  # the worker reads only the last file
        return check(path, AS_OF)


def both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Checked, Checked]:
    return checked(path, False, monkeypatch), checked(path, True, monkeypatch)


def read_in_two(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the worker's projects each time a plan is expanded in halves."""
    seen: list[str] = []
    halved = halves.InTwo.halves

    def recorded(self: halves.InTwo, merged: halves.Merged, record: Any = None) -> Any:
        seen.extend(merged.rest)
        return halved(self, merged, record)

    monkeypatch.setattr(halves.InTwo, "halves", recorded)
    return seen


def rendered_in_two(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """render's JSON of the plan read in two, the worker reading only the last file."""
    with monkeypatch.context() as patch:
        patch.setattr(parallel, "_can_fork", lambda: True)
        patch.setattr(parallel, "MIN_PLAN_BYTES", 0)
        patch.setattr(parallel, "RECORDING_SHARE", 0.99)
        recorded = check(path, AS_OF, record=json_record())
    assert recorded.records is not None
    return to_json(recorded.items, AS_OF, recorded.records)


def edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def test_a_plan_read_in_halves_has_the_items_one_process_makes(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = read_in_two(monkeypatch)
    one, two = both(plan, monkeypatch)
    assert seen == ["zz-second"]
    assert one.ok and two.ok
    assert [(i, i.mark, i.option_marks) for i in two.items] == [
        (i, i.mark, i.option_marks) for i in one.items
    ]
    kickoff = next(i for i in two.items if i.project == "zz-second")
    assert (Path(kickoff.mark.file).name, kickoff.mark.line) == (LAST, 7)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda text: text.replace("amount: 1200}", "amount: 1200"), id="YAML syntax"),
        pytest.param(lambda text: text.replace("amount: 1200", "amount: twelve"), id="schema"),
        pytest.param(lambda text: text.replace("2026-03-02", "2026-02-30"), id="meaning"),
        pytest.param(lambda text: "version: 2\n" + text, id="a section twice"),
        pytest.param(lambda text: text.replace("ruddr", "nobody"), id="unknown"),
    ],
)
def test_a_problem_in_the_workers_file_reads_as_one_process_reports_it(
    plan: Path, monkeypatch: pytest.MonkeyPatch, broken: Callable[[str], str]
) -> None:
    edit(plan / LAST, broken)
    one, two = both(plan, monkeypatch)
    assert one.diagnostics
    assert [str(d) for d in two.diagnostics] == [str(d) for d in one.diagnostics]


def test_a_project_defined_in_both_halves_reads_as_one_process_reports_it(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = (plan / "projects-0000.yaml").read_text(encoding="utf-8").splitlines()[1].strip()
    edit(plan / LAST, lambda text: text.replace("zz-second:", first))
    one, two = both(plan, monkeypatch)
    assert "defined twice" in str(one.diagnostics)
    assert [str(d) for d in two.diagnostics] == [str(d) for d in one.diagnostics]


def test_a_problem_in_this_processs_files_reads_as_one_process_reports_it(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(plan / "00-head.yaml", lambda text: text.replace("rounding: half_up", "rounding: up"))
    edit(plan / "projects-0000.yaml", lambda text: text.replace("currency: ", "currency: x", 1))
    one, two = both(plan, monkeypatch)
    assert len(one.diagnostics) >= 2
    assert [str(d) for d in two.diagnostics] == [str(d) for d in one.diagnostics]


def test_where_a_value_inside_the_workers_projects_was_written_is_found_when_asked(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = both(plan, monkeypatch)
    assert two.document is not None and two.document.unmarked == {"zz-second"}
    amount = ("projects", "zz-second", "milestones", "kickoff", "amount")
    kickoff = amount[:-1]
    assert two.document.mark(amount) == one.document.mark(amount)  # read again here
    assert str(two.document.mark(amount)).endswith(f"{LAST}:7:65")
    assert two.document.key_mark(kickoff) == one.document.key_mark(kickoff)
    assert not two.document.unmarked


def test_a_worker_that_dies_leaves_the_whole_plan_to_this_process(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(*args: Any) -> None:
        raise SystemExit(3)

    monkeypatch.setattr(halves, "_worker", dies)
    seen = read_in_two(monkeypatch)
    one, two = both(plan, monkeypatch)
    assert seen == []  # read again in one process
    assert [i.address for i in two.items] == [i.address for i in one.items]


def test_the_workers_items_json_records_are_made_in_the_worker(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_here: list[str] = []

    def record(item: Item) -> str:
        made_here.append(item.address)  # in this process only: the worker's list is its own
        return json_record()(item)

    with monkeypatch.context() as patch:
        patch.setattr(parallel, "_can_fork", lambda: True)
        patch.setattr(parallel, "MIN_PLAN_BYTES", 0)
        patch.setattr(parallel, "RECORDING_SHARE", 0.99)
        two = check(plan, AS_OF, record=record)
    one = checked(plan, False, monkeypatch)
    assert two.records is not None
    assert ",\n".join(two.records) == ",\n".join(map(json_record(), one.items))
    assert len(two.records) == len({item.project for item in one.items})  # a run a project
    # Each of this process's items once, made while the worker encoded its own (unsorted).
    assert sorted(made_here) == sorted(i.address for i in two.items if i.project != "zz-second")
    assert to_json(two.items, AS_OF, two.records) == to_json(one.items, AS_OF)


def test_json_records_the_worker_never_sends_are_made_here(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuses(self: halves.InTwo, merged: halves.Merged, items: list[Item], record: Any) -> Any:
        self.worker.receive = lambda: None  # as if the worker died after sending its items
        return original(self, merged, items, record)

    original = halves.InTwo.records
    monkeypatch.setattr(halves.InTwo, "records", refuses)
    with monkeypatch.context() as patch:
        patch.setattr(parallel, "_can_fork", lambda: True)
        patch.setattr(parallel, "MIN_PLAN_BYTES", 0)
        two = check(plan, AS_OF, record=json_record())
    assert two.records == [json_record()(item) for item in two.items]  # an item a run


def test_this_process_makes_its_records_while_the_worker_encodes(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its own items' records are made before the worker's items are read back: otherwise
    this process only waits meanwhile."""
    order: list[str] = []
    decode = parallel.decode

    def decoded(data: bytes) -> parallel.Part:
        order.append("worker's items read")
        return decode(data)

    def record(item: Item) -> str:
        order.append("record")
        return json_record()(item)

    with monkeypatch.context() as patch:
        patch.setattr(parallel, "_can_fork", lambda: True)
        patch.setattr(parallel, "MIN_PLAN_BYTES", 0)
        patch.setattr(parallel, "RECORDING_SHARE", 0.99)
        patch.setattr(parallel, "decode", decoded)
        two = check(plan, AS_OF, record=record)
    own = sum(1 for item in two.items if item.project != "zz-second")
    assert order == ["record"] * own + ["worker's items read"]
    one = checked(plan, False, monkeypatch)
    assert two.records is not None
    assert ",\n".join(two.records) == ",\n".join(map(json_record(), one.items))


def test_the_workers_projects_may_come_first_in_the_items_order(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items are ordered by project key, not by file: the worker's last file may hold the
    project that comes first. Then the two processes' items are sorted together again."""
    edit(plan / LAST, lambda text: text.replace("zz-second", "aa-first"))
    seen = read_in_two(monkeypatch)
    one, two = both(plan, monkeypatch)
    assert seen == ["aa-first"]
    assert two.items[0].project == "aa-first"
    assert [(i, i.mark) for i in two.items] == [(i, i.mark) for i in one.items]
    assert rendered_in_two(plan, monkeypatch) == to_json(one.items, AS_OF)


def test_projects_under_the_plans_defaults_keep_their_own_items_in_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Projects that set nothing of their own share the defaults' settings; each charge of
    the same key is still its own project's, read in either process (a worker's items once
    came back under the previous project's name and id, and render dropped them)."""
    write_under_defaults(tmp_path, files=3, per_file=4, months=2)
    seen = read_in_two(monkeypatch)
    one, two = both(tmp_path, monkeypatch)
    assert seen == ["p20", "p21", "p22", "p23"]
    assert one.ok and two.ok
    assert [(i, i.project, i.project_id) for i in two.items] == [
        (i, i.project, i.project_id) for i in one.items
    ]
    assert rendered_in_two(tmp_path, monkeypatch) == to_json(one.items, AS_OF)
