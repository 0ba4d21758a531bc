"""`billplan forecast`: scheduled billing per month, project and currency, from the plan
alone. The figures are worked out by hand from the plan below; no vendor is called (the
plan names Kantata and Ruddr, and no sandbox or token is given).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from support import INVOICE_ITEM, PROJECT_ID, Run, billplan

from compiler.cli import main
from compiler.forecast import CSV_COLUMNS

# cascade (Kantata, USD): support 1,234.56 a month Jan-Mar; kickoff 10,000 on 01-15; a
# credit of -500 on 02-15; UAT 7,000 on completion of a task.
# cloud (Ruddr, EUR): design 3,000.10 on 01-20; licenses 3 x 33.33 on 02-01; launch
# 999.99 on 03-05 billed in USD.
PLAN = f"""\
version: 1
providers:
  kantata: {{type: kantata}}
  ruddr: {{type: ruddr}}
defaults:
  currency: USD
  ruddr: {{invoice_item: {INVOICE_ITEM}}}
projects:
  cascade:
    provider: kantata
    project_id: 41001
    recurring:
      support:
        description: "Support {{{{ period.label }}}}"
        every: month
        amount: 1234.56
        start: 2026-01-01
        end: 2026-03-31
    milestones:
      kickoff: {{description: Kickoff, date: 2026-01-15, amount: 10000}}
      credit: {{description: SLA credit, date: 2026-02-15, amount: -500}}
      uat: {{description: UAT signed off, on_completion: {{task: 88123}}, amount: 7000}}
  cloud:
    provider: ruddr
    project_id: {PROJECT_ID}
    currency: EUR
    milestones:
      design: {{description: Design, date: 2026-01-20, amount: 3000.10}}
      launch: {{description: Launch, date: 2026-03-05, amount: 999.99, currency: USD}}
    products:
      licenses: {{description: Licenses, quantity: 3, rate: 33.33, date: 2026-02-01}}
"""


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "billing" / "plan.yaml"
    path.parent.mkdir()
    path.write_text(PLAN, encoding="utf-8")
    return path.parent


def forecast(*args: str | Path) -> Run:
    return billplan("forecast", *args, "--as-of", "2026-01-01")


def test_json_gives_exact_sums_per_month_project_and_currency(plan: Path) -> None:
    run = forecast(plan, "--format", "json")

    assert run.code == 0, run.text
    assert json.loads(run.out) == {
        "format_version": "1",
        "as_of": "2026-01-01",
        "from": None,
        "to": None,
        "months": [
            {
                "month": "2026-01",
                "projects": {"cascade": {"USD": "11234.56"}, "cloud": {"EUR": "3000.10"}},
                "totals": {"EUR": "3000.10", "USD": "11234.56"},
            },
            {
                "month": "2026-02",
                "projects": {"cascade": {"USD": "734.56"}, "cloud": {"EUR": "99.99"}},
                "totals": {"EUR": "99.99", "USD": "734.56"},
            },
            {
                "month": "2026-03",
                "projects": {"cascade": {"USD": "1234.56"}, "cloud": {"USD": "999.99"}},
                "totals": {"USD": "2234.55"},
            },
            {
                "month": "on completion",
                "projects": {"cascade": {"USD": "7000.00"}},
                "totals": {"USD": "7000.00"},
            },
        ],
        "projects": {
            "cascade": {"USD": "20203.68"},
            "cloud": {"EUR": "3100.09", "USD": "999.99"},
        },
        "totals": {"EUR": "3100.09", "USD": "21203.67"},
    }


def test_csv_has_the_header_and_one_row_per_month_project_and_currency(plan: Path) -> None:
    run = forecast(plan, "--format", "csv")

    assert run.code == 0, run.text
    rows = list(csv.reader(io.StringIO(run.out)))
    assert tuple(rows[0]) == CSV_COLUMNS == ("month", "project", "currency", "amount", "items")
    assert rows[1:] == [
        ["2026-01", "cascade", "USD", "11234.56", "2"],
        ["2026-01", "cloud", "EUR", "3000.10", "1"],
        ["2026-02", "cascade", "USD", "734.56", "2"],
        ["2026-02", "cloud", "EUR", "99.99", "1"],
        ["2026-03", "cascade", "USD", "1234.56", "1"],
        ["2026-03", "cloud", "USD", "999.99", "1"],
        ["on completion", "cascade", "USD", "7000.00", "1"],
    ]


def test_the_table_shows_months_as_rows_with_totals_per_currency(plan: Path) -> None:
    run = forecast(plan)

    assert run.code == 0, run.text
    lines = [" ".join(line.replace("│", " ").split()) for line in run.out.splitlines()]
    assert "2026-01 cascade 2 11,234.56 USD" in lines
    assert "cloud 1 3,000.10 EUR" in lines
    assert "Month total 2 11,234.56 USD" in lines and "Month total 1 3,000.10 EUR" in lines
    assert "Month total 2 2,234.55 USD" in lines  # March: two projects, one currency
    assert "on completion cascade 1 7,000.00 USD" in lines
    assert "Total 7 21,203.67 USD" in lines and "Total 2 3,100.09 EUR" in lines


def test_a_month_range_keeps_its_months_and_the_on_completion_row(plan: Path) -> None:
    run = forecast(plan, "--format", "json", "--from", "2026-02", "--to", "2026-02")

    document = json.loads(run.out)
    assert (document["from"], document["to"]) == ("2026-02", "2026-02")
    assert [m["month"] for m in document["months"]] == ["2026-02", "on completion"]
    assert document["totals"] == {"EUR": "99.99", "USD": "7734.56"}


def test_from_alone_and_to_alone_are_open_ended(plan: Path) -> None:
    after = json.loads(forecast(plan, "--format", "json", "--from", "2026-03").out)
    before = json.loads(forecast(plan, "--format", "json", "--to", "2026-01").out)

    assert [m["month"] for m in after["months"]] == ["2026-03", "on completion"]
    assert [m["month"] for m in before["months"]] == ["2026-01", "on completion"]


def test_the_as_of_date_decides_where_open_ended_charges_start(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    open_ended = PLAN.replace("        end: 2026-03-31\n", "        horizon: 3 months\n")
    path.write_text(open_ended, encoding="utf-8")

    early = billplan("forecast", path, "--format", "json", "--as-of", "2026-01-01")
    late = billplan("forecast", path, "--format", "json", "--as-of", "2026-06-01")

    assert early.code == late.code == 0, early.text + late.text
    assert json.loads(late.out)["as_of"] == "2026-06-01"
    # Support periods start on or before as-of + 3 months: April, then September.
    months = [[m["month"] for m in json.loads(r.out)["months"]] for r in (early, late)]
    assert months[0] == ["2026-01", "2026-02", "2026-03", "2026-04", "on completion"]
    assert months[1] == [f"2026-{m:02d}" for m in range(1, 10)] + ["on completion"]


def test_a_plan_without_items_in_the_range_says_so(plan: Path) -> None:
    run = forecast(plan, "--from", "2030-01")

    assert run.code == 0
    assert "on completion" in run.out  # the on-completion item has no month: still shown
    empty = json.loads(
        forecast(plan, "--format", "json", "--from", "2030-01", "--to", "2030-12").out
    )
    assert [m["month"] for m in empty["months"]] == ["on completion"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-13"), "--from '2026-13' is not a month like 2026-01"),
        (("--to", "March"), "--to 'March' is not a month like 2026-01"),
        (("--from", "2026-1"), "--from '2026-1' is not a month like 2026-01"),
        (("--from", "2026-04", "--to", "2026-02"), "--from 2026-04 is after --to 2026-02"),
    ],
)
def test_a_bad_month_range_is_an_error(plan: Path, args: tuple[str, ...], message: str) -> None:
    run = forecast(plan, *args)

    assert run.code == 1
    assert message in run.errors
    assert run.out == ""


def test_a_bad_format_is_refused_by_the_parser(plan: Path) -> None:
    run = forecast(plan, "--format", "xlsx")

    assert run.code == 2
    assert "invalid choice: 'xlsx'" in run.err


def test_a_bad_as_of_date_stops_with_a_message(plan: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["forecast", str(plan), "--as-of", "2026-02-30"])

    assert stopped.value.code == (
        "billplan: error: as-of date '2026-02-30' is not a date like 2026-01-31"
    )


def test_an_invalid_plan_reports_where_and_prints_no_forecast(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace("amount: 10000}", "amount: lots}"), encoding="utf-8")

    run = billplan("forecast", path, "--as-of", "2026-01-01")

    assert run.code == 1
    assert f"{path}:" in run.err and "error found" in run.err
    assert run.out == ""


def test_a_missing_plan_is_an_error(tmp_path: Path) -> None:
    run = billplan("forecast", tmp_path / "nowhere", "--as-of", "2026-01-01")

    assert run.code == 1
    assert "nowhere" in run.err
    assert run.out == ""
