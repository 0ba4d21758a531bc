"""A plan expanded in two processes is exactly the plan expanded in one: the same items in
the same order, the same problems, and the same stop where a limit of the whole plan is
reached (compiler/expand/parallel.py). Both ways of using two: a worker forked to expand
the last projects, and a plan directory read, checked and expanded in halves
(compiler/halves.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from compiler import limits as plan_limits
from compiler.expand import parallel
from compiler.limits import Limits
from compiler.validate import Checked, check

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from portfolio import AS_OF, write_portfolio, write_under_defaults

# A last project whose weekly charge has many periods but, paused, few items: the item limit
# counts its periods (they could stop the plan) though it adds only a handful of items.
PAUSED = """\
projects:
  zz-paused:
    provider: ruddr
    project_id: 00000000-0000-4000-8000-00000000000f
    recurring:
      desk:
        description: "Desk {{ period.label }}"
        every: week
        start: 2025-01-06
        count: 60
        amount: 100
        pauses:
          - {from: 2025-01-13, to: 2026-02-01}
"""


@pytest.fixture
def portfolio(tmp_path: Path, way: str) -> Path:
    write_portfolio(tmp_path, 6, seed=7)
    (tmp_path / "projects-zz.yaml").write_text(PAUSED, encoding="utf-8")
    return tmp_path


@pytest.fixture(params=["forked to expand", "read in halves"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test of a portfolio runs both ways: its files read in one process or in two."""
    halves = request.param == "read in halves"
    monkeypatch.setattr(parallel, "MIN_CHARGES", 0)
    monkeypatch.setattr(parallel, "MIN_PLAN_BYTES", 0 if halves else 10**12)
    return str(request.param)


def expanded(path: Path, *, in_two: bool, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Checked:
    with monkeypatch.context() as patch:
        patch.setattr(parallel, "_can_fork", lambda: in_two)
        return check(path, AS_OF, **kw)


def same(one: Checked, two: Checked) -> None:
    # Item equality leaves out where things were written: compare that too.
    assert [(i, i.mark, i.option_marks) for i in two.items] == [
        (i, i.mark, i.option_marks) for i in one.items
    ]
    assert [str(d) for d in two.diagnostics] == [str(d) for d in one.diagnostics]


def test_a_portfolio_expands_in_two_processes_to_exactly_its_items(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = expanded(portfolio, in_two=False, monkeypatch=monkeypatch)
    two = expanded(portfolio, in_two=True, monkeypatch=monkeypatch)
    assert one.ok and len(one.items) > 600
    same(one, two)


def test_problems_in_both_halves_are_all_reported_as_one_process_reports_them(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for fragment in sorted(portfolio.glob("projects-*.yaml")):
        text = fragment.read_text(encoding="utf-8")
        text = text.replace("count: 4,", "count: 0,").replace("weight: 3}", "weight: -3}")
        fragment.write_text(text.replace("{{ quantity }} days", "{{ quantity.days }} days"))
    one = expanded(portfolio, in_two=False, monkeypatch=monkeypatch)
    two = expanded(portfolio, in_two=True, monkeypatch=monkeypatch)
    assert len(one.diagnostics) > 6
    same(one, two)


def test_an_item_limit_near_the_plans_size_stops_it_where_one_process_does(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = len(expanded(portfolio, in_two=False, monkeypatch=monkeypatch).items)
    stops = 0
    for most in range(total - 70, total + 1, 7):
        one = expanded(portfolio, in_two=False, monkeypatch=monkeypatch, limits=Limits(most))
        two = expanded(portfolio, in_two=True, monkeypatch=monkeypatch, limits=Limits(most))
        same(one, two)
        stops += not one.ok
    assert stops >= 9  # the paused charge's 60 periods stop it below the total too


def test_a_template_budget_nearly_spent_runs_out_where_one_process_runs_out(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_limits, "TEMPLATE_STEPS_PER_ITEM", 0)
    outcomes = set()
    for steps in range(10_000, 60_000, 2_500):
        monkeypatch.setattr(plan_limits, "TEMPLATE_STEPS_FLOOR", steps)
        one = expanded(portfolio, in_two=False, monkeypatch=monkeypatch)
        two = expanded(portfolio, in_two=True, monkeypatch=monkeypatch)
        same(one, two)
        outcomes.add(one.ok)
    assert outcomes == {True, False}


def test_a_worker_that_fails_leaves_its_projects_to_this_process(
    portfolio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = expanded(portfolio, in_two=False, monkeypatch=monkeypatch)

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("the worker fails")

    monkeypatch.setattr(parallel, "encode", broken)
    same(one, expanded(portfolio, in_two=True, monkeypatch=monkeypatch))


def test_a_small_plan_or_a_busy_process_is_expanded_here_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    projects = {f"p{n}": {"recurring": {f"c{k}": {} for k in range(300)}} for n in range(4)}
    monkeypatch.setattr(parallel, "_can_fork", lambda: True)
    assert parallel.split(projects) == 2  # 1,204 charges: this process keeps 45% of them
    assert parallel.split(dict(list(projects.items())[:3])) is None  # 903: too few
    monkeypatch.setattr(parallel, "_can_fork", lambda: False)
    assert parallel.split(projects) is None


def test_a_large_plan_directory_is_read_in_two_where_its_files_are_about_halved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = []
    for n, size in enumerate([100, 50_000, 15_000, 35_000]):
        files.append(tmp_path / f"{n}.yaml")
        files[-1].write_bytes(b"#" * size)
    monkeypatch.setattr(parallel, "_can_fork", lambda: True)
    assert parallel.plan_split(files, 0.5) == 2  # 50,100 bytes here, 50,000 in the worker
    # By default this process reads a little more: the worker also encodes its items.
    assert parallel.plan_split(files) == 3  # 65,100 bytes here, 35,000 in the worker
    assert parallel.plan_split(files[:2]) is None  # 50,100 bytes: too few to repay a fork
    assert parallel.plan_split(files[3:]) is None  # one file
    monkeypatch.setattr(parallel, "_can_fork", lambda: False)
    assert parallel.plan_split(files) is None


def test_numbers_read_back_keep_their_digits_and_shared_values_are_made_once() -> None:
    """decode makes each distinct text once: equal numbers written with other digits (1.5,
    1.50) stay as written, and dates are shared only where they are the same day."""
    from datetime import date
    from decimal import Decimal

    from compiler.model import Item

    def item(n: int, quantity: str) -> Item:
        return Item(
            f"p/products/c/{n}", "p", "product", "c", str(n), date(2026, 1, 1 + n % 2), None,
            "d", Decimal(quantity), Decimal("10"), Decimal(quantity) * 10, "USD", "ruddr",
            "ruddr", "x", options={}, option_marks={},
        )  # fmt: skip

    items = [item(0, "1.5"), item(1, "1.50"), item(2, "1.5")]
    part = parallel.decode(
        parallel.encode(
            items, [], stopped=False, peak=3, steps=0, elapsed=0.0, compiled=frozenset()
        )
    )
    assert part.items == items
    assert [str(i.quantity) for i in part.items] == ["1.5", "1.50", "1.5"]
    assert [str(i.amount) for i in part.items] == [str(i.amount) for i in items]
    assert part.items[0].quantity is part.items[2].quantity
    assert part.items[0].date is part.items[2].date
    assert part.items[0].date is not part.items[1].date


def test_the_pipe_from_a_worker_holds_a_megabyte() -> None:
    """Tens of megabytes of items and records cross it: at Linux's default 64 KiB, each
    chunk waits for the other process."""
    import fcntl
    import os

    read, write = os.pipe()
    try:
        parallel._widen(write)
        assert fcntl.fcntl(write, fcntl.F_GETPIPE_SZ) >= parallel.PIPE_BYTES
    finally:
        os.close(read)
        os.close(write)


def test_items_of_two_projects_under_the_same_settings_keep_their_own_projects() -> None:
    """A project without settings of its own shares the defaults' (the very same options
    object); the next project's charge of the same key is still another project's item."""
    from datetime import date
    from decimal import Decimal

    from compiler.model import Item

    shared: dict[str, str] = {}

    def item(project: str, project_id: str) -> Item:
        return Item(
            f"{project}/recurring/fee/2026-01", project, "recurring", "fee", "2026-01",
            date(2026, 1, 1), None, "Fee", None, None, Decimal("100"), "USD", "ruddr",
            "ruddr", project_id, options=shared, option_marks={},
        )  # fmt: skip

    items = [item("p1", "id-1"), item("p2", "id-2")]
    part = parallel.decode(
        parallel.encode(
            items, [], stopped=False, peak=2, steps=0, elapsed=0.0, compiled=frozenset()
        )
    )
    assert [(i.project, i.project_id) for i in part.items] == [("p1", "id-1"), ("p2", "id-2")]
    assert part.items == items


def test_projects_that_share_the_defaults_settings_expand_to_exactly_their_items(
    tmp_path: Path, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Projects that set nothing of their own share the defaults' settings (the very same
    objects), and one project's last item and the next one's first are of charges of the same
    key: each item is still its own project's, either way the plan is split (the portfolio
    above gives every project settings of its own)."""
    items = write_under_defaults(tmp_path, files=4, per_file=5, months=3)
    one = expanded(tmp_path, in_two=False, monkeypatch=monkeypatch)
    two = expanded(tmp_path, in_two=True, monkeypatch=monkeypatch)
    assert one.ok and len(one.items) == items == 4 * 5 * 3
    same(one, two)
    assert [(i.project, i.project_id) for i in two.items] == [
        (i.project, i.project_id) for i in one.items
    ]
