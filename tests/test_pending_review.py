"""Issue 15 tried as an unlucky operator would: cases the first tests did not reach, through
the emulators' admin surface and billplan's real pipeline, and the wording rules on diff()."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import support
from rich.console import Console
from support import sandboxed, state_json
from test_pending_ownership import (
    LOSE,
    REFUSE,
    RUDDR,
    SENT_AT,
    VENDORS,
    Vendor,
    _held,
    _lost_and_edited_ruddr,
    _lost_extra,
    _pending,
    _resource,
)

from compiler.diff import diff
from compiler.model.change import Plan
from compiler.render.plan import print_text, to_markdown


def _two_extras(vendor: Vendor, directory: Path, *, a: bool = True) -> Path:
    """The vendor's plan with two extra charges, `a` (unless dropped) and `b`."""
    a_line = vendor.extra.replace("extra:", "extra-a:").replace("Extra", "Extra A")
    b_line = vendor.extra.replace("extra:", "extra-b:").replace("Extra", "Extra B")
    body = vendor.project + vendor.kickoff + (a_line if a else "") + b_line
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plan.yaml").write_text(vendor.head + body, encoding="utf-8")
    return directory


def _address(vendor: Vendor, label: str) -> str:
    return vendor.extra_address.replace("/extra", f"/extra-{label}")


@pytest.mark.parametrize("vendor", VENDORS)
def test_an_edited_lost_create_is_not_made_again_when_another_lost_create_is_removed(
    vendor: Vendor, tmp_path: Path
) -> None:
    """Two creates sent in one apply both lose their answer: a's never landed, b's landed
    and a person then edited it. Then a is removed from the plan. b's object looks like what
    a sent too; it must still be offered for b, never b created a second time."""
    directory = tmp_path / "billing"
    assert vendor.step(vendor.write(directory, extra=False), apply=True).applied.ok
    _two_extras(vendor, directory)

    def both_lost(admin: Any) -> None:
        vendor.fail_create(admin, REFUSE)  # extra-a: never landed
        vendor.fail_create(admin, LOSE)  # extra-b: landed, answer lost

    lost = vendor.step(directory, apply=True, arrange=both_lost)
    assert sorted(f.address for f in lost.applied.failures) == [
        _address(vendor, "a"),
        _address(vendor, "b"),
    ]
    owned = {e["remote_id"] for e in state_json(directory)["entries"]}
    with vendor.admin(directory) as admin:
        (landed,) = [o for o in vendor.objects(admin) if str(o["id"]) not in owned]
        vendor.edit(admin, str(landed["id"]))
    _two_extras(vendor, directory, a=False)

    again = vendor.step(directory, apply=True)

    assert again.writes("POST") == []
    change = again.change(_address(vendor, "b"))
    assert (change.reason, change.remote_id) == ("unconfirmed", str(landed["id"]))
    # a's forget does not tell a person to delete by hand what may be b's.
    assert f"holds {landed['id']}," not in again.change(_address(vendor, "a")).detail


# ---- what an unconfirmed look-alike says ----------------------------------------------------


def test_an_invoiced_look_alike_is_said_to_be_invoiced() -> None:
    """The customer may already have been billed what it holds: the reviewer is told."""
    invoiced = replace(_held("inv-1", SENT_AT + timedelta(minutes=1)), locked=True)

    (change,) = diff([_resource()], _pending(), [invoiced], {}).changes

    assert (change.reason, change.remote_id) == ("unconfirmed", "inv-1")
    assert "Invoiced, it stays as it is even once confirmed" in change.detail
    # Said early enough that a plan comment, which cuts a detail at 300 characters, keeps it.
    assert "holds inv-1, made since and already invoiced," in change.detail[:200]


# ---- settling on the command line -------------------------------------------------------------


def test_state_reject_refuses_an_id_another_address_owns(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    _lost_extra(RUDDR, directory, REFUSE)
    kickoff = support.remote_ids(directory)[support.KICKOFF]
    assert kickoff is not None

    run = sandboxed("state", "reject", RUDDR.extra_address, kickoff, directory)

    assert run.code == 1
    assert f"{kickoff} is {support.KICKOFF}'s, managed by billplan" in run.errors
    (entry,) = [e for e in state_json(directory)["entries"] if e["status"] == "pending"]
    assert entry.get("rejected", []) == []


def test_state_reject_of_a_mistyped_address_says_where_to_find_the_addresses(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    _lost_extra(RUDDR, directory, REFUSE)

    run = sandboxed("state", "reject", "cloud-infra/milestones/extar", "x1", directory)

    assert run.code == 1
    assert "cloud-infra/milestones/extar is not in the state" in run.errors
    assert "`billplan state list PATH` lists the addresses" in run.errors


def test_many_look_alikes_are_named_up_to_five_and_the_rest_counted() -> None:
    """A person making twenty drafts around the time of a lost create fills no plan."""
    drafts = [_held(f"d{n:02}", SENT_AT + timedelta(minutes=1), fee=9000) for n in range(20)]

    (change,) = diff([_resource()], _pending(), drafts, {}).changes

    assert change.remote_id == "d00"
    assert change.detail.endswith("Also like it: d01, d02, d03, d04, d05 and 14 more")


@pytest.mark.parametrize("typed", ["", "a b", "a\nb", "../1"])
def test_state_reject_refuses_what_cannot_be_an_id_as_import_does(
    typed: str, tmp_path: Path
) -> None:
    directory = tmp_path / "billing"
    _lost_extra(RUDDR, directory, REFUSE)

    run = sandboxed("state", "reject", RUDDR.extra_address, typed, directory)

    assert run.code == 1
    assert "is not an id a vendor gives" in run.errors
    (entry,) = [e for e in state_json(directory)["entries"] if e["status"] == "pending"]
    assert entry.get("rejected", []) == []


def test_a_forget_naming_several_look_alikes_speaks_of_them_in_the_plural() -> None:
    drafts = [_held(f"d{n}", SENT_AT + timedelta(minutes=1)) for n in range(3)]

    (change,) = diff([], _pending(), drafts, {}).changes

    assert change.action == "forget"
    assert "holds d0, d1, d2, which look like it and stay as they are: check them" in change.detail


def test_a_plan_that_does_not_read_the_vendor_never_says_it_will_send_a_lost_create_again(
    tmp_path: Path,
) -> None:
    """--no-refresh plans from state: the vendor's list was not read, so it proves nothing."""
    directory = tmp_path / "billing"
    _lost_extra(RUDDR, directory, REFUSE)

    run = sandboxed("plan", directory, "--no-refresh", "ruddr", "--detailed-exitcode")

    assert run.code == 2, run.text
    assert "creating it again" not in run.out
    assert "--no-refresh left it unread" in " ".join(run.out.split())
    assert "0 to create" in run.out and "1 unconfirmed" in run.out


def test_state_reject_claims_nothing_about_an_object_it_did_not_look_at(tmp_path: Path) -> None:
    """state reject reads only state: an id the vendor never gave is recorded, and the answer
    must not say it 'stays at the vendor, unmanaged'."""
    directory = tmp_path / "billing"
    _lost_extra(RUDDR, directory, REFUSE)

    run = sandboxed("state", "reject", RUDDR.extra_address, "no-such-id", directory)

    assert run.code == 0, run.text
    said = " ".join(run.out.split())
    assert "stays at the vendor" not in said
    assert "nothing at the vendor was changed" in said


# ---- the commands that settle it name the sandbox the plan ran against ------------------------


def _pasted(command: str, directory: Path) -> list[str]:
    """A printed command as a person pastes it, PATH filled in, `billplan` dropped."""
    words = command.split()
    assert words[0] == "billplan"
    return [str(directory) if w == "PATH" else w for w in words[1:]]


def test_the_confirm_command_a_sandbox_plan_prints_confirms_in_the_sandbox_when_pasted(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    landed = _lost_and_edited_ruddr(directory)
    shown = " ".join(sandboxed("plan", directory).out.split())
    confirm = f"billplan import {RUDDR.extra_address} {landed} PATH --sandbox"
    reject = f"billplan state reject {RUDDR.extra_address} {landed} PATH --sandbox"
    assert confirm in shown and reject in shown

    run = support.billplan(*_pasted(confirm, directory), "--as-of", support.AS_OF_TEXT)

    assert run.code == 0, run.text
    assert support.remote_ids(directory)[RUDDR.extra_address] == landed


def test_a_plan_against_a_served_sandbox_prints_its_url_for_import_and_none_for_reject() -> None:
    """`state reject` edits state only, and takes no --sandbox-url; import reads the vendor."""
    from compiler.model.change import SandboxChoice

    later = _held("later", SENT_AT + timedelta(minutes=1))
    served = SandboxChoice(url="http://127.0.0.1:8765")

    plan = diff([_resource()], _pending(), [later], {}, sandbox=served)

    (change,) = plan.changes
    assert (
        "`billplan import acme/milestones/extra later PATH --sandbox-url http://127.0.0.1:8765`"
        in (change.detail)
    )
    assert "`billplan state reject acme/milestones/extra later PATH`" in change.detail
    assert "--sandbox-url http://127.0.0.1:8765 |" in to_markdown(plan).replace("\\", "")


# ---- an unconfirmed row says that nothing is written ---------------------------------------


def _unconfirmed_plan(planned_fee: int = 5000) -> Plan:
    """A look-alike holding 5500 for a create that sent 5000; the plan now asks planned_fee."""
    resource = _resource()
    resource = replace(
        resource,
        attributes={**resource.attributes, "fee": Decimal(planned_fee)},
        amount=Decimal(planned_fee),
    )
    later = _held("later", SENT_AT + timedelta(minutes=1))
    return diff([resource], _pending(), [later], {})


def test_an_unconfirmed_row_in_text_shows_what_the_vendor_holds_and_what_was_sent() -> None:
    console = Console(width=300, record=True)

    print_text(_unconfirmed_plan(), console)

    text = console.export_text()
    assert "2026-06-01  5,500.00 USD  held by ruddr; apply writes nothing" in text
    assert "fee: holds 5,500.00, billplan sent 5,000.00" in text
    assert "fee: 5,500.00 -> 5,000.00" not in text


def test_an_unconfirmed_row_in_markdown_shows_what_the_vendor_holds_and_what_was_sent() -> None:
    markdown = to_markdown(_unconfirmed_plan())

    assert (
        "| 2026\u201106\u201101 | ruddr holds 5,500.00 USD | fee | "
        "holds 5,500, billplan sent 5,000 |"
    ) in markdown
    assert "| | | | | apply writes | nothing: a person confirms or rejects |" in markdown
    assert "5,500 → 5,000" not in markdown


def test_an_unconfirmed_look_alike_is_compared_with_what_was_sent_not_the_plan_since() -> None:
    """The plan asks 6000 now; the create sent 5000: a person compares the vendor's with 5000."""
    (change,) = _unconfirmed_plan(planned_fee=6000).changes

    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("fee", Decimal(5500), Decimal(5000))
    ]


@pytest.mark.parametrize(
    ("in_process", "url", "expected"),
    [
        (True, None, (True, None)),
        (False, "http://127.0.0.1:8765/", (False, "http://127.0.0.1:8765")),
    ],
    ids=["--sandbox", "--sandbox-url"],
)
def test_the_workspace_keeps_the_sandbox_it_was_opened_on_for_the_commands_it_prints(
    in_process: bool, url: str | None, expected: tuple[bool, str | None], tmp_path: Path
) -> None:
    from compiler.credentials import Hosts
    from compiler.providers import PROVIDERS
    from compiler.workspace import open_workspace

    directory = RUDDR.write(tmp_path / "billing", extra=False)
    hosts = Hosts.configured({}, PROVIDERS, (), url)

    with open_workspace(directory, support.AS_OF, sandbox=in_process, hosts=hosts) as workspace:
        chosen = workspace.sandbox_choice

    assert (chosen.in_process, chosen.url) == expected
