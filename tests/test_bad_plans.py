"""A corpus of bad plans, each with the exact diagnostics billplan must report.

Every file (or directory, for mistakes that span fragments) under tests/bad_plans/ holds one
kind of mistake, described in its first line. Each expected line is what a finance person sees
in a pull request: FILE:LINE:COL, the JSON path, and a message saying what is wrong and what
to do. Paths are relative because billplan is run from inside tests/bad_plans/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.validate import check

ROOT = Path(__file__).resolve().parents[1]
BAD_PLANS_DIR = Path(__file__).resolve().parent / "bad_plans"
AS_OF = date(2026, 1, 1)

BAD_PLANS: list[tuple[str, list[str]]] = [
    (
        "amount_and_amounts.yaml",
        [
            (
                "amount_and_amounts.yaml:17:18: $.projects.acme.recurring.support.amounts: a "
                "recurring charge needs exactly one of `amount` or `amounts` (both given); "
                "keep `amount` for one price or `amounts` for price steps"
            ),
        ],
    ),
    (
        "amount_is_text.yaml",
        [
            (
                "amount_is_text.yaml:11:65: $.projects.acme.milestones.kickoff.amount: "
                "expected an amount such as 15000, 1234.50 or -250 (no currency symbol, no "
                "separators such as 1,000 or 1_000), got 'ten thousand'"
            ),
        ],
    ),
    (
        "amount_with_currency_symbol.yaml",
        [
            (
                "amount_with_currency_symbol.yaml:11:65: "
                "$.projects.acme.milestones.kickoff.amount: expected an amount such as "
                "15000, 1234.50 or -250 (no currency symbol, no separators such as 1,000 or "
                "1_000), got '$10,000'"
            ),
        ],
    ),
    (
        "amounts_out_of_order.yaml",
        [
            (
                "amounts_out_of_order.yaml:19:20: "
                "$.projects.acme.recurring.support.amounts[2].from: `amounts` steps must be "
                "in date order: 2026-04-01 is not after the previous step's 2026-07-01; "
                "reorder the steps"
            ),
        ],
    ),
    (
        "bad_every.yaml",
        [
            (
                "bad_every.yaml:11:46: $.projects.acme.recurring.support.every: expected a "
                "period such as month, 3 months, quarter, year, week or 2 weeks, got "
                "'fortnight'"
            ),
        ],
    ),
    (
        "bad_project_key.yaml",
        [
            (
                "bad_project_key.yaml:10:3: $.projects.Cloud Infra: the name 'Cloud Infra' "
                "is not allowed: use a lowercase name such as cloud-infra (a-z, 0-9, - and "
                "_, not starting with - or _)"
            ),
        ],
    ),
    (
        "billion_laughs.yaml",
        [
            (
                "billion_laughs.yaml:5:3: $.vars: YAML aliases expand to more than 200000 "
                "values or nest deeper than 64 levels; a plan never needs that (alias bomb?)"
            ),
        ],
    ),
    (
        "cap_exceeded.yaml",
        [
            (
                "cap_exceeded.yaml:10:10: $.projects.acme.cap: cap 15,000.00 USD exceeded by "
                "1,000.50 USD: positive charges total 16,000.50 USD; raise the cap or reduce "
                "the charges"
            ),
        ],
    ),
    (
        "count_zero.yaml",
        [
            (
                "count_zero.yaml:11:79: $.projects.acme.recurring.support.count: must be at "
                "least 1, got 0"
            ),
        ],
    ),
    (
        "day_on_weekly_charge.yaml",
        [
            (
                "day_on_weekly_charge.yaml:11:60: $.projects.acme.recurring.standby.day: "
                "`day` applies only to month-based periods, not every '2 weeks'; remove "
                "`day` (weekly charges are dated on the period's first or last day)"
            ),
        ],
    ),
    (
        "duplicate_key.yaml",
        [
            (
                "duplicate_key.yaml:12:7: $.projects.acme.milestones.kickoff: duplicate key "
                "'kickoff': already defined at duplicate_key.yaml:11:7; remove one of them"
            ),
        ],
    ),
    (
        "duplicate_project",
        [
            (
                "duplicate_project/b.yaml:4:3: $.projects.acme: projects.acme is defined "
                "twice: already at duplicate_project/a.yaml:7:3; keep one definition"
            ),
        ],
    ),
    (
        "empty_directory",
        [
            (
                "empty_directory:1:1: $: no *.yaml or *.yml files in this directory; point "
                "billplan at the directory that holds the plan's files"
            ),
        ],
    ),
    (
        "end_and_count.yaml",
        [
            (
                "end_and_count.yaml:11:96: $.projects.acme.recurring.support.count: give "
                "either `end` or `count`, not both"
            ),
        ],
    ),
    (
        "end_before_start.yaml",
        [
            (
                "end_before_start.yaml:15:14: $.projects.acme.recurring.support.end: end "
                "2026-05-31 is before start 2026-06-01; `end` is the last day of service and "
                "must be on or after `start`"
            ),
        ],
    ),
    (
        "escalate_without_percent_sign.yaml",
        [
            (
                "escalate_without_percent_sign.yaml:17:24: "
                "$.projects.acme.recurring.support.escalate.by: expected a percentage such "
                "as 3% or -2%, got a number 3"
            ),
        ],
    ),
    (
        "february_30.yaml",
        [
            (
                "february_30.yaml:11:45: $.projects.acme.milestones.kickoff.date: 2026-02-30 "
                "is not a real calendar date: February 2026 has 28 days"
            ),
        ],
    ),
    (
        "first_step_after_start.yaml",
        [
            (
                "first_step_after_start.yaml:16:26: "
                "$.projects.acme.recurring.support.amounts[0].from: the first step starts "
                "2026-02-01, after the charge starts 2026-01-01; the first `from` must be on "
                "or before `start`"
            ),
        ],
    ),
    (
        "foreign_provider_options.yaml",
        [
            (
                "foreign_provider_options.yaml:10:13: $.projects.acme.wethod: `wethod` "
                "options do not apply here: this project's provider is a ruddr connection; "
                "remove them or move them to a wethod project"
            ),
        ],
    ),
    (
        "thousands_separator_in_amount.yaml",
        [
            (
                "thousands_separator_in_amount.yaml:11:65: "
                "$.projects.acme.milestones.kickoff.amount: expected an amount such as "
                "15000, 1234.50 or -250 (no currency symbol, no separators such as 1,000 or "
                "1_000), got '10_000'"
            ),
        ],
    ),
    (
        "impossible_holiday.yaml",
        [
            (
                "impossible_holiday.yaml:5:50: $.defaults.holidays[1]: 2026-13-01 is not a "
                "real calendar date: there is no month 13"
            ),
        ],
    ),
    (
        "jpy_with_decimals.yaml",
        [
            (
                "jpy_with_decimals.yaml:12:65: $.projects.acme.milestones.kickoff.amount: "
                "1500000.50 has 2 decimals but JPY allows 0; write it as a whole number"
            ),
        ],
    ),
    (
        "lowercase_currency.yaml",
        [
            (
                "lowercase_currency.yaml:10:15: $.projects.acme.currency: expected a "
                "three-letter currency code such as USD, EUR or JPY, got 'usd'"
            ),
        ],
    ),
    (
        "milestone_without_price.yaml",
        [
            (
                "milestone_without_price.yaml:11:16: $.projects.acme.milestones.kickoff: a "
                "milestone needs exactly one of `amount`, `quantity` with `rate`, `percent` "
                "or `split` (found none)"
            ),
        ],
    ),
    (
        "missing_currency.yaml",
        [
            (
                "missing_currency.yaml:10:16: $.projects.acme.milestones.kickoff: no "
                "currency: set `currency` under defaults, on the project or on the charge"
            ),
        ],
    ),
    (
        "missing_project_id.yaml",
        [
            (
                "missing_project_id.yaml:7:3: $.projects.acme: `project_id` is required here "
                "but missing; add it"
            ),
        ],
    ),
    (
        "on_completion_on_ruddr.yaml",
        [
            (
                "on_completion_on_ruddr.yaml:11:53: "
                "$.projects.acme.milestones.launch.on_completion: `on_completion` needs a "
                "provider that bills when a task completes (kantata); project 'acme' uses "
                "'ruddr' (ruddr); give a `date` instead"
            ),
        ],
    ),
    (
        "open_ended_without_horizon.yaml",
        [
            (
                "open_ended_without_horizon.yaml:11:16: $.projects.acme.recurring.support: "
                "an open-ended charge needs `end`, `count`, or a `horizon` (on the charge or "
                "under defaults) saying how far ahead to bill"
            ),
        ],
    ),
    (
        "percent_without_contract_value.yaml",
        [
            (
                "percent_without_contract_value.yaml:11:67: "
                "$.projects.acme.milestones.signoff.percent: `percent` is a share of the "
                "project's `contract_value`, which is not set; add `contract_value` to the "
                "project"
            ),
        ],
    ),
    (
        "period_in_milestone_description.yaml",
        [
            (
                "period_in_milestone_description.yaml:11:30: "
                "$.projects.acme.milestones.kickoff.description: undefined in template: "
                "`period.label`: `period` is empty for this item (milestones and one-off "
                "products have no period)"
            ),
        ],
    ),
    (
        "policy_in_two_files",
        [
            (
                "policy_in_two_files/rules.yaml:2:1: $.policy: `policy:` is already in "
                "another file, at policy_in_two_files/plan.yaml:6:1; a plan keeps its policy "
                "in one file: move these rules there"
            ),
        ],
    ),
    (
        "policy_limits.yaml",
        [
            (
                "policy_limits.yaml:7:25: $.policy.largest_change.USD: 100000.001 has 3 "
                "decimals but USD allows 2; write it with at most 2 decimals"
            ),
            (
                "policy_limits.yaml:7:42: $.policy.largest_change.JPY: 1.5 has 1 decimals "
                "but JPY allows 0; write it as a whole number"
            ),
            "policy_limits.yaml:8:23: $.policy.large_delete.EUR: must be at least 0, got -5",
            (
                "policy_limits.yaml:8:27: $.policy.large_delete.usd: the name 'usd' is not "
                "allowed: use a three-letter currency code such as USD, EUR or JPY"
            ),
            "policy_limits.yaml:9:15: $.policy.past_dates: 'never' is not one of: refuse, allow",
        ],
    ),
    (
        "project_is_a_list.yaml",
        [
            (
                "project_is_a_list.yaml:7:9: $.projects.acme: expected a mapping (key: value "
                "lines), got a list"
            ),
        ],
    ),
    (
        "python_object.yaml",
        [
            (
                "python_object.yaml:4:10: $.providers.ruddr: YAML tag "
                "!!python/object:subprocess.Popen is not allowed in a plan; write plain YAML "
                "values only"
            ),
        ],
    ),
    (
        "python_object_tag.yaml",
        [
            (
                "python_object_tag.yaml:11:16: $.projects.acme.milestones.kickoff: YAML tag "
                "!!python/object/apply:os.system is not allowed in a plan; write plain YAML "
                "values only"
            ),
        ],
    ),
    (
        "several_errors.yaml",
        [
            (
                "several_errors.yaml:11:45: $.projects.acme.milestones.kickoff.date: "
                "2026-02-30 is not a real calendar date: February 2026 has 28 days"
            ),
            (
                "several_errors.yaml:12:63: $.projects.acme.milestones.design.amount: "
                "expected an amount such as 15000, 1234.50 or -250 (no currency symbol, no "
                "separators such as 1,000 or 1_000), got 'ten'"
            ),
            (
                "several_errors.yaml:13:7: $.projects.acme.milestones.launch: `description` "
                "is required here but missing; add it"
            ),
            (
                "several_errors.yaml:13:16: $.projects.acme.milestones.launch.descripton: "
                "unknown key 'descripton'; did you mean 'description'?"
            ),
            (
                "several_errors.yaml:15:77: $.projects.acme.recurring.support.end: end "
                "2026-01-31 is before start 2026-06-01; `end` is the last day of service and "
                "must be on or after `start`"
            ),
        ],
    ),
    (
        "share_and_weight_mixed.yaml",
        [
            (
                "share_and_weight_mixed.yaml:16:13: "
                "$.projects.acme.milestones.delivery.split.parts: split parts use `share` "
                "(percentages) or `weight` (relative numbers), not both"
            ),
        ],
    ),
    (
        "shares_sum_to_99.yaml",
        [
            (
                "shares_sum_to_99.yaml:16:13: "
                "$.projects.acme.milestones.delivery.split.parts: shares sum to 99%, not "
                "100%; adjust them so they add up exactly"
            ),
        ],
    ),
    (
        "split_part_without_date.yaml",
        [
            (
                "split_part_without_date.yaml:16:21: "
                "$.projects.acme.milestones.delivery.split.parts.design: a split part needs "
                "exactly one of `date` or `on_completion` (neither given)"
            ),
        ],
    ),
    (
        "template_leaves_charge_incomplete.yaml",
        [
            (
                "template_leaves_charge_incomplete.yaml:13:16: "
                "$.projects.acme.recurring.support: a recurring charge needs exactly one of "
                "`amount` or `amounts` (neither given) (after applying template "
                "'monthly-retainer')"
            ),
        ],
    ),
    (
        "template_python_internals.yaml",
        [
            (
                "template_python_internals.yaml:11:30: "
                "$.projects.acme.milestones.kickoff.description: template refused: access to "
                "attribute '__class__' of 'str' object is unsafe; templates may only use the "
                "documented context and filters"
            ),
        ],
    ),
    (
        "top_level_list.yaml",
        [
            (
                "top_level_list.yaml:2:1: $: a plan file must be a mapping of sections at "
                "the top (version:, providers:, projects:, ...), not a list"
            ),
        ],
    ),
    (
        "undefined_provider.yaml",
        [
            (
                "undefined_provider.yaml:8:15: $.projects.acme.provider: provider 'rudr' is "
                "not defined under `providers` (defined: ruddr)"
            ),
        ],
    ),
    (
        "undefined_template.yaml",
        [
            (
                "undefined_template.yaml:13:22: $.projects.acme.recurring.support.use: "
                "template 'monthly-retainr' is not defined (defined: monthly-retainer)"
            ),
        ],
    ),
    (
        "undefined_template_variable.yaml",
        [
            (
                "undefined_template_variable.yaml:12:30: "
                "$.projects.acme.milestones.kickoff.description: undefined in template: "
                "`vars.owner` is not defined (vars has: pm); add `owner` under `vars:`"
            ),
        ],
    ),
    (
        "unknown_filter.yaml",
        [
            (
                "unknown_filter.yaml:11:30: $.projects.acme.milestones.kickoff.description: "
                "template syntax error: no filter named 'month'; billplan's filters are "
                "month_name, month_abbr, quarter, date(fmt), money (template line 1)"
            ),
        ],
    ),
    (
        "unknown_key_typo.yaml",
        [
            (
                "unknown_key_typo.yaml:11:16: $.projects.acme.milestones.kickoff: a "
                "milestone needs exactly one of `amount`, `quantity` with `rate`, `percent` "
                "or `split` (found none)"
            ),
            (
                "unknown_key_typo.yaml:11:57: $.projects.acme.milestones.kickoff.ammount: "
                "unknown key 'ammount'; did you mean 'amount'?"
            ),
        ],
    ),
    (
        "unknown_provider_type.yaml",
        [
            (
                "unknown_provider_type.yaml:4:17: $.providers.books.type: 'xero' is not one "
                "of: ruddr, kantata, wethod, coperniq"
            ),
        ],
    ),
    (
        "unknown_top_level_key.yaml",
        [
            (
                "unknown_top_level_key.yaml:2:1: $: `projects` is required here but missing; "
                "add it at the top of the plan"
            ),
            (
                "unknown_top_level_key.yaml:6:1: $.project: unknown key 'project'; did you "
                "mean 'projects'?"
            ),
        ],
    ),
    (
        "usd_three_decimals.yaml",
        [
            (
                "usd_three_decimals.yaml:11:65: $.projects.acme.milestones.kickoff.amount: "
                "10.005 has 3 decimals but USD allows 2; write it with at most 2 decimals"
            ),
        ],
    ),
    (
        "version_2.yaml",
        [
            "version_2.yaml:2:10: $.version: must be 1",
        ],
    ),
    (
        "yaml_bad_indentation.yaml",
        [
            (
                "yaml_bad_indentation.yaml:9:4: $: YAML syntax error: expected <block end>, "
                "but found '<block mapping start>' (while parsing a block mapping that "
                "starts at line 7); check the indentation: this line does not line up with "
                "the keys above it"
            ),
        ],
    ),
    (
        "yaml_merge_key.yaml",
        [
            (
                "yaml_merge_key.yaml:13:9: $.projects.acme.milestones.review: YAML merge "
                "keys (<<) are not supported; share settings with a template and `use:` "
                "instead"
            ),
        ],
    ),
    (
        "yaml_tab_indentation.yaml",
        [
            (
                "yaml_tab_indentation.yaml:10:1: $: YAML syntax error: found character '\\t' "
                "that cannot start any token (while scanning for the next token); indent "
                "with spaces, not tabs"
            ),
        ],
    ),
    (
        "yaml_unclosed_brace.yaml",
        [
            (
                "yaml_unclosed_brace.yaml:12:1: $: YAML syntax error: expected ',' or '}', "
                "but got '<stream end>' (while parsing a flow mapping that starts at line "
                "11); close the [ ... ] or { ... } that was opened, or add the missing comma"
            ),
        ],
    ),
    (
        "yaml_undefined_alias.yaml",
        [
            (
                "yaml_undefined_alias.yaml:11:16: $: YAML syntax error: found undefined "
                "alias 'base'; define the anchor (&name) before using it (*name)"
            ),
        ],
    ),
    (
        "yaml_unquoted_colon.yaml",
        [
            (
                "yaml_unquoted_colon.yaml:12:29: $: YAML syntax error: mapping values are "
                'not allowed here; quote a value that contains ": ", e.g. description: '
                '"Phase: one", or check the indentation'
            ),
        ],
    ),
    (
        "zero_weight.yaml",
        [
            (
                "zero_weight.yaml:16:48: "
                "$.projects.acme.milestones.delivery.split.parts.design.weight: a weight "
                "must be more than 0; remove the part to bill nothing"
            ),
        ],
    ),
]


@pytest.mark.parametrize(("name", "expected"), BAD_PLANS, ids=[name for name, _ in BAD_PLANS])
def test_each_bad_plan_reports_exactly_its_diagnostics(
    name: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BAD_PLANS_DIR)
    checked = check(Path(name), AS_OF)
    assert [str(d) for d in checked.diagnostics] == expected
    assert checked.items == []


def test_every_bad_plan_on_disk_is_in_the_table_and_there_are_at_least_35() -> None:
    on_disk = sorted(p.name for p in BAD_PLANS_DIR.iterdir())
    assert on_disk == sorted(name for name, _ in BAD_PLANS)
    assert len(on_disk) >= 35


def test_each_bad_plan_file_says_what_is_wrong_on_its_first_line() -> None:
    for path in BAD_PLANS_DIR.rglob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# ") and len(first) > 10, path


def test_several_errors_in_one_plan_are_reported_together_sorted_by_line_and_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(BAD_PLANS_DIR)
    checked = check(Path("several_errors.yaml"), AS_OF)
    places = [(d.mark.line, d.mark.col) for d in checked.diagnostics]
    assert places == [(11, 45), (12, 63), (13, 7), (13, 16), (15, 77)]


def test_a_duplicate_project_across_files_names_both_places(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(BAD_PLANS_DIR)
    (diagnostic,) = check(Path("duplicate_project"), AS_OF).diagnostics
    assert str(diagnostic.mark) == "duplicate_project/b.yaml:4:3"
    assert "already at duplicate_project/a.yaml:7:3" in diagnostic.message


def run_validate(*args: str, github: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    env["PYTHONPATH"] = str(ROOT)
    if github:
        env["GITHUB_ACTIONS"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "compiler", "validate", *args, "--as-of", "2026-01-01"],
        cwd=BAD_PLANS_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_validate_in_github_actions_prints_an_error_annotation_per_diagnostic() -> None:
    result = run_validate("several_errors.yaml", github=True)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "::error file=several_errors.yaml,line=11,col=45::$.projects.acme.milestones.kickoff.date: "
        "2026-02-30 is not a real calendar date: February 2026 has 28 days",
        "::error file=several_errors.yaml,line=12,col=63::"
        "$.projects.acme.milestones.design.amount: expected an amount such as 15000, 1234.50 "
        "or -250 (no currency symbol, no separators such as 1,000 or 1_000), got 'ten'",
        "::error file=several_errors.yaml,line=13,col=7::$.projects.acme.milestones.launch: "
        "`description` is required here but missing; add it",
        "::error file=several_errors.yaml,line=13,col=16::"
        "$.projects.acme.milestones.launch.descripton: unknown key 'descripton'; did you mean "
        "'description'?",
        "::error file=several_errors.yaml,line=15,col=77::$.projects.acme.recurring.support.end: "
        "end 2026-01-31 is before start 2026-06-01; `end` is the last day of service and must "
        "be on or after `start`",
    ]
    assert result.stderr.splitlines()[-1] == "5 errors found."


def test_github_annotations_escape_percent_signs_in_the_message() -> None:
    result = run_validate("shares_sum_to_99.yaml", github=True)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "::error file=shares_sum_to_99.yaml,line=16,col=13::"
        "$.projects.acme.milestones.delivery.split.parts: shares sum to 99%25, not 100%25; "
        "adjust them so they add up exactly"
    ]


def test_validate_outside_github_actions_prints_no_annotations() -> None:
    result = run_validate("several_errors.yaml", github=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "several_errors.yaml:11:45: $.projects.acme.milestones.kickoff.date:" in result.stderr


def test_validate_in_process_fails_when_any_of_several_paths_is_bad(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(BAD_PLANS_DIR)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code = main(["validate", "february_30.yaml", "cap_exceeded.yaml", "--as-of", "2026-01-01"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [line.split("::")[1] for line in out] == [
        "error file=february_30.yaml,line=11,col=45",
        "error file=cap_exceeded.yaml,line=10,col=10",
    ]
