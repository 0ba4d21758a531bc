"""Rendering expanded Items: a table for people, JSON and CSV for machines.

The JSON shape is documented in README.md under "Output formats" and versioned by
`format_version`; within a major version, changes are additive only.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from compiler.model import Item
from compiler.money import format_amount, format_grouped

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


def to_json(items: list[Item], as_of: date) -> str:
    document = {
        "format_version": ITEMS_FORMAT_VERSION,
        "as_of": as_of.isoformat(),
        "items": [item_record(item) for item in items],
        "totals": {
            project: {code: format_amount(amount, code) for code, amount in per.items()}
            for project, per in totals(items).items()
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_csv(items: list[Item]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in items:
        record = item_record(item)
        period = record.pop("period") or {}
        record["period_start"] = period.get("start")
        record["period_end"] = period.get("end")
        writer.writerow(record)
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
            title=f"[bold]{project}[/bold]  ({first.provider}, project {first.project_id})",
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
            when = item.date.isoformat() if item.date else f"on task {item.task}"
            table.add_row(
                when,
                item.address.removeprefix(f"{project}/"),
                item.description,
                format_grouped(item.amount, item.currency),
                item.currency,
            )
        table.add_section()
        for code, amount in sorted(sums[project].items()):
            # Each currency's total counts its own items: 3 USD lines and 1 EUR line, not 4 each.
            n = sum(1 for item in rows if item.currency == code)
            label = f"Total ({n} item{'' if n == 1 else 's'})"
            table.add_row("", f"[bold]{label}[/bold]", "",
                          f"[bold]{format_grouped(amount, code)}[/bold]", code)  # fmt: skip
        console.print(table)
        console.print()


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
