"""Saved plans: `plan -o FILE` writes the changes as documented JSON; `apply FILE PATH`
applies exactly those, after checking that every object they touch still looks as it did when
planned and that PATH still gives them (tests/test_apply_reviewed.py), and otherwise refuses,
names what moved and writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import (
    DESIGN,
    KICKOFF,
    LICENSES,
    MILESTONE,
    PRODUCT_ITEM,
    WITH_EXTRA,
    Remote,
    billplan,
    plan_sandbox,
    remote,
    remote_ids,
    sandboxed,
    state_file,
    variant,
    write_plan,
)

from compiler import jsonio, planfile
from compiler.model.change import Change, FieldChange, Plan, Side, unlabel

KICKOFF_12000 = variant(("amount: 10000}", "amount: 12000}"))
KICKOFF_13000_AND_EXTRA = variant(("amount: 10000}", "amount: 13000}"), body=WITH_EXTRA)


@pytest.fixture
def ruddr() -> Iterator[Remote]:
    with remote() as served:
        yield served


@pytest.fixture
def saved(ruddr: Remote, tmp_path: Path) -> tuple[Path, Path]:
    """An applied plan, changed (kickoff 10000 -> 12000, design removed) and planned to a file."""
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    assert ruddr.billplan("apply", directory).code == 0
    changed = variant(("amount: 10000}", "amount: 12000}"), ("share: 40%", "share: 50%"))
    write_plan(directory, changed.replace("share: 60%", "share: 50%"), head=ruddr.head)
    out = tmp_path / "reviewed.json"
    run = ruddr.billplan("plan", directory, "-o", out)
    assert run.code == 0, run.text
    ruddr.admin.clear_requests()
    return directory, out


def test_apply_file_applies_nothing_when_the_plan_changed_after_the_review(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    write_plan(directory, KICKOFF_12000)
    out = tmp_path / "reviewed.json"
    assert sandboxed("plan", directory, "-o", out).code == 0
    write_plan(directory, KICKOFF_13000_AND_EXTRA)  # edited again after the review

    run = billplan("apply", out, directory, "--sandbox", "--auto-approve")

    assert run.code == 1
    assert f"{KICKOFF}: fee: the saved plan has 12000.00, the merged plan has 13000.00" in (
        run.errors
    )
    with plan_sandbox(directory) as admin:
        assert admin.get(MILESTONE, remote_ids(directory)[KICKOFF])["fee"] == 10000
        assert "Extra workshop" not in {m["name"] for m in admin.objects(MILESTONE)}


def test_apply_file_sends_exactly_the_saved_writes(ruddr: Remote, saved: tuple[Path, Path]) -> None:
    directory, out = saved

    run = billplan("apply", out, directory, "--auto-approve")

    assert run.code == 0, run.text
    writes = [r for r in ruddr.admin.requests() if r["method"] != "GET"]
    ids = remote_ids(directory, sandbox=False)
    assert sorted((w["method"], w["path"].rsplit("/", 1)[1]) for w in writes) == sorted(
        [
            ("PATCH", ids[KICKOFF]),
            ("PATCH", ids[DESIGN]),
            ("PATCH", ids["cloud-infra/milestones/delivery/launch"]),
        ]
    )
    assert ruddr.billplan("plan", directory, "--detailed-exitcode").code == 0


def _refused_without_writes(ruddr: Remote, directory: Path, out: Path) -> str:
    before = state_file(directory, sandbox=False).read_bytes()
    run = billplan("apply", out, directory, "--auto-approve")
    assert run.code == 1
    assert [r["method"] for r in ruddr.admin.requests() if r["method"] != "GET"] == []
    assert state_file(directory, sandbox=False).read_bytes() == before
    return run.errors


def test_apply_file_refuses_when_an_object_was_edited_since_planning(
    ruddr: Remote, saved: tuple[Path, Path]
) -> None:
    directory, out = saved
    ruddr.admin.edit(MILESTONE, remote_ids(directory, sandbox=False)[KICKOFF], name="Kick-off!")

    said = _refused_without_writes(ruddr, directory, out)

    assert f"{KICKOFF}: changed remotely since the plan was made" in said
    assert f"{out} is stale: 1 object(s) changed since it was made. Nothing was applied" in said


def test_apply_file_refuses_when_an_object_was_invoiced_since_planning(
    ruddr: Remote, saved: tuple[Path, Path]
) -> None:
    directory, out = saved
    ruddr.admin.invoice(MILESTONE, remote_ids(directory, sandbox=False)[DESIGN])

    said = _refused_without_writes(ruddr, directory, out)

    assert f"{DESIGN}: was invoiced since the plan was made" in said


def test_apply_file_refuses_when_an_object_was_deleted_since_planning(
    ruddr: Remote, saved: tuple[Path, Path]
) -> None:
    directory, out = saved
    kickoff_id = remote_ids(directory, sandbox=False)[KICKOFF]
    ruddr.admin.delete(MILESTONE, kickoff_id)

    said = _refused_without_writes(ruddr, directory, out)

    assert f"{KICKOFF}: {kickoff_id} no longer exists remotely" in said


def test_apply_file_refuses_a_second_time(ruddr: Remote, tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing", head=ruddr.head)
    out = tmp_path / "first.json"
    assert ruddr.billplan("plan", directory, "-o", out).code == 0
    assert billplan("apply", out, directory, "--auto-approve").code == 0
    ruddr.admin.clear_requests()

    said = _refused_without_writes(ruddr, directory, out)

    assert f"{LICENSES}: was created since the plan was made" in said
    assert len(ruddr.admin.objects(PRODUCT_ITEM)) == 1


def test_a_saved_plan_is_json_with_format_version_1_and_the_documented_keys(
    saved: tuple[Path, Path],
) -> None:
    _, out = saved

    document = json.loads(out.read_text(encoding="utf-8"))

    assert document["format_version"] == "1"
    assert {"format_version", "as_of", "plan_path", "sandbox", "summary", "impact", "changes",
            "unmanaged"} <= set(document)  # fmt: skip
    assert document["as_of"] == "2026-11-23" and document["sandbox"] is False
    assert {"before", "after", "by_month"} <= set(document["impact"])
    assert document["summary"]["text"] == ("Plan: 0 to create, 3 to update, 0 to delete, 0 locked.")
    kickoff = next(c for c in document["changes"] if c["address"] == KICKOFF)
    assert {"address", "action", "provider", "type", "project", "project_id", "remote_id",
            "moved_from", "reason", "before", "after", "fields", "before_side",
            "after_side"} <= set(kickoff)  # fmt: skip
    assert kickoff["fields"] == [{"field": "fee", "before": 10000, "after": 12000.0}]
    assert kickoff["after_side"] == {"date": "2026-01-15", "amount": 12000.0, "currency": "USD"}


def test_money_in_a_saved_plan_keeps_its_exact_digits(saved: tuple[Path, Path]) -> None:
    _, out = saved

    text = out.read_text(encoding="utf-8")

    assert '"fee": 12000.00' in text  # not 12000.0, not "12000.00"


def test_a_saved_plan_from_another_format_version_is_refused(
    saved: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = saved
    document = json.loads(out.read_text(encoding="utf-8"))
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**document, "format_version": "2"}), encoding="utf-8")

    run = billplan("apply", future, "--auto-approve")

    assert run.code == 1
    assert "plan format_version '2' is not '1'; make the plan again" in run.errors


def test_a_file_that_is_not_a_saved_plan_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": "world"}', encoding="utf-8")

    run = billplan("apply", bogus, "--auto-approve")

    assert run.code == 1
    assert f"{bogus}: not a billplan saved plan" in run.errors


_money = st.builds(
    lambda units, places: Decimal(units).scaleb(-places),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=0, max_value=6),
)


@given(fee=_money, rate=_money, amount=_money)
def test_decimals_survive_a_saved_plan_digit_for_digit(
    fee: Decimal, rate: Decimal, amount: Decimal
) -> None:
    change = Change(
        address="p/milestones/m",
        action="update",
        provider="ruddr",
        type=MILESTONE,
        project="p",
        project_id="x",
        remote_id="r",
        before={"fee": fee},
        after={"fee": fee, "rate": rate},
        fields=(FieldChange("rate", None, rate),),
        before_side=Side(date(2026, 1, 1), amount, "USD"),
        after_side=Side(date(2026, 1, 1), amount, "USD"),
    )
    text = planfile.dumps(Plan([change]), plan_path="p", as_of=date(2026, 1, 1), sandbox=True)

    loaded = planfile.Saved(jsonio.loads(text), Path("saved.json")).plan.changes[0]

    assert str(loaded.after["fee"]) == str(fee)
    assert str(loaded.after["rate"]) == str(rate)
    assert str(loaded.fields[0].after) == str(rate)
    assert loaded.after_side.amount == amount
    assert str(loaded.before_side.amount) == str(amount)


def _saved_change(label: str, reason: str | None = None) -> dict[str, object]:
    """One change of a saved plan as `plan -o` writes it (action_reason left out: None)."""
    action, usual = unlabel(label)
    change = Change(address="p/milestones/m", action=action, reason=reason or usual,
                    provider="ruddr", type=MILESTONE, project="p", project_id="x", remote_id="r",
                    before={"fee": 1}, after={"fee": 2})  # fmt: skip
    text = planfile.dumps(Plan([change]), plan_path="p", as_of=date(2026, 1, 1), sandbox=True)
    (saved,) = jsonio.loads(text)["changes"]
    if reason is None:
        del saved["action_reason"]
    return saved


def _read(changes: list[dict[str, object]]) -> Plan:
    document = {"format_version": "1", "plan_path": "p", "as_of": "2026-01-01", "changes": changes}
    return planfile.Saved(document, Path("saved.json")).plan


def test_a_saved_change_keeps_what_apply_does_and_why() -> None:
    (change,) = _read([_saved_change("update", "adopted")]).changes

    assert (change.action, change.reason) == ("update", "adopted")


def test_a_saved_drift_reads_as_drift_and_comes_back_as_an_update_because_of_drift() -> None:
    saved = _saved_change("drift", "drift")
    (change,) = _read([saved]).changes

    assert (saved["action"], saved["action_reason"]) == ("drift", "drift")
    assert (change.action, change.reason) == ("update", "drift")


@pytest.mark.parametrize(
    ("label", "action", "reason"),
    [
        ("create", "create", "new"),
        ("update", "update", "changed"),
        ("drift", "update", "drift"),
        ("delete", "delete", "removed"),
        ("locked", "no-op", "locked"),
        ("adopt", "adopt", "adopted"),
        ("forget", "forget", "gone"),
    ],
)
def test_a_plan_saved_before_changes_had_a_reason_gets_its_actions_usual_reason(
    label: str, action: str, reason: str
) -> None:
    (change,) = _read([_saved_change(label)]).changes

    assert (change.action, change.reason, change.label) == (action, reason, label)


def test_a_saved_change_whose_reason_contradicts_its_action_is_damaged(tmp_path: Path) -> None:
    saved = {**_saved_change("update", "changed"), "action_reason": "locked"}
    document = {"format_version": "1", "plan_path": "p", "as_of": "2026-01-01",
                "changes": [saved]}  # fmt: skip
    document["checksum"] = planfile.checksum(document)
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(planfile.PlanFileError, match=r"damaged saved plan .*update because of"):
        planfile.load(path)


def test_a_saved_plan_applies_from_another_directory_and_under_any_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plan(tmp_path / "billing")
    monkeypatch.chdir(tmp_path)
    assert sandboxed("plan", "billing", "-o", "reviewed.out").code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    run = billplan("apply", tmp_path / "reviewed.out", tmp_path / "billing", "--sandbox",
                   "--auto-approve")  # fmt: skip

    assert run.code == 0, run.text
    assert "Apply complete" in run.out


def test_plan_o_never_writes_through_a_symlink(tmp_path: Path) -> None:
    # A checkout of a pull request that commits plan.json as a link to the reader's files.
    directory = write_plan(tmp_path / "billing")
    precious = tmp_path / "home" / ".bashrc"
    precious.parent.mkdir()
    precious.write_text("export PATH=$HOME/bin:$PATH\n", "utf-8")
    link = tmp_path / "plan.json"
    link.symlink_to(precious)

    run = sandboxed("plan", directory, "-o", link)

    assert run.code == 1
    assert f"{link} is a symlink" in run.errors
    assert precious.read_text("utf-8") == "export PATH=$HOME/bin:$PATH\n"
    assert link.is_symlink()


@pytest.mark.parametrize("name", ["plan.yaml", ".billplan/sandbox-state.json"])
def test_plan_o_never_overwrites_a_file_that_is_not_a_saved_plan(tmp_path: Path, name: str) -> None:
    directory = write_plan(tmp_path / "billing")
    assert sandboxed("apply", directory).code == 0
    target = directory / name
    before = target.read_bytes()

    run = sandboxed("plan", directory, "-o", target)

    assert run.code == 1
    assert f"{target} exists and is not a saved plan" in run.errors
    assert target.read_bytes() == before


def test_plan_o_replaces_an_earlier_saved_plan(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    out = tmp_path / "plan.json"
    assert sandboxed("plan", directory, "-o", out).code == 0
    assert sandboxed("apply", directory).code == 0

    assert sandboxed("plan", directory, "-o", out).code == 0

    assert jsonio.loads(out.read_text("utf-8"))["summary"]["create"] == 0
