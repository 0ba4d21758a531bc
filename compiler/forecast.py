"""The cash view: what a plan schedules for billing, per month, project and currency.

Computed from the expanded items alone (`check(path, as_of)`): no vendor call, no state. It
answers "what will we bill, and when" from what the plan says, not from what the vendors
hold (that difference is `billplan plan`'s billing impact).

- A dated item counts in the month of its date (YYYY-MM).
- An on-completion item (billed when a task is done; no date) is never dropped: it counts in
  its own "on completion" row, after the months, whatever the month range.
- Amounts of different currencies are never added together: every total is per currency.
- `--from` / `--to` (YYYY-MM, both inclusive) keep the months in that range; the totals are
  of what is shown.

Output formats (`billplan forecast PATH --format ...`):

- table: one section per month, a row per project and currency (items, amount), the
  month's total per currency, and the total of all rows per currency at the end.
- csv: header `month,project,currency,amount,items`, one row per month, project and
  currency, in month order (on completion last), then project and currency order.
- json: `{"format_version": "1", "as_of", "from", "to", "months": [{"month", "projects":
  {project: {currency: amount}}, "totals": {currency: amount}}], "projects": {project:
  {currency: amount}}, "totals": {currency: amount}}`. Amounts are strings with exactly the
  currency's decimals, as in `billplan render --format json`; "on completion" is the month
  of on-completion items.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from compiler.model import Item
from compiler.money import format_amount, format_grouped
from compiler.render.safe import markup

FORECAST_FORMAT_VERSION = "1"
ON_COMPLETION = "on completion"
CSV_COLUMNS = ("month", "project", "currency", "amount", "items")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class MonthError(ValueError):
    pass


def parse_month(text: str, option: str) -> str:
    """A YYYY-MM month as given to `option`, or MonthError saying what is wrong."""
    found = _MONTH.fullmatch(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise MonthError(f"{option} {text!r} is not a month like 2026-01")
    return found.group(0)


@dataclass(frozen=True)
class Line:
    """The sum of one project's items in one month and currency."""

    month: str  # YYYY-MM, or ON_COMPLETION
    project: str
    currency: str
    amount: Decimal
    items: int


@dataclass(frozen=True)
class Forecast:
    as_of: date
    start: str | None  # first month shown (YYYY-MM), or None for all
    end: str | None  # last month shown, or None for all
    lines: list[Line]  # month order (on completion last), then project, then currency

    @property
    def months(self) -> list[str]:
        return list(dict.fromkeys(line.month for line in self.lines))

    def month_totals(self, month: str) -> dict[str, tuple[Decimal, int]]:
        return _sum((line for line in self.lines if line.month == month), key=lambda _: "").get(
            "", {}
        )

    def project_totals(self) -> dict[str, dict[str, tuple[Decimal, int]]]:
        return _sum(self.lines, key=lambda line: line.project)

    def totals(self) -> dict[str, tuple[Decimal, int]]:
        return _sum(self.lines, key=lambda _: "").get("", {})


def _sum(lines: Iterable[Line], key: Any) -> dict[str, dict[str, tuple[Decimal, int]]]:
    """Per key, per currency: (amount, items); never across currencies."""
    amounts: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        amounts[key(line)][line.currency] += line.amount
        counts[key(line)][line.currency] += line.items
    return {
        k: {code: (amounts[k][code], counts[k][code]) for code in sorted(amounts[k])}
        for k in sorted(amounts)
    }


def forecast(
    items: Iterable[Item], as_of: date, start: str | None = None, end: str | None = None
) -> Forecast:
    """Sum the items per (month, project, currency), keeping months in [start, end]."""
    if start is not None and end is not None and start > end:
        raise MonthError(f"--from {start} is after --to {end}: nothing would be shown")
    amounts: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for item in items:
        month = item.date.strftime("%Y-%m") if item.date is not None else ON_COMPLETION
        if item.date is not None and (
            (start is not None and month < start) or (end is not None and month > end)
        ):
            continue
        key = (month, item.project, item.currency)
        amounts[key] += item.amount
        counts[key] += 1
    order = sorted(amounts, key=lambda k: (k[0] == ON_COMPLETION, k))
    lines = [Line(m, p, c, amounts[(m, p, c)], counts[(m, p, c)]) for m, p, c in order]
    return Forecast(as_of=as_of, start=start, end=end, lines=lines)


def _money(per_currency: dict[str, tuple[Decimal, int]]) -> dict[str, str]:
    return {code: format_amount(amount, code) for code, (amount, _) in per_currency.items()}


def to_json(result: Forecast) -> str:
    months = []
    for month in result.months:
        projects: dict[str, dict[str, str]] = defaultdict(dict)
        for line in result.lines:
            if line.month == month:
                projects[line.project][line.currency] = format_amount(line.amount, line.currency)
        months.append(
            {
                "month": month,
                "projects": dict(projects),
                "totals": _money(result.month_totals(month)),
            }
        )
    document = {
        "format_version": FORECAST_FORMAT_VERSION,
        "as_of": result.as_of.isoformat(),
        "from": result.start,
        "to": result.end,
        "months": months,
        "projects": {p: _money(per) for p, per in result.project_totals().items()},
        "totals": _money(result.totals()),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_csv(result: Forecast) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in result.lines:
        amount = format_amount(line.amount, line.currency)
        writer.writerow((line.month, line.project, line.currency, amount, line.items))
    return buffer.getvalue()


def print_table(result: Forecast, console: Console) -> None:
    """Months as rows: each project's sum, the month's total per currency, a grand total."""
    if not result.lines:
        console.print("No items: the plan bills nothing in this window.")
        return
    table = Table(show_edge=False, title="Scheduled billing", title_justify="left")
    table.add_column("Month", no_wrap=True)
    table.add_column("Project", overflow="fold")
    table.add_column("Items", justify="right", no_wrap=True)
    table.add_column("Amount", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for month in result.months:
        first = True
        for line in result.lines:
            if line.month != month:
                continue
            table.add_row(month if first else "", markup(line.project), str(line.items),
                          format_grouped(line.amount, line.currency),
                          markup(line.currency))  # fmt: skip
            first = False
        for code, (amount, count) in result.month_totals(month).items():
            table.add_row("", "[bold]Month total[/bold]", str(count),
                          f"[bold]{format_grouped(amount, code)}[/bold]", markup(code))  # fmt: skip
        table.add_section()
    for code, (amount, count) in result.totals().items():
        table.add_row("[bold]Total[/bold]", "", str(count),
                      f"[bold]{format_grouped(amount, code)}[/bold]", markup(code))  # fmt: skip
    console.print(table)
