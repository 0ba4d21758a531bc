"""`billplan generate`: schedules made by hand in the sandbox become plan fragments and state
that `billplan plan` finds nothing to change in; nothing is written on a dry run, over an
existing file or state entry, or when the round trip finds a difference.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import support_coperniq as coperniq
import support_kantata as kantata
import support_wethod as wethod
from hypothesis import given, settings
from hypothesis import strategies as st
from support import (
    AS_OF_TEXT,
    INVOICE_ITEM,
    MILESTONE,
    PRODUCT_ITEM,
    PROJECT_ID,
    billplan,
    plan_sandbox,
    sandboxed,
    state_file,
)

from compiler.operations import onboarding
from compiler.providers import PROVIDERS as VENDORS
from compiler.state.local import LocalBackend
from compiler.validate import check

PROVIDERS = """\
# yaml-language-server: $schema=../schemas/billing-plan.schema.json
version: 1
providers:
  ruddr: {type: ruddr}
"""


OTHER_PROJECT = "00000000-0000-4000-8000-0000000000d1"


def generate(directory: Path, *extra: str) -> tuple[int, str]:
    run = billplan("generate", directory, "--all", "--sandbox", "--as-of", AS_OF_TEXT, *extra)
    return run.code, run.text


def generate_project(directory: Path, *extra: str) -> tuple[int, str]:
    """generate naming the fixture's project, as a person adding one project does."""
    run = billplan(
        "generate", directory, "--project", PROJECT_ID, "--sandbox", "--as-of", AS_OF_TEXT, *extra
    )
    return run.code, run.text


@pytest.fixture
def ruddr_schedule(tmp_path: Path) -> Path:
    """A plan directory holding only its connection, and a Ruddr project with a schedule made
    by hand: a milestone, an invoiced milestone and a product line."""
    directory = tmp_path / "plans"
    directory.mkdir()
    (directory / "providers.yaml").write_text(PROVIDERS, encoding="utf-8")
    with plan_sandbox(directory) as admin:
        admin.add_project()
        admin.add_invoice_item()
        admin.add(MILESTONE, date="2026-01-15", name="Kickoff", fee=10000, typeId="custom")
        invoiced = admin.add(
            MILESTONE, date="2026-02-01", name="Design sign-off", fee=20000, typeId="custom"
        )
        admin.invoice(MILESTONE, invoiced["id"])
        admin.add(
            PRODUCT_ITEM, date="2026-02-04", description="CRM licenses", quantity=10, rate=150
        )
    return directory


def test_generated_ruddr_project_plans_no_changes(ruddr_schedule: Path) -> None:
    code, text = generate(ruddr_schedule)
    assert code == 0, text
    fragment = ruddr_schedule / "cloud-infrastructure-services.yaml"
    written = fragment.read_text(encoding="utf-8")
    assert written.startswith("# yaml-language-server: $schema=../schemas/billing-plan")
    assert f"project_id: {PROJECT_ID}" in written
    planned = sandboxed("plan", ruddr_schedule)
    assert planned.code == 0, planned.text
    assert "No changes" in planned.out, planned.out


def test_generate_records_every_object_in_state_locked_ones_too(ruddr_schedule: Path) -> None:
    code, text = generate(ruddr_schedule)
    assert code == 0, text
    entries = json.loads(state_file(ruddr_schedule).read_text())["entries"]
    assert len(entries) == 3
    assert all(e["remote_id"] for e in entries)
    assert "1 locked item" in text


def test_generate_reports_counts_and_totals_by_kind(ruddr_schedule: Path) -> None:
    code, text = generate(ruddr_schedule)
    assert code == 0, text
    assert "2 milestones: 30000.00 USD" in text
    assert "1 product: 1500.00 USD" in text


def test_a_run_of_monthly_items_becomes_one_recurring_charge(ruddr_schedule: Path) -> None:
    with plan_sandbox(ruddr_schedule) as admin:
        for month in (1, 2, 3, 4):
            made = admin.add(MILESTONE, date=f"2026-0{month}-01", name=f"Support 2026-0{month}",
                             fee=1500, typeId="recurring")  # fmt: skip
            if month == 1:
                admin.invoice(MILESTONE, made["id"])
    code, text = generate(ruddr_schedule)
    assert code == 0, text
    assert "4 recurring items: 6000.00 USD" in text
    assert "4 items became 1 recurring charge" in text
    assert "cloud-infrastructure-services/recurring/support/2026-01" in text  # locked
    written = (ruddr_schedule / "cloud-infrastructure-services.yaml").read_text()
    assert "every: month" in written
    planned = sandboxed("plan", ruddr_schedule)
    assert "No changes" in planned.out, planned.out


def test_dry_run_writes_nothing_and_shows_the_fragment(ruddr_schedule: Path) -> None:
    before = sorted(p.name for p in ruddr_schedule.iterdir())
    code, text = generate(ruddr_schedule, "--dry-run")
    assert code == 0, text
    assert "would write" in text and "CRM licenses" in text
    assert sorted(p.name for p in ruddr_schedule.iterdir()) == before
    assert not state_file(ruddr_schedule).exists()


def test_generate_refuses_to_overwrite_a_fragment_naming_it(ruddr_schedule: Path) -> None:
    assert generate(ruddr_schedule)[0] == 0
    code, text = generate_project(ruddr_schedule)
    assert code == 1
    assert "cloud-infrastructure-services.yaml exists" in text
    assert "--overwrite" in text


def test_all_again_passes_over_the_projects_the_plan_has_and_writes_nothing(
    ruddr_schedule: Path,
) -> None:
    assert generate(ruddr_schedule)[0] == 0
    before = {p.name: p.read_bytes() for p in ruddr_schedule.glob("*.yaml")}
    state = state_file(ruddr_schedule).read_bytes()
    code, text = generate(ruddr_schedule)
    assert code == 0, text
    assert (
        f"Passed over Ruddr project {PROJECT_ID}: already the plan's project "
        "cloud-infrastructure-services (--overwrite generates it again)"
    ) in text
    assert "Nothing new to onboard" in text
    assert {p.name: p.read_bytes() for p in ruddr_schedule.glob("*.yaml")} == before
    assert state_file(ruddr_schedule).read_bytes() == state


def test_all_again_onboards_only_the_project_new_since(ruddr_schedule: Path) -> None:
    assert generate(ruddr_schedule)[0] == 0
    with plan_sandbox(ruddr_schedule) as admin:
        admin._call("POST", "/projects", {"id": OTHER_PROJECT, "name": "Data Platform Build",
                    "billingTypeId": "fixed_recurring"})  # fmt: skip
        admin.add(MILESTONE, projectId=OTHER_PROJECT, date="2026-04-01", name="Design",
                  fee=12000, typeId="custom")  # fmt: skip
    code, text = generate(ruddr_schedule)
    assert code == 0, text
    assert "Passed over Ruddr project" in text
    assert "Wrote" in text and "data-platform-build.yaml" in text
    assert sandboxed("plan", ruddr_schedule, "--detailed-exitcode").code == 0


def test_overwrite_replaces_the_fragment_and_state(ruddr_schedule: Path) -> None:
    assert generate(ruddr_schedule)[0] == 0
    code, text = generate(ruddr_schedule, "--overwrite")
    assert code == 0, text
    assert sandboxed("plan", ruddr_schedule).out.count("No changes") == 1


def test_generate_refuses_a_state_entry_it_would_replace(ruddr_schedule: Path) -> None:
    assert generate(ruddr_schedule)[0] == 0
    (ruddr_schedule / "cloud-infrastructure-services.yaml").unlink()
    code, text = generate(ruddr_schedule)
    assert code == 1
    assert "state already has cloud-infrastructure-services/" in text


def test_generate_refuses_an_object_state_owns_at_another_address(
    ruddr_schedule: Path,
) -> None:
    assert generate(ruddr_schedule)[0] == 0
    fragment = ruddr_schedule / "cloud-infrastructure-services.yaml"
    fragment.write_text(fragment.read_text().replace("cloud-infrastructure-services:", "old:"))
    (ruddr_schedule / "old.yaml").write_text(fragment.read_text())
    fragment.unlink()
    code, text = generate(ruddr_schedule, "--overwrite")
    assert code == 1
    assert "is already state's cloud-infrastructure-services/" in text


def test_generate_under_another_run_s_state_lock_writes_nothing(ruddr_schedule: Path) -> None:
    state_file(ruddr_schedule).parent.mkdir(parents=True, exist_ok=True)
    with LocalBackend(state_file(ruddr_schedule)).lock("apply"):
        code, text = generate(ruddr_schedule)
    assert code == 1
    assert "is locked" in text and "apply" in text
    assert not (ruddr_schedule / "cloud-infrastructure-services.yaml").exists()


def test_a_round_trip_difference_writes_nothing_and_names_the_address(
    ruddr_schedule: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onboarding.charges

    def off_by_one(objects, **how):  # type: ignore[no-untyped-def]
        made = real(objects, **how)
        at = next(n for n, c in enumerate(made) if "amount" in c.body)
        body = {**made[at].body, "amount": made[at].body["amount"] + 1}
        made[at] = replace(made[at], body=body)
        return made

    monkeypatch.setattr(onboarding, "charges", off_by_one)
    before = sorted(p.name for p in ruddr_schedule.iterdir())
    code, text = generate(ruddr_schedule)
    assert code == 1
    assert "would not reproduce" in text
    assert "cloud-infrastructure-services/milestones/" in text and "would update" in text
    assert sorted(p.name for p in ruddr_schedule.iterdir()) == before
    assert not state_file(ruddr_schedule).exists()


def test_generate_names_an_unknown_project_and_lists_the_visible_ones(
    ruddr_schedule: Path,
) -> None:
    run = billplan(
        "generate", ruddr_schedule, "--project", "nope", "--sandbox", "--as-of", AS_OF_TEXT
    )
    assert run.code == 1
    assert "no project nope" in run.text
    assert PROJECT_ID in run.text


def test_generate_asks_which_connection_a_project_id_is_of_when_the_plan_has_several(
    ruddr_schedule: Path,
) -> None:
    # A project id is one vendor's; `--all` reads every connection (test_onboard_portfolio).
    (ruddr_schedule / "providers.yaml").write_text(
        PROVIDERS + "  eu: {type: ruddr, token_env: RUDDR_API_TOKEN_EU}\n"
    )
    run = billplan("generate", ruddr_schedule, "--project", PROJECT_ID, "--sandbox",
                   "--as-of", AS_OF_TEXT)  # fmt: skip
    assert run.code == 1
    assert "--provider" in run.text and "eu (ruddr)" in run.text and "ruddr (ruddr)" in run.text


def test_a_dry_run_over_existing_files_names_what_it_would_replace(ruddr_schedule: Path) -> None:
    assert generate(ruddr_schedule)[0] == 0
    code, text = generate(ruddr_schedule, "--dry-run", "--overwrite")
    assert code == 0, text
    assert "Would replace (--overwrite):" in text
    assert "cloud-infrastructure-services/milestones/" in text.split("Would replace")[1]


def test_generate_needs_projects_or_all(ruddr_schedule: Path) -> None:
    run = billplan("generate", ruddr_schedule, "--sandbox")
    assert run.code == 1
    assert "--project ID" in run.text and "--all" in run.text


def test_generated_fragment_uses_the_invoice_item_read(ruddr_schedule: Path) -> None:
    assert generate(ruddr_schedule)[0] == 0
    written = (ruddr_schedule / "cloud-infrastructure-services.yaml").read_text()
    assert INVOICE_ITEM in written


def test_an_object_no_plan_can_make_is_left_out_with_its_reason(ruddr_schedule: Path) -> None:
    with plan_sandbox(ruddr_schedule) as admin:
        admin.add(PRODUCT_ITEM, date="2026-03-04", description=" ", quantity=1, rate=5)
    code, text = generate(ruddr_schedule)
    assert code == 0, text
    assert "1 object left out, unmanaged" in text
    assert "without a description" in text
    planned = sandboxed("plan", ruddr_schedule, "--detailed-exitcode")
    assert planned.code == 0, planned.text
    assert "Unmanaged" in planned.out and "0 to create, 0 to update" in planned.out


# ---- Kantata and Wethod ---------------------------------------------------------------------


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_a_vendor_reads_kinds_back_exactly_where_its_compile_writes_them(vendor: str) -> None:
    # Onboarding reads a run of amounts as recurring, whatever kind it was read as, only where
    # the vendor keeps no kind: there a recurring item and a milestone make the same object.
    checked = check(Path(__file__).parent.parent / "plans" / "examples", date(2026, 11, 23))
    items = [
        item
        for item in checked.items
        if item.provider_type == vendor and item.kind != "product" and item.date is not None
    ]
    assert items
    flipped = [
        i._replace(kind="milestone" if i.kind == "recurring" else "recurring") for i in items
    ]
    config = {"type": vendor, "company": "lakeside"} if vendor == "wethod" else {"type": vendor}
    provider = VENDORS[vendor](vendor, config, base_url="http://127.0.0.1:9", token="t")
    try:
        bodies = [[r.attributes for r in provider.compile(some)[0]] for some in (items, flipped)]
    finally:
        provider.close()
    assert (bodies[0] != bodies[1]) == provider.reads_kinds_back


@pytest.fixture
def kantata_schedule(tmp_path: Path) -> Path:
    """A plan directory holding only its Kantata connection, and a workspace whose milestones
    were made by hand, so none carries billplan's external reference: a kickoff, an invoiced
    credit, and one billed on completion of a task."""
    directory = tmp_path / "plans"
    directory.mkdir()
    (directory / "providers.yaml").write_text(
        "version: 1\nproviders:\n  kantata: {type: kantata}\n", encoding="utf-8"
    )
    with kantata.plan_sandbox(directory) as admin:
        admin.add_workspace()
        admin.add_story()
        admin.add(title="Kickoff", amount_in_cents=1000000, date_to_invoice="2026-01-15")
        credit = admin.add(title="SLA credit", amount_in_cents=-50000, date_to_invoice="2026-02-15")
        admin.invoice(credit["id"])
        admin.add(title="UAT signed off", amount_in_cents=700000, billing_type="upon_completion",
                  story_id=kantata.STORY)  # fmt: skip
    return directory


def test_kantata_milestones_made_by_hand_are_generated_as_a_no_op(kantata_schedule: Path) -> None:
    # None carries billplan's external reference, and onboarding never writes to the vendor:
    # state owns each by its id, so the missing tag is no change (it waits for a billing write).
    code, text = generate(kantata_schedule)
    assert code == 0, text
    assert "1 locked item" in text
    entries = json.loads(state_file(kantata_schedule).read_text())["entries"]
    assert len(entries) == 3 and all(e["remote_id"] for e in entries)
    planned = sandboxed("plan", kantata_schedule, "--detailed-exitcode")
    assert planned.code == 0, planned.text
    assert "No changes" in planned.out, planned.out
    with kantata.plan_sandbox(kantata_schedule) as admin:
        assert all(m["external_references"] == [] for m in admin.milestones())


def test_an_onboarded_kantata_milestone_is_tagged_by_its_next_billing_change(
    kantata_schedule: Path,
) -> None:
    code, text = generate(kantata_schedule)
    assert code == 0, text
    fragment = kantata_schedule / "cascade-health-partners.yaml"
    written = fragment.read_text(encoding="utf-8")
    assert "amount: 10000" in written, written
    fragment.write_text(written.replace("amount: 10000", "amount: 12000"), encoding="utf-8")

    applied = sandboxed("apply", kantata_schedule)

    assert applied.code == 0, applied.text
    assert "1 to update" in applied.out, applied.out
    with kantata.plan_sandbox(kantata_schedule) as admin:
        (kickoff,) = [m for m in admin.milestones() if m["title"] == "Kickoff"]
        assert kickoff["amount_in_cents"] == 1200000
        assert kantata.reference_of(kickoff)["service_model_ref"].startswith(
            "cascade-health-partners/milestones/"
        )
        untouched = [m for m in admin.milestones() if m["title"] != "Kickoff"]
        assert all(m["external_references"] == [] for m in untouched)
    again = sandboxed("plan", kantata_schedule, "--detailed-exitcode")
    assert again.code == 0, again.text


def test_a_kantata_milestone_tagged_for_another_address_is_refused_naming_it(
    kantata_schedule: Path,
) -> None:
    # Its tag is not missing but wrong: a lost state would take it back at that address, so
    # plan would correct it (a write), and onboarding never writes to the vendor.
    tag = {"service_name": "billplan", "service_model": "billing_milestone",
           "service_model_ref": "old-plan/milestones/workshop"}  # fmt: skip
    with kantata.plan_sandbox(kantata_schedule) as admin:
        admin.add(title="Workshop", amount_in_cents=250000, date_to_invoice="2026-03-01",
                  external_reference=tag)  # fmt: skip
    code, text = generate(kantata_schedule)
    assert code == 1, text
    assert "only billplan's own tag (external_reference), which names another address" in text
    assert "cascade-health-partners/milestones/workshop" in text
    assert not state_file(kantata_schedule).exists()


def test_generated_wethod_project_plans_no_changes(tmp_path: Path) -> None:
    directory = tmp_path / "plans"
    directory.mkdir()
    # The sandbox's token belongs to its company `sandbox`; Wethod keeps no currency per
    # project, so the plan's default says which one it bills in.
    head = "version: 1\nproviders:\n  wethod: {type: wethod, company: sandbox}\n"
    (directory / "providers.yaml").write_text(head + "defaults: {currency: EUR}\n")
    with wethod.plan_sandbox(directory) as admin:
        admin.add_project(wethod.BRAND, company="sandbox", name="Lakeside brand refresh")
        admin.add(value=4000, issue_date="2026-03-15", notes="Kickoff workshop",
                  purchase_order=wethod.PURCHASE_ORDER)  # fmt: skip
        sent = admin.add(value=6500, issue_date="2026-03-01", notes="Retainer March 2026")
        admin.send(sent["id"])
    code, text = generate(directory)
    assert code == 0, text
    assert "(project 7301, EUR)" in text
    assert "1 locked item" in text
    planned = sandboxed("plan", directory)
    assert "No changes" in planned.out, planned.out


def test_a_coperniq_schedule_billplan_applied_is_generated_back_as_a_no_op(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "plans"
    directory.mkdir()
    (directory / "plan.yaml").write_text(coperniq.HEAD + coperniq.PLAN, encoding="utf-8")
    applied = sandboxed("apply", directory)
    assert applied.code == 0, applied.text
    # Start again from nothing but the connection: the plan and its state are gone.
    (directory / "plan.yaml").unlink()
    state_file(directory).unlink()
    (directory / "providers.yaml").write_text(coperniq.HEAD, encoding="utf-8")
    code, text = generate(directory)
    assert code == 0, text
    planned = sandboxed("plan", directory, "--detailed-exitcode")
    assert planned.code == 0, planned.text


def test_without_a_modeline_to_copy_the_fragment_points_at_a_schema_written_beside_it(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "plans"
    directory.mkdir()
    (directory / "providers.yaml").write_text(coperniq.HEAD, encoding="utf-8")
    with coperniq.plan_sandbox(directory) as admin:
        admin.add_project()
    code, text = generate(directory)
    assert code == 0, text
    fragment = next(p for p in directory.glob("*.yaml") if p.name != "providers.yaml")
    first = fragment.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=billing-plan.schema.json"
    schema = json.loads((directory / "billing-plan.schema.json").read_text())
    assert "projects" in schema["properties"]


def test_generate_refuses_a_project_the_plan_already_has(ruddr_schedule: Path) -> None:
    (ruddr_schedule / "mine.yaml").write_text(
        f"version: 1\nprojects:\n  mine: {{provider: ruddr, project_id: {PROJECT_ID}}}\n"
    )
    code, text = generate_project(ruddr_schedule)
    assert code == 1
    assert f"project {PROJECT_ID} is already the plan's project mine" in text
    assert not (ruddr_schedule / "mine.yaml").read_text().count("milestones")


def test_overwrite_never_replaces_a_project_written_among_others(ruddr_schedule: Path) -> None:
    (ruddr_schedule / "clients.yaml").write_text(
        f"version: 1\nprojects:\n  mine: {{provider: ruddr, project_id: {PROJECT_ID}}}\n"
    )
    code, text = generate(ruddr_schedule, "--overwrite")
    assert code == 1
    assert "project mine is written in" in text and "clients.yaml, not mine.yaml" in text


def test_overwrite_replaces_a_project_s_own_fragment(ruddr_schedule: Path) -> None:
    (ruddr_schedule / "mine.yaml").write_text(
        f"version: 1\nprojects:\n  mine: {{provider: ruddr, project_id: {PROJECT_ID}}}\n"
    )
    code, text = generate(ruddr_schedule, "--overwrite")
    assert code == 0, text
    assert "milestones:" in (ruddr_schedule / "mine.yaml").read_text()
    assert "No changes" in sandboxed("plan", ruddr_schedule).out


def test_errors_in_the_directory_s_own_fragments_are_its_own(ruddr_schedule: Path) -> None:
    (ruddr_schedule / "other.yaml").write_text(
        "version: 1\nprojects:\n  other: {provider: ruddr, project_id: x, currency: USD,\n"
        "    milestones: {a: {description: A, date: 2026-02-30, amount: 1}}}\n"
    )
    code, text = generate(ruddr_schedule)
    assert code == 1
    assert "the plan directory has errors" in text and "other.yaml" in text
    assert not (ruddr_schedule / "cloud-infrastructure-services.yaml").exists()


def test_generate_help_says_what_it_writes_with_an_example() -> None:
    run = billplan("generate", "--help")
    assert run.code == 0
    text = " ".join(run.out.split())
    assert "never writing to the vendor" in text
    assert "example: billplan generate plans/acme" in text


# ---- schedules billplan applied from plans/examples -----------------------------------------

EXAMPLES = Path(__file__).parent.parent / "plans" / "examples"


def _by_remote_id(
    directory: Path, rendered: Path
) -> dict[tuple[str, str], list[dict[str, object]]]:
    """The items `billplan render` gives for the plan at rendered, by the object (type and
    remote id) the sandbox state of directory records them at: an item's own address, or
    that of the Coperniq invoice its project's items of the date share (group_by: date)."""
    run = billplan("render", rendered, "--format", "json", "--as-of", AS_OF_TEXT)
    assert run.code == 0, run.text
    entries = json.loads(state_file(directory).read_text())["entries"]
    ids = {e["address"]: (e["type"], e["remote_id"]) for e in entries}
    keep = ("date", "description", "amount", "currency", "quantity", "rate")
    found: dict[tuple[str, str], list[dict[str, object]]] = {}
    for item in json.loads(run.out)["items"]:
        grouped = f"{item['project']}/invoices/{item['date']}"
        at = item["address"] if item["address"] in ids else grouped
        if at in ids:
            found.setdefault(ids[at], []).append({k: item[k] for k in keep})
    return {remote_id: sorted(items, key=json.dumps) for remote_id, items in found.items()}


@pytest.fixture(scope="module")
def applied_examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """plans/examples applied to a sandbox, then a directory holding only its providers
    block and a copy of that sandbox."""
    root = tmp_path_factory.mktemp("examples")
    examples = root / "examples"
    examples.mkdir()
    for fragment in EXAMPLES.glob("*.yaml"):
        (examples / fragment.name).write_text(fragment.read_text())
    applied = sandboxed("apply", examples)
    assert applied.code == 0, applied.text
    return examples


def _examples_copy(applied_examples: Path, tmp_path: Path) -> Path:
    """A directory holding the examples' providers block and a copy of their sandbox."""
    onboarded = tmp_path / "onboarded"
    (onboarded / ".billplan").mkdir(parents=True)
    (onboarded / "providers.yaml").write_text((applied_examples / "providers.yaml").read_text())
    sandbox = applied_examples / ".billplan" / "sandbox.sqlite"
    (onboarded / ".billplan" / "sandbox.sqlite").write_bytes(sandbox.read_bytes())
    return onboarded


def _generate_examples(onboarded: Path, vendor: str) -> tuple[int, str]:
    extra = ("--currency", "EUR") if vendor == "wethod" else ()
    return generate(onboarded, "--provider", vendor, *extra)


def _onboarded(applied_examples: Path, tmp_path: Path, vendor: str) -> tuple[Path, str]:
    """The examples' copy with `vendor`'s projects generated into it; and the report."""
    onboarded = _examples_copy(applied_examples, tmp_path)
    if vendor == "kantata":
        # The examples' milestones carry billplan's tag naming the examples' own addresses
        # (and state): onboarding into another plan refuses them (the test below). A person
        # who removes the tags in Kantata hands them over; the read back is then exact.
        with sqlite3.connect(onboarded / ".billplan" / "sandbox.sqlite") as db:
            db.execute("DELETE FROM kantata_external_references")
    code, text = _generate_examples(onboarded, vendor)
    assert code == 0, text
    return onboarded, text


# Vendors whose objects hold an amount and no quantity or rate (Kantata's billing milestones).
_AMOUNT_ONLY = frozenset({"kantata"})


@pytest.mark.parametrize(
    "vendor",
    [
        "ruddr",
        "wethod",
        "kantata",
        "coperniq",
    ],
)  # fmt: skip
def test_every_example_item_billplan_applied_is_generated_back_the_same(
    applied_examples: Path, tmp_path: Path, vendor: str
) -> None:
    onboarded, text = _onboarded(applied_examples, tmp_path, vendor)
    planned = sandboxed("plan", onboarded, "--detailed-exitcode")
    assert planned.code == 0, planned.text
    generated = _by_remote_id(onboarded, onboarded)
    original = {
        remote_id: item
        for remote_id, item in _by_remote_id(applied_examples, applied_examples).items()
        if remote_id[0].startswith(f"{vendor}_")
    }
    # Every charge of the examples on this vendor, item for item (a grouped invoice's too):
    # none left out.
    assert sorted(generated) == sorted(original), text
    for remote_id, item in generated.items():
        held = original[remote_id]
        if vendor in _AMOUNT_ONLY:
            # The vendor keeps the line's amount, not the quantity x rate that priced it.
            held = [{**line, "quantity": None, "rate": None} for line in held]
        assert item == held, remote_id


def test_kantata_milestones_tagged_for_another_plan_are_refused_and_nothing_is_written(
    applied_examples: Path, tmp_path: Path
) -> None:
    onboarded = _examples_copy(applied_examples, tmp_path)
    code, text = _generate_examples(onboarded, "kantata")
    assert code == 1, text
    assert "would update only billplan's own tag (external_reference)" in text
    assert "onboarding never writes to the vendor" in text
    assert "Remove the tag in the vendor, or onboard the object into the plan that made it" in text
    assert "nothing was written" in text
    assert sorted(p.name for p in onboarded.iterdir()) == [".billplan", "providers.yaml"]
    assert sorted(p.name for p in (onboarded / ".billplan").iterdir()) == ["sandbox.sqlite"]


def test_meridian_s_stub_and_escalation_come_back_as_one_recurring_charge(
    applied_examples: Path, tmp_path: Path
) -> None:
    onboarded, text = _onboarded(applied_examples, tmp_path, "ruddr")
    assert "23 recurring items: 424688.39 USD" in text
    assert "23 items became 1 recurring charge" in text
    written = (onboarded / "meridian-dental-group-managed-it.yaml").read_text()
    assert (
        "escalate:\n          by: 4%\n          every: year\n          from: 2027-01-01" in written
    )
    assert "start: 2026-01-16" in written


def test_lakeside_s_monthly_retainer_comes_back_from_wethod_as_one_recurring_charge(
    applied_examples: Path, tmp_path: Path
) -> None:
    # Wethod keeps no kinds (an invoice is a value on a date): six 6500 EUR invoices on
    # consecutive months are the retainer plans/examples wrote, not six milestones.
    onboarded, text = _onboarded(applied_examples, tmp_path, "wethod")
    assert "6 items became 1 recurring charge" in text, text
    written = (onboarded / "project-7301.yaml").read_text()  # Wethod's projects have no name
    assert "every: month\n        start: 2026-03-01\n        end: 2026-08-31" in written, written
    assert "amount: 6500.00" in written, written


def test_northwind_s_products_come_back_the_seats_as_one_repeating_product(
    applied_examples: Path, tmp_path: Path
) -> None:
    onboarded, text = _onboarded(applied_examples, tmp_path, "ruddr")
    assert "10 products: 59234.92 USD" in text
    assert "left out" not in text
    written = (onboarded / "northwind-logistics-analytics-platform.yaml").read_text()
    assert "every: quarter\n        start: 2026-04-01\n        end: 2028-03-31" in written
    assert "quantity: 45\n        rate: 112.875" in written


# ---- a property: for any schedule, generate then plan is a no-op ----------------------------

_MONTHLY = st.tuples(
    st.integers(1, 12),  # first month of 2026
    st.integers(1, 14),  # how many months
    st.sampled_from([Decimal("1500"), Decimal("999.99"), Decimal("18500")]),
    st.booleans(),  # the first one invoiced
)
_SINGLE = st.tuples(
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    st.decimals(Decimal("-5000"), Decimal("90000"), places=2),
    st.sampled_from(["custom", "recurring"]),
    st.booleans(),
)
_PRODUCT = st.tuples(
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    st.integers(1, 40),
    st.decimals(Decimal("0.5"), Decimal("900"), places=2),
)


@settings(max_examples=12, deadline=None)
@given(
    runs=st.lists(_MONTHLY, max_size=2),
    singles=st.lists(_SINGLE, max_size=4),
    products=st.lists(_PRODUCT, max_size=3),
)
def test_for_any_ruddr_schedule_generate_then_plan_is_a_no_op(
    runs: list[tuple[int, int, Decimal, bool]],
    singles: list[tuple[date, Decimal, str, bool]],
    products: list[tuple[date, int, Decimal]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "plans"
        directory.mkdir()
        (directory / "providers.yaml").write_text(PROVIDERS, encoding="utf-8")
        with plan_sandbox(directory) as admin:
            admin.add_project()
            admin.add_invoice_item()
            for number, (first, months, fee, invoiced) in enumerate(runs):
                for offset in range(months):
                    year, month = divmod(first - 1 + offset, 12)
                    when = date(2026 + year, month + 1, 1)
                    name = f"Run {number} {when:%Y-%m}"
                    made = admin.add(MILESTONE, date=when.isoformat(), fee=fee, name=name,
                                     typeId="recurring")  # fmt: skip
                    if invoiced and offset == 0:
                        admin.invoice(MILESTONE, made["id"])
            for number, (when, fee, kind, invoiced) in enumerate(singles):
                made = admin.add(MILESTONE, date=when.isoformat(), fee=fee,
                                 name=f"Item {number}", typeId=kind)  # fmt: skip
                if invoiced:
                    admin.invoice(MILESTONE, made["id"])
            for number, (when, quantity, rate) in enumerate(products):
                admin.add(PRODUCT_ITEM, date=when.isoformat(), description=f"Line {number}",
                          quantity=quantity, rate=rate)  # fmt: skip
        code, text = generate(directory)
        assert code == 0, text
        planned = sandboxed("plan", directory, "--detailed-exitcode")
        assert planned.code == 0, planned.text
