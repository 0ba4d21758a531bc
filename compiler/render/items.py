"""Rendering expanded Items: a table for people, JSON and CSV for machines.

The JSON shape is documented in README.md under "Output formats" and versioned by
`format_version`; within a major version, changes are additive only. In CSV, which has no
escapes, user text is shown as in the table: control, bidi and invisible characters as
escapes (`\\x1b`), so every item is one line.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from compiler.model import Item
from compiler.money import format_amount, format_grouped
from compiler.render.safe import markup, visible
from compiler.schedule import Period

ITEMS_FORMAT_VERSION = "1"
CSV_COLUMNS = (
    "address", "project", "kind", "charge", "label", "date", "period_start", "period_end",
    "description", "quantity", "rate", "amount", "currency", "provider", "task",
)  # fmt: skip


def item_record(item: Item) -> dict[str, Any]:
    """One item as plain JSON values: decimals as strings, dates as ISO strings."""
    return {
        "address": item.address,
        "project": item.project,
        "kind": item.kind,
        "charge": item.charge,
        "label": item.label,
        "date": _iso(item.date),
        "period": None
        if item.period is None
        else {"start": item.period.start.isoformat(), "end": item.period.end.isoformat()},
        "description": item.description,
        "quantity": _decimal(item.quantity),
        "rate": _decimal(item.rate),
        "amount": format_amount(item.amount, item.currency),
        "currency": item.currency,
        "provider": item.provider,
        "task": None if item.task is None else str(item.task),
    }


def totals(items: Iterable[Item]) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for item in items:
        out[item.project][item.currency] += item.amount
    return {project: dict(per) for project, per in out.items()}


def to_json(items: list[Item], as_of: date, records: Sequence[str] | None = None) -> str:
    """The documented JSON document, exactly as json.dumps(indent=2, ensure_ascii=False)
    writes it, built line by line: the standard library's indenting encoder is pure Python
    and the slowest part of rendering a large plan (tests/test_portfolio.py holds the two
    identical). records: each item's, made already by json_record() (validate.check makes
    them where the items were made)."""
    sums = totals(items)
    out = [
        "{\n",
        f'  "format_version": {_text(ITEMS_FORMAT_VERSION)},\n',
        f'  "as_of": {_text(as_of.isoformat())},\n',
        '  "items": ',
    ]
    if items:
        out.append("[\n")
        out.append(",\n".join(records if records is not None else map(_ItemJson(), items)))
        out.append("\n  ],\n")
    else:
        out.append("[],\n")
    out.append('  "totals": ')
    if sums:
        blocks = []
        for project, per in sums.items():
            lines = ",\n".join(
                f"      {_text(code)}: {_text(format_amount(amount, code))}"
                for code, amount in per.items()
            )
            blocks.append(f"    {_text(project)}: {{\n{lines}\n    }}")
        out.append("{\n" + ",\n".join(blocks) + "\n  }\n")
    else:
        out.append("{}\n")
    out.append("}\n")
    return "".join(out)


# What json.dumps(ensure_ascii=False) writes for a str (the C implementation when present).
_encode_text = json.encoder.encode_basestring


def _text(value: str | None) -> str:
    return "null" if value is None else _encode_text(value)


class _ItemJson:
    """item_record(item) as json.dumps(indent=2) writes it inside the items list.

    Dates and numbers are written between quotes as they are: their text has nothing JSON
    escapes. Each amount is formatted once per currency (a charge's items mostly bill the
    same one), looked up without allocating: after a large plan is checked, the cycle
    collector's first passes walk everything it built, and allocating containers here would
    start them.
    """

    def __init__(self) -> None:
        self.amounts: dict[str, dict[Decimal, str]] = {}  # currency -> amount -> text

    def __call__(self, item: Item) -> str:
        currency = item.currency
        amounts = self.amounts.get(currency)
        if amounts is None:
            amounts = self.amounts[currency] = {}
        amount = amounts.get(item.amount)
        if amount is None:
            amount = amounts[item.amount] = format_amount(item.amount, currency)
        day, quantity, rate = item.date, item.quantity, item.rate
        return (
            "    {\n"
            f'      "address": {_text(item.address)},\n'
            f'      "project": {_text(item.project)},\n'
            f'      "kind": {_text(item.kind)},\n'
            f'      "charge": {_text(item.charge)},\n'
            f'      "label": {_text(item.label)},\n'
            f'      "date": {_quoted(day.isoformat() if day is not None else None)},\n'
            f'      "period": {_period(item.period)},\n'
            f'      "description": {_text(item.description)},\n'
            f'      "quantity": {_quoted(None if quantity is None else str(quantity))},\n'
            f'      "rate": {_quoted(None if rate is None else str(rate))},\n'
            f'      "amount": "{amount}",\n'
            f'      "currency": {_text(currency)},\n'
            f'      "provider": {_text(item.provider)},\n'
            f'      "task": {_text(None if item.task is None else str(item.task))}\n'
            "    }"
        )


def json_record() -> Callable[[Item], str]:
    """What makes each item's record in to_json's items list (one per process: it keeps
    each amount's text once formatted)."""
    return _ItemJson()


def _quoted(value: str | None) -> str:
    """A JSON string of text that holds nothing JSON escapes (an ISO date, a number)."""
    return "null" if value is None else f'"{value}"'


def _period(period: Period | None) -> str:
    if period is None:
        return "null"
    return (
        f'{{\n        "start": "{period.start.isoformat()}",\n'
        f'        "end": "{period.end.isoformat()}"\n      }}'
    )


def to_csv(items: list[Item]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in items:
        record = item_record(item)
        period = record.pop("period") or {}
        record["period_start"] = period.get("start")
        record["period_end"] = period.get("end")
        # CSV has no escapes of its own: hidden characters are shown as the text views show
        # them (compiler.render.safe), so that each item is one line, safe on a terminal.
        writer.writerow({k: visible(v) if isinstance(v, str) else v for k, v in record.items()})
    return buffer.getvalue()


def print_table(items: list[Item], console: Console) -> None:
    """Items grouped by project, in date order, amounts aligned, a total per currency."""
    by_project: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_project[item.project].append(item)
    if not items:
        console.print("No items: the plan bills nothing in this window.")
        return
    sums = totals(items)
    for project, rows in by_project.items():
        first = rows[0]
        table = Table(
            title=f"[bold]{markup(project)}[/bold]  "
            f"({markup(first.provider)}, project {markup(first.project_id)})",
            title_justify="left",
            show_edge=False,
            expand=False,
        )
        table.add_column("Date", no_wrap=True)
        table.add_column("Item", no_wrap=True)
        table.add_column("Description", overflow="fold")
        table.add_column("Amount", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
        for item in rows:
            when = item.date.isoformat() if item.date else f"on task {markup(item.task)}"
            table.add_row(  # cells are rich markup: user text goes in escaped
                when,
                markup(item.address.removeprefix(f"{project}/")),
                markup(item.description),
                format_grouped(item.amount, item.currency),
                markup(item.currency),
            )
        table.add_section()
        for code, amount in sorted(sums[project].items()):
            # Each currency's total counts its own items: 3 USD lines and 1 EUR line, not 4 each.
            n = sum(1 for item in rows if item.currency == code)
            label = f"Total ({n} item{'' if n == 1 else 's'})"
            table.add_row("", f"[bold]{label}[/bold]", "",
                          f"[bold]{format_grouped(amount, code)}[/bold]", markup(code))  # fmt: skip
        console.print(table)
        console.print()


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
