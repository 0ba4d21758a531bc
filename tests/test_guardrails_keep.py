"""Guardrails that keep objects from billplan's own hands (issue 17): `protect: true`
(remembered in state, a refused delete exits 3 and apply refuses), `removed:` blocks (forget,
never delete) and `ignore: [fields]` (a person's edit at the vendor stays).

Each run is billplan's command line in process against the Ruddr emulator served over
loopback, so that the emulator's request log shows every write billplan made.
"""

from __future__ import annotations

import json
from pathlib import Path

from support import (
    KICKOFF,
    KICKOFF_LINE,
    MILESTONE,
    PLAN,
    Remote,
    remote_ids,
    state_json,
    variant,
    write_plan,
)

from compiler.cli import EXIT_PROTECTED
from compiler.state import Entry, State

PROTECTED_KICKOFF = (
    "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000, protect: true}\n"
)
UNPROTECTED_KICKOFF = (
    "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000, protect: false}\n"
)
WITHOUT_KICKOFF = variant((KICKOFF_LINE, ""))


def writes(ruddr: Remote) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in ruddr.admin.requests() if r["method"] != "GET"]


def entry(directory: Path, address: str) -> dict:
    entries = state_json(directory, sandbox=False)["entries"]
    (found,) = [e for e in entries if e["address"] == address]
    return found


def protect_kickoff(ruddr: Remote, directory: Path) -> None:
    write_plan(directory, variant((KICKOFF_LINE, PROTECTED_KICKOFF)), head=ruddr.head)
    run = ruddr.billplan("apply", directory)
    assert run.code == 0, run.text
    ruddr.admin.clear_requests()


# ---- protect ------------------------------------------------------------------------------


def test_protecting_an_applied_charge_is_a_state_change_that_apply_records(
    ruddr: Remote, applied: Path
) -> None:
    write_plan(applied, variant((KICKOFF_LINE, PROTECTED_KICKOFF)), head=ruddr.head)

    planned = ruddr.billplan("plan", applied, "--detailed-exitcode")

    assert planned.code == 2, planned.text
    assert "1 to protect" in planned.out
    assert "only protection marks recorded in state" in planned.out
    run = ruddr.billplan("apply", applied)
    assert run.code == 0, run.text
    assert "Changed the protection of 1 address in state." in run.out
    assert writes(ruddr) == []  # state only: the vendor is not written
    assert entry(applied, KICKOFF)["protected"] is True
    assert ruddr.billplan("plan", applied, "--detailed-exitcode").code == 0


def test_removing_a_protected_charge_and_its_protect_key_fails_the_plan_with_exit_3(
    ruddr: Remote, applied: Path
) -> None:
    protect_kickoff(ruddr, applied)
    write_plan(applied, WITHOUT_KICKOFF, head=ruddr.head)  # the key left with the charge

    planned = ruddr.billplan("plan", applied, "--format", "json")

    assert planned.code == EXIT_PROTECTED == 3, planned.text
    (change,) = [c for c in json.loads(planned.out)["changes"] if c["address"] == KICKOFF]
    assert (change["action"], change["action_reason"]) == ("protected", "protected")
    assert "put the charge back with `protect: false`" in change["reason"]
    assert "protected object" in planned.errors


def test_apply_refuses_a_plan_that_would_delete_a_protected_object_and_writes_nothing(
    ruddr: Remote, applied: Path
) -> None:
    protect_kickoff(ruddr, applied)
    write_plan(applied, WITHOUT_KICKOFF, head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == EXIT_PROTECTED, run.text
    assert writes(ruddr) == []
    assert KICKOFF in remote_ids(applied, sandbox=False)


def test_a_saved_plan_that_deletes_a_protected_object_is_refused_by_apply(
    ruddr: Remote, applied: Path, tmp_path: Path
) -> None:
    protect_kickoff(ruddr, applied)
    write_plan(applied, WITHOUT_KICKOFF, head=ruddr.head)
    saved = tmp_path / "plan.json"
    assert ruddr.billplan("plan", applied, "-o", saved).code == EXIT_PROTECTED
    assert json.loads(saved.read_text())["summary"]["protected"] == 1

    run = ruddr.billplan("apply", saved, applied)

    assert run.code == EXIT_PROTECTED, run.text
    assert writes(ruddr) == []


def test_protect_false_clears_the_mark_and_then_the_charge_can_be_deleted(
    ruddr: Remote, applied: Path
) -> None:
    protect_kickoff(ruddr, applied)
    write_plan(applied, variant((KICKOFF_LINE, UNPROTECTED_KICKOFF)), head=ruddr.head)
    planned = ruddr.billplan("plan", applied)
    assert "1 to unprotect" in planned.out, planned.text
    assert ruddr.billplan("apply", applied).code == 0
    assert "protected" not in entry(applied, KICKOFF)
    write_plan(applied, WITHOUT_KICKOFF, head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert [m for m, _ in writes(ruddr)] == ["DELETE"]
    assert KICKOFF not in remote_ids(applied, sandbox=False)


def test_the_pull_request_comment_opens_with_a_caution_naming_the_refused_delete(
    ruddr: Remote, applied: Path
) -> None:
    protect_kickoff(ruddr, applied)
    write_plan(applied, WITHOUT_KICKOFF, head=ruddr.head)

    comment = ruddr.billplan("plan", applied, "--format", "markdown").out

    head = comment.split("###")[0]
    assert "> [!CAUTION]" in head
    assert "Refused: cloud-infra/milestones/kickoff" in head
    assert "🛡️ **PROTECTED**" in comment


def test_a_protected_entry_round_trips_and_an_old_entry_reads_as_unprotected() -> None:
    raw = {
        "address": KICKOFF,
        "provider": "ruddr",
        "type": MILESTONE,
        "project": "cloud-infra",
        "project_id": "p",
        "remote_id": "r1",
    }
    assert Entry.from_json(raw).protected is False
    marked = Entry.from_json({**raw, "protected": True})
    assert marked.protected is True
    state = State(lineage="l", serial=1, entries={KICKOFF: marked})
    assert (
        State.from_json(json.loads(json.dumps(state.to_json(), default=str)))
        .entries[KICKOFF]
        .protected
    )
    assert "protected" not in Entry.from_json(raw).to_json()


# ---- removed ------------------------------------------------------------------------------


def test_a_removed_charge_is_forgotten_and_kept_at_the_vendor(ruddr: Remote, applied: Path) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    write_plan(applied, "removed:\n  - from: cloud-infra/milestones/kickoff\n" + WITHOUT_KICKOFF,
               head=ruddr.head)  # fmt: skip

    planned = ruddr.billplan("plan", applied, "--format", "json")
    (change,) = [c for c in json.loads(planned.out)["changes"] if c["address"] == KICKOFF]
    assert (change["action"], change["action_reason"]) == ("forget", "released")
    text = ruddr.billplan("plan", applied).out
    assert "billplan stops managing it; the vendor keeps it" in " ".join(text.split())
    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert writes(ruddr) == []  # nothing deleted
    assert KICKOFF not in remote_ids(applied, sandbox=False)
    assert ruddr.admin.get(MILESTONE, kickoff_id)["id"] == kickoff_id


def test_removed_also_releases_a_protected_object_since_nothing_is_deleted(
    ruddr: Remote, applied: Path
) -> None:
    protect_kickoff(ruddr, applied)
    write_plan(applied, "removed:\n  - from: cloud-infra/milestones/kickoff\n" + WITHOUT_KICKOFF,
               head=ruddr.head)  # fmt: skip

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert writes(ruddr) == []


def test_a_removed_block_that_matches_nothing_is_a_warning_naming_it(
    ruddr: Remote, applied: Path
) -> None:
    write_plan(applied, "removed:\n  - from: cloud-infra/milestones/gone\n" + PLAN, head=ruddr.head)

    planned = ruddr.billplan("plan", applied, "--detailed-exitcode")

    assert planned.code == 0, planned.text
    said = " ".join(planned.out.split())
    assert "plan.yaml:8:11: $.removed[0].from: cloud-infra/milestones/gone matches nothing" in said


def test_removing_an_address_the_plan_still_defines_is_a_located_error(
    ruddr: Remote, applied: Path
) -> None:
    write_plan(applied, "removed:\n  - from: cloud-infra\n" + PLAN, head=ruddr.head)

    run = ruddr.billplan("validate", applied)

    assert run.code == 1
    assert "plan.yaml:8:11: $.removed[0].from: cloud-infra is still in the plan" in run.errors


# ---- ignore -------------------------------------------------------------------------------


def test_an_ignored_description_edited_at_the_vendor_is_neither_drift_nor_updated(
    ruddr: Remote, applied: Path
) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    ruddr.admin.edit(MILESTONE, kickoff_id, name="Kick-off workshop")
    ignoring = "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000, "
    write_plan(applied, variant((KICKOFF_LINE, ignoring + "ignore: [description]}\n")),
               head=ruddr.head)  # fmt: skip

    planned = ruddr.billplan("plan", applied, "--detailed-exitcode", "--show-unchanged")

    assert planned.code == 0, planned.text
    said = " ".join(planned.out.split())
    assert 'ignored: description differs (vendor: "Kick-off workshop", plan: "Kickoff")' in said
    assert ruddr.billplan("apply", applied).code == 0
    assert writes(ruddr) == []


def test_the_default_plan_says_when_unchanged_objects_differ_in_ignored_fields(
    ruddr: Remote, applied: Path
) -> None:
    # No row shows without --show-unchanged, so a note tells the reviewer the vendor's text
    # is not the plan's.
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    ruddr.admin.edit(MILESTONE, kickoff_id, name="Kick-off workshop")
    ignoring = "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000, "
    write_plan(applied, variant((KICKOFF_LINE, ignoring + "ignore: [description]}\n")),
               head=ruddr.head)  # fmt: skip

    planned = ruddr.billplan("plan", applied)

    said = " ".join(planned.out.split())
    assert (
        "Note: 1 unchanged object differs from the plan only in ignored fields (description): "
        "billplan leaves the vendor's values; --show-unchanged lists each"
    ) in said


def test_an_ignored_field_keeps_the_vendors_value_when_another_field_is_updated(
    ruddr: Remote, applied: Path
) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    ruddr.admin.edit(MILESTONE, kickoff_id, name="Kick-off workshop")
    changed = "      kickoff: {description: Kickoff, date: 2026-01-20, amount: 10000, "
    write_plan(applied, variant((KICKOFF_LINE, changed + "ignore: [description]}\n")),
               head=ruddr.head)  # fmt: skip

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    held = ruddr.admin.get(MILESTONE, kickoff_id)
    assert (held["name"], held["date"]) == ("Kick-off workshop", "2026-01-20")
    assert ruddr.billplan("plan", applied, "--detailed-exitcode").code == 0


def test_ignoring_an_amount_is_a_located_error_listing_the_fields_that_may_be_ignored(
    ruddr: Remote, applied: Path
) -> None:
    ignoring = "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000, "
    write_plan(applied, variant((KICKOFF_LINE, ignoring + "ignore: [amount]}\n")),
               head=ruddr.head)  # fmt: skip

    run = ruddr.billplan("validate", applied)

    assert run.code == 1
    assert "$.projects.cloud-infra.milestones.kickoff.ignore[0]: 'amount' is not one of: " \
        "description, date" in run.errors  # fmt: skip


def test_shortening_a_protected_schedule_refuses_the_periods_that_fall_away(
    ruddr: Remote, applied: Path
) -> None:
    protected = variant(
        ("        end: 2026-03-31\n", "        end: 2026-03-31\n        protect: true\n")
    )
    write_plan(applied, protected, head=ruddr.head)
    assert ruddr.billplan("apply", applied).code == 0
    write_plan(applied, variant(("        end: 2026-03-31\n", "        end: 2026-02-28\n")),
               head=ruddr.head)  # fmt: skip

    planned = ruddr.billplan("plan", applied, "--format", "json")

    assert planned.code == EXIT_PROTECTED, planned.text
    refused = [
        c["address"] for c in json.loads(planned.out)["changes"] if c["action"] == "protected"
    ]
    assert refused == ["cloud-infra/recurring/retainer/2026-03"]


def test_a_project_protected_under_defaults_refuses_when_the_whole_project_leaves_the_plan(
    ruddr: Remote, tmp_path: Path
) -> None:
    head = ruddr.head.replace("defaults:\n", "defaults:\n  protect: true\n")
    directory = write_plan(tmp_path / "billing", head=head)
    assert ruddr.billplan("apply", directory).code == 0
    ruddr.admin.clear_requests()
    # Another project keeps the plan valid; cloud-infra, and every protect: key, are gone.
    other = variant(("cloud-infra:", "other-infra:"), ("project_id: d077258e", "project_id: x"))
    write_plan(directory, other.split("    recurring:")[0], head=ruddr.head)

    run = ruddr.billplan("apply", directory)

    assert run.code == EXIT_PROTECTED, run.text
    assert writes(ruddr) == []
