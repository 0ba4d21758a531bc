"""`apply FILE PATH` applies only what was reviewed and merged: it plans PATH again (the merged
main, in CI) against the vendors as they are now, at the saved plan's as-of date and targets,
and applies that plan only if it makes exactly the saved changes. A saved plan is a record of
what was reviewed, not an authority: in CI it comes from the pull request's own run, whose
author can edit it and recompute its checksum. Each forgery below is refused, listed, and
nothing is written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import (
    AS_OF_TEXT,
    EXTRA,
    KICKOFF,
    MILESTONE,
    WITH_EXTRA,
    billplan,
    plan_sandbox,
    remote_ids,
    sandboxed,
    state_file,
    variant,
    write_plan,
)

from compiler import jsonio, planfile, review
from compiler.model.change import Change, Plan

# The merged plan: the kickoff goes from 10000 to 12000, and an extra workshop is added.
REVIEWED = variant(("amount: 10000}", "amount: 12000}"), body=WITH_EXTRA)
SUPPORT = "cloud-infra/recurring/support"
# An open-ended charge: how many months it has depends on the as-of date.
WITH_SUPPORT = variant(
    (
        "    milestones:",
        "      support: {description: Support, every: month, amount: 500, start: 2026-11-01,"
        " horizon: 2 months}\n    milestones:",
    )
)


@pytest.fixture
def reviewed(tmp_path: Path) -> tuple[Path, Path]:
    """A plan applied, then changed (the pull request), planned to a file (the review) and
    merged: the directory now holds exactly what was reviewed."""
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, REVIEWED)
    out = tmp_path / "reviewed.json"
    run = sandboxed("plan", directory, "-o", out)
    assert run.code == 0, run.text
    return directory, out


def forge(out: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit a saved plan and recompute its checksum, as anyone can."""
    document = jsonio.loads(out.read_text(encoding="utf-8"))
    edit(document)
    document[planfile.CHECKSUM_KEY] = planfile.checksum(document)
    out.write_text(jsonio.dumps(document, indent=2), encoding="utf-8")


def change_of(document: dict[str, Any], address: str) -> dict[str, Any]:
    return next(c for c in document["changes"] if c["address"] == address)


def apply_file(out: Path, directory: Path, *extra: str) -> Any:
    return billplan("apply", out, directory, "--sandbox", "--auto-approve", *extra)


def refused_without_writes(out: Path, directory: Path) -> str:
    """apply FILE PATH exits 1, the vendor and billplan's state are as they were; its
    stderr."""
    ids = remote_ids(directory)
    state_before = state_file(directory).read_bytes()
    with plan_sandbox(directory) as admin:
        objects_before = admin.objects(MILESTONE)

    run = apply_file(out, directory)

    assert run.code == 1, run.text
    assert state_file(directory).read_bytes() == state_before
    with plan_sandbox(directory) as admin:
        assert admin.objects(MILESTONE) == objects_before
        assert admin.get(MILESTONE, ids[KICKOFF])["fee"] == 10000
    assert "Nothing was applied" in run.errors
    return run.errors


def kickoff_fee(directory: Path) -> Any:
    with plan_sandbox(directory) as admin:
        return admin.get(MILESTONE, remote_ids(directory)[KICKOFF])["fee"]


def test_a_reviewed_plan_applies_when_the_merged_directory_gives_the_same_changes(
    reviewed: tuple[Path, Path],
) -> None:
    directory, out = reviewed

    run = apply_file(out, directory)

    assert run.code == 0, run.text
    assert f"as of {AS_OF_TEXT} gives the same 2 changes as {out}" in " ".join(run.out.split())
    assert "Apply complete: 1 created, 1 updated." in run.out
    assert kickoff_fee(directory) == 12000


def test_a_body_edited_in_the_saved_plan_with_its_checksum_recomputed_is_refused(
    reviewed: tuple[Path, Path],
) -> None:
    directory, out = reviewed
    forge(out, lambda d: change_of(d, KICKOFF)["after"].update(fee=99999))

    said = refused_without_writes(out, directory)

    assert f"{KICKOFF}: fee: the saved plan has 99999, the merged plan has 12000.00 " in said
    assert f"{out} is not what {directory} gives now (as of {AS_OF_TEXT}): 1 difference(s)" in said


def test_a_create_body_edited_in_the_saved_plan_is_refused(reviewed: tuple[Path, Path]) -> None:
    directory, out = reviewed
    forge(out, lambda d: change_of(d, EXTRA)["after"].update(name="Extra workshop (x10)"))

    said = refused_without_writes(out, directory)

    assert (
        f'{EXTRA}: name: the saved plan has "Extra workshop (x10)", the merged plan has '
        '"Extra workshop"' in said
    )


def test_a_change_added_to_the_saved_plan_is_refused(reviewed: tuple[Path, Path]) -> None:
    directory, out = reviewed
    bonus = "cloud-infra/milestones/bonus"

    def add_a_create(document: dict[str, Any]) -> None:
        added = copy.deepcopy(change_of(document, EXTRA))
        added["address"] = bonus
        added["after"]["fee"] = 99999
        document["changes"].append(added)

    forge(out, add_a_create)

    said = refused_without_writes(out, directory)

    assert f"{bonus}: action: the saved plan has create, the merged plan has no change" in said
    assert EXTRA not in said  # only what differs is listed


def test_a_change_removed_from_the_saved_plan_is_refused(reviewed: tuple[Path, Path]) -> None:
    directory, out = reviewed
    forge(out, lambda d: d["changes"].remove(change_of(d, EXTRA)))

    said = refused_without_writes(out, directory)

    assert f"{EXTRA}: action: the saved plan has no change, the merged plan has create" in said


def test_a_saved_plan_whose_as_of_date_was_changed_is_refused(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, WITH_SUPPORT)
    out = tmp_path / "reviewed.json"
    assert sandboxed("plan", directory, "-o", out).code == 0
    forge(out, lambda d: d.update(as_of="2026-10-01"))

    said = refused_without_writes(out, directory)

    assert "gives now (as of 2026-10-01)" in said
    dropped = f"{SUPPORT}/2027-01: action: the saved plan has create, the merged plan has no change"
    assert dropped in said


def test_a_saved_plan_whose_targets_were_changed_is_refused(reviewed: tuple[Path, Path]) -> None:
    directory, out = reviewed
    # Made to look partial, so that the merged plan is narrowed to the kickoff only, but still
    # carrying the extra workshop's create.
    forge(out, lambda d: d.update(targets={"include": [KICKOFF], "exclude": []}))

    said = refused_without_writes(out, directory)

    assert f"{EXTRA}: action: the saved plan has create, the merged plan has no change" in said


def test_a_saved_plan_whose_excludes_were_changed_is_refused(reviewed: tuple[Path, Path]) -> None:
    directory, out = reviewed
    forge(out, lambda d: d.update(targets={"include": [], "exclude": [EXTRA]}))

    said = refused_without_writes(out, directory)

    assert f"{EXTRA}: action: the saved plan has create, the merged plan has no change" in said


def test_a_plan_directory_changed_since_the_review_is_refused(reviewed: tuple[Path, Path]) -> None:
    directory, out = reviewed
    write_plan(directory, variant(("amount: 10000}", "amount: 99000}"), body=WITH_EXTRA))

    said = refused_without_writes(out, directory)

    assert f"{KICKOFF}: fee: the saved plan has 12000.00, the merged plan has 99000.00 " in said


def test_the_plan_directory_comes_from_the_command_line_not_from_the_saved_plan(
    reviewed: tuple[Path, Path], tmp_path: Path
) -> None:
    directory, out = reviewed
    elsewhere = write_plan(tmp_path / "elsewhere", variant(("amount: 10000}", "amount: 99000}")))
    forge(out, lambda d: d.update(plan_path=str(elsewhere.resolve())))

    run = apply_file(out, directory)

    assert run.code == 0, run.text
    assert kickoff_fee(directory) == 12000
    assert not (elsewhere / ".billplan").exists()


def test_a_saved_plan_without_a_plan_directory_is_refused_with_the_command_to_run(
    reviewed: tuple[Path, Path],
) -> None:
    directory, out = reviewed

    run = billplan("apply", out, "--sandbox", "--auto-approve")

    assert run.code == 1
    assert f"name the plan directory to check it against, as in `billplan apply {out} PATH`" in (
        run.errors
    )
    assert f"(it was made from {directory.resolve()})" in run.errors
    assert kickoff_fee(directory) == 10000


def test_a_sandbox_plan_is_not_applied_without_sandbox(reviewed: tuple[Path, Path]) -> None:
    # Where to apply is the command line's choice, not the file's.
    directory, out = reviewed

    run = billplan("apply", out, directory, "--auto-approve")

    assert run.code == 1
    assert f"{out} was planned against the sandbox, not the real vendors; add --sandbox" in (
        run.errors
    )


def test_an_as_of_other_than_the_saved_one_is_refused(reviewed: tuple[Path, Path]) -> None:
    directory, out = reviewed

    run = apply_file(out, directory, "--as-of", "2027-01-01")

    assert run.code == 1
    assert f"{out} was planned as of {AS_OF_TEXT}, and is checked at that date" in run.errors


def test_a_second_path_is_refused_when_the_first_is_not_a_saved_plan(
    reviewed: tuple[Path, Path],
) -> None:
    directory, _ = reviewed

    run = billplan("apply", directory, directory, "--sandbox", "--auto-approve")

    assert run.code == 1
    assert "is not a saved plan: `billplan apply PATH` takes one plan directory" in run.errors


def test_apply_help_says_the_saved_plan_is_a_record_not_an_authority() -> None:
    run = billplan("apply", "--help")

    text = " ".join(run.out.split())
    assert "The saved plan is a record of what was reviewed, not an authority" in text
    assert "what is applied always comes from PATH (in CI, the merged main)" in text


def test_a_body_number_with_other_digits_is_a_difference_as_it_is_on_the_wire() -> None:
    def change(fee: Decimal) -> Change:
        return Change(address=KICKOFF, action="update", provider="ruddr", type=MILESTONE,
                      project="cloud-infra", project_id="p", remote_id="r", before={"fee": 1},
                      after={"fee": fee, "name": "Kickoff"})  # fmt: skip

    found = review.differences(
        Plan([change(Decimal("1600.0"))]), Plan([change(Decimal("1600.00"))])
    )

    assert [str(d) for d in found] == [
        f"{KICKOFF}: fee: the saved plan has 1600.0, the merged plan has 1600.00"
    ]
    assert review.differences(Plan([change(Decimal("5"))]), Plan([change(Decimal("5"))])) == []


def test_a_saved_plan_with_two_changes_for_one_address_is_refused(
    reviewed: tuple[Path, Path],
) -> None:
    directory, out = reviewed

    def duplicate_the_create(document: dict[str, Any]) -> None:
        twin = copy.deepcopy(change_of(document, EXTRA))
        document["changes"].insert(0, twin)

    forge(out, duplicate_the_create)

    said = refused_without_writes(out, directory)

    assert f"{EXTRA}: changes: the saved plan has 2 of it, the merged plan has one at most" in said


def test_a_saved_plan_dated_after_today_is_refused(tmp_path: Path) -> None:
    # No plan run made it: its date would only choose how far open-ended charges reach.
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, WITH_SUPPORT)
    out = tmp_path / "reviewed.json"
    assert billplan("plan", directory, "--sandbox", "--as-of", "2099-01-01", "-o", out).code == 0
    state_before = state_file(directory).read_bytes()

    run = apply_file(out, directory)

    assert run.code == 1
    assert f"{out} was planned as of 2099-01-01, which is after today" in run.errors
    assert state_file(directory).read_bytes() == state_before


FORGED_SHAPES: dict[str, Callable[[dict[str, Any]], None]] = {
    "state is a list": lambda d: d.update(state=[1]),
    "targets is a list": lambda d: d.update(targets=["cloud-infra"]),
    "a target is a number": lambda d: d.update(targets={"include": [5], "exclude": []}),
    "a target is not a prefix": lambda d: d.update(targets={"include": [], "exclude": [""]}),
    "a side is a list": lambda d: change_of(d, KICKOFF).update(before_side=[1]),
    "a change is text": lambda d: d["changes"].append("create"),
    "a move is text": lambda d: d.update(moved=["acme"]),
}


@pytest.mark.parametrize("shape", FORGED_SHAPES)
def test_a_saved_plan_of_another_shape_is_refused_without_a_traceback(
    reviewed: tuple[Path, Path], shape: str
) -> None:
    directory, out = reviewed
    forge(out, FORGED_SHAPES[shape])
    state_before = state_file(directory).read_bytes()

    run = apply_file(out, directory)

    assert run.code == 1, run.text
    assert f"{out}: damaged saved plan" in run.errors
    assert state_file(directory).read_bytes() == state_before
    assert kickoff_fee(directory) == 10000


def test_a_saved_plan_nested_too_deep_for_json_is_refused_without_a_traceback(
    reviewed: tuple[Path, Path],
) -> None:
    directory, out = reviewed
    out.write_text('{"changes": ' + "[" * 100_000 + "]" * 100_000 + "}", "utf-8")

    run = apply_file(out, directory)

    assert run.code == 1
    assert f"{out}: not a billplan saved plan" in run.errors


def test_what_a_provider_sends_beside_the_body_is_compared_like_the_body() -> None:
    # Coperniq's invoice status travels in the change's private part: a status turned from
    # DRAFT to SENT after the review would send an invoice nobody approved.
    def change(status: str) -> Change:
        return Change(
            address=KICKOFF,
            action="create",
            provider="coperniq",
            type="coperniq_invoice",
            project="p",
            project_id=1,
            remote_id=None,
            before=None,
            after={"title": "Kickoff"},
            private={"status": status},
        )

    found = review.differences(Plan([change("DRAFT")]), Plan([change("SENT")]))

    assert [str(d) for d in found] == [
        f"{KICKOFF}: status (sent beside the body): the saved plan has "
        '"DRAFT", the merged plan has "SENT"'
    ]
    assert review.differences(Plan([change("SENT")]), Plan([change("SENT")])) == []
