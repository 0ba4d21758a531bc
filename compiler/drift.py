"""`plan --refresh-only`: what changed at the vendors outside billplan, and nothing else.

Each managed object in state is compared with what its vendor holds now: fields that differ
from what billplan last wrote (old -> new), or the object gone. The plan's own wishes play no
part, and nothing is written, neither to the vendors nor to state.

What a vendor holds now is user text (anyone with access to the vendor's tool typed it): it
is shown through compiler.render.safe in every view, as the plan's own text is.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rich.console import Console

from compiler import jsonio
from compiler.diff import field_changes
from compiler.model import Observed
from compiler.model.change import FieldChange
from compiler.render.plan import md_text, value_text
from compiler.render.safe import markup, visible
from compiler.state import State
from compiler.targets import Targets

Kind = Literal["changed", "deleted"]


@dataclass(frozen=True)
class Drifted:
    address: str
    kind: Kind
    provider: str
    type: str
    project: str
    project_id: str | int
    remote_id: str
    fields: tuple[FieldChange, ...] = ()  # before: what billplan wrote; after: what it is now
    locked: bool = False  # invoiced at the vendor now


@dataclass
class Drift:
    drifted: list[Drifted]
    checked: int  # managed objects compared
    pending: list[str]  # addresses whose create's outcome is unknown (not compared)

    @property
    def found(self) -> bool:
        return bool(self.drifted)

    def count(self, kind: Kind) -> int:
        return sum(1 for d in self.drifted if d.kind == kind)

    def summary(self) -> str:
        if not self.drifted:
            return (
                f"No drift: the vendors hold what billplan last wrote for all {self.checked} "
                "managed objects."
            )
        return (
            f"Drift: {self.count('changed')} changed and {self.count('deleted')} deleted "
            f"outside billplan, of {self.checked} managed objects."
        )


def detect(state: State, observed: Iterable[Observed], targets: Targets | None = None) -> Drift:
    remote = {(o.type, o.remote_id): o for o in observed}
    targets = targets or Targets()
    drifted: list[Drifted] = []
    pending: list[str] = []
    checked = 0
    for address, entry in sorted(state.entries.items()):
        if not targets.matches(address):
            continue
        if entry.remote_id is None:
            pending.append(address)
            continue
        checked += 1
        now = remote.get((entry.type, entry.remote_id))
        common = {
            "address": address,
            "provider": entry.provider,
            "type": entry.type,
            "project": entry.project,
            "project_id": entry.project_id,
            "remote_id": entry.remote_id,
        }
        if now is None:
            drifted.append(Drifted(kind="deleted", **common))
            continue
        fields = field_changes(entry.attributes, now.attributes)
        if fields:
            drifted.append(Drifted(kind="changed", fields=fields, locked=now.locked, **common))
    return Drift(drifted, checked, pending)


_BACKTICKS = re.compile("`+")
_CLOSING = (
    "Nothing was changed: neither the vendors nor billplan's state. `billplan plan` shows how "
    "apply would bring these objects back to the plan."
)


def _lines(item: Drifted) -> list[str]:
    """One line per object and per changed field, each a line whatever its text holds."""
    what = f"{visible(item.address)}  ({visible(item.type)} {visible(item.remote_id)}"
    if item.kind == "deleted":
        return [f"- deleted  {what})"]
    invoiced = ", invoiced" if item.locked else ""
    lines = [f"~ changed  {what}{invoiced})"]
    lines += [
        f"    {visible(f.field)}: {visible(value_text(f.before))} -> {visible(value_text(f.after))}"
        for f in item.fields
    ]
    return lines


def _by_project(drift: Drift) -> dict[str, list[Drifted]]:
    grouped: dict[str, list[Drifted]] = defaultdict(list)
    for item in drift.drifted:
        grouped[item.project].append(item)
    return dict(sorted(grouped.items()))


def print_text(drift: Drift, console: Console) -> None:
    for project, items in _by_project(drift).items():
        first = items[0]
        console.print(
            f"[bold]{markup(project)}[/bold]  ({markup(first.provider)}, "
            f"{markup(first.project_id)})"
        )
        for item in items:
            for n, line in enumerate(_lines(item)):
                style = ("red" if item.kind == "deleted" else "magenta") if n == 0 else "dim"
                console.print(f"  [{style}]{markup(line)}[/{style}]")
        console.print()
    for address in drift.pending:
        console.print(
            f"[yellow]Note: {markup(address)}: a create was sent and its outcome is "
            "unknown; `billplan plan` looks for it[/yellow]"
        )
    console.print(f"[bold]{markup(drift.summary())}[/bold]")
    if drift.found:
        console.print(_CLOSING)


def to_markdown(drift: Drift) -> str:
    out = [f"### billplan drift: {drift.summary()}", ""]
    for project, items in _by_project(drift).items():
        lines = [line for item in items for line in _lines(item)]
        fence = _fence(lines)
        summary = html.escape(visible(project))
        out += [f"<details open><summary><b>{summary}</b>: {len(items)}</summary>", ""]
        out += [f"{fence}diff", *lines, fence, "", "</details>", ""]
    for address in drift.pending:
        out += [f"> **Note:** {md_text(address)}: a create was sent and its outcome is unknown", ""]
    if drift.found:
        out += [_CLOSING, ""]
    return "\n".join(out)


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in the lines: no text closes it early."""
    longest = max((len(run) for run in _BACKTICKS.findall("\n".join(lines))), default=0)
    return "`" * max(3, longest + 1)


def to_json(drift: Drift) -> str:
    document = {
        "refresh_only": True,
        "summary": {
            "changed": drift.count("changed"),
            "deleted": drift.count("deleted"),
            "checked": drift.checked,
            "text": drift.summary(),
        },
        "drift": [
            {
                "address": d.address,
                "kind": d.kind,
                "provider": d.provider,
                "type": d.type,
                "project": d.project,
                "project_id": d.project_id,
                "remote_id": d.remote_id,
                "locked": d.locked,
                "fields": [
                    {"field": f.field, "before": f.before, "after": f.after} for f in d.fields
                ],
            }
            for d in drift.drifted
        ],
        "pending": drift.pending,
    }
    return jsonio.dumps(document, indent=2) + "\n"
