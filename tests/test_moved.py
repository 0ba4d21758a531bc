"""`moved:` blocks: renaming an address, a charge or a whole project keeps the objects it owns
(no delete and create), shows the rename in the plan, and is made in state by apply and by
`apply FILE`. Mistakes in the list are errors located in the plan file.

Each run is billplan's command line in process against an emulator served over loopback, so
that the emulator's request log shows every write billplan made.
"""

from __future__ import annotations

import json
from pathlib import Path

import support_kantata as kantata
from support import (
    ADDRESSES,
    KICKOFF,
    PLAN,
    Remote,
    billplan,
    remote_ids,
    variant,
    write_plan,
)

from compiler.moved import under

RENAMED_KICKOFF = "cloud-infra/milestones/kick-off"
WITH_KICK_OFF = variant(("      kickoff: {", "      kick-off: {"))


def moved(*pairs: tuple[str, str]) -> str:
    lines = ["moved:"]
    for source, target in pairs:
        lines += [f"  - from: {source}", f"    to: {target}"]
    return "\n".join(lines) + "\n"


def writes(ruddr: Remote) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in ruddr.admin.requests() if r["method"] != "GET"]


def test_prefixes_match_on_whole_segments() -> None:
    assert under("acme/milestones/kickoff", "acme")
    assert under("acme", "acme")
    assert not under("acme-two/milestones/kickoff", "acme")
    assert not under("acme/milestones/kickoff-2", "acme/milestones/kickoff")


def test_renaming_a_charge_keeps_its_object_and_apply_renames_state_without_a_write(
    ruddr: Remote, applied: Path
) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    write_plan(applied, WITH_KICK_OFF + moved((KICKOFF, RENAMED_KICKOFF)), head=ruddr.head)

    planned = ruddr.billplan("plan", applied, "--format", "json", "--detailed-exitcode")

    assert planned.code == 2, planned.text  # the rename is a change to state
    document = json.loads(planned.out)
    (change,) = [c for c in document["changes"] if c["address"] == RENAMED_KICKOFF]
    assert (change["action"], change["remote_id"]) == ("no-op", kickoff_id)
    assert change["moved_from"] == KICKOFF
    assert "moved from cloud-infra/milestones/kickoff" in change["reason"]
    assert {c["action"] for c in document["changes"]} == {"no-op"}
    assert document["moved"] == [{"from": KICKOFF, "to": RENAMED_KICKOFF}]
    assert f"moved {KICKOFF} to {RENAMED_KICKOFF}: 1 address renamed" in planned.out

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert "Moved 1 address in state." in run.out
    assert writes(ruddr) == []
    ids = remote_ids(applied, sandbox=False)
    assert ids[RENAMED_KICKOFF] == kickoff_id and KICKOFF not in ids
    # The move stays in the plan, already made: nothing more to do.
    assert ruddr.billplan("plan", applied, "--detailed-exitcode").code == 0


def test_the_text_plan_shows_the_rename_where_a_reviewer_reads(
    ruddr: Remote, applied: Path
) -> None:
    write_plan(applied, WITH_KICK_OFF + moved((KICKOFF, RENAMED_KICKOFF)), head=ruddr.head)

    planned = ruddr.billplan("plan", applied)
    markdown = ruddr.billplan("plan", applied, "--format", "markdown")

    for run in (planned, markdown):
        assert run.code == 0, run.text
        text = " ".join(run.out.split())
        assert f"moved {KICKOFF} to {RENAMED_KICKOFF}: 1 address renamed in state" in text
    text = " ".join(planned.out.split())
    assert "only addresses renamed in state" in text
    assert "The vendors hold exactly what the plan says" not in text


def test_a_renamed_charge_with_a_new_amount_is_one_update_of_the_same_object(
    ruddr: Remote, applied: Path
) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    body = variant(("amount: 10000}", "amount: 12000}"), body=WITH_KICK_OFF)
    write_plan(applied, body + moved((KICKOFF, RENAMED_KICKOFF)), head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert "1 updated" in run.out
    assert writes(ruddr) == [("PATCH", f"/api/workspace/project-invoice-milestones/{kickoff_id}")]
    assert remote_ids(applied, sandbox=False)[RENAMED_KICKOFF] == kickoff_id
    assert ruddr.admin.get("ruddr_invoice_milestone", kickoff_id)["fee"] == 12000


def test_renaming_a_project_moves_every_address_under_it(ruddr: Remote, applied: Path) -> None:
    before = remote_ids(applied, sandbox=False)
    renamed = PLAN.replace("  cloud-infra:\n", "  cloud-ops:\n")
    write_plan(applied, renamed + moved(("cloud-infra", "cloud-ops")), head=ruddr.head)

    run = ruddr.billplan("apply", applied)

    assert run.code == 0, run.text
    assert f"Moved {len(ADDRESSES)} addresses in state." in run.out
    assert writes(ruddr) == []
    after = remote_ids(applied, sandbox=False)
    assert after == {a.replace("cloud-infra/", "cloud-ops/"): i for a, i in before.items()}
    state = json.loads((applied / ".billplan" / "state.json").read_text(encoding="utf-8"))
    assert {e["project"] for e in state["entries"]} == {"cloud-ops"}
    assert ruddr.billplan("plan", applied, "--detailed-exitcode").code == 0


def test_apply_file_makes_the_saved_rename(ruddr: Remote, applied: Path, tmp_path: Path) -> None:
    kickoff_id = remote_ids(applied, sandbox=False)[KICKOFF]
    write_plan(applied, WITH_KICK_OFF + moved((KICKOFF, RENAMED_KICKOFF)), head=ruddr.head)
    out = tmp_path / "plan.json"
    assert ruddr.billplan("plan", applied, "-o", out).code == 0

    run = billplan("apply", out, applied, "--auto-approve")

    assert run.code == 0, run.text
    assert writes(ruddr) == []
    ids = remote_ids(applied, sandbox=False)
    assert ids[RENAMED_KICKOFF] == kickoff_id and KICKOFF not in ids


def test_a_move_onto_an_address_that_owns_another_object_is_refused_at_the_move(
    ruddr: Remote, applied: Path
) -> None:
    # kickoff is dropped and moved onto the retainer's January, which state already owns.
    january = "cloud-infra/recurring/retainer/2026-01"
    body = variant(("      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}\n", ""))
    write_plan(applied, body + moved((KICKOFF, january)), head=ruddr.head)

    run = ruddr.billplan("plan", applied)

    assert run.code == 1
    assert "plan.yaml:" in run.err
    assert f"$.moved[0].to: {january} already owns" in run.errors
    assert f"so {KICKOFF} cannot move there" in run.errors


# ---- mistakes in the list, located -------------------------------------------------------


def _validate(directory: Path, body: str) -> str:
    write_plan(directory, body)
    run = billplan("validate", directory)
    assert run.code == 1, run.text
    return run.errors


def _line_of(directory: Path, text: str) -> int:
    lines = (directory / "plan.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_a_move_to_an_address_not_in_the_plan_is_an_error_at_its_to(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    said = _validate(directory, PLAN + moved(("cloud-infra/milestones/old", "cloud-infra/nope")))

    line = _line_of(directory, "to: cloud-infra/nope")
    assert f"plan.yaml:{line}:9: $.moved[0].to: cloud-infra/nope is not an address" in said


def test_a_move_from_an_address_still_in_the_plan_is_an_error_at_its_from(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    said = _validate(directory, WITH_KICK_OFF + moved(("cloud-infra", RENAMED_KICKOFF)))

    line = _line_of(directory, "from: cloud-infra")
    assert f"plan.yaml:{line}:11: $.moved[0].from: cloud-infra is still in the plan" in said


def test_two_moves_to_one_address_are_an_error_at_the_second(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    body = WITH_KICK_OFF + moved(
        (KICKOFF, RENAMED_KICKOFF), ("cloud-infra/milestones/start", RENAMED_KICKOFF)
    )
    said = _validate(directory, body)

    first = _line_of(directory, f"to: {RENAMED_KICKOFF}")
    assert f"$.moved[1].to: the same address moves to {RENAMED_KICKOFF} already at" in said
    assert f"plan.yaml:{first}:9" in said


def test_moves_in_a_cycle_are_one_error(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    body = WITH_KICK_OFF + moved(
        ("cloud-infra/milestones/a", "cloud-infra/milestones/b"),
        ("cloud-infra/milestones/b", "cloud-infra/milestones/a"),
    )
    said = _validate(directory, body)

    assert "$.moved[0].to: moves form a cycle (cloud-infra/milestones/a -> " in said
    assert "1 error found." in said


def test_a_move_written_wrongly_is_a_schema_error(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    said = _validate(directory, PLAN + "moved:\n  - from: cloud-infra\n    too: x\n")

    assert "$.moved[0].too: unknown key 'too'; did you mean 'to'?" in said


def test_moved_lists_in_two_fragments_combine_and_errors_name_their_own_file(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", WITH_KICK_OFF + moved((KICKOFF, RENAMED_KICKOFF)))
    (directory / "more.yaml").write_text(
        moved(("cloud-infra/milestones/gone", "cloud-infra/milestones/nowhere")), encoding="utf-8"
    )

    run = billplan("validate", directory)

    assert run.code == 1
    # Files merge in name order: more.yaml's move comes first.
    assert "more.yaml:3:9: $.moved[0].to: cloud-infra/milestones/nowhere is not an address" in (
        run.errors
    )
    assert "1 error found." in run.errors


def test_a_move_not_in_state_is_a_no_op(ruddr: Remote, tmp_path: Path) -> None:
    directory = write_plan(
        tmp_path / "billing", WITH_KICK_OFF + moved((KICKOFF, RENAMED_KICKOFF)), head=ruddr.head
    )

    assert billplan("validate", directory).code == 0
    run = ruddr.billplan("apply", directory)

    assert run.code == 0, run.text
    assert "Moved" not in run.out
    assert RENAMED_KICKOFF in remote_ids(directory, sandbox=False)


# ---- a vendor that carries billplan's address tag ------------------------------------------


def test_on_kantata_a_rename_updates_only_the_address_tag(tmp_path: Path) -> None:
    with kantata.remote() as served:
        directory = kantata.write_plan(tmp_path / "billing", head=served.head)
        assert served.billplan("apply", directory).code == 0
        kickoff_id = remote_ids(directory, sandbox=False)[kantata.KICKOFF]
        served.admin.clear_requests()
        renamed = "cascade/milestones/kick-off"
        body = kantata.variant(("      kickoff: {", "      kick-off: {"))
        kantata.write_plan(directory, body + moved((kantata.KICKOFF, renamed)), head=served.head)

        planned = served.billplan("plan", directory, "--format", "json")
        run = served.billplan("apply", directory)

        (change,) = [c for c in json.loads(planned.out)["changes"] if c["address"] == renamed]
        assert (change["action"], change["remote_id"]) == ("update", kickoff_id)
        assert [f["field"] for f in change["fields"]] == ["external_reference"]
        assert change["moved_from"] == kantata.KICKOFF
        assert run.code == 0, run.text
        puts = [r for r in served.admin.requests() if r["method"] != "GET"]
        assert [(r["method"], r["path"]) for r in puts] == [
            ("PUT", f"{kantata.COLLECTION}/{kickoff_id}")
        ]
        milestone = served.admin.milestone(kickoff_id)
        assert kantata.reference_of(milestone)["service_model_ref"] == renamed
        assert remote_ids(directory, sandbox=False)[renamed] == kickoff_id
        assert served.billplan("plan", directory, "--detailed-exitcode").code == 0
