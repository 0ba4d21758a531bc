"""Rendering a Plan: text for a terminal or CI log, markdown for a pull-request comment.

Both lead with what matters to a reviewer: what changes, what is locked (loudly), what is
deleted, and the billing impact. Each change shows as its label (compiler.model.change): its
action, or `drift` for an update that restores an object edited outside billplan and `locked`
for an invoiced object billplan leaves as it is, `unconfirmed` for a create whose answer was
lost and that a person must settle (its detail names the vendor's look-alike and the commands
that confirm or reject it); its detail says why. The JSON form is
compiler.planfile; a refresh-only plan renders through compiler.render.drift.

The pull-request comment (`to_markdown`, GitHub-flavoured markdown), in order:

- `<!-- billplan-plan -->` (MARKER), hidden, so that a workflow finds and updates its own
  comment instead of adding one per push.
- A `> [!CAUTION]` alert when the plan would delete a protected object (`protect: true`):
  the plan fails (exit 3) and apply refuses it; the alert names each object and what to do.
- A `> [!CAUTION]` alert when the plan breaks a policy rule (compiler.policy): each rule, by
  how much, where it was set and what to do; such a plan is never applied.
- A `> [!WARNING]` alert when anything is deleted, locked or unconfirmed, or drift was found.
- The summary line as a heading, then the billing impact: a row per currency whose total
  changes (scheduled now, after apply, the change), the others named in one line; then the
  hosts billplan contacts: one row per host (at most one per vendor), who chose it (the
  vendor's own, or the flag or variable that set it) and the connections sent there with
  their token variables. These, the head, are never trimmed.
- Notes (a low request budget, a vendor pricing apart from the plan), then the net change by
  month in a collapsed block.
- One `<details>` block per project, in name order, opened by default when it holds a delete,
  a lock or an unconfirmed create. Its table has a row per changed object (label, address,
  the detail under it, date, amount; `old → new` where apply changes them), then a row per
  changed field (the field, `old → new`; nested values by path, `lineItems[0].amount`). Rows
  are in date order. An unconfirmed row changes nothing: its amount is what the vendor holds,
  its fields read `holds X, billplan sent Y`, and a last row says that apply writes nothing.
  A create shows the text the client will read. Three or more identical changes of one
  schedule (a year's retainer raised alike) are one row, `~ update × 12`, at the first one's
  place, whose address opens (`<details>` in the cell) to each member and its date. Counts
  use the summary line's words (`2 to update`), and dates are written with non-breaking
  hyphens (U+2011: GitHub strips any style), so a date never wraps.
- Unmanaged objects (in the plan's projects, not made by billplan), one table row each.
- Last, hidden, `<!-- billplan-labels: ... -->`: the labels a workflow may put on the pull
  request (billplan:no-changes, billplan:deletes, billplan:locked), none when none apply.

User text (addresses, descriptions, notes, what a vendor holds) is inert: in markdown every
character that could start markup (`\\ ` * _ [ ] < > | ~ & $` and the backtick) is
backslash-escaped, inside raw HTML (a `<summary>`) it is HTML-escaped; line breaks become
` ↵ `, control, bidi and invisible format characters are shown as escapes (`\\x1b`,
`\\u202e`: compiler.render.safe), and a value longer than 300 characters is cut with `…`.
In the text view the same characters are shown as escapes, and rich markup in user text
(`[bold]`, `[link=...]`) is shown as typed. No timestamp appears, so the same
plan always gives the same comment.

The comment never exceeds MARKDOWN_LIMIT (65,000) characters; GitHub refuses a comment over
65,536. When the whole would not fit, the head stays; blocks that cannot fit even empty are
left out entirely (plain ones before ones with a delete or a lock, later ones first); the
others share the room fairly: each shows up to the same number of rows, so the largest
blocks are trimmed first, and within a block the rows kept first are locks, then unconfirmed
creates, deletes, drift, updates, forgets, adopts and creates last. Each trimmed block says
how many rows it left out (by action); a closing note counts every row not shown, names the
blocks left out entirely, and points at the full plan (`billplan plan`, or the plan JSON
artifact).
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console

from compiler import jsonio
from compiler.credentials import Endpoint
from compiler.model.change import (
    Change,
    FieldChange,
    Impact,
    Plan,
    SandboxChoice,
    Side,
    Unmanaged,
    settle_commands,
)
from compiler.money import decimals, format_grouped
from compiler.render.safe import markup, visible

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
    "unconfirmed": ("?", "bold yellow"),
    "protected": ("!", "bold red"),
}
# What a plan that would delete protected objects tells its reader: it fails, and how to go on.
PROTECTED_CAUTION = (
    "{} protected by `protect: true` (remembered in state): this plan would delete "
    "{} and fails, and apply refuses it. To delete one on purpose, apply the plan with "
    "`protect: false` on its charge first, then remove the charge; to stop managing it and "
    "keep it at the vendor, list it under `removed:`."
)


def protected_caution(plan: Plan) -> str:
    n = len(plan.refused)
    if not n:
        return ""
    return PROTECTED_CAUTION.format(
        f"{n} object{'s are' if n != 1 else ' is'}", "them" if n != 1 else "it"
    )


# What an unconfirmed change asks of the reader, once per plan.
UNSETTLED_WARNING = (
    "{} waiting for a person: billplan sent {} but never got the answer, and will not create "
    "{} again until someone confirms or rejects what the vendor holds (the commands are shown "
    "above), or a plan reads the project completely."
)


def unsettled_warning(plan: Plan) -> str:
    n = len(plan.unsettled)
    if not n:
        return ""
    return UNSETTLED_WARNING.format(
        f"{n} item{'s are' if n != 1 else ' is'}",
        "them" if n != 1 else "it",
        "them" if n != 1 else "it",
    )


def _money(amount: Decimal, currency: str) -> str:
    return format_grouped(amount, currency) if currency else str(amount)


def _signed(amount: Decimal, currency: str) -> str:
    sign = "+" if amount > 0 else "-" if amount < 0 else "±"
    return f"{sign}{_money(abs(amount), currency)}"


def value_text(value: Any, currency: str = "") -> str:
    """A field's value as a reviewer reads it: text quoted, money as every amount billplan
    shows (`18,600.00`: grouped, in its currency's digits)."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Decimal) and currency:
        return format_grouped(value, currency)  # 18500 and 18500.00 read alike
    if isinstance(value, Decimal):
        return f"{value:,}"
    return str(value)


def _currency(change: Change) -> str:
    side = change.after_side or change.before_side
    return side.currency if side is not None else ""


def _shown_side(change: Change) -> Side | None:
    # A locked object keeps what the vendor holds, and so does an unconfirmed look-alike
    # (nothing is written for it): show that, not the plan's wish.
    if change.label in ("locked", "unconfirmed", "protected"):
        return change.before_side or change.after_side
    return change.after_side or change.before_side


def _held(change: Change, amount: str) -> str:
    """An amount as the row means it: for an unconfirmed change, what the vendor holds (or,
    with no look-alike, what is planned); otherwise as is."""
    if change.label != "unconfirmed":
        return amount
    if change.before_side is not None:
        return f"{change.provider} holds {amount}"
    return f"{amount} planned"


def _held_after(change: Change) -> str:
    """What an unconfirmed change's amount is, said after it in the text view (its amount
    stays in the column): what the vendor holds, or, with no look-alike, what is planned.
    Nothing for any other change."""
    if change.label != "unconfirmed":
        return ""
    if change.before_side is not None:
        return f"  held by {change.provider}; apply writes nothing"
    return "  planned; apply writes nothing"


ON_COMPLETION = "on completion"  # the date of a milestone billed when its work is done
_ADDRESS_COLUMN = 60  # a longer address goes past the column rather than widen every row


@dataclass(frozen=True)
class _Columns:
    """The widths that line up the text plan's rows: address, date and amount, so that
    amounts read down one column across every project (`on completion` rows too)."""

    address: int = 0
    when: int = 0
    amount: int = 0

    @classmethod
    def of(cls, changes: Iterable[Change]) -> _Columns:
        rows = [(c.address, _shown_side(c)) for c in changes]
        sides = [side for _, side in rows if side is not None]
        return cls(
            min(_ADDRESS_COLUMN, max((len(address) for address, _ in rows), default=0)),
            max((len(_when(side)) for side in sides), default=0),
            max((len(_money(side.amount, side.currency)) for side in sides), default=0),
        )


def _when(side: Side) -> str:
    return side.date.isoformat() if side.date else ON_COMPLETION


def _headline(change: Change, columns: _Columns = _Columns()) -> str:
    side = _shown_side(change)
    if side is None:
        return change.address
    amount = f"{_money(side.amount, side.currency):>{columns.amount}} {side.currency}".rstrip()
    return (
        f"{change.address:<{columns.address}}  {_when(side):<{columns.when}}  {amount}"
        f"{_held_after(change)}"
    )


def _field_line(change: Change, delta: FieldChange) -> str:
    """A changed field in the text view: `old -> new`, or for an unconfirmed look-alike what
    the vendor holds and what billplan sent (no change billplan is about to make)."""
    code = _currency(change)
    old, new = value_text(delta.before, code), value_text(delta.after, code)
    if change.label == "unconfirmed":
        return f"{delta.field}: holds {old}, billplan sent {new}"
    return f"{delta.field}: {old} -> {new}"


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
    visible = [c for c in plan.changes if show_unchanged or c.label != "no-op"]
    if not visible and not plan.unmanaged:
        if plan.moved:
            console.print("No changes at the vendors; only addresses renamed in state (moved:).")
        elif plan.protection:
            console.print(
                "No changes at the vendors; only protection marks recorded in state (protect:)."
            )
        else:
            console.print("No changes. The vendors hold exactly what the plan says.")
        _print_notes(plan, console)
        _print_hosts(plan, console)
        console.print(plan.summary())
        return
    width = max([7, *(len(c.label) for c in visible)])  # one column for every label shown
    columns = _Columns.of(visible)
    for project, changes in _by_project(visible).items():
        print_project(project, changes[0], console)
        for change in changes:
            symbol, style = _SYMBOL[change.label]
            label = change.label.upper() if change.label == "locked" else change.label
            headline = markup(_headline(change, columns))
            console.print(f"  [{style}]{symbol} {label:<{width}}[/{style}] {headline}")
            renamed = change.moved_from and plan.moved.get(change.address) == change.moved_from
            if change.moved_from and not renamed:
                console.print(f"      [dim]takes over {markup(change.moved_from)}[/dim]")
            elif change.detail:
                console.print(f"      [dim]{markup(change.detail)}[/dim]")
            if change.label in ("update", "drift", "locked", "unconfirmed"):
                for delta in change.fields:
                    console.print(f"      {markup(_field_line(change, delta))}")
        console.print()
    if plan.unmanaged:
        console.print("[bold]Unmanaged[/bold] (in these projects, not created by billplan; "
                      "never touched; `billplan import` adopts one):")  # fmt: skip
        for other in plan.unmanaged:
            console.print(f"  ? {markup(_unmanaged_line(other))}")
        console.print()
    _print_impact(plan.impact(), console)
    _print_notes(plan, console)
    _print_hosts(plan, console)
    adjusted = plan.locked_adjusted()
    locked = plan.count("locked") - adjusted
    if locked:
        console.print(
            f"[bold red]Warning: {locked} invoiced "
            f"{'objects differ' if locked != 1 else 'object differs'} "
            "from the plan and will not be changed.[/bold red]"
        )
    if adjusted:
        console.print(
            f"{adjusted} invoiced {'objects differ' if adjusted != 1 else 'object differs'} "
            "from the plan: an adjusting line bills the difference (adjust:)."
        )
    if warning := unsettled_warning(plan):
        console.print(f"[bold yellow]Warning: {warning}[/bold yellow]")
    if caution := protected_caution(plan):
        console.print(f"[bold red]Refused: {markup(caution)}[/bold red]")
    _print_breaches(plan, console)
    console.print(f"[bold]{plan.summary()}[/bold]")


def breaches_heading(plan: Plan) -> str:
    n = len(plan.breaches)
    return f"Policy: this plan breaks {n} rule{'s' if n != 1 else ''} and will not be applied"


def _print_breaches(plan: Plan, console: Console) -> None:
    if not plan.breaches:
        return
    console.print(f"[bold red]{breaches_heading(plan)}:[/bold red]")
    for breach in plan.breaches:
        console.print(f"  [red]{markup(str(breach))}[/red]")
        console.print(f"      [dim]set at {markup(breach.source)}; {markup(breach.fix)}[/dim]")


def print_project(project: str, first: Change, console: Console) -> None:
    """A project's heading in the text view: its key, its connection and the vendor's id."""
    console.print(
        f"[bold]{markup(project)}[/bold]  ({markup(first.provider)}, {markup(first.project_id)})"
    )


def _print_notes(plan: Plan, console: Console) -> None:
    for note in plan.notes:
        console.print(f"[yellow]Note: {markup(note)}[/yellow]")


HOSTS_TITLE = "Hosts contacted"
HOSTS_WHY = "set where billplan runs, never by the plan"


def host_rows(endpoints: Iterable[Endpoint]) -> list[tuple[str, str, str]]:
    """(host, who chose it, its connections with their token variables), one row per host:
    at most one per vendor, however many connections a plan defines."""
    rows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for endpoint in endpoints:
        rows[(endpoint.host, endpoint.origin)].append(f"{endpoint.connection} ({endpoint.token})")
    return [(host, origin, ", ".join(names)) for (host, origin), names in sorted(rows.items())]


def _print_hosts(plan: Plan, console: Console) -> None:
    rows = host_rows(plan.endpoints)
    if not rows:
        return
    console.print(f"{HOSTS_TITLE} ({HOSTS_WHY}):")
    for host, origin, connections in rows:
        console.print(f"  {markup(host)}  {markup(origin)}: {markup(connections)}")


def _unmanaged_line(other: Unmanaged) -> str:
    attrs = other.attributes
    text = next((attrs[k] for k in ("name", "description", "title", "notes") if attrs.get(k)), "")
    when = other.side.date.isoformat() if other.side.date else "no date"
    state = " (invoiced)" if other.locked else ""
    return (
        f"{other.project or other.project_id}: {other.type} {other.remote_id}  {when}  "
        f"{_money(other.side.amount, other.side.currency)}  {text}{state}"
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
        # One column of amounts, `on completion` (wider than a month) included.
        month_width = max(len(month) for month, _ in impact.by_month)
        nets = {key: _signed(net, key[1]) for key, net in impact.by_month.items()}
        amount_width = max(16, *(len(net) for net in nets.values()))
        for (month, currency), net in nets.items():
            console.print(f"    {month:<{month_width}}  {net:>{amount_width}} {currency}")
    console.print()


# ---- markdown: the pull-request comment --------------------------------------------------

MARKER = "<!-- billplan-plan -->"
_VALUE_CHARS = 300  # a longer value (a description is user text) is cut, with "…"
_FIELD_ROWS = 20  # field rows shown per object; past that they are counted
_LEFT_OUT_CHARS = 2_000  # the list of blocks left out entirely is cut past this length
FULL_PLAN = (
    "the full plan is in the output of `billplan plan` (or `--format json`) and in the saved "
    "plan JSON (`billplan plan -o plan.json`: the workflow's plan artifact)"
)

# Most alarming first: when a block is trimmed, these rows are the last to go.
_RANK = {a: n for n, a in enumerate(
    ("protected", "locked", "unconfirmed", "delete", "drift", "update", "forget", "adopt",
     "create", "no-op", "")
)}  # fmt: skip
_LABEL = {
    "locked": "🔒 **LOCKED**",
    "delete": "🗑️ **DELETE**",
    "drift": "↺ **drift**",
    "update": "~ update",
    "create": "+ create",
    "adopt": "= adopt",
    "forget": "× forget",
    "no-op": "no-op",
    "unconfirmed": "❓ **unconfirmed**",
    "protected": "🛡️ **PROTECTED**",
}
_CHANGES_TABLE = (
    "| Action | Address | Date | Amount | Field | Old → new |\n|---|---|---|--:|---|---|"
)
_UNMANAGED_TABLE = (
    "| Project | Type | Remote id | Date | Amount | Description | State |\n"
    "|---|---|---|---|--:|---|---|"
)
# What user text could start in markdown (emphasis, links, code, HTML, the end of a table
# cell, strikethrough, math, entities): each such character is written backslash-escaped, so
# that it shows as itself.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\u2028\u2029]")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# GitHub strips style attributes and <nobr>, so a date cannot be told not to wrap; a date
# written with non-breaking hyphens (U+2011, drawn like "-") never breaks at them.
_NB_HYPHEN = "\u2011"
# How a project's summary and a trimmed block count each kind of row: the words of the plan's
# summary line ("3 to update"), which agree with any number.
_COUNTED = {
    "protected": "protected from delete",
    "locked": "locked",
    "unconfirmed": "unconfirmed",
    "delete": "to delete",
    "drift": "drifted",
    "update": "to update",
    "forget": "to forget",
    "adopt": "to adopt",
    "create": "to create",
    "no-op": "unchanged",
}
# The attributes that hold the text a client reads on the invoice, across the vendors (each
# provider's text_fields): a Ruddr milestone's name, an item's description, a Kantata title,
# Wethod notes. A create shows the first one it has.
_CLIENT_TEXT = ("name", "description", "title", "notes")
# A run of at least this many identical changes (one schedule, the same action, reason,
# amount and field changes) is one row with a count that opens to its members; two stay two
# rows, which read as easily as one.
_RUN_MIN = 3
_RUN_LISTED = 50  # members a run's row lists by address; past that they are counted
# Labels a workflow may put on the pull request (tfcmt's habit), named in a hidden line of the
# comment: it lists those that apply, so a workflow also removes the ones that no longer do.
LABELS_MARK = "<!-- billplan-labels:"
LABELS = ("billplan:no-changes", "billplan:deletes", "billplan:locked")


def to_markdown(plan: Plan, *, title: str = "billplan", limit: int = MARKDOWN_LIMIT) -> str:
    """The plan as a pull-request comment of at most `limit` characters (layout and trimming
    rules: the module docstring)."""
    labels = "\n" + " ".join([LABELS_MARK, *comment_labels(plan), "-->"]) + "\n"
    return _fit(_md_head(plan, title), _md_sections(plan), limit, tail=labels)


def _one_line(text: Any, *, break_mark: str) -> str:
    flat = visible(_LINE_BREAK.sub(break_mark, str(text)))
    return flat if len(flat) <= _VALUE_CHARS else flat[: _VALUE_CHARS - 1] + "…"


def md_text(text: Any) -> str:
    """User text for a markdown line or table cell: one line, at most _VALUE_CHARS, inert."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text, break_mark=" ↵ "))


def _html(text: Any) -> str:
    """User text inside raw HTML (a <summary>), where markdown escapes do not apply."""
    return html.escape(_one_line(text, break_mark=" "))


def _nobreak(day: str) -> str:
    """A date (2026-01-15) or month as one unbreakable word."""
    return day.replace("-", _NB_HYPHEN)


def comment_labels(plan: Plan) -> list[str]:
    """The labels (LABELS) that apply to the plan: nothing for apply to do, a delete (a
    refused one too: a reviewer looks), an invoiced object the plan would change."""
    found = {
        "billplan:no-changes": not plan.has_changes,
        "billplan:deletes": bool(plan.count("delete") or plan.refused),
        "billplan:locked": bool(plan.count("locked")),
    }
    return [label for label in LABELS if found[label]]


def _md_head(plan: Plan, title: str) -> str:
    """Never trimmed: the marker, the warning, the summary and the billing impact."""
    lines = [MARKER]
    if caution := protected_caution(plan):
        # GitHub's alert block: the loudest thing in the comment, before everything else.
        refused = ", ".join(md_text(change.address) for change in plan.refused[:20])
        more = len(plan.refused) - 20
        refused += f" and {more:,} more" if more > 0 else ""
        lines += ["> [!CAUTION]", f"> {caution}", ">", f"> Refused: {refused}", ""]
    lines += _md_breaches(plan)
    alarms = [
        text.format(n)
        for action, text in (
            ("delete", "{} to delete"),
            ("locked", "{} locked (invoiced: billplan will not change them)"),
            ("drift", "{} drifted (edited outside billplan: apply restores the planned values)"),
            (
                "unconfirmed",
                "{} unconfirmed (a create whose answer was lost: a person confirms or rejects "
                "what the vendor holds; nothing is created meanwhile)",
            ),
        )
        if (n := plan.count(action))
    ]
    if adjusted := plan.locked_adjusted():
        alarms = [
            a.replace(" them)", f" them; {adjusted} billed by an adjusting line)")
            if a.endswith("will not change them)")
            else a
            for a in alarms
        ]
    if alarms:
        # GitHub's alert: a yellow block with a warning sign, apart from any caution above.
        lines += ["> [!WARNING]", f"> {', '.join(alarms)}.", ""]
    lines += [f"### {md_text(title)}: {plan.summary()}", ""]
    quiet = not (
        plan.has_changes or plan.count("locked") or plan.unsettled or plan.unmanaged or plan.refused
    )
    if quiet:
        lines += ["No changes. The vendors hold exactly what the plan says.", ""]
    lines += _md_impact(plan.impact())
    hosts = host_rows(plan.endpoints)
    if hosts:
        lines += [
            "",
            f"**{HOSTS_TITLE}** ({HOSTS_WHY})",
            "",
            "| Host | Chosen by | Connections (token) |",
            "|---|---|---|",
            *(
                f"| {md_text(h)} | {md_text(origin)} | {md_text(names)} |"
                for h, origin, names in hosts
            ),
        ]
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"  # every block after it opens with a blank line


def _md_impact(impact: Impact) -> list[str]:
    """The billing impact: a row per currency whose total changes; the others in one line
    (a row of zeros per untouched currency would bury the one that moves)."""
    changed, unchanged = [], []
    for code in sorted(set(impact.before) | set(impact.after)):
        old = impact.before.get(code, Decimal(0))
        new = impact.after.get(code, Decimal(0))
        if new == old:
            unchanged.append(f"{md_text(code)} ({_money(old, code)} scheduled)")
        else:
            changed.append(
                f"| {md_text(code)} | {_money(old, code)} | {_money(new, code)} "
                f"| {_signed(new - old, code)} |"
            )
    same = " or ".join([", ".join(unchanged[:-1]), unchanged[-1]] if unchanged[:-1] else unchanged)
    if not changed:
        return [f"**Billing impact**: no change in {same}."] if unchanged else []
    lines = [
        "**Billing impact**",
        "",
        "| Currency | Scheduled now | After apply | Change |",
        "|---|--:|--:|--:|",
        *changed,
    ]
    return [*lines, "", f"No change in {same}."] if unchanged else lines


def _md_breaches(plan: Plan) -> list[str]:
    """The policy alert: GitHub shows `> [!CAUTION]` as a red block above everything."""
    if not plan.breaches:
        return []
    lines = ["> [!CAUTION]", f"> **{breaches_heading(plan)}.**", ">"]
    for breach in plan.breaches:
        lines.append(
            f"> - **{md_text(breach.title)}**: {md_text(breach.message)} "
            f"(set at {md_text(breach.source)}). What to do: {md_text(breach.fix)}."
        )
    return [*lines, ""]


@dataclass
class _Section:
    """One trimmable block of the comment: an opening, rows, a closing. When the block must
    shrink, rows go in reverse priority (creates before locks), and a line says how many.
    A row may stand for several of what it counts (a run of identical changes): its weight."""

    label: str  # how the closing note names the block if it is left out entirely
    noun: str  # what one row is: "change", "note", ...
    opening: str
    closing: str
    rows: list[str]  # in display order; a row may span several lines
    actions: list[str]  # each row's action, for the left-out breakdown ("" when none)
    alarming: bool = False  # holds a delete or a lock: left out entirely only last
    weights: list[int] = field(default_factory=list)  # each row's count; none given: 1 each
    order: list[int] = field(init=False)  # row indices, the first kept first
    prefix: list[int] = field(init=False)  # characters of the first m rows of `order`
    counted: list[int] = field(init=False)  # what the first m rows of `order` count

    def __post_init__(self) -> None:
        self.weights = self.weights or [1] * len(self.rows)
        self.order = sorted(range(len(self.rows)), key=lambda i: (_RANK[self.actions[i]], i))
        self.prefix, self.counted = [0], [0]
        for i in self.order:
            self.prefix.append(self.prefix[-1] + 1 + len(self.rows[i]))
            self.counted.append(self.counted[-1] + self.weights[i])

    @property
    def size(self) -> int:
        """Rows."""
        return len(self.rows)

    @property
    def total(self) -> int:
        """What the rows count: changes, notes, months, objects."""
        return self.counted[-1]

    def trim_note(self, shown: int) -> str:
        left = self.total - self.counted[shown]
        if left == 0:
            return ""
        counts: dict[str, int] = defaultdict(int)
        for i in self.order[shown:]:
            counts[self.actions[i]] += self.weights[i]
        detail = ", ".join(
            f"{counts[a]:,} {_COUNTED[a]}" for a in sorted(counts, key=_RANK.__getitem__) if a
        )
        noun = self.noun if self.total == 1 else f"{self.noun}s"
        return (
            f"\n\n_{left:,} of {self.total:,} {noun}{f' ({detail})' if detail else ''} left "
            "out here to keep this comment short: see the end of the comment._"
        )

    def cost(self, shown: int) -> int:
        """Characters of the block with `shown` rows, its leading newline included."""
        return (
            1 + len(self.opening) + self.prefix[shown] + len(self.trim_note(shown))
            + len(self.closing)
        )  # fmt: skip

    def render(self, shown: int) -> str:
        kept = sorted(self.order[:shown])
        body = "".join("\n" + self.rows[i] for i in kept)
        return "\n" + self.opening + body + self.trim_note(shown) + self.closing


def _md_sections(plan: Plan) -> list[_Section]:
    """The blocks after the head, in display order: notes, net change by month, one per
    project, unmanaged objects."""
    sections = []
    if plan.notes:
        sections.append(
            _Section(
                label=f"notes ({len(plan.notes):,})",
                noun="note",
                opening="**Notes**\n",
                closing="\n",
                rows=[f"- {md_text(note)}" for note in plan.notes],
                actions=[""] * len(plan.notes),
            )
        )
    months = plan.impact().by_month
    if months:
        sections.append(
            _Section(
                label="net change by month",
                noun="month",
                opening="<details><summary>Net change by month</summary>\n\n"
                "| Month | Currency | Net change |\n|---|---|--:|",
                closing="\n\n</details>\n",
                rows=[
                    f"| {_nobreak(month)} | {md_text(code)} | {_signed(net, code)} |"
                    for (month, code), net in months.items()
                ],
                actions=[""] * len(months),
            )
        )
    currency_of: dict[str, str] = {}
    visible = [c for c in plan.changes if c.label != "no-op"]
    for project, changes in _by_project(visible).items():
        counts: dict[str, int] = defaultdict(int)
        for change in changes:
            counts[change.label] += 1
        alarming = bool(
            counts.get("protected")
            or counts.get("locked")
            or counts.get("delete")
            or counts.get("unconfirmed")
        )
        summary = ", ".join(
            f"{counts[a]:,} {_COUNTED[a]}" for a in sorted(counts, key=_RANK.__getitem__)
        )
        n = len(changes)
        runs = _runs(changes)
        sections.append(
            _Section(
                label=f"{md_text(project)} ({n:,} change{'s' if n != 1 else ''})",
                noun="change",
                opening=f"<details{' open' if alarming else ''}><summary><b>{_html(project)}"
                f"</b>: {summary}</summary>\n\n{_CHANGES_TABLE}",
                closing="\n\n</details>\n",
                rows=[
                    _change_row(run[0], plan.sandbox) if len(run) == 1 else _run_row(run)
                    for run in runs
                ],
                actions=[run[0].label for run in runs],
                alarming=alarming,
                weights=[len(run) for run in runs],
            )
        )
    for change in plan.changes:
        currency_of.setdefault(change.project, _currency(change))
    if plan.unmanaged:
        n = len(plan.unmanaged)
        sections.append(
            _Section(
                label=f"unmanaged objects ({n:,})",
                noun="object",
                opening=f"<details><summary>Unmanaged: {n} object{'s' if n != 1 else ''} in "
                "these projects that billplan did not make and never touches "
                f"(<code>billplan import</code> adopts one)</summary>\n\n{_UNMANAGED_TABLE}",
                closing="\n\n</details>\n",
                rows=[_unmanaged_row(other, currency_of) for other in plan.unmanaged],
                actions=[""] * n,
            )
        )
    return sections


def _fit(head: str, sections: list[_Section], limit: int, *, tail: str = "") -> str:
    """Head, blocks and tail in at most `limit` characters. Everything when it fits;
    otherwise blocks that cannot fit even empty are left out entirely (plain ones before
    those with a delete or a lock, later ones first), and the rest share the room fairly:
    every block shows up to the same number of rows, the largest blocks trimmed first."""
    whole = head + "".join(s.render(s.size) for s in sections)
    budget = limit - len(tail)
    if len(whole) <= budget:
        return whole + tail
    totals: dict[str, int] = defaultdict(int)
    for section in sections:
        totals[section.noun] += section.total
    dropped: set[int] = set()
    minimum = sum(s.cost(0) for s in sections)
    drop_order = sorted(range(len(sections)), key=lambda i: (sections[i].alarming, -i))
    for victim in drop_order:
        reserve = len(_ending([sections[i] for i in sorted(dropped)], totals, totals, limit))
        if len(head) + minimum + reserve <= budget:
            break
        dropped.add(victim)
        minimum -= sections[victim].cost(0)
    kept = [s for i, s in enumerate(sections) if i not in dropped]
    left_out = [s for i, s in enumerate(sections) if i in dropped]
    room = budget - len(head) - len(_ending(left_out, totals, totals, limit))

    def used(cap: int) -> int:
        return sum(s.cost(min(cap, s.size)) for s in kept)

    low, high = 0, max((s.size for s in kept), default=0)
    while low < high:  # the largest per-block cap that fits
        middle = (low + high + 1) // 2
        if used(middle) <= room:
            low = middle
        else:
            high = middle - 1
    shown = [min(low, s.size) for s in kept]
    spare = room - used(low)
    for n, section in enumerate(kept):  # what the cap leaves over: one more row each, in order
        if shown[n] < section.size:
            extra = section.cost(shown[n] + 1) - section.cost(shown[n])
            if extra <= spare:
                shown[n] += 1
                spare -= extra
    missing = dict(totals)
    for section, n in zip(kept, shown, strict=True):
        missing[section.noun] -= section.counted[n]
    body = "".join(s.render(n) for s, n in zip(kept, shown, strict=True))
    return head + body + _ending(left_out, missing, totals, limit) + tail


def _ending(
    left_out: list[_Section], missing: dict[str, int], totals: dict[str, int], limit: int
) -> str:
    """The closing note of a trimmed comment: how much is missing (per kind of row), which
    blocks entirely, where the full plan is. Never longer with fewer rows missing."""
    counts = ", ".join(
        f"{missing[noun]:,} of {total:,} {noun}{'s' if total != 1 else ''}"
        for noun, total in sorted(totals.items(), key=lambda pair: pair[0] != "change")
        if missing[noun]
    )
    text = (
        f"\n---\n\n_This comment is trimmed to stay under {limit:,} characters: "
        f"{counts or 'nothing'} not shown; {FULL_PLAN}._\n"
    )
    if left_out:
        names = ""
        for n, section in enumerate(left_out):
            more = f", and {len(left_out) - n:,} more"
            if len(names) + len(section.label) + len(more) + 2 > _LEFT_OUT_CHARS:
                names += more
                break
            names += (", " if names else "") + section.label
        text += f"\n**Left out entirely** ({len(left_out):,}): {names}.\n"
    return text


def _runs(changes: list[Change]) -> list[list[Change]]:
    """The project's changes in date order, each run of identical ones (_RUN_MIN or more)
    together at its first member's place, every other change alone."""
    keys = [_run_key(change) for change in changes]
    sizes = Counter(key for key in keys if key is not None)
    runs: list[list[Change]] = []
    started: dict[tuple[Any, ...], list[Change]] = {}
    for change, key in zip(changes, keys, strict=True):
        if key is None or sizes[key] < _RUN_MIN:
            runs.append([change])
        elif key in started:
            started[key].append(change)
        else:
            started[key] = [change]
            runs.append(started[key])
    return runs


def _run_key(change: Change) -> tuple[Any, ...] | None:
    """What a change's row shows but its address and date: equal keys, identical changes.
    Members of one schedule only (the address's parent: a recurring charge's occurrences), and
    never an unconfirmed create, whose row carries its own commands."""
    if change.label == "unconfirmed" or change.moved_from:
        return None
    parent = change.address.rsplit("/", 1)[0]
    return (
        parent, change.type, change.label, change.detail, _client_text(change),
        _amount_cell(change), tuple(_field_rows(change)),
    )  # fmt: skip


def _run_row(run: list[Change]) -> str:
    """A run of identical changes: one row with its count; the schedule's address opens to
    each member (its last segment, under the schedule's address) and its date."""
    first, n = run[0], len(run)
    members = "<br>".join(
        f"{md_text(change.address.rsplit('/', 1)[-1])} ({_when_cell(change)})"
        for change in run[:_RUN_LISTED]
    )
    if n > _RUN_LISTED:
        members += f"<br>… and {n - _RUN_LISTED:,} more"
    parent = md_text(first.address.rsplit("/", 1)[0])
    address = f"<details><summary>{n:,} × {parent}/…</summary>{members}</details>"
    address += _under_address(first).removeprefix("<br>")
    days = [_when_cell(run[0]), _when_cell(run[-1])]
    when = days[0] if days[0] == days[1] else " … ".join(days)
    fields = _field_rows(first)
    first_field, first_delta = fields[0] if fields else ("", "")
    lines = [
        f"| {_LABEL[first.label]} ×\u00a0{n:,} | {address} | {when} | {_amount_cell(first)} | "
        f"{first_field} | {first_delta} |"
    ]
    lines += [f"| | | | | {name} | {delta} |" for name, delta in fields[1:]]
    return "\n".join(lines)


def _client_text(change: Change) -> str:
    """For a create, the text the client will read on the invoice (_CLIENT_TEXT)."""
    if change.label != "create" or not change.after:
        return ""
    return next((str(change.after[k]) for k in _CLIENT_TEXT if change.after.get(k)), "")


def _under_address(change: Change) -> str:
    """What the address cell says under the address: why, and what a create will read."""
    under = f"<br><sub>{md_text(change.detail)}</sub>" if change.detail else ""
    if text := _client_text(change):
        under += f'<br><sub>client sees: "{md_text(text)}"</sub>'
    return under


def _change_row(change: Change, sandbox: SandboxChoice) -> str:
    """A changed object (action, address, date, amount), then one row per changed field."""
    address = md_text(change.address) + _under_address(change)
    fields = _field_rows(change)
    first_field, first_delta = fields[0] if fields else ("", "")
    lines = [
        f"| {_LABEL[change.label]} | {address} | {_when_cell(change)} | "
        f"{_amount_cell(change)} | {first_field} | {first_delta} |"
    ]
    lines += [f"| | | | | {name} | {delta} |" for name, delta in fields[1:]]
    if change.label == "unconfirmed" and change.remote_id is not None:
        # The detail may be cut at its length limit; what settles it never is.
        confirm, reject = settle_commands(change.address, change.remote_id, sandbox)
        lines += [f"| | | | | if it is this item | {md_text(confirm)} |",
                  f"| | | | | if it is not | {md_text(reject)} |"]  # fmt: skip
    return "\n".join(lines)


def _sides(change: Change) -> tuple[Side | None, Side | None]:
    """What the date and amount cells compare: old and new where apply changes them."""
    if change.action == "update" and change.before_side and change.after_side:
        return change.before_side, change.after_side
    side = _shown_side(change)
    return side, side


def _day(side: Side) -> str:
    return _nobreak(side.date.isoformat()) if side.date else "on completion"


def _when_cell(change: Change) -> str:
    old, new = _sides(change)
    if old is None or new is None:
        return "—"
    return _day(new) if _day(old) == _day(new) else f"{_day(old)} → {_day(new)}"


def _amount_cell(change: Change) -> str:
    old, new = _sides(change)
    if old is None or new is None:
        return "—"
    code = new.currency
    if old.amount == new.amount or old.currency != new.currency:
        return _held(change, f"{_money(new.amount, code)} {md_text(code)}".rstrip())
    return f"{_money(old.amount, code)} → {_money(new.amount, code)} {md_text(code)}".rstrip()


def _field_rows(change: Change) -> list[tuple[str, str]]:
    """(field, "old → new") per changed leaf value, nested fields spelt out as paths."""
    if change.label not in ("update", "drift", "locked", "unconfirmed"):
        return []
    leaves = [
        leaf for delta in change.fields for leaf in _leaves(delta.field, delta.before, delta.after)
    ]
    unconfirmed = change.label == "unconfirmed"
    shown = _sent if unconfirmed else _delta
    rows = [(md_text(path), shown(old, new)) for path, old, new in leaves]
    if len(rows) > _FIELD_ROWS:
        more = len(rows) - _FIELD_ROWS + 1
        verb = "differ" if unconfirmed else "change"
        rows = [*rows[: _FIELD_ROWS - 1], ("…", f"{more:,} more fields {verb}")]
    if unconfirmed:
        who = "a person confirms or rejects" if change.remote_id else "a complete read decides"
        rows.append(("apply writes", f"nothing: {who}"))
    return rows


def _leaves(path: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """The differing leaf values under `path`: lineItems[0].amount rather than two lists."""
    if isinstance(old, Mapping) or isinstance(new, Mapping):
        if isinstance(old, Mapping | None) and isinstance(new, Mapping | None):
            before, after = old or {}, new or {}
            keys = sorted(set(before) | set(after), key=str)
            return [leaf for k in keys for leaf in _leaves(f"{path}.{k}", before.get(k),
                                                            after.get(k))]  # fmt: skip
    elif isinstance(old, list | None) and isinstance(new, list | None) and (old or new):
        before, after = old or [], new or []
        return [
            leaf
            for i in range(max(len(before), len(after)))
            for leaf in _leaves(
                f"{path}[{i}]",
                before[i] if i < len(before) else None,
                after[i] if i < len(after) else None,
            )
        ]
    return [] if _equal(old, new) else [(path, old, new)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _equal(old: Any, new: Any) -> bool:
    if _is_number(old) and _is_number(new):
        return Decimal(str(old)) == Decimal(str(new))
    return bool(old == new)


def _delta(old: Any, new: Any) -> str:
    # Both amounts with the same decimals: 10000 and 12000.00 read as 10,000.00 → 12,000.00.
    places = max((decimals(v) for v in (old, new) if isinstance(v, Decimal)), default=0)
    return f"{_shown(old, places)} → {_shown(new, places)}"


def _sent(held: Any, sent: Any) -> str:
    # An unconfirmed look-alike's field: no change billplan makes, so no arrow.
    places = max((decimals(v) for v in (held, sent) if isinstance(v, Decimal)), default=0)
    return f"holds {_shown(held, places)}, billplan sent {_shown(sent, places)}"


def _shown(value: Any, places: int) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:,.{places}f}"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _nobreak(value) if _ISO_DAY.fullmatch(value) else f'"{md_text(value)}"'
    return md_text(jsonio.dumps(value))  # a list or mapping opposite a plain value


def _unmanaged_row(other: Unmanaged, currency_of: Mapping[str, str]) -> str:
    attrs = other.attributes
    text = next((attrs[k] for k in ("name", "description", "title", "notes") if attrs.get(k)), "")
    code = other.side.currency or currency_of.get(other.project, "")
    amount = f"{_money(other.side.amount, code)} {md_text(code)}".rstrip()
    cells = (
        md_text(other.project or other.project_id),
        md_text(other.type),
        md_text(other.remote_id),
        _nobreak(other.side.date.isoformat()) if other.side.date else "no date",
        amount,
        md_text(text),
        "🔒 invoiced" if other.locked else "",
    )
    return "| " + " | ".join(cells) + " |"
