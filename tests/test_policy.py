"""Policy rules a firm keeps in its repository (`policy:` in the plan, or `--policy FILE`):
the largest change per currency, large deletes that need `--allow-large-delete`, no billing
dates in the past. A plan that breaks one says which rule and by how much, exits 4, is marked
in the pull-request comment, is saved with its breaches, and is never applied.

The plan of tests/support.py schedules USD 106,500.00 in seven objects, all dated in 2026
before the as-of date of the tests (2026-11-23).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from support import (
    HEAD,
    KICKOFF,
    KICKOFF_LINE,
    PLAN,
    billplan,
    sandboxed,
    variant,
    write_plan,
)

from compiler.cli import EXIT_POLICY
from compiler.model.change import Change, Plan, Side
from compiler.policy import Judging, Policy, Rule, changed_amounts

USD = "USD"
AS_OF = date(2026, 11, 23)


def _with_policy(policy: str) -> str:
    return HEAD + "policy:\n" + "".join(f"  {line}\n" for line in policy.splitlines())


def _change(
    address: str, action: str, before: str | None, after: str | None, **kw: object
) -> Change:
    def side(amount: str | None, when: date) -> Side | None:
        return None if amount is None else Side(when, Decimal(amount), USD)

    return Change(
        address=address,
        action=action,  # type: ignore[arg-type]
        provider="ruddr",
        type="ruddr_invoice_milestone",
        project="acme",
        project_id="p",
        remote_id=None if action == "create" else "r",
        before=None,
        after=None,
        before_side=side(before, kw.pop("before_date", date(2026, 12, 1))),  # type: ignore[arg-type]
        after_side=side(after, kw.pop("after_date", date(2026, 12, 1))),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _judge(policy: Policy, *changes: Change, allowed: frozenset[str] = frozenset()) -> Plan:
    return policy.judge(Plan(changes=list(changes)), Judging(AS_OF, allowed))


# ---- what each rule counts ----------------------------------------------------------------


def test_the_largest_change_sums_creates_deletes_and_the_difference_of_updates() -> None:
    changes = [
        _change("acme/milestones/new", "create", None, "1000"),
        _change("acme/milestones/gone", "delete", "-250", None),  # a credit deleted: 250
        _change("acme/milestones/raised", "update", "5000", "5400"),
        _change("acme/milestones/moved", "update", "700", "700", after_date=date(2027, 1, 1)),
        _change("acme/milestones/locked", "no-op", "100", "900", reason="locked"),
    ]
    assert changed_amounts(changes) == {USD: Decimal("1650")}


def test_a_plan_above_the_largest_change_says_by_how_much() -> None:
    policy = Policy((Rule("largest_change", "policy.yaml:2:20", USD, Decimal(100_000)),))
    plan = _judge(policy, _change("acme/milestones/big", "create", None, "125000"))
    [breach] = plan.breaches
    assert str(breach) == ("largest change per currency: USD 125,000.00 > 100,000.00 by 25,000.00")
    assert breach.source == "policy.yaml:2:20"
    assert breach.addresses == ("acme/milestones/big",)


def test_a_plan_exactly_at_the_largest_change_passes() -> None:
    policy = Policy((Rule("largest_change", "p:1:1", USD, Decimal(100_000)),))
    assert _judge(policy, _change("acme/milestones/big", "create", None, "100000")).breaches == []


def test_a_currency_the_policy_does_not_name_has_no_limit() -> None:
    policy = Policy((Rule("largest_change", "p:1:1", "EUR", Decimal(1)),))
    assert _judge(policy, _change("acme/milestones/big", "create", None, "9000")).breaches == []


def test_a_delete_above_the_limit_breaks_the_policy_by_its_amount() -> None:
    policy = Policy((Rule("large_delete", "p:3:17", USD, Decimal(20_000)),))
    plan = _judge(policy, _change("acme/milestones/big", "delete", "30000", None))
    assert [str(b) for b in plan.breaches] == [
        "large delete: acme/milestones/big deletes USD 30,000.00 > 20,000.00 by 10,000.00"
    ]


def test_allow_large_delete_turns_the_breach_into_a_note() -> None:
    policy = Policy((Rule("large_delete", "p:3:17", USD, Decimal(20_000)),))
    big = _change("acme/milestones/big", "delete", "30000", None)
    plan = _judge(policy, big, allowed=frozenset({"large_delete"}))
    assert plan.breaches == []
    assert plan.notes == [
        "large delete: acme/milestones/big deletes USD 30,000.00 > 20,000.00 by 10,000.00 "
        "(allowed by --allow-large-delete; set at p:3:17)"
    ]


def test_a_replace_is_not_a_large_delete() -> None:
    policy = Policy((Rule("large_delete", "p:1:1", USD, Decimal(20_000)),))
    replaced = _change("acme/milestones/big", "delete", "30000", None, reason="replaced")
    assert _judge(policy, replaced).breaches == []


def test_past_dates_counts_creates_and_updates_dated_before_as_of() -> None:
    policy = Policy((Rule("past_dates", "p:4:3"),))
    before = date(2026, 11, 1)
    plan = _judge(
        policy,
        _change("acme/milestones/late", "create", None, "10", after_date=before),
        _change("acme/milestones/edit", "update", "10", "20", after_date=date(2026, 11, 22)),
        _change("acme/milestones/old", "delete", "10", None, before_date=before),
        _change("acme/milestones/billed", "no-op", "1", "2", reason="locked", after_date=before),
        _change("acme/milestones/today", "create", None, "10", after_date=AS_OF),
    )
    [breach] = plan.breaches
    assert str(breach) == (
        "no billing dates in the past: 2 changes dated before 2026-11-23 (the as-of date), the "
        "earliest 2026-11-01 (22 days before): acme/milestones/late, acme/milestones/edit"
    )


def test_two_sources_of_one_rule_keep_the_stricter_limit() -> None:
    plan_rules = Policy((Rule("largest_change", "plan.yaml:8:20", USD, Decimal(500_000)),))
    firm = Policy((Rule("largest_change", "firm.yaml:2:20", USD, Decimal(100_000)),))
    assert plan_rules.combined(firm).rules == firm.rules
    assert firm.combined(plan_rules).rules == firm.rules


def test_a_refresh_only_plan_is_not_judged() -> None:
    policy = Policy((Rule("largest_change", "p:1:1", USD, Decimal(0)),))
    drift = Plan(changes=[_change("acme/milestones/a", "create", None, "1")], mode="refresh-only")
    assert policy.judge(drift, Judging(AS_OF)).breaches == []


# ---- validation: located errors ---------------------------------------------------------


def test_a_policy_limit_finer_than_its_currency_is_a_located_error(tmp_path: Path) -> None:
    directory = write_plan(tmp_path, head=_with_policy("largest_change: {USD: 100000.001}"))
    run = billplan("validate", directory)
    assert run.code == 1
    assert (
        "plan.yaml:8:25: $.policy.largest_change.USD: 100000.001 has 3 decimals but USD "
        "allows 2; write it with at most 2 decimals" in run.errors
    )


def test_a_negative_policy_limit_is_a_located_error(tmp_path: Path) -> None:
    directory = write_plan(tmp_path, head=_with_policy("large_delete: {USD: -5}"))
    run = billplan("validate", directory)
    assert run.code == 1
    assert "$.policy.large_delete.USD: must be at least 0, got -5" in run.errors


def test_an_unknown_policy_rule_is_a_located_error_naming_the_rules(tmp_path: Path) -> None:
    directory = write_plan(tmp_path, head=_with_policy("max_change: {USD: 5}\npast_date: x"))
    run = billplan("validate", directory)
    assert run.code == 1
    assert (
        "plan.yaml:8:3: $.policy.max_change: unknown key 'max_change'; did you mean "
        "'largest_change'?" in run.errors
    )
    assert "plan.yaml:9:3: $.policy.past_date: unknown key 'past_date'; did you mean" in run.errors


def test_two_files_holding_a_policy_is_a_located_error(tmp_path: Path) -> None:
    directory = write_plan(tmp_path, head=_with_policy("past_dates: refuse"))
    (directory / "rules.yaml").write_text("policy:\n  largest_change: {USD: 5}\n")
    run = billplan("validate", directory)
    assert run.code == 1
    assert "rules.yaml:1:1: $.policy: `policy:` is already in another file, at " in run.errors
    assert "a plan keeps its policy in one file" in run.errors


def test_a_policy_file_holding_other_sections_is_a_located_error(tmp_path: Path) -> None:
    directory = write_plan(tmp_path)
    rules = tmp_path / "firm.yaml"
    rules.write_text("policy:\n  past_dates: refuse\nprojects: {}\n")
    run = billplan("validate", directory, "--policy", rules)
    assert run.code == 1
    assert (
        "firm.yaml:3:1: $.projects: a policy file holds only `policy:` (and `version: 1`), "
        "not `projects:`" in run.errors
    )


def test_validate_checks_a_policy_file(tmp_path: Path) -> None:
    directory = write_plan(tmp_path)
    rules = tmp_path / "firm.yaml"
    rules.write_text("policy:\n  largest_change: {USD: 100000, JPY: 15000000}\n")
    run = billplan("validate", directory, "--policy", rules)
    assert run.code == 0, run.text
    assert "firm.yaml: valid policy (2 rules)" in run.out


# ---- plan, the PR comment, the saved plan, apply ----------------------------------------


def test_a_plan_breaking_a_rule_exits_4_even_without_detailed_exitcode(tmp_path: Path) -> None:
    directory = write_plan(tmp_path, head=_with_policy("largest_change: {USD: 100000}"))
    run = sandboxed("plan", directory)
    assert run.code == EXIT_POLICY == 4
    assert "largest change per currency: USD 106,500.00 > 100,000.00 by 6,500.00" in run.out
    assert "Policy: this plan breaks 1 rule and will not be applied" in run.out
    assert sandboxed("plan", directory, "--detailed-exitcode").code == EXIT_POLICY


def test_a_policy_file_given_on_the_command_line_is_in_force(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "plan")
    rules = tmp_path / "firm.yaml"
    rules.write_text("policy:\n  past_dates: refuse\n")
    run = sandboxed("plan", directory, "--policy", rules)
    assert run.code == EXIT_POLICY
    assert "no billing dates in the past: 7 changes dated before 2026-11-23" in run.out
    assert f"set at {rules}:2:3" in run.out


def test_the_pr_comment_marks_a_breach_with_a_caution_alert(tmp_path: Path) -> None:
    directory = write_plan(tmp_path, head=_with_policy("largest_change: {USD: 100000}"))
    comment = sandboxed("plan", directory, "--format", "markdown").out
    lines = comment.splitlines()
    assert lines[1:3] == [
        "> [!CAUTION]",
        "> **Policy: this plan breaks 1 rule and will not be applied.**",
    ]
    assert (
        "> - **largest change per currency**: USD 106,500.00 \\> 100,000.00 by 6,500.00 "
        "(set at " in comment
    )
    assert "plan.yaml:8:20). What to do: split the change into smaller plans" in comment


def test_apply_refuses_a_plan_that_breaks_a_rule_and_writes_nothing(tmp_path: Path) -> None:
    directory = write_plan(tmp_path, head=_with_policy("largest_change: {USD: 100000}"))
    run = sandboxed("apply", directory)
    assert run.code == EXIT_POLICY
    assert "The plan breaks 1 policy rule; nothing was applied" in run.errors
    assert billplan("state", "list", directory, "--sandbox").out == ""


def test_a_saved_plan_carries_its_breaches_and_apply_refuses_it(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "plan", head=_with_policy("largest_change: {USD: 100000}"))
    saved = tmp_path / "plan.json"
    planned = sandboxed("plan", directory, "-o", saved)
    assert planned.code == EXIT_POLICY
    assert "with the policy rules it breaks: apply refuses it" in " ".join(planned.out.split())
    [breach] = json.loads(saved.read_text())["breaches"]
    assert breach["rule"] == "largest_change"
    assert breach["message"] == "USD 106,500.00 > 100,000.00 by 6,500.00"
    run = billplan("apply", saved, directory, "--sandbox", "--auto-approve")
    assert run.code == EXIT_POLICY
    assert f"{saved}, as it was planned, breaks 1 policy rule; nothing was applied" in run.errors
    assert billplan("state", "list", directory, "--sandbox").out == ""


def _applied_then_kickoff_removed(tmp_path: Path) -> Path:
    """The plan applied with no policy, then the kickoff (USD 10,000.00) removed from it
    under a policy that lets a plan delete USD 5,000.00 at most."""
    directory = write_plan(tmp_path / "plan")
    assert sandboxed("apply", directory).code == 0
    return write_plan(
        directory,
        variant((KICKOFF_LINE, ""), body=PLAN),
        head=_with_policy("large_delete: {USD: 5000}"),
    )


def test_a_large_delete_needs_allow_large_delete(tmp_path: Path) -> None:
    directory = _applied_then_kickoff_removed(tmp_path)
    refused = sandboxed("plan", directory)
    assert refused.code == EXIT_POLICY
    assert f"large delete: {KICKOFF} deletes USD 10,000.00 > 5,000.00 by 5,000.00" in refused.out
    allowed = sandboxed("plan", directory, "--allow-large-delete", "--detailed-exitcode")
    assert allowed.code == 2
    assert "(allowed by --allow-large-delete; set at" in allowed.out


def test_apply_needs_allow_large_delete_again_even_for_a_plan_saved_with_it(
    tmp_path: Path,
) -> None:
    directory = _applied_then_kickoff_removed(tmp_path)
    saved = tmp_path / "plan.json"
    assert sandboxed("plan", directory, "--allow-large-delete", "-o", saved).code == 0
    args = ("apply", saved, directory, "--sandbox", "--auto-approve")
    refused = billplan(*args)
    assert refused.code == EXIT_POLICY
    assert "add --allow-large-delete" in refused.errors
    assert KICKOFF in billplan("state", "list", directory, "--sandbox").out
    assert billplan(*args, "--allow-large-delete").code == 0
    assert KICKOFF not in billplan("state", "list", directory, "--sandbox").out


# ---- billplan show ------------------------------------------------------------------------


def test_show_prints_a_saved_plan_as_plan_printed_it_without_the_plan_or_vendors(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "plan", head=_with_policy("largest_change: {USD: 100000}"))
    saved = tmp_path / "plan.json"
    planned = sandboxed("plan", directory, "-o", saved, "--format", "markdown")
    # Nothing left to contact or read: the plan directory and its sandbox are gone.
    for path in sorted(directory.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    directory.rmdir()
    shown = billplan("show", saved, "--format", "markdown")
    assert shown.code == 0, shown.text
    assert shown.out == planned.out


def test_show_json_prints_the_saved_plan_as_saved(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "plan")
    saved = tmp_path / "plan.json"
    sandboxed("plan", directory, "-o", saved)
    shown = billplan("show", saved, "--format", "json")
    assert shown.out == saved.read_text()


def test_show_text_lists_the_changes_and_says_where_the_plan_was_made(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "plan")
    saved = tmp_path / "plan.json"
    sandboxed("plan", directory, "-o", saved)
    shown = billplan("show", saved)
    assert shown.code == 0
    assert f"+ create  {KICKOFF}          2026-01-15  10,000.00 USD" in shown.out
    assert "Plan: 7 to create, 0 to update, 0 to delete, 0 locked." in shown.out
    assert "as of 2026-11-23 against the sandbox" in shown.errors


def test_show_refuses_a_file_that_is_not_a_saved_plan(tmp_path: Path) -> None:
    directory = write_plan(tmp_path)
    run = billplan("show", directory / "plan.yaml")
    assert run.code == 1
    assert "not a billplan saved plan" in run.errors
    assert "`billplan show` prints a plan saved by `billplan plan -o FILE`" in run.errors


def test_show_refuses_a_saved_plan_edited_by_hand(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "plan", head=_with_policy("largest_change: {USD: 100000}"))
    saved = tmp_path / "plan.json"
    sandboxed("plan", directory, "-o", saved)
    document = json.loads(saved.read_text())
    document["breaches"] = []
    saved.write_text(json.dumps(document))
    run = billplan("show", saved)
    assert run.code == 1
    assert "does not match its checksum" in run.errors


def test_a_saved_plan_reads_back_its_breaches(tmp_path: Path) -> None:
    from compiler import planfile

    directory = write_plan(tmp_path / "plan", head=_with_policy("past_dates: refuse"))
    saved = tmp_path / "plan.json"
    sandboxed("plan", directory, "-o", saved)
    plan = planfile.load(saved).plan
    assert [b.rule for b in plan.breaches] == ["past_dates"]
    assert replace(plan.breaches[0], addresses=()).source.endswith("plan.yaml:8:3")


# ---- the example policy ----------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = REPO / "plans" / "examples" / "policy.yaml"


def test_the_examples_policy_lets_the_examples_apply_and_converge(tmp_path: Path) -> None:
    import shutil

    examples = tmp_path / "examples"
    shutil.copytree(REPO / "plans" / "examples", examples, ignore=shutil.ignore_patterns(".*"))
    assert billplan("validate", examples).code == 0
    assert billplan("apply", examples, "--sandbox", "--auto-approve").code == 0
    again = billplan("plan", examples, "--sandbox", "--detailed-exitcode")
    assert again.code == 0, again.text
    assert "No changes." in again.out


def test_the_examples_policy_asks_for_allow_large_delete_to_remove_the_onboarding_fee(
    tmp_path: Path,
) -> None:
    import shutil

    examples = tmp_path / "examples"
    shutil.copytree(REPO / "plans" / "examples", examples, ignore=shutil.ignore_patterns(".*"))
    assert billplan("apply", examples, "--sandbox", "--auto-approve").code == 0
    retainer = examples / "retainer.yaml"
    text = retainer.read_text()
    start = text.index("    milestones:\n      onboarding:")  # the project's only milestone
    end = text.index("\n", text.index("amount:", start)) + 1
    retainer.write_text(text[:start] + text[end:])
    refused = billplan("plan", examples, "--sandbox")
    assert refused.code == 4, refused.text
    assert "large_delete" in refused.text or "large delete" in refused.text
    allowed = billplan("plan", examples, "--sandbox", "--allow-large-delete")
    assert allowed.code == 0, allowed.text


def test_the_examples_policy_is_the_one_a_policy_file_would_hold(tmp_path: Path) -> None:
    # The same rules kept outside the plan, as CI would, judge the plan the same way.
    assert billplan("validate", REPO / "plans" / "examples", "--policy", EXAMPLE_POLICY).code == 0
