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
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any

from compiler.model import Item
from compiler.money import format_amount, format_grouped
from compiler.render.safe import markup, visible
from compiler.schedule import Period

if TYPE_CHECKING:
    from rich.console import Console

ITEMS_FORMAT_VERSION = "1"
# Between two item records in the JSON document, and so between two runs of them: a run
# made anywhere (compiler/halves.py makes a project's in either process) joins with it.
RECORD_SEPARATOR = ",\n"
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
    identical). records: the items' records made already by json_record(), in runs of one
    or more joined with RECORD_SEPARATOR (validate.check makes them where the items were
    made)."""
    return "".join(json_parts(items, as_of, records))


def json_parts(
    items: list[Item], as_of: date, records: Sequence[str] | None = None
) -> Iterator[str]:
    """to_json's document in parts, to be written one after another: 100,000 items make
    50 MB, which is never held whole (once joined, then copied again to be written, it took
    a tenth of a second). A part is a run of whole records, or the text between them; none
    begins or ends inside a string. Everything is made before the first part is given: a
    failure writes nothing, never half a document."""
    tail = _totals_json(totals(items))
    runs = records if records is not None else list(_runs(map(_ItemJson(), items)))
    yield "{\n"
    yield f'  "format_version": {_text(ITEMS_FORMAT_VERSION)},\n'
    yield f'  "as_of": {_text(as_of.isoformat())},\n'
    yield '  "items": '
    if items:
        yield "[\n"
        for number, run in enumerate(runs):
            if number:
                yield RECORD_SEPARATOR
            yield run
        yield "\n  ],\n"
    else:
        yield "[],\n"
    yield '  "totals": '
    yield tail
    yield "}\n"


def _totals_json(sums: dict[str, dict[str, Decimal]]) -> str:
    """The `totals` object, as json.dumps(indent=2) writes it at the document's top level."""
    if not sums:
        return "{}\n"
    blocks = []
    for project, per in sums.items():
        lines = ",\n".join(
            f"      {_text(code)}: {_text(format_amount(amount, code))}"
            for code, amount in per.items()
        )
        blocks.append(f"    {_text(project)}: {{\n{lines}\n    }}")
    return "{\n" + ",\n".join(blocks) + "\n  }\n"


def _runs(records: Iterator[str], size: int = 1000) -> Iterator[str]:
    """Records joined into runs of `size` (RECORD_SEPARATOR between them, as within a run)."""
    while run := list(islice(records, size)):
        yield RECORD_SEPARATOR.join(run)


# What json.dumps(ensure_ascii=False) writes for a str (the C implementation when present).
_encode_text = json.encoder.encode_basestring


def _text(value: str | None) -> str:
    return "null" if value is None else _encode_text(value)


class _ItemJson:
    """item_record(item) as json.dumps(indent=2) writes it inside the items list.

    Dates and numbers are written between quotes as they are: their text has nothing JSON
    escapes. What the items of a charge share (project, kind and charge; currency, provider
    and task) and what many items share (labels, dates, periods, amounts in a currency,
    which all have its digits) is written once and looked up after that: a large plan's
    render makes 100,000 records. Quantities and rates are written each time: equal numbers
    may be written with different digits (1.5, 1.50).
    """

    def __init__(self) -> None:
        self.amounts: dict[str, dict[Decimal, str]] = {}  # currency -> amount -> text
        self.heads: dict[tuple[str, str, str], str] = {}  # project, kind, charge
        self.tails: dict[tuple[str, str, str | int | None], str] = {}  # currency, provider, task
        self.texts: dict[str | None, str] = {}  # labels
        self.days: dict[date | None, str] = {}
        self.periods: dict[Period | None, str] = {}

    def __call__(self, item: Item) -> str:
        (address, project, kind, charge, label, day, period, description, quantity, rate,
         amount, currency, provider, _, _, task) = item[:16]  # fmt: skip
        if (head := self.heads.get((project, kind, charge))) is None:
            head = self.heads[(project, kind, charge)] = (
                f'      "project": {_text(project)},\n'
                f'      "kind": {_text(kind)},\n'
                f'      "charge": {_text(charge)},\n'
            )
        if (labelled := self.texts.get(label)) is None:
            labelled = self.texts[label] = _text(label)
        if (dated := self.days.get(day)) is None:
            dated = self.days[day] = _quoted(day.isoformat() if day is not None else None)
        if (spanned := self.periods.get(period)) is None:
            spanned = self.periods[period] = _period(period)
        if (amounts := self.amounts.get(currency)) is None:
            amounts = self.amounts[currency] = {}
        if (sum_ := amounts.get(amount)) is None:
            sum_ = amounts[amount] = format_amount(amount, currency)
        if (tail := self.tails.get((currency, provider, task))) is None:
            tail = self.tails[(currency, provider, task)] = (
                f'      "currency": {_text(currency)},\n'
                f'      "provider": {_text(provider)},\n'
                f'      "task": {_text(None if task is None else str(task))}\n'
            )
        return (
            f'    {{\n      "address": {_encode_text(address)},\n{head}'
            f'      "label": {labelled},\n      "date": {dated},\n      "period": {spanned},\n'
            f'      "description": {_encode_text(description)},\n'
            f'      "quantity": {_number(quantity)},\n      "rate": {_number(rate)},\n'
            f'      "amount": "{sum_}",\n{tail}    }}'
        )


def json_record() -> Callable[[Item], str]:
    """What makes each item's record in to_json's items list (one per process: it keeps
    each amount's text once formatted)."""
    return _ItemJson()


def _quoted(value: str | None) -> str:
    """A JSON string of text that holds nothing JSON escapes (an ISO date, a number)."""
    return "null" if value is None else f'"{value}"'


def _number(value: Decimal | None) -> str:
    return _quoted(None if value is None else str(value))


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
    from rich.table import Table

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
