"""The front half of the command line: validate, render (table, json, csv), schema, as-of.

The JSON shape is the one README.md documents under "Output formats"; scripts depend on it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compiler.cli import main

WritePlan = Callable[..., Path]
Run = Callable[..., tuple[int, str, str]]

PLAN = """
projects:
  cloud-infra:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    recurring:
      retainer:
        description: "Retainer {{ period.start | month_name }}"
        every: month
        start: 2026-01-16
        end: 2026-02-28
        amount: 3100
    milestones:
      credit: {description: Credit, date: 2026-01-20, amount: -100}
  tokyo:
    provider: kantata
    project_id: 5521
    currency: JPY
    milestones:
      launch: {description: Go-live, on_completion: {task: 88123}, amount: 5000}
    recurring:
      hosting: {description: Hosting, every: month, start: 2026-01-16, count: 1, amount: 10000}
  kuwait:
    provider: ruddr
    project_id: 9
    currency: KWD
    products:
      seats: {description: Seats, quantity: 3, rate: "1.2345", date: 2026-03-01}
"""

ITEM_KEYS = {
    "address", "project", "kind", "charge", "label", "date", "period", "description",
    "quantity", "rate", "amount", "currency", "provider", "task",
}  # fmt: skip


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """run(*argv) -> (exit code, stdout, stderr), in process."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("BILLPLAN_AS_OF", raising=False)
    monkeypatch.delenv("BILLPLAN_MAX_ITEMS", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def render_json(run: Run, path: Path, *extra: str) -> dict[str, Any]:
    code, out, err = run("render", str(path), "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


# --- validate -----------------------------------------------------------------------------------


def test_validate_exits_0_and_says_what_it_checked_for_a_good_plan(
    write_plan: WritePlan, run: Run
) -> None:
    path = write_plan(PLAN)
    code, out, err = run("validate", str(path), "--as-of", "2026-01-01")
    assert (code, err) == (0, "")
    assert out == f"{path}: valid (3 projects, 6 items as of 2026-01-01)\n"


def test_validate_exits_1_and_reports_each_error_with_a_count(
    write_plan: WritePlan, run: Run
) -> None:
    path = write_plan(PLAN.replace("end: 2026-02-28", "end: 2026-02-30"))
    code, out, err = run("validate", str(path), "--as-of", "2026-01-01")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{path}:17:14: $.projects.cloud-infra.recurring.retainer.end: 2026-02-30 is not a real "
        "calendar date: February 2026 has 28 days",
        "1 error found.",
    ]


# --- render --format json -------------------------------------------------------------------


def test_render_json_has_format_version_as_of_items_and_totals_and_nothing_else(
    write_plan: WritePlan, run: Run
) -> None:
    document = render_json(run, write_plan(PLAN), "--as-of", "2026-01-01")
    assert list(document) == ["format_version", "as_of", "items", "totals"]
    assert document["format_version"] == "1"
    assert document["as_of"] == "2026-01-01"


def test_render_json_items_have_exactly_the_documented_keys(
    write_plan: WritePlan, run: Run
) -> None:
    items = render_json(run, write_plan(PLAN), "--as-of", "2026-01-01")["items"]
    assert len(items) == 6
    assert all(set(item) == ITEM_KEYS for item in items)


def test_render_json_writes_a_recurring_item_with_its_period(
    write_plan: WritePlan, run: Run
) -> None:
    items = render_json(run, write_plan(PLAN), "--as-of", "2026-01-01")["items"]
    assert items[0] == {
        "address": "cloud-infra/recurring/retainer/2026-01",
        "project": "cloud-infra",
        "kind": "recurring",
        "charge": "retainer",
        "label": "2026-01",
        "date": "2026-01-16",
        "period": {"start": "2026-01-16", "end": "2026-01-31"},
        "description": "Retainer January",
        "quantity": None,
        "rate": None,
        "amount": "1600.00",
        "currency": "USD",
        "provider": "ruddr",
        "task": None,
    }


def test_render_json_writes_amounts_with_exactly_the_currencys_decimals(
    write_plan: WritePlan, run: Run
) -> None:
    items = render_json(run, write_plan(PLAN), "--as-of", "2026-01-01")["items"]
    amounts = {item["address"]: (item["amount"], item["currency"]) for item in items}
    assert amounts == {
        "cloud-infra/recurring/retainer/2026-01": ("1600.00", "USD"),
        "cloud-infra/milestones/credit": ("-100.00", "USD"),
        "cloud-infra/recurring/retainer/2026-02": ("3100.00", "USD"),
        "kuwait/products/seats": ("3.704", "KWD"),  # 3 x 1.2345 = 3.7035, half up
        "tokyo/recurring/hosting/2026-01": ("5161", "JPY"),
        "tokyo/milestones/launch": ("5000", "JPY"),
    }


def test_render_json_writes_quantity_rate_and_task_as_strings_and_period_null_for_one_offs(
    write_plan: WritePlan, run: Run
) -> None:
    items = render_json(run, write_plan(PLAN), "--as-of", "2026-01-01")["items"]
    by_address = {item["address"]: item for item in items}
    seats = by_address["kuwait/products/seats"]
    assert (seats["quantity"], seats["rate"], seats["period"]) == ("3", "1.2345", None)
    launch = by_address["tokyo/milestones/launch"]
    assert (launch["date"], launch["task"], launch["provider"]) == (None, "88123", "kantata")


def test_render_json_items_are_sorted_by_project_then_date(write_plan: WritePlan, run: Run) -> None:
    items = render_json(run, write_plan(PLAN), "--as-of", "2026-01-01")["items"]
    assert [item["address"] for item in items] == [
        "cloud-infra/recurring/retainer/2026-01",
        "cloud-infra/milestones/credit",
        "cloud-infra/recurring/retainer/2026-02",
        "kuwait/products/seats",
        "tokyo/recurring/hosting/2026-01",
        "tokyo/milestones/launch",
    ]


def test_render_json_totals_sum_each_project_per_currency_credits_included(
    write_plan: WritePlan, run: Run
) -> None:
    totals = render_json(run, write_plan(PLAN), "--as-of", "2026-01-01")["totals"]
    assert totals == {
        "cloud-infra": {"USD": "4600.00"},
        "kuwait": {"KWD": "3.704"},
        "tokyo": {"JPY": "10161"},
    }


def test_render_json_of_a_plan_without_items_has_empty_items_and_totals(
    write_plan: WritePlan, run: Run
) -> None:
    document = render_json(run, write_plan("projects: {}\n"), "--as-of", "2026-01-01")
    assert (document["items"], document["totals"]) == ([], {})


def test_render_of_a_bad_plan_exits_1_and_prints_no_items(write_plan: WritePlan, run: Run) -> None:
    path = write_plan(PLAN.replace("amount: 3100", "amount: lots"))
    code, out, err = run("render", str(path), "--format", "json", "--as-of", "2026-01-01")
    assert (code, out) == (1, "")
    assert "$.projects.cloud-infra.recurring.retainer.amount: expected an amount" in err


# --- render --format csv and table -----------------------------------------------------------


def test_render_csv_has_the_documented_header_and_one_row_per_item(
    write_plan: WritePlan, run: Run
) -> None:
    code, out, _ = run("render", str(write_plan(PLAN)), "--format", "csv", "--as-of", "2026-01-01")
    assert code == 0
    assert out.splitlines()[0] == (
        "address,project,kind,charge,label,date,period_start,period_end,description,quantity,"
        "rate,amount,currency,provider,task"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 6
    assert rows[0]["period_start"] == "2026-01-16" and rows[0]["amount"] == "1600.00"
    assert rows[-1]["task"] == "88123" and rows[-1]["date"] == ""


def test_render_table_shows_each_project_with_its_total(write_plan: WritePlan, run: Run) -> None:
    code, out, _ = run("render", str(write_plan(PLAN)), "--as-of", "2026-01-01")
    assert code == 0
    assert "cloud-infra  (ruddr, project d077258e-2158-4f34-aabd-97e971d0c18d)" in out
    assert "Retainer January" in out and "1,600.00" in out
    assert "on task 88123" in out
    totals = [line.split("│") for line in out.splitlines() if "Total (" in line]
    assert [(t[1].strip(), t[3].strip(), t[4].strip()) for t in totals] == [
        ("Total (3 items)", "4,600.00", "USD"),
        ("Total (1 item)", "3.704", "KWD"),
        ("Total (2 items)", "10,161", "JPY"),
    ]


def test_render_table_counts_the_items_of_each_currency_in_its_total(
    write_plan: WritePlan, run: Run
) -> None:
    plan = """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              a: {description: A, date: 2026-01-01, amount: 100}
              b: {description: B, date: 2026-01-02, amount: 200}
              c: {description: C, date: 2026-01-03, amount: 50, currency: EUR}
        """
    code, out, _ = run("render", str(write_plan(plan)), "--as-of", "2026-01-01")
    assert code == 0
    totals = [line.split("│") for line in out.splitlines() if "Total (" in line]
    assert [(t[1].strip(), t[3].strip(), t[4].strip()) for t in totals] == [
        ("Total (1 item)", "50.00", "EUR"),
        ("Total (2 items)", "300.00", "USD"),
    ]


def test_render_table_says_so_when_there_is_nothing_to_bill(
    write_plan: WritePlan, run: Run
) -> None:
    code, out, _ = run("render", str(write_plan("projects: {}\n")), "--as-of", "2026-01-01")
    assert (code, out) == (0, "No items: the plan bills nothing in this window.\n")


# --- schema -------------------------------------------------------------------------------------


def test_schema_prints_the_plan_json_schema(run: Run) -> None:
    code, out, _ = run("schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"version", "providers", "projects"} <= set(schema["properties"])


# --- as-of ----------------------------------------------------------------------------------------

OPEN_ENDED = """
projects:
  acme:
    provider: ruddr
    project_id: 1
    recurring:
      support: {description: Support, every: month, start: 2026-01-01, horizon: 1 month,
                amount: 100}
"""


def test_as_of_decides_how_far_an_open_ended_charge_is_billed(
    write_plan: WritePlan, run: Run
) -> None:
    path = write_plan(OPEN_ENDED)
    early = render_json(run, path, "--as-of", "2026-01-10")
    later = render_json(run, path, "--as-of", "2026-03-10")
    assert early["as_of"] == "2026-01-10"
    assert [i["label"] for i in early["items"]] == ["2026-01", "2026-02"]
    assert [i["label"] for i in later["items"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]


def test_billplan_as_of_in_the_environment_sets_as_of(
    write_plan: WritePlan, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLPLAN_AS_OF", "2026-03-10")
    document = render_json(run, write_plan(OPEN_ENDED))
    assert document["as_of"] == "2026-03-10"
    assert len(document["items"]) == 4


def test_the_as_of_option_wins_over_the_environment(
    write_plan: WritePlan, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLPLAN_AS_OF", "2026-03-10")
    document = render_json(run, write_plan(OPEN_ENDED), "--as-of", "2026-01-10")
    assert document["as_of"] == "2026-01-10"
    assert len(document["items"]) == 2


def test_validate_reports_the_as_of_it_used(
    write_plan: WritePlan, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLPLAN_AS_OF", "2026-03-10")
    code, out, _ = run("validate", str(write_plan(OPEN_ENDED)))
    assert code == 0
    assert out.endswith("valid (1 project, 4 items as of 2026-03-10)\n")


def test_an_as_of_that_is_not_a_date_stops_with_a_message(write_plan: WritePlan, run: Run) -> None:
    with pytest.raises(SystemExit) as stopped:
        run("render", str(write_plan(OPEN_ENDED)), "--as-of", "2026-02-30")
    assert str(stopped.value.code) == (
        "billplan: error: as-of date '2026-02-30' is not a date like 2026-01-31"
    )


# --- the item limit -------------------------------------------------------------------------------


def test_the_item_limit_is_set_per_run_with_max_items(write_plan: WritePlan, run: Run) -> None:
    path = write_plan(PLAN)
    code, out, err = run("validate", str(path), "--as-of", "2026-01-01", "--max-items", "5")
    assert (code, out) == (1, "")
    assert re.match(
        rf"{re.escape(str(path))}:\d+:\d+: \$\.projects\.[a-z.-]+: the plan expands to more "
        r"than 5 billing items with this charge('s periods)?, the most a plan may have; if the "
        r"plan really is that large, raise the limit with --max-items N "
        r"\(or BILLPLAN_MAX_ITEMS=N\)$",
        err.splitlines()[0],
    ), err
    code, out, err = run("validate", str(path), "--as-of", "2026-01-01", "--max-items", "6")
    assert (code, err) == (0, "")


def test_the_item_limit_may_come_from_the_environment_and_the_flag_wins(
    write_plan: WritePlan, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_plan(PLAN)
    monkeypatch.setenv("BILLPLAN_MAX_ITEMS", "5")
    assert run("render", str(path), "--as-of", "2026-01-01")[0] == 1
    assert run("render", str(path), "--as-of", "2026-01-01", "--max-items", "6")[0] == 0


def test_an_item_limit_that_is_not_a_number_is_refused(write_plan: WritePlan, run: Run) -> None:
    path = write_plan(PLAN)
    with pytest.raises(SystemExit, match=r"--max-items must be a whole number of at least 1"):
        run("validate", str(path), "--max-items", "lots")
