"""A plan directory read in two processes (compiler/halves.py) comes out exactly as one
process reads it, for plans written to find where the two could differ: limits at their
edge, files that hold nothing, problems only one half sees."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from compiler import halves, load
from compiler.expand import parallel
from compiler.validate import Checked, check

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from portfolio import AS_OF, write_portfolio


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    write_portfolio(tmp_path, 6, seed=11)
    return tmp_path


def checked(path: Path, in_two: bool, monkeypatch: pytest.MonkeyPatch) -> Checked:
    with monkeypatch.context() as patch:
        patch.setattr(parallel, "_can_fork", lambda: in_two)
        patch.setattr(parallel, "MIN_PLAN_BYTES", 0)
        patch.setattr(parallel, "OWN_SHARE", 0.01)  # the worker reads every file but the first
        return check(path, AS_OF)


def said(result: Checked) -> list[str]:
    return [str(d) for d in result.diagnostics]


def values_in(path: Path) -> int:
    fragments, _ = load.load_fragments(load.plan_file_list(path))
    return sum(fragment.values for fragment in fragments)


def test_a_file_holding_only_null_counts_against_the_plans_values_in_either_half(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = values_in(plan) + 1
    for n in range(3):
        (plan / f"zz-null-{n}.yaml").write_text("~\n", encoding="utf-8")
    monkeypatch.setattr(load, "MAX_PLAN_NODES", limit)
    monkeypatch.setattr(halves, "MAX_PLAN_NODES", limit)
    one = checked(plan, False, monkeypatch)
    two = checked(plan, True, monkeypatch)
    assert "hold more than" in said(one)[0]
    assert said(two) == said(one)
    assert two.items == one.items == []


def test_where_a_value_in_the_workers_projects_was_written_is_as_read_even_if_its_file_changed(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = checked(plan, False, monkeypatch)
    two = checked(plan, True, monkeypatch)
    assert one.document is not None and two.document is not None
    assert two.document.unmarked  # the worker's projects' marks are still in their files
    projects = plan / "projects-0000.yaml"
    projects.write_text("# edited after the check\n" + projects.read_text(encoding="utf-8"))
    project = next(iter(one.document.root["projects"]))
    name = ("projects", project, "name")
    assert two.document.mark(name) == one.document.mark(name)
    assert two.document.key_mark(name) == one.document.key_mark(name)
