"""A create whose answer was lost is never made again on a guess, and billplan deletes only
what it knows it made (issue 15).

Each case runs on every vendor that tags nothing (Ruddr, Wethod, Coperniq), through the
emulators' admin surface: a create whose response is lost after it landed (`lose_response`),
or refused with a 500 before it landed (its outcome is just as unknown to billplan), then a
person's edit or hand-made object, as an unlucky operator would meet them. The rule itself
(look-alikes, the clock-skew margin, an unproven read) is tested on diff() at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import support
import support_coperniq
import support_wethod
from support import MILESTONE, PROJECT_ID, sandboxed, state_json

from compiler import planfile
from compiler.diff import CLOCK_SKEW, diff
from compiler.model import Observed, Resource
from compiler.state import Entry, State, StateError

# ---- each vendor as these tests need it -------------------------------------------------


@dataclass(frozen=True)
class Vendor:
    """One vendor's small plan (a kickoff, and an extra charge whose create gets lost), how to
    run it in process, and how a person edits or makes its objects by hand."""

    name: str
    head: str
    project: str  # the plan's project block, up to its charges
    kickoff: str  # the kickoff charge's line
    extra: str  # the extra charge's line
    extra_address: str
    step: Callable[..., Any]  # plan_dir, apply=, arrange=(admin) -> support.Step-like
    objects: Callable[[Any], list[dict[str, Any]]]  # admin -> the project's objects
    edit: Callable[[Any, str], None]  # admin, id: a person changes its amount
    add: Callable[[Any, dict[str, Any]], dict[str, Any]]  # admin, body sent: made by hand
    fail_create: Callable[[Any, dict[str, Any]], None]  # admin, fault fields: on the next POST

    def write(self, directory: Path, *, extra: bool = True, kickoff: bool = True) -> Path:
        body = self.project + (self.kickoff if kickoff else "") + (self.extra if extra else "")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "plan.yaml").write_text(self.head + body, encoding="utf-8")
        return directory

    def admin(self, directory: Path) -> Any:
        return {
            "ruddr": support.plan_sandbox,
            "wethod": support_wethod.plan_sandbox,
            "coperniq": support_coperniq.plan_sandbox,
        }[self.name](directory)


def _wethod_step(directory: Path, **kwargs: Any) -> Any:
    arrange = kwargs.pop("arrange", lambda admin: None)
    return support_wethod.step(directory, arrange=lambda admin, sandbox: arrange(admin), **kwargs)


def _plain(body: dict[str, Any]) -> dict[str, Any]:
    """A body as state holds it, as JSON numbers for an admin surface."""
    return json.loads(json.dumps(body, default=str), parse_float=Decimal)


RUDDR = Vendor(
    name="ruddr",
    head=support.HEAD,
    project=f"projects:\n  cloud-infra:\n    provider: ruddr\n    project_id: {PROJECT_ID}\n"
    "    milestones:\n",
    kickoff="      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}\n",
    extra="      extra: {description: Extra workshop, date: 2026-06-01, amount: 5000}\n",
    extra_address="cloud-infra/milestones/extra",
    step=support.step,
    objects=lambda admin: admin.objects(MILESTONE),
    edit=lambda admin, remote_id: admin.edit(MILESTONE, remote_id, fee=5500),
    add=lambda admin, body: admin.add(MILESTONE, **_plain(body)),
    fail_create=lambda admin, fault: admin.fault("POST", "/project-invoice-milestones", **fault),
)
WETHOD = Vendor(
    name="wethod",
    head=support_wethod.HEAD,
    project=f"projects:\n  brand:\n    provider: wethod\n    project_id: {support_wethod.BRAND}\n"
    "    milestones:\n",
    kickoff="      kickoff: {description: Kickoff workshop, date: 2026-03-15, amount: 4000}\n",
    extra="      extra: {description: Extra workshop, date: 2026-09-01, amount: 5000}\n",
    extra_address="brand/milestones/extra",
    step=_wethod_step,
    objects=lambda admin: admin.invoices(),
    edit=lambda admin, remote_id: admin.edit(remote_id, value=5500),
    add=lambda admin, body: admin.add(**_plain(body)),
    fail_create=lambda admin, fault: admin.fault("POST", **fault),
)
COPERNIQ = Vendor(
    name="coperniq",
    head=support_coperniq.HEAD,
    project=f"projects:\n  sunridge:\n    provider: coperniq\n    project_id: "
    f"{support_coperniq.RECORD}\n    coperniq: {{catalog_item: "
    f"{support_coperniq.INSTALLATION_ITEM}}}\n    milestones:\n",
    kickoff="      design: {description: Engineering design, date: 2026-04-01, amount: 48000}\n",
    extra="      extra: {description: Extra survey, date: 2026-09-01, amount: 5000}\n",
    extra_address="sunridge/milestones/extra",
    step=support_coperniq.step,
    objects=lambda admin: admin.invoices(),
    edit=lambda admin, remote_id: admin.edit(remote_id, description="Extra survey (revised)"),
    add=lambda admin, body: admin.add_invoice(
        **{**_plain(body), "dueDate": f"{body['dueDate']}T00:00:00.000Z"}
    ),
    fail_create=lambda admin, fault: admin.fault("POST", **fault),
)
VENDORS = [pytest.param(v, id=v.name) for v in (RUDDR, WETHOD, COPERNIQ)]

LOSE = {"lose_response": True}  # the create lands; its answer never arrives
REFUSE = {"status": 500}  # answered 500 before it landed: to billplan, just as unknown


def _lost_extra(vendor: Vendor, directory: Path, fault: dict[str, Any]) -> None:
    """The kickoff applied; then the extra charge added and its create's answer lost."""
    applied = vendor.step(vendor.write(directory, extra=False), apply=True)
    assert applied.applied.ok, applied.applied.failures
    vendor.write(directory)
    lost = vendor.step(directory, apply=True, arrange=lambda a: vendor.fail_create(a, fault))
    (failure,) = lost.applied.failures
    assert (failure.address, failure.unknown) == (vendor.extra_address, True)
    (pending,) = [e for e in state_json(directory)["entries"] if e["status"] == "pending"]
    assert pending["sent_at"]


def _unowned(vendor: Vendor, directory: Path) -> list[dict[str, Any]]:
    """The vendor's objects in the project that state does not own."""
    owned = {e["remote_id"] for e in state_json(directory)["entries"]}
    with vendor.admin(directory) as admin:
        return [o for o in vendor.objects(admin) if str(o["id"]) not in owned]


def _sent_body(directory: Path, address: str) -> dict[str, Any]:
    (entry,) = [e for e in state_json(directory)["entries"] if e["address"] == address]
    return dict(entry["attributes"])


# ---- case 1: a lost create that landed, then edited by a person --------------------------


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_lost_create_edited_by_a_person_is_shown_unconfirmed_and_never_made_twice(
    vendor: Vendor, tmp_path: Path
) -> None:
    directory = tmp_path / "billing"
    _lost_extra(vendor, directory, LOSE)
    (landed,) = _unowned(vendor, directory)
    with vendor.admin(directory) as admin:
        vendor.edit(admin, str(landed["id"]))

    again = vendor.step(directory, apply=True)

    change = again.change(vendor.extra_address)
    assert (change.action, change.reason, change.remote_id) == (
        "no-op",
        "unconfirmed",
        str(landed["id"]),
    )
    assert f"billplan import {vendor.extra_address} {landed['id']} PATH" in change.detail
    assert f"billplan state reject {vendor.extra_address} {landed['id']} PATH" in change.detail
    assert again.writes("POST") == []
    assert [str(o["id"]) for o in _unowned(vendor, directory)] == [str(landed["id"])]
    # Shown with the address it may be, not a second time as unmanaged noise.
    assert again.plan.unmanaged == []


# ---- case 3: a removed charge whose create is pending ------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_removed_charge_whose_create_never_landed_leaves_a_hand_made_twin_alone(
    vendor: Vendor, tmp_path: Path
) -> None:
    directory = tmp_path / "billing"
    _lost_extra(vendor, directory, REFUSE)
    assert _unowned(vendor, directory) == []  # it never landed
    with vendor.admin(directory) as admin:
        made = vendor.add(admin, _sent_body(directory, vendor.extra_address))
    vendor.write(directory, extra=False)

    again = vendor.step(directory, apply=True)

    change = again.change(vendor.extra_address)
    assert change.action == "forget"
    assert f"holds {made['id']}, which looks like it and stays as it is" in change.detail
    assert again.writes("DELETE") == []
    assert [str(o["id"]) for o in _unowned(vendor, directory)] == [str(made["id"])]


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_removed_charge_whose_lost_create_landed_is_forgotten_and_its_object_named(
    vendor: Vendor, tmp_path: Path
) -> None:
    directory = tmp_path / "billing"
    _lost_extra(vendor, directory, LOSE)
    (landed,) = _unowned(vendor, directory)
    vendor.write(directory, extra=False)

    again = vendor.step(directory, apply=True)

    change = again.change(vendor.extra_address)
    assert change.action == "forget"
    assert "deletes nothing it cannot prove it made" in change.detail
    assert f"holds {landed['id']}, which looks like it" in change.detail
    assert again.writes("DELETE") == []
    assert [u.remote_id for u in again.plan.unmanaged] == [str(landed["id"])]
    assert vendor.extra_address not in {e["address"] for e in state_json(directory)["entries"]}


# ---- confirm and reject, end to end on the command line ----------------------------------


def _lost_and_edited_ruddr(directory: Path) -> str:
    _lost_extra(RUDDR, directory, LOSE)
    (landed,) = _unowned(RUDDR, directory)
    with RUDDR.admin(directory) as admin:
        RUDDR.edit(admin, landed["id"])
    return str(landed["id"])


def test_import_confirms_an_unconfirmed_object_and_the_next_apply_restores_the_plan(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    landed = _lost_and_edited_ruddr(directory)
    shown = sandboxed("plan", directory)
    assert "unconfirmed" in shown.out and landed in shown.out

    confirmed = sandboxed("import", RUDDR.extra_address, landed, directory)

    assert confirmed.code == 0, confirmed.text
    assert "will not create it again" in confirmed.out
    applied = sandboxed("apply", directory)
    assert applied.code == 0, applied.text
    with RUDDR.admin(directory) as admin:
        extras = [m for m in admin.objects(MILESTONE) if m["name"] == "Extra workshop"]
    assert [(m["id"], Decimal(str(m["fee"]))) for m in extras] == [(landed, Decimal(5000))]
    assert sandboxed("plan", directory, "--detailed-exitcode").code == 0


def test_state_reject_records_the_id_and_the_next_plan_creates_the_item_again(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    _lost_extra(RUDDR, directory, REFUSE)
    with RUDDR.admin(directory) as admin:
        someone = admin.add(MILESTONE, date="2026-06-03", name="Workshop (by hand)", fee=4000)

    shown = sandboxed("plan", directory)
    assert "unconfirmed" in shown.out and someone["id"] in shown.out
    rejected = sandboxed("state", "reject", RUDDR.extra_address, someone["id"], directory)

    assert rejected.code == 0, rejected.text
    (entry,) = [e for e in state_json(directory)["entries"] if e["status"] == "pending"]
    assert entry["rejected"] == [someone["id"]]
    applied = sandboxed("apply", directory)
    assert applied.code == 0, applied.text
    with RUDDR.admin(directory) as admin:
        names = sorted(m["name"] for m in admin.objects(MILESTONE))
    assert names == ["Extra workshop", "Kickoff", "Workshop (by hand)"]
    assert sandboxed("plan", directory, "--detailed-exitcode").code == 0


def test_state_reject_refuses_an_address_whose_create_is_not_waiting(tmp_path: Path) -> None:
    directory = RUDDR.write(tmp_path / "billing", extra=False)
    assert sandboxed("apply", directory).code == 0

    run = sandboxed("state", "reject", "cloud-infra/milestones/kickoff", "x", directory)

    assert run.code == 1
    assert "no create of it is waiting on an answer" in run.errors


def test_state_reject_has_help_with_an_example() -> None:
    run = support.billplan("state", "reject", "--help")

    assert run.code == 0
    assert "billplan import ADDRESS REMOTE_ID PATH" in " ".join(run.out.split())
    assert "example:\n  billplan state reject" in run.out


# ---- what the plan says, and its exit codes ----------------------------------------------


def test_an_unconfirmed_object_keeps_plan_detailed_exitcode_at_2_after_apply(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "billing"
    _lost_and_edited_ruddr(directory)

    applied = sandboxed("apply", directory)
    planned = sandboxed("plan", directory, "--detailed-exitcode")

    assert applied.code == 0, applied.text
    assert "1 item is waiting for a person" in " ".join(applied.out.split())
    assert planned.code == 2
    assert "1 unconfirmed." in planned.out


def test_the_saved_plan_and_the_markdown_say_unconfirmed_in_words(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    landed = _lost_and_edited_ruddr(directory)
    saved = tmp_path / "plan.json"

    assert sandboxed("plan", directory, "-o", saved).code in (0, 2)
    markdown = sandboxed("plan", directory, "--format", "markdown")

    record = json.loads(saved.read_text())
    assert record["summary"]["unconfirmed"] == 1
    (change,) = [c for c in record["changes"] if c["remote_id"] == landed]
    assert (change["action"], change["action_reason"]) == ("unconfirmed", "unconfirmed")
    assert [f["field"] for f in change["fields"]] == ["fee"]
    assert "never arrived" in change["reason"]
    (read,) = [c for c in planfile.load(saved).plan.changes if c.remote_id == landed]
    assert (read.action, read.reason) == ("no-op", "unconfirmed")
    assert "1 unconfirmed (a create whose answer was lost" in markdown.out
    assert "❓ **unconfirmed**" in markdown.out
    # The detail may be cut at its length limit; the commands that settle it never are, and
    # they name the sandbox the plan ran against.
    reject = (
        f"| if it is not | billplan state reject {RUDDR.extra_address} {landed} PATH --sandbox |"
    )
    assert reject in markdown.out.replace("\\", "")


# ---- the rule itself, on diff() ------------------------------------------------------------

SENT_AT = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
ADDRESS = "acme/milestones/extra"


def _resource() -> Resource:
    body = {"projectId": PROJECT_ID, "date": "2026-06-01", "name": "Extra", "fee": Decimal(5000)}
    return Resource(ADDRESS, "ruddr", MILESTONE, "acme", PROJECT_ID, body, date(2026, 6, 1),
                    Decimal(5000), "USD")  # fmt: skip


def _pending(rejected: tuple[str, ...] = ()) -> State:
    r = _resource()
    entry = Entry(ADDRESS, "ruddr", MILESTONE, "acme", PROJECT_ID, None, r.attributes, "USD",
                  r.date, r.amount, "pending", sent_at=SENT_AT, rejected=rejected)  # fmt: skip
    return State(entries={ADDRESS: entry})


def _held(remote_id: str, created: datetime, fee: int = 5500) -> Observed:
    body = {"projectId": PROJECT_ID, "date": "2026-06-01", "name": "Extra", "fee": Decimal(fee)}
    return Observed(remote_id, MILESTONE, PROJECT_ID, body, False, date(2026, 6, 1),
                    Decimal(fee), created=created)  # fmt: skip


def test_an_object_made_well_before_the_create_was_sent_is_no_look_alike() -> None:
    old = _held("old", SENT_AT - CLOCK_SKEW - timedelta(seconds=1))

    (change,) = diff([_resource()], _pending(), [old], {}).changes

    assert (change.action, change.reason) == ("create", "new")
    assert "holds nothing it could have made: creating it again" in change.detail


def test_an_object_made_within_the_clock_skew_margin_is_a_look_alike() -> None:
    near = _held("near", SENT_AT - CLOCK_SKEW + timedelta(seconds=1))

    (change,) = diff([_resource()], _pending(), [near], {}).changes

    assert (change.action, change.reason, change.remote_id) == ("no-op", "unconfirmed", "near")


def test_a_rejected_look_alike_is_not_offered_again() -> None:
    later = _held("later", SENT_AT + timedelta(minutes=1))

    (change,) = diff([_resource()], _pending(("later",)), [later], {}).changes

    assert change.action == "create"


def test_the_most_alike_is_offered_first_and_the_others_named() -> None:
    edited = _held("a-edited", SENT_AT + timedelta(minutes=2), fee=5500)
    other = _held("b-other", SENT_AT + timedelta(minutes=1), fee=9000)
    other = Observed(**{**other.__dict__, "attributes": {**other.attributes, "name": "Else"}})

    (change,) = diff([_resource()], _pending(), [other, edited], {}).changes

    assert change.remote_id == "a-edited"
    assert "Also like it: b-other" in change.detail


def test_no_look_alike_in_a_project_not_read_completely_creates_nothing() -> None:
    plan = diff([_resource()], _pending(), [], {}, unproven={("ruddr", PROJECT_ID)})

    (change,) = plan.changes
    assert (change.action, change.reason, change.label) == ("no-op", "unproven", "unconfirmed")
    assert "run `billplan plan` again" in change.detail
    assert plan.impact().after == {}  # nothing scheduled, nothing unscheduled


def test_an_unconfirmed_look_alike_changes_no_billing_total() -> None:
    later = _held("later", SENT_AT + timedelta(minutes=1))

    impact = diff([_resource()], _pending(), [later], {}).impact()

    assert impact.before == impact.after == {"USD": Decimal(5500)}


def test_a_saved_plan_that_sends_a_lost_create_again_applies(tmp_path: Path) -> None:
    directory = tmp_path / "billing"
    _lost_extra(RUDDR, directory, REFUSE)
    saved = tmp_path / "plan.json"
    assert sandboxed("plan", directory, "-o", saved).code == 0

    run = support.billplan("apply", saved, directory, "--sandbox", "--auto-approve")

    assert run.code == 0, run.text
    with RUDDR.admin(directory) as admin:
        assert [m["name"] for m in admin.objects(MILESTONE)].count("Extra workshop") == 1


# ---- the pending entry in state -------------------------------------------------------------


def test_a_pending_entry_keeps_when_it_was_sent_and_what_was_rejected_across_a_write() -> None:
    written = _pending(("x1", "x2")).entries[ADDRESS].to_json()

    read = Entry.from_json(json.loads(json.dumps(written, default=str)))

    assert (read.sent_at, read.rejected) == (SENT_AT, ("x1", "x2"))


def test_a_managed_entry_is_written_without_sent_at_or_rejected() -> None:
    entry = Entry(ADDRESS, "ruddr", MILESTONE, "acme", PROJECT_ID, "k", {}, "USD", None,
                  Decimal(0))  # fmt: skip

    assert {"sent_at", "rejected"}.isdisjoint(entry.to_json())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sent_at", "yesterday", "sent_at 'yesterday' is not a time like 2026-11-23T09:15:00"),
        ("rejected", "x1", "rejected is not a list of remote ids"),
    ],
)
def test_an_unreadable_pending_field_is_a_state_error_naming_it(
    field: str, value: str, message: str
) -> None:
    raw = json.loads(json.dumps(_pending().entries[ADDRESS].to_json(), default=str))

    with pytest.raises(StateError, match=message):
        Entry.from_json({**raw, field: value})


def test_an_unconfirmed_object_keeps_refresh_only_detailed_exitcode_at_2_as_plan_does(
    tmp_path: Path,
) -> None:
    """A scheduled drift check must flag a lost create waiting for a person, as plan does."""
    directory = tmp_path / "billing"
    _lost_and_edited_ruddr(directory)

    planned = sandboxed("plan", directory, "--detailed-exitcode")
    refreshed = sandboxed("plan", directory, "--refresh-only", "--detailed-exitcode")

    assert planned.code == 2
    assert refreshed.code == 2, refreshed.text
    assert "outcome is unknown" in refreshed.out
