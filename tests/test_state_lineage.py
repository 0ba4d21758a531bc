"""Two billplan states over the same vendor project: neither takes the other's objects silently.

Kantata holds the lineage of the state that made a milestone in its external reference: a
milestone another state made is never adopted, changed or deleted, and the plan says so. Ruddr,
Wethod and Coperniq hold no tag: the plan warns when an object it would adopt is recorded by
another state it can see (another state file in the same directory, here).
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import support
import support_coperniq
import support_kantata
import support_wethod

STATE_LINE = "state: {{backend: local, path: .billplan/{name}.json}}\n"


def _two_plans(directory: Path, head: str, body: str) -> tuple[Path, Path]:
    """The same plan twice in one directory, each with a state file of its own beside the
    other's: plan-a.yaml (.billplan/a.json) and plan-b.yaml (.billplan/b.json)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("a", "b"):
        path = directory / f"plan-{name}.yaml"
        path.write_text(head + STATE_LINE.format(name=name) + textwrap.dedent(body))
        paths.append(path)
    return paths[0], paths[1]


def _remote_ids(directory: Path, name: str) -> set[str]:
    raw = json.loads((directory / ".billplan" / f"{name}.json").read_text(encoding="utf-8"))
    return {e["remote_id"] for e in raw["entries"] if e["remote_id"]}


def test_a_kantata_milestone_made_by_another_state_is_never_adopted(tmp_path: Path) -> None:
    with support_kantata.remote() as remote:
        plan_a, plan_b = _two_plans(tmp_path, remote.head, support_kantata.PLAN)
        assert remote.billplan("apply", plan_a).code == 0

        planned = remote.billplan("plan", plan_b)
        applied = remote.billplan("apply", plan_b)

        assert applied.code == 0, applied.text
        assert _remote_ids(tmp_path, "a").isdisjoint(_remote_ids(tmp_path, "b"))
        assert len(remote.admin.milestones()) == 2 * len(support_kantata.ADDRESSES)
        said = " ".join(planned.out.split())
        assert "is tagged by another billplan state (lineage" in said
        assert "this state never adopts, changes or deletes it" in said
        # The first state's milestones are left as they were: nothing to do there.
        assert "0 to create, 0 to update, 0 to delete" in remote.billplan("plan", plan_a).out


def test_a_kantata_milestone_names_the_lineage_of_the_state_that_made_it(tmp_path: Path) -> None:
    with support_kantata.remote() as remote:
        plan_a, _ = _two_plans(tmp_path, remote.head, support_kantata.PLAN)
        assert remote.billplan("apply", plan_a).code == 0

        raw = json.loads((tmp_path / ".billplan" / "a.json").read_text(encoding="utf-8"))
        messages = {
            support_kantata.reference_of(m).get("external_message")
            for m in remote.admin.milestones()
        }
        assert messages == {f"billplan state {raw['lineage']}"}


@contextlib.contextmanager
def _ruddr() -> Iterator[tuple[Any, str, str]]:
    with support.remote() as remote:
        yield remote, remote.head, support.PLAN


@contextlib.contextmanager
def _wethod() -> Iterator[tuple[Any, str, str]]:
    with support_wethod.remote() as remote:
        yield remote, remote.head(), support_wethod.PLAN


@contextlib.contextmanager
def _coperniq() -> Iterator[tuple[Any, str, str]]:
    with support_coperniq.remote() as remote:
        yield remote, remote.head, support_coperniq.PLAN


VENDORS: dict[str, Callable[[], contextlib.AbstractContextManager[tuple[Any, str, str]]]] = {
    "ruddr": _ruddr,
    "wethod": _wethod,
    "coperniq": _coperniq,
}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_plan_warns_before_adopting_an_object_another_state_records(
    vendor: str, tmp_path: Path
) -> None:
    with VENDORS[vendor]() as (remote, head, body):
        plan_a, plan_b = _two_plans(tmp_path, head, body)
        assert remote.billplan("apply", plan_a).code == 0, "first state"

        planned = remote.billplan("plan", plan_b)

        assert planned.code in (0, 2), planned.text
        said = " ".join(planned.out.split())
        other = tmp_path / ".billplan" / "a.json"
        assert f"is recorded by another billplan state ({other}, as" in said
        assert "One vendor project belongs to one state" in said


def test_a_hand_made_kantata_twin_is_adopted_with_this_states_lineage(tmp_path: Path) -> None:
    directory = support_kantata.write_plan(tmp_path / "billing")
    support_kantata.step(directory, apply=True)
    with support_kantata.plan_sandbox(directory) as admin:
        admin.delete(support.remote_ids(directory)[support_kantata.KICKOFF])
        twin = admin.add(
            title="Kickoff",
            amount_in_cents=1000000,
            date_to_invoice="2026-01-15",
            workspace_id=support_kantata.WORKSPACE,
        )
    support.state_file(directory).unlink()  # the state lost: the twin is found by content

    adopted = support_kantata.step(directory, apply=True)

    assert adopted.change(support_kantata.KICKOFF).remote_id == twin["id"]
    lineage = support.state_json(directory)["lineage"]
    with support_kantata.plan_sandbox(directory) as admin:
        reference = support_kantata.reference_of(admin.milestone(twin["id"]))
    assert reference["external_message"] == f"billplan state {lineage}"


def test_a_pending_kantata_create_never_takes_another_states_milestone(tmp_path: Path) -> None:
    directory = support_kantata.write_plan(tmp_path / "billing")
    support_kantata.step(directory, apply=True)
    # Now another state (another lineage) over the same workspace, whose create of the kickoff
    # was sent and its response lost: the first state's kickoff looks exactly as it sent.
    path = support.state_file(directory)
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["lineage"] = "0b7c4e2a-0000-4000-8000-000000000002"
    kickoff = next(e for e in raw["entries"] if e["address"] == support_kantata.KICKOFF)
    theirs = kickoff["remote_id"]
    raw["entries"] = [{**kickoff, "remote_id": None, "status": "pending"}]
    path.write_text(json.dumps(raw), encoding="utf-8")
    path.with_name(path.name + ".ledger").unlink()

    planned = support_kantata.step(directory)

    assert planned.change(support_kantata.KICKOFF).remote_id != theirs
    assert all(c.remote_id != theirs for c in planned.plan.changes)
