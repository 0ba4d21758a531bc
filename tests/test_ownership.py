"""billplan writes only what its state owns, and a saved plan is refused once state moved.

Each test here is a case a review reproduced against the emulator before the fix: a saved
plan retried after a lost create, a saved delete after `state rm`, two saved plans adopting
one object, a change of project that the vendor cannot make in place, and a lost create
that was invoiced meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    EXTRA,
    INVOICE_ITEM,
    KICKOFF,
    MILESTONE,
    PROJECT_ID,
    WITH_EXTRA,
    Admin,
    Remote,
    billplan,
    plan_sandbox,
    remote,
    remote_ids,
    sandboxed,
    state_json,
    step,
    variant,
    write_plan,
)

from compiler.apply import ownership_problem
from compiler.model.change import Change
from compiler.state import Entry, State

OTHER_PROJECT = "5f0c4e1a-8b7d-4c2e-9a61-3d2b7e9f0a11"


@pytest.fixture
def ruddr() -> Iterator[Remote]:
    with remote() as served:
        yield served


def applied_to(ruddr: Remote, directory: Path, body: str | None = None) -> Path:
    write_plan(directory, *(() if body is None else (body,)), head=ruddr.head)
    run = ruddr.billplan("apply", directory)
    assert run.code == 0, run.text
    return directory


def test_retrying_a_saved_plan_after_a_lost_create_is_refused_not_sent_twice(
    ruddr: Remote, tmp_path: Path
) -> None:
    directory = applied_to(ruddr, tmp_path / "billing")
    write_plan(directory, WITH_EXTRA, head=ruddr.head)
    out = tmp_path / "saved.json"
    assert ruddr.billplan("plan", directory, "-o", out).code == 0
    ruddr.admin.fault("POST", lose_response=True)
    assert billplan("apply", out, directory, "--auto-approve").code == 1  # the response was lost

    retry = billplan("apply", out, directory, "--auto-approve")

    assert retry.code == 1
    assert "a create of it was sent since the plan was made" in retry.errors
    workshops = [m for m in ruddr.admin.objects(MILESTONE) if m["name"] == "Extra workshop"]
    assert len(workshops) == 1


def test_a_saved_delete_of_an_object_released_by_state_rm_is_refused(
    ruddr: Remote, tmp_path: Path
) -> None:
    directory = applied_to(ruddr, tmp_path / "billing")
    kickoff = remote_ids(directory, sandbox=False)[KICKOFF]
    write_plan(directory, variant(("      kickoff: {description: Kickoff, date: 2026-01-15, "
                                   "amount: 10000}\n", "")), head=ruddr.head)  # fmt: skip
    out = tmp_path / "drop.json"
    assert ruddr.billplan("plan", directory, "-o", out).code == 0
    assert billplan("state", "rm", KICKOFF, directory).code == 0

    run = billplan("apply", out, directory, "--auto-approve")

    assert run.code == 1
    assert "billplan's state changed since the plan was made" in run.errors
    assert ruddr.admin.get(MILESTONE, kickoff)["name"] == "Kickoff"


def test_two_saved_plans_cannot_both_adopt_one_object(ruddr: Remote, tmp_path: Path) -> None:
    directory = applied_to(ruddr, tmp_path / "billing")
    ruddr.admin.add(MILESTONE, projectId=PROJECT_ID, invoiceItemId=INVOICE_ITEM, date="2026-06-01",
                    name="Extra workshop", fee=5000, typeId="custom")  # fmt: skip
    write_plan(directory, WITH_EXTRA, head=ruddr.head)
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert ruddr.billplan("plan", directory, "-o", first).code == 0
    assert ruddr.billplan("plan", directory, "-o", second).code == 0
    assert billplan("apply", first, directory, "--auto-approve").code == 0

    run = billplan("apply", second, directory, "--auto-approve")

    assert run.code == 1
    assert "state changed since the plan was made" in run.errors
    owners = [e["address"] for e in state_json(directory, sandbox=False)["entries"]
              if e["remote_id"] == remote_ids(directory, sandbox=False)[EXTRA]]  # fmt: skip
    assert owners == [EXTRA]


def test_moving_a_project_replaces_its_objects_instead_of_patching_a_field_ruddr_ignores(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    assert step(directory, apply=True).applied.ok
    write_plan(directory, variant((f"project_id: {PROJECT_ID}", f"project_id: {OTHER_PROJECT}")))

    moved = step(directory, apply=True)

    kickoff = [c.action for c in moved.plan.changes if c.address == KICKOFF]
    assert sorted(kickoff) == ["create", "delete"]
    assert moved.applied.ok, moved.applied.failures
    assert {w["method"] for w in moved.requests if w["method"] != "GET"} == {"DELETE", "POST"}
    assert not step(directory).plan.has_changes


ONE_MILESTONE = f"""\
projects:
  cloud-infra:
    provider: ruddr
    project_id: {PROJECT_ID}
    milestones:
      kickoff: {{description: Kickoff, date: 2026-01-15, amount: 10000}}
"""


def test_a_lost_create_that_was_invoiced_meanwhile_is_shown_locked_not_adopted(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", ONE_MILESTONE)
    lost = step(directory, apply=True, arrange=lambda a: a.fault("POST", lose_response=True))
    assert not lost.applied.ok
    assert [e["status"] for e in state_json(directory)["entries"]] == ["pending"]
    write_plan(directory, ONE_MILESTONE.replace("amount: 10000", "amount: 11000"))

    def invoice_what_landed(admin: Admin) -> None:
        (landed,) = admin.objects(MILESTONE)
        admin.invoice(MILESTONE, landed["id"])

    seen = step(directory, arrange=invoice_what_landed)

    (change,) = seen.plan.changes
    assert (change.address, change.action, change.reason) == (KICKOFF, "no-op", "locked")
    assert "the create's response was lost" in change.detail


# ---- the rule itself ------------------------------------------------------------------------


def _entry(address: str, remote_id: str | None, status: str = "managed") -> Entry:
    return Entry(address, "ruddr", MILESTONE, "p", "P", remote_id, {}, "USD", None, 0,
                 status)  # type: ignore[arg-type]  # fmt: skip


def _change(action: str, address: str, remote_id: str | None, **more: object) -> Change:
    return Change(address, action, "ruddr", MILESTONE, "p", "P", remote_id, None, None,
                  **more)  # type: ignore[arg-type]  # fmt: skip


def test_an_update_of_an_object_another_address_owns_is_refused() -> None:
    state = State(entries={"a": _entry("a", "1"), "b": _entry("b", "2")})
    assert ownership_problem(_change("update", "b", "1"), state) == "1 belongs to a"


def test_a_delete_of_an_object_state_let_go_of_is_refused() -> None:
    assert ownership_problem(_change("delete", "a", "1"), State()) == (
        "1 is no longer billplan's (it was removed from state)"
    )


def test_a_create_over_an_owned_object_is_refused_but_a_planned_recreate_is_not() -> None:
    state = State(entries={"a": _entry("a", "1")})
    assert ownership_problem(_change("create", "a", None), state) == "it already owns 1"
    assert ownership_problem(_change("create", "a", "1"), state) is None


def test_a_move_needs_its_source_to_own_the_object_and_its_target_to_be_free() -> None:
    state = State(entries={"old": _entry("old", "1"), "new": _entry("new", "2")})
    move = _change("update", "new", "1", moved_from="old")
    assert ownership_problem(move, state) == "new has an object of its own since the plan was made"
    assert ownership_problem(_change("update", "x", "1", moved_from="gone"), state) == (
        "gone no longer owns 1"
    )


def test_an_object_found_for_an_address_that_owns_nothing_may_be_taken() -> None:
    state = State(entries={"a": _entry("a", None, "pending")})
    assert ownership_problem(_change("adopt", "a", "9"), state) is None
    assert ownership_problem(_change("update", "b", "9"), state) is None


def test_import_while_a_create_of_the_address_is_pending_settles_it(tmp_path: Path) -> None:
    # Issue 15: import is how a person confirms what a lost create made (it was refused).
    directory = write_plan(tmp_path / "billing", ONE_MILESTONE)
    step(directory, apply=True, arrange=lambda a: a.fault("POST", lose_response=True))
    with plan_sandbox(directory) as admin:
        (landed,) = admin.objects(MILESTONE)

    run = sandboxed("import", KICKOFF, landed["id"], directory)

    assert run.code == 0, run.text
    assert "The create whose answer was lost is settled" in run.out
    assert [(e["status"], e["remote_id"]) for e in state_json(directory)["entries"]] == [
        ("managed", landed["id"])
    ]


def test_a_plan_in_another_currency_than_the_ruddr_project_is_refused(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", ONE_MILESTONE)
    assert step(directory, apply=True).applied.ok  # the sandbox made the project in USD
    in_euros = "    provider: ruddr\n    currency: EUR\n"
    euros = ONE_MILESTONE.replace("    provider: ruddr\n", in_euros)
    write_plan(directory, euros)

    run = sandboxed("plan", directory)

    assert run.code == 1
    assert f"Ruddr project {PROJECT_ID}" in run.errors
    assert "bills in USD, but the plan bills it in EUR" in " ".join(run.errors.split())
