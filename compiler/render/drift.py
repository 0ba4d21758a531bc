"""Rendering a refresh-only plan (`plan --refresh-only`): the objects changed or deleted at the
vendors outside billplan, as text for a terminal, markdown for a job summary, and JSON.

Each drifted object gets a line (`~ changed` or `- deleted`), then one line per changed field,
`old -> new`: what billplan last wrote, what the vendor holds now. What a vendor holds now is
user text (anyone with access to the vendor's tool typed it): it is shown through
compiler.render.safe in every view, as the plan's own text is.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict

from rich.console import Console

from compiler import jsonio
from compiler.model.change import Change, Plan
from compiler.render.plan import md_text, print_project, value_text
from compiler.render.safe import markup, visible

# Each drifted object's kind, as the views name it.
_KIND = {"drift": "changed", "gone": "deleted"}


def drifted(plan: Plan) -> list[Change]:
    """The refresh-only plan's changes that are drift: changed or deleted at the vendor."""
    return [c for c in plan.changes if c.reason in _KIND]


def found(plan: Plan) -> bool:
    """Whether there is drift (`--detailed-exitcode` exits 2)."""
    return bool(drifted(plan))


def summary(plan: Plan) -> str:
    checked = len(plan.changes)
    if not found(plan):
        return (
            f"No drift: the vendors hold what billplan last wrote for all {checked} "
            "managed objects."
        )
    return (
        f"Drift: {plan.count_reason('drift')} changed and {plan.count_reason('gone')} deleted "
        f"outside billplan, of {checked} managed objects."
    )


_BACKTICKS = re.compile("`+")
_CLOSING = (
    "Nothing was changed: neither the vendors nor billplan's state. `billplan plan` shows how "
    "apply would bring these objects back to the plan."
)


def _lines(item: Change) -> list[str]:
    """One line per object and per changed field, each a line whatever its text holds."""
    what = f"{visible(item.address)}  ({visible(item.type)} {visible(item.remote_id)}"
    if item.reason == "gone":
        return [f"- deleted  {what})"]
    invoiced = ", invoiced" if item.before_locked else ""
    lines = [f"~ changed  {what}{invoiced})"]
    lines += [
        f"    {visible(f.field)}: {visible(value_text(f.before))} -> {visible(value_text(f.after))}"
        for f in item.fields
    ]
    return lines


def _by_project(plan: Plan) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = defaultdict(list)
    for item in drifted(plan):
        grouped[item.project].append(item)
    return dict(sorted(grouped.items()))


def print_text(plan: Plan, console: Console) -> None:
    for project, items in _by_project(plan).items():
        print_project(project, items[0], console)
        for item in items:
            for n, line in enumerate(_lines(item)):
                style = ("red" if item.reason == "gone" else "magenta") if n == 0 else "dim"
                console.print(f"  [{style}]{markup(line)}[/{style}]")
        console.print()
    for address in plan.pending:
        console.print(
            f"[yellow]Note: {markup(address)}: a create was sent and its outcome is "
            "unknown; `billplan plan` looks for it[/yellow]"
        )
    console.print(f"[bold]{markup(summary(plan))}[/bold]")
    if found(plan):
        console.print(_CLOSING)


def to_markdown(plan: Plan) -> str:
    out = [f"### billplan drift: {summary(plan)}", ""]
    for project, items in _by_project(plan).items():
        lines = [line for item in items for line in _lines(item)]
        fence = _fence(lines)
        name = html.escape(visible(project))
        out += [f"<details open><summary><b>{name}</b>: {len(items)}</summary>", ""]
        out += [f"{fence}diff", *lines, fence, "", "</details>", ""]
    for address in plan.pending:
        out += [f"> **Note:** {md_text(address)}: a create was sent and its outcome is unknown", ""]
    if found(plan):
        out += [_CLOSING, ""]
    return "\n".join(out)


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in the lines: no text closes it early."""
    longest = max((len(run) for run in _BACKTICKS.findall("\n".join(lines))), default=0)
    return "`" * max(3, longest + 1)


def to_json(plan: Plan) -> str:
    document = {
        "refresh_only": True,
        "summary": {
            "changed": plan.count_reason("drift"),
            "deleted": plan.count_reason("gone"),
            "checked": len(plan.changes),
            "text": summary(plan),
        },
        "drift": [
            {
                "address": d.address,
                "kind": _KIND[d.reason or ""],
                "provider": d.provider,
                "type": d.type,
                "project": d.project,
                "project_id": d.project_id,
                "remote_id": d.remote_id,
                "locked": d.before_locked,
                "fields": [
                    {"field": f.field, "before": f.before, "after": f.after} for f in d.fields
                ],
            }
            for d in drifted(plan)
        ],
        "pending": plan.pending,
    }
    return jsonio.dumps(document, indent=2) + "\n"
