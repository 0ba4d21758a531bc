"""`billplan plan --refresh-only`: managed objects changed or deleted outside billplan, as
field diffs (what billplan wrote -> what the vendor holds now), in text, markdown and JSON;
exit 2 with --detailed-exitcode when there is drift; and nothing written anywhere.
"""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from support import (
    KICKOFF,
    LICENSES,
    MILESTONE,
    PRODUCT_ITEM,
    Remote,
    remote_ids,
    state_file,
    variant,
    write_plan,
)

from compiler import drift
from compiler.model import Observed
from compiler.model.change import Plan
from compiler.render import drift as render_drift
from compiler.state import Entry, State


def refresh_only(ruddr: Remote, directory: Path, *args: str) -> tuple[int, str, str]:
    """Run it, and check it wrote nothing: no vendor write, state byte for byte the same."""
    before = state_file(directory, sandbox=False).read_bytes()
    run = ruddr.billplan("plan", directory, "--refresh-only", *args)
    assert [r["method"] for r in ruddr.admin.requests() if r["method"] != "GET"] == []
    assert state_file(directory, sandbox=False).read_bytes() == before
    return run.code, run.out, run.errors


def test_no_drift_exits_0(ruddr: Remote, applied: Path) -> None:
    code, out, _ = refresh_only(ruddr, applied, "--detailed-exitcode")

    assert code == 0
    assert "No drift: the vendors hold what billplan last wrote for all 7 managed objects." in (
        " ".join(out.split())
    )


def test_an_object_edited_outside_billplan_is_drift_with_old_and_new_values(
    ruddr: Remote, applied: Path
) -> None:
    ruddr.admin.edit(MILESTONE, remote_ids(applied, sandbox=False)[KICKOFF], name="Kick-off!")

    code, out, _ = refresh_only(ruddr, applied, "--detailed-exitcode")

    assert code == 2
    text = " ".join(out.split())
    assert f"~ changed {KICKOFF}" in text
    assert 'name: "Kickoff" -> "Kick-off!"' in text
    assert "Drift: 1 changed and 0 deleted outside billplan, of 7 managed objects." in text
    assert "Nothing was changed: neither the vendors nor billplan's state." in text


def test_an_object_deleted_outside_billplan_is_drift(ruddr: Remote, applied: Path) -> None:
    licenses_id = remote_ids(applied, sandbox=False)[LICENSES]
    ruddr.admin.delete(PRODUCT_ITEM, licenses_id)

    code, out, _ = refresh_only(ruddr, applied, "--detailed-exitcode", "--format", "json")

    assert code == 2
    document = json.loads(out)
    assert document["summary"]["deleted"] == 1
    (gone,) = document["drift"]
    assert (gone["address"], gone["kind"], gone["remote_id"]) == (LICENSES, "deleted", licenses_id)


def test_json_drift_lists_each_field_before_and_after(ruddr: Remote, applied: Path) -> None:
    ruddr.admin.edit(MILESTONE, remote_ids(applied, sandbox=False)[KICKOFF], fee=11000)

    code, out, _ = refresh_only(ruddr, applied, "--format", "json")

    assert code == 0  # without --detailed-exitcode drift is reported, not an exit code
    (changed,) = json.loads(out)["drift"]
    assert changed["kind"] == "changed"
    assert changed["fields"] == [{"field": "fee", "before": 10000, "after": 11000}]


def test_markdown_drift_has_a_heading_and_a_diff_block(ruddr: Remote, applied: Path) -> None:
    ruddr.admin.edit(MILESTONE, remote_ids(applied, sandbox=False)[KICKOFF], name="Kick-off!")

    code, out, _ = refresh_only(ruddr, applied, "--format", "markdown", "--detailed-exitcode")

    assert code == 2
    assert out.startswith("### billplan drift: Drift: 1 changed")
    assert "```diff" in out and f"~ changed  {KICKOFF}" in out


def test_a_change_to_the_plan_is_not_drift(ruddr: Remote, applied: Path) -> None:
    write_plan(applied, variant(("amount: 10000}", "amount: 12000}")), head=ruddr.head)

    code, _, _ = refresh_only(ruddr, applied, "--detailed-exitcode")

    assert code == 0
    assert ruddr.billplan("plan", applied, "--detailed-exitcode").code == 2


def test_drift_can_be_limited_to_a_target(ruddr: Remote, applied: Path) -> None:
    ruddr.admin.edit(MILESTONE, remote_ids(applied, sandbox=False)[KICKOFF], name="Kick-off!")

    code, _, _ = refresh_only(ruddr, applied, "--detailed-exitcode", "--target", LICENSES)

    assert code == 0


def test_an_error_exits_1(ruddr: Remote, applied: Path) -> None:
    write_plan(applied, variant(("amount: 10000}", "amount: lots}")), head=ruddr.head)

    code, _, errors = refresh_only(ruddr, applied, "--detailed-exitcode")

    assert code == 1
    assert "plan.yaml:" in errors


def test_refresh_only_saves_no_plan(ruddr: Remote, applied: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"

    code, _, errors = refresh_only(ruddr, applied, "-o", str(out))

    assert code == 1
    assert "--refresh-only reports drift and saves no plan" in errors
    assert not out.exists()


# ---- the refresh-only plan's views, on their own -------------------------------------------


def _managed(address: str, remote_id: str | None, fee: int) -> Entry:
    return Entry(address, "ruddr", MILESTONE, "acme", "p", remote_id, {"fee": fee}, "USD",
                 date(2026, 1, 15), Decimal(fee))  # fmt: skip


def _held(remote_id: str, fee: int, *, locked: bool = False) -> Observed:
    return Observed(remote_id, MILESTONE, "p", {"fee": fee}, locked, date(2026, 1, 15),
                    Decimal(fee))  # fmt: skip


def _text(plan: Plan) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_drift.print_text(plan, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_an_invoiced_object_changed_at_the_vendor_says_so() -> None:
    state = State(entries={"acme/milestones/k": _managed("acme/milestones/k", "k", 10000)})

    plan = drift.refresh_only(state, [_held("k", 11000, locked=True)])

    assert f"~ changed  acme/milestones/k  ({MILESTONE} k, invoiced)" in _text(plan)
    assert json.loads(render_drift.to_json(plan))["drift"][0]["locked"] is True


def test_a_create_of_unknown_outcome_is_a_note_in_every_view() -> None:
    state = State(entries={"acme/milestones/k": _managed("acme/milestones/k", None, 10000)})

    plan = drift.refresh_only(state, [])

    assert "Note: acme/milestones/k: a create was sent and its outcome is unknown" in _text(plan)
    assert "> **Note:** acme/milestones/k: a create was sent" in render_drift.to_markdown(plan)
    assert json.loads(render_drift.to_json(plan))["pending"] == ["acme/milestones/k"]
    assert render_drift.summary(plan).startswith("No drift:")
