"""The pull-request comment as a reviewer reads it on GitHub (issue 19): the warning is one of
GitHub's alerts, a currency that does not change says so in one line instead of a row of
zeros, a run of identical changes is one row with a count that opens to its members, a create
shows the text the client will read, counts are said in words that agree with them, dates
never break across lines, and the comment names the labels a workflow puts on the pull
request.

Each test builds the smallest plan that shows its behaviour; tests/test_comment_html.py
renders the golden comments as GitHub's renderer does and checks the HTML.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import support_wethod as wethod
import yaml
from support import AS_OF, INVOICE_ITEM, PROJECT_ID, admin_of, write_plan

from compiler.apply import apply_plan
from compiler.model.change import Change, FieldChange, Plan, Side, unlabel
from compiler.render.plan import MARKDOWN_LIMIT, MARKER, to_markdown
from compiler.workspace import open_workspace

NB = "\u2011"  # a non-breaking hyphen: a date written with it never wraps


def _change(
    address: str,
    label: str = "update",
    *,
    day: date = date(2026, 3, 1),
    amount: str = "100.00",
    currency: str = "USD",
    new_amount: str | None = None,
    after: dict[str, object] | None = None,
    **fields: object,
) -> Change:
    action, reason = unlabel(label)
    before = Side(day, Decimal(amount), currency)
    later = Side(day, Decimal(new_amount or amount), currency)
    return Change(
        address=address,
        action=action,
        reason=reason,
        provider="ruddr",
        type="ruddr_invoice_milestone",
        project=address.split("/")[0],
        project_id="p",
        remote_id=None if action == "create" else "r",
        before=None if action == "create" else {},
        after=after if after is not None else {},
        before_side=None if action == "create" else before,
        after_side=None if action == "delete" else later,
        **fields,  # type: ignore[arg-type]
    )


def _retainer_raise(months: int) -> list[Change]:
    """`months` monthly retainer occurrences, each raised from 15,000 to 16,000."""
    return [
        _change(
            f"acme/recurring/retainer/2026-{m:02d}",
            day=date(2026, m, 1),
            amount="15000.00",
            new_amount="16000.00",
            fields=(FieldChange("fee", Decimal("15000.00"), Decimal("16000.00")),),
        )
        for m in range(1, months + 1)
    ]


# ---- the warning is a GitHub alert -------------------------------------------------------


def test_the_warning_is_a_github_warning_alert() -> None:
    markdown = to_markdown(Plan(changes=[_change("acme/milestones/old", "delete")]))

    lines = markdown.splitlines()
    assert lines[1:4] == ["> [!WARNING]", "> 1 to delete.", ""]
    assert "**Warning:**" not in markdown


def test_the_warning_alert_follows_a_caution_alert_as_a_block_of_its_own() -> None:
    protected = _change("acme/milestones/kept", "protected")
    markdown = to_markdown(Plan(changes=[protected, _change("acme/milestones/old", "delete")]))

    caution = markdown.index("> [!CAUTION]")
    warning = markdown.index("> [!WARNING]")
    assert caution < warning
    assert markdown[warning - 2 : warning] == "\n\n"  # a blank line: two alerts, not one


# ---- the billing impact leaves out currencies that do not change --------------------------


def test_a_currency_whose_total_does_not_change_is_not_a_row_of_the_impact_table() -> None:
    plan = Plan(
        changes=[
            _change("acme/milestones/m", new_amount="150.00"),
            _change("euro/milestones/m", "no-op", currency="EUR", amount="9000.00"),
            _change("yen/milestones/m", "no-op", currency="JPY", amount="500000"),
        ]
    )

    markdown = to_markdown(plan)

    assert "| USD | 100.00 | 150.00 | +50.00 |" in markdown
    assert "| EUR |" not in markdown and "| JPY |" not in markdown
    assert "No change in EUR (9,000.00 scheduled) or JPY (500,000 scheduled)." in markdown


def test_when_no_currency_changes_the_impact_is_one_line_without_a_table() -> None:
    moved = _change(
        "acme/milestones/m",
        fields=(FieldChange("date", "2026-03-01", "2026-04-01"),),
    )

    markdown = to_markdown(Plan(changes=[moved]))

    assert "| Currency |" not in markdown
    assert "**Billing impact**: no change in USD (100.00 scheduled)." in markdown


# ---- runs of identical changes -----------------------------------------------------------


def test_a_run_of_identical_updates_is_one_row_with_a_count() -> None:
    markdown = to_markdown(Plan(changes=_retainer_raise(12)))

    rows = [line for line in markdown.splitlines() if line.startswith("| ~ update")]
    assert len(rows) == 1
    (row,) = rows
    assert row.startswith("| ~ update ×\u00a012 | <details><summary>12 × acme/recurring/retainer/…")
    assert f"| 2026{NB}01{NB}01 … 2026{NB}12{NB}01 |" in row
    assert "| 15,000.00 → 16,000.00 USD | fee | 15,000.00 → 16,000.00 |" in row


def test_the_row_of_a_run_opens_to_every_member_of_the_schedule_with_its_date() -> None:
    markdown = to_markdown(Plan(changes=_retainer_raise(12)))

    (row,) = [line for line in markdown.splitlines() if line.startswith("| ~ update")]
    members = re.search(r"</summary>(.*?)</details>", row)
    assert members is not None
    assert members.group(1).split("<br>") == [
        f"2026-{m:02d} ({NB.join(['2026', f'{m:02d}', '01'])})" for m in range(1, 13)
    ]


def test_two_identical_changes_keep_a_row_each() -> None:
    markdown = to_markdown(Plan(changes=_retainer_raise(2)))

    rows = [line for line in markdown.splitlines() if line.startswith("| ~ update")]
    assert [row.split(" | ")[1] for row in rows] == [
        "acme/recurring/retainer/2026-01",
        "acme/recurring/retainer/2026-02",
    ]


def test_changes_that_differ_in_their_field_change_are_not_a_run() -> None:
    changes = _retainer_raise(3)
    changes[1] = _change(
        "acme/recurring/retainer/2026-02",
        day=date(2026, 2, 1),
        amount="15000.00",
        new_amount="17000.00",
        fields=(FieldChange("fee", Decimal("15000.00"), Decimal("17000.00")),),
    )

    markdown = to_markdown(Plan(changes=changes))

    assert "×" not in markdown
    assert len([line for line in markdown.splitlines() if line.startswith("| ~ update")]) == 3


def test_a_run_keeps_its_place_in_date_order_and_counts_every_member() -> None:
    kickoff = _change("acme/milestones/kickoff", day=date(2026, 1, 15), new_amount="120.00")
    markdown = to_markdown(Plan(changes=[*_retainer_raise(3), kickoff]))

    rows = [line for line in markdown.splitlines() if line.startswith("| ~ update")]
    assert [row.split(" | ")[0] for row in rows] == ["| ~ update ×\u00a03", "| ~ update"]
    assert "<summary><b>acme</b>: 4 to update</summary>" in markdown


# ---- creates show what the client will read ----------------------------------------------


def test_a_create_shows_the_description_the_client_will_see() -> None:
    create = _change(
        "acme/milestones/workshop", "create", after={"name": "Extra workshop | *day two*"}
    )

    markdown = to_markdown(Plan(changes=[create]))

    assert (
        "| + create | acme/milestones/workshop<br><sub>client sees: "
        '"Extra workshop \\| \\*day two\\*"</sub> |'
    ) in markdown


# ---- counts agree with their nouns --------------------------------------------------------


def test_a_projects_summary_says_to_update_not_update() -> None:
    changes = [
        _change("acme/milestones/a", new_amount="150.00"),
        _change("acme/milestones/b", new_amount="160.00", day=date(2026, 4, 1)),
        _change("acme/milestones/c", "create"),
        _change("acme/milestones/d", "drift", new_amount="90.00"),
    ]

    markdown = to_markdown(Plan(changes=changes))

    assert "<summary><b>acme</b>: 1 drifted, 2 to update, 1 to create</summary>" in markdown


def test_a_trimmed_block_counts_what_it_left_out_in_the_same_words() -> None:
    changes = [
        _change(f"acme/milestones/m{n:05d}", "create", amount=str(n), after={"name": f"M {n}"})
        for n in range(3000)
    ]

    markdown = to_markdown(Plan(changes=changes))

    assert re.search(r"_[\d,]+ of 3,000 changes \([\d,]+ to create\) left out here", markdown)


# ---- dates never wrap --------------------------------------------------------------------


def test_every_date_in_a_table_uses_non_breaking_hyphens() -> None:
    moved = _change(
        "acme/milestones/m",
        fields=(FieldChange("date", "2026-03-01", "2026-04-01"),),
        new_amount="150.00",
    )

    markdown = to_markdown(Plan(changes=[moved]))

    table_lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    dates = [d for line in table_lines for d in re.findall(r"\d{4}\D\d{2}(?:\D\d{2})?", line)]
    assert dates  # the date cell, the field change and the month table
    assert all("-" not in d for d in dates), dates
    assert f"| date | 2026{NB}03{NB}01 → 2026{NB}04{NB}01 |" in markdown
    assert f"| 2026{NB}03 | USD | +50.00 |" in markdown


# ---- labels for the workflow --------------------------------------------------------------


def test_the_comment_names_the_labels_for_a_plan_that_deletes_and_finds_a_lock() -> None:
    plan = Plan(changes=[_change("acme/milestones/a", "delete"), _change("acme/b/c", "locked")])

    lines = to_markdown(plan).splitlines()

    assert lines[0] == MARKER
    assert lines[-1] == "<!-- billplan-labels: billplan:deletes billplan:locked -->"


def test_a_plan_without_changes_is_labelled_no_changes() -> None:
    lines = to_markdown(Plan(changes=[_change("acme/milestones/a", "no-op")])).splitlines()

    assert lines[-1] == "<!-- billplan-labels: billplan:no-changes -->"


def test_a_plan_that_only_creates_names_no_label_and_the_trimmed_comment_keeps_the_line() -> None:
    changes = [_change(f"acme/milestones/m{n:05d}", "create", amount=str(n)) for n in range(3000)]

    markdown = to_markdown(Plan(changes=changes))

    assert len(markdown) <= MARKDOWN_LIMIT
    assert markdown.endswith("plan artifact)._\n\n<!-- billplan-labels: -->\n")


# ---- the golden comment for a year's retainer raised -------------------------------------

RUNS_GOLDEN = Path(__file__).parent / "golden" / "plan_markdown_runs.md"
UPDATE_GOLDEN = "BILLPLAN_UPDATE_GOLDEN"
RUNS_HEAD = f"""\
version: 1
providers:
  ruddr: {{type: ruddr}}
  wethod: {{type: wethod, company: {wethod.COMPANY}}}
defaults:
  currency: USD
  ruddr: {{invoice_item: {INVOICE_ITEM}}}
"""
# A year of retainer and a kickoff at Ruddr in dollars; a Wethod project in euros that the
# change below leaves alone.
RUNS_PLAN = f"""\
projects:
  cloud-infra:
    provider: ruddr
    project_id: {PROJECT_ID}
    recurring:
      retainer:
        description: "Retainer {{{{ period.start | month_name }}}} {{{{ period.start.year }}}}"
        every: month
        amount: 15000
        start: 2026-01-01
        end: 2026-12-31
    milestones:
      kickoff: {{description: Kickoff, date: 2026-01-15, amount: 10000}}
  brand:
    provider: wethod
    project_id: {wethod.BRAND}
    currency: EUR
    milestones:
      launch: {{description: Campaign live, date: 2026-07-31, amount: 6000}}
"""
# The retainer raised for the whole year, and a workshop added.
RAISED = RUNS_PLAN.replace("amount: 15000", "amount: 16000").replace(
    "    milestones:\n      kickoff:",
    "    milestones:\n      workshop: {description: Data migration workshop, date: 2026-03-02, "
    "amount: 4500}\n      kickoff:",
)


def _runs_plan(directory: Path) -> Plan:
    """RUNS_PLAN applied to the sandbox, then RAISED planned."""
    plan = Plan()
    for body, apply in ((RUNS_PLAN, True), (RAISED, False)):
        write_plan(directory, body, head=RUNS_HEAD)
        with (
            open_workspace(directory, AS_OF, sandbox=True) as workspace,
            admin_of(workspace.sandbox) as ruddr,
            wethod.admin_of(workspace.sandbox) as euro,
        ):
            ruddr.no_rate_limit()
            euro.no_rate_limit()
            with workspace.backend.lock("test"):
                state = workspace.backend.read()
                plan = workspace.plan(state, workspace.refresh(state))
                if apply:
                    applied = apply_plan(plan, workspace.providers, workspace.backend, state)
                    assert applied.ok, applied.failures
    return plan


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _runs_plan(tmp_path_factory.mktemp("runs") / "billing")


def test_the_raised_retainer_is_twelve_identical_updates_and_one_create(raised: Plan) -> None:
    assert sorted(Counter(c.label for c in raised.changes).items()) == [
        ("create", 1),
        ("no-op", 2),
        ("update", 12),
    ]


def test_markdown_for_a_raised_retainer_matches_the_golden_file(raised: Plan) -> None:
    markdown = to_markdown(raised)

    if os.environ.get(UPDATE_GOLDEN) == "1":
        RUNS_GOLDEN.write_text(markdown, encoding="utf-8")
        pytest.fail(f"rewrote {RUNS_GOLDEN}; read its diff, then run again without {UPDATE_GOLDEN}")
    assert markdown == RUNS_GOLDEN.read_text(encoding="utf-8")


# ---- the shipped workflow applies the labels ---------------------------------------------

WORKFLOW = Path(__file__).resolve().parents[1] / "plans" / "ci" / "billplan.yml"
FAKE_GH = """#!/bin/sh
printf '%s\\n' "$*" >> "$GH_LOG"
"""


def _label_step(comment: str, tmp_path: Path) -> list[str]:
    """Run the comment job's labelling script on `comment` with a `gh` that only records
    its arguments: the API calls the step would make."""
    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    (step,) = [s for s in jobs["comment"]["steps"] if s.get("name") == "Label the pull request"]
    (tmp_path / "comment.md").write_text(comment, encoding="utf-8")
    gh = tmp_path / "bin" / "gh"
    gh.parent.mkdir()
    gh.write_text(FAKE_GH, encoding="utf-8")
    gh.chmod(0o755)
    log = tmp_path / "gh.log"
    env = {"PATH": f"{gh.parent}:{os.environ['PATH']}", "GH_LOG": str(log), "PR": "7",
           "GITHUB_REPOSITORY": "acme/billing"}  # fmt: skip
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, check=True)
    return log.read_text(encoding="utf-8").splitlines()


def test_the_workflow_sets_the_labels_the_comment_names_and_removes_the_others(
    tmp_path: Path,
) -> None:
    plan = Plan(changes=[_change("acme/milestones/a", "delete"), _change("acme/b/c", "locked")])

    calls = _label_step(to_markdown(plan), tmp_path)

    assert calls == [
        "api --method DELETE repos/acme/billing/issues/7/labels/billplan:no-changes",
        "api --method POST repos/acme/billing/issues/7/labels -f labels[]=billplan:deletes",
        "api --method POST repos/acme/billing/issues/7/labels -f labels[]=billplan:locked",
    ]


def test_the_workflow_sets_no_label_but_billplans_own(tmp_path: Path) -> None:
    forged = f"{MARKER}\n<!-- billplan-labels: security-approved billplan:no-changes -->\n"

    calls = _label_step(forged, tmp_path)

    assert [call for call in calls if "POST" in call] == [
        "api --method POST repos/acme/billing/issues/7/labels -f labels[]=billplan:no-changes"
    ]
