"""An apply in a terminal: the plan shown before it, the question that approves it, the
progress while it runs (on stderr, gone when done), and after it what was done and what
failed. compiler.operations.applying decides what happens; this module shows it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.render import plan as render_plan
from compiler.render import terminal
from compiler.render.safe import markup

if TYPE_CHECKING:
    from compiler.apply import Applied, Progress
    from compiler.model.change import Plan

# What each label of a change done is called in the summary, in the summary's order.
_DONE = {"create": "created", "update": "updated", "drift": "restored", "delete": "deleted",
         "adopt": "adopted", "forget": "forgotten"}  # fmt: skip


class TerminalApply:
    """compiler.operations.applying.ApplyView for a person at a terminal, or a CI job that
    approves in advance (--auto-approve)."""

    def __init__(self, auto_approve: bool) -> None:
        self.auto_approve = auto_approve

    def agreed(self, plan_dir: Path, as_of: date, path: Path, plan: Plan) -> None:
        count = sum(1 for c in plan.changes if c.label != "no-op")
        terminal.stdout().print(
            f"{markup(str(plan_dir))} as of {as_of} gives the same "
            f"{terminal.count(count, 'change')} as {markup(str(path))}."
        )

    def planned(self, plan: Plan) -> None:
        terminal.warn_partial(plan)
        render_plan.print_text(plan, terminal.stdout())

    def approved(self, plan: Plan) -> bool:
        if self.auto_approve:
            return True
        if not sys.stdin.isatty():
            terminal.error("apply needs confirmation: run it in a terminal, or pass --auto-approve")
            return False
        answer = input(f"{plan.summary()}\nApply these changes? Only 'yes' will be accepted: ")
        return answer.strip() == "yes"

    @contextmanager
    def progress(self, total: int) -> Iterator[Progress]:
        from rich.progress import Progress as Bar

        with Bar(console=terminal.stderr(), transient=True) as bar:
            task = bar.add_task("Applying", total=total)
            yield lambda change: bar.advance(task)


def cancelled() -> None:
    terminal.stdout().print("Apply cancelled; nothing was changed.")


def print_applied(applied: Applied) -> None:
    """What was done, by kind; each failure with its address on stderr."""
    console = terminal.stdout()
    if applied.moved:
        plural = "es" if applied.moved != 1 else ""
        console.print(f"Moved {applied.moved} address{plural} in state.")
    if applied.marked:
        plural = "es" if applied.marked != 1 else ""
        console.print(f"Changed the protection of {applied.marked} address{plural} in state.")
    counts: dict[str, int] = {}
    for change in applied.done:
        counts[change.label] = counts.get(change.label, 0) + 1
    done = ", ".join(f"{counts[a]} {w}" for a, w in _DONE.items() if counts.get(a))
    done = done or ("nothing more" if applied.moved or applied.marked else "nothing")
    if applied.failures:
        err = terminal.stderr()
        for failure in applied.failures:
            err.print(f"[red]{markup(failure.address)}[/red]: {markup(failure.message)}")
        console.print(f"Apply incomplete: {done}; {len(applied.failures)} failed.")
        return
    console.print(f"[bold green]Apply complete:[/bold green] {done}.")
