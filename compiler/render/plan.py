"""Rendering a Plan: text for a terminal or CI log, markdown for a pull-request comment.

Both lead with what matters to a reviewer: what changes, what is locked (loudly), what is
deleted, and the billing impact. The JSON form is compiler.planfile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape

from compiler.diff import Change, Impact, Plan, Side, Unmanaged
from compiler.money import format_amount, format_grouped

MARKDOWN_LIMIT = 65_000

_SYMBOL = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "drift": ("~", "magenta"),
    "delete": ("-", "red"),
    "locked": ("!", "bold red"),
    "adopt": ("=", "cyan"),
    "forget": ("x", "dim"),
    "no-op": (" ", "dim"),
}


def _money(amount: Decimal, currency: str) -> str:
    return format_grouped(amount, currency) if currency else str(amount)


def _signed(amount: Decimal, currency: str) -> str:
    sign = "+" if amount > 0 else "-" if amount < 0 else "±"
    return f"{sign}{_money(abs(amount), currency)}"


def _value(value: Any, currency: str = "") -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Decimal) and currency:
        return format_amount(value, currency)  # 18500 and 18500.00 read alike
    return str(value)


def _currency(change: Change) -> str:
    side = change.after_side or change.before_side
    return side.currency if side is not None else ""


def _shown_side(change: Change) -> Side | None:
    # A locked object keeps what the vendor holds; show that, not the plan's wish.
    if change.action == "locked":
        return change.before_side or change.after_side
    return change.after_side or change.before_side


def _headline(change: Change) -> str:
    side = _shown_side(change)
    parts = [change.address]
    if side is not None:
        when = side.date.isoformat() if side.date else "on completion"
        parts.append(f"{when}  {_money(side.amount, side.currency)} {side.currency}".rstrip())
    return "  ".join(parts)


def _by_project(changes: Iterable[Change]) -> dict[str, list[Change]]:
    """Changes per project, in date order: how a finance reviewer reads a schedule."""
    grouped: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        grouped[change.project].append(change)
    return {project: sorted(group, key=_date_order) for project, group in sorted(grouped.items())}


def _date_order(change: Change) -> tuple[str, str]:
    side = _shown_side(change)
    when = side.date.isoformat() if side is not None and side.date else "9999"
    return (when, change.address)


def print_text(plan: Plan, console: Console, *, show_unchanged: bool = False) -> None:
    visible = [c for c in plan.changes if show_unchanged or c.action != "no-op"]
    if not visible and not plan.unmanaged:
        console.print("No changes. The vendors hold exactly what the plan says.")
        _print_notes(plan, console)
        console.print(plan.summary())
        return
    for project, changes in _by_project(visible).items():
        first = changes[0]
        console.print(f"[bold]{escape(project)}[/bold]  ({first.provider}, {first.project_id})")
        for change in changes:
            symbol, style = _SYMBOL[change.action]
            label = change.action.upper() if change.action == "locked" else change.action
            console.print(f"  [{style}]{symbol} {label:<7}[/{style}] {escape(_headline(change))}")
            if change.moved_from:
                console.print(f"      [dim]takes over {escape(change.moved_from)}[/dim]")
            if change.reason and not change.moved_from:
                console.print(f"      [dim]{escape(change.reason)}[/dim]")
            if change.action in ("update", "drift", "locked"):
                code = _currency(change)
                for delta in change.fields:
                    console.print(
                        f"      {escape(delta.field)}: {escape(_value(delta.before, code))} "
                        f"-> {escape(_value(delta.after, code))}"
                    )
        console.print()
    if plan.unmanaged:
        console.print("[bold]Unmanaged[/bold] (in these projects, not created by billplan; "
                      "never touched; `billplan import` adopts one):")  # fmt: skip
        for other in plan.unmanaged:
            console.print(f"  ? {escape(_unmanaged_line(other))}")
        console.print()
    _print_impact(plan.impact(), console)
    _print_notes(plan, console)
    locked = plan.count("locked")
    if locked:
        console.print(
            f"[bold red]Warning: {locked} invoiced "
            f"{'objects differ' if locked != 1 else 'object differs'} "
            "from the plan and will not be changed.[/bold red]"
        )
    console.print(f"[bold]{plan.summary()}[/bold]")


def _print_notes(plan: Plan, console: Console) -> None:
    for note in plan.notes:
        console.print(f"[yellow]Note: {escape(note)}[/yellow]")


def _unmanaged_line(other: Unmanaged) -> str:
    attrs = other.attributes
    text = next((attrs[k] for k in ("name", "description", "title", "notes") if attrs.get(k)), "")
    when = other.side.date.isoformat() if other.side.date else "no date"
    state = " (invoiced)" if other.locked else ""
    return (
        f"{other.project or other.project_id}: {other.type} {other.remote_id}  {when}  "
        f"{other.side.amount}  {text}{state}"
    )


def _impact_lines(impact: Impact) -> list[str]:
    lines = []
    for currency in sorted(set(impact.before) | set(impact.after)):
        old = impact.before.get(currency, Decimal(0))
        new = impact.after.get(currency, Decimal(0))
        lines.append(
            f"{currency}: scheduled {_money(old, currency)} -> {_money(new, currency)} "
            f"({_signed(new - old, currency)})"
        )
    return lines


def _print_impact(impact: Impact, console: Console) -> None:
    lines = _impact_lines(impact)
    if not lines:
        return
    console.print("[bold]Billing impact[/bold]")
    for line in lines:
        console.print(f"  {line}")
    if impact.by_month:
        console.print("  Net change by month:")
        for (month, currency), net in impact.by_month.items():
            console.print(f"    {month}  {_signed(net, currency):>16} {currency}")
    console.print()


def to_markdown(plan: Plan, *, title: str = "billplan") -> str:
    """A pull-request comment: summary first, warnings, one collapsible block per project."""
    head: list[str] = [f"### {title}: {plan.summary()}", ""]
    deleted, locked = plan.count("delete"), plan.count("locked")
    if deleted or locked:
        head.append(
            f"> **Warning:** {deleted} to delete, {locked} locked (invoiced objects that "
            "differ from the plan and will not be changed)."
        )
        head.append("")
    for note in plan.notes:
        head += [f"> **Note:** {note}", ""]
    impact_lines = _impact_lines(plan.impact())
    if impact_lines:
        head += [f"- {line}" for line in impact_lines]
        head.append("")
    blocks: list[str] = []
    visible = [c for c in plan.changes if c.action != "no-op"]
    for project, changes in _by_project(visible).items():
        counts = defaultdict(int)
        for change in changes:
            counts[change.action] += 1
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        lines = [f"<details><summary><b>{project}</b>: {summary}</summary>", "", "```diff"]
        for change in changes:
            symbol = {"create": "+", "delete": "-", "locked": "!"}.get(change.action, "~")
            lines.append(f"{symbol} {change.action:<7} {_headline(change)}")
            if change.reason:
                lines.append(f"#   {change.reason}")
            if change.action in ("update", "drift", "locked"):
                code = _currency(change)
                for delta in change.fields:
                    before, after = _value(delta.before, code), _value(delta.after, code)
                    lines.append(f"#   {delta.field}: {before} -> {after}")
        lines += ["```", "", "</details>", ""]
        blocks.append("\n".join(lines))
    if plan.unmanaged:
        lines = ["<details><summary>Unmanaged objects (never touched)</summary>", ""]
        lines += [f"- {_unmanaged_line(u)}" for u in plan.unmanaged]
        lines += ["", "</details>", ""]
        blocks.append("\n".join(lines))
    text = "\n".join(head) + "\n"
    omitted = 0
    for block in blocks:
        if len(text) + len(block) + 200 > MARKDOWN_LIMIT:
            omitted += 1
            continue
        text += block
    if omitted:
        text += (
            f"\n_{omitted} more block{'s' if omitted != 1 else ''} omitted to stay under "
            f"{MARKDOWN_LIMIT:,} characters; run `billplan plan` for the full plan._\n"
        )
    return text
