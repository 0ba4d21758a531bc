"""An apply in a terminal: the plan shown before it, the question that approves it, a line
per object as it is written (`n/N`, the time since the writes began, the address, what was
done and the object's remote id, as Terraform prints them), and after it what was done and
what failed; or, when Ctrl-C stops it, how far it got and what to run next.
compiler.operations.applying decides what happens; this module shows it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.render import plan as render_plan
from compiler.render import terminal
from compiler.render.safe import markup

if TYPE_CHECKING:
    from compiler.apply import Applied
    from compiler.model.change import Plan
    from compiler.operations.applying import Interrupted, Written

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
        # A closed stdin (`<&-`) is None: like a pipe or /dev/null, nobody can answer.
        if sys.stdin is None or not sys.stdin.isatty():
            terminal.error("apply needs confirmation: run it in a terminal, or pass --auto-approve")
            return False
        # The plan just printed ends with its summary line: the question follows it.
        try:
            answer = input("Apply these changes? Only 'yes' will be accepted: ")
        except EOFError:  # the terminal closed its input (Ctrl-D): no answer is not a yes
            return False
        return answer.strip() == "yes"

    @contextmanager
    def progress(self, total: int) -> Iterator[Callable[[Written], None]]:
        console = terminal.stdout()
        started = time.monotonic()
        count = 0

        def written(done: Written) -> None:
            nonlocal count
            count += 1
            console.print(progress_line(done, count, total, time.monotonic() - started))

        yield written

    def stopping(self) -> None:
        # Called from the SIGINT handler: plain writes, no console shared with the lines.
        sys.stderr.write(
            "\nCtrl-C: stopping once the write in progress is done, with state saved "
            "(Ctrl-C again stops at once).\n"
        )
        sys.stderr.flush()


def progress_line(done: Written, n: int, total: int, seconds: float) -> str:
    """`[3/7 0:02] cloud-infra/milestones/kickoff: created (id 3f2e...)`, in rich markup:
    one object written, or failed (its error is listed with the others at the end)."""
    change = done.change
    where = f"[dim]\\[{n:>{len(str(total))}}/{total} {elapsed(seconds)}][/dim]"
    address = markup(change.address)
    if done.failure is not None:
        return f"{where} {address}: [red]{change.label} failed[/red] (see below)"
    remote = f" (id {markup(done.remote_id)})" if done.remote_id else ""
    return f"{where} {address}: {_DONE.get(change.label, change.label)}{remote}"


def elapsed(seconds: float) -> str:
    """Time as a clock reads it: 0:07, 12:30, 1:02:03."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def interrupted(
    stopped: Interrupted, path: str, saved: str | None, rerun: tuple[str, ...] = ()
) -> None:
    """Ctrl-C stopped the apply: how many changes were applied, that state holds them, and
    what to run next. rerun: the options the next commands need to plan the same thing at
    the same place (--sandbox, --target, ...), already quoted for a shell."""
    applied = stopped.applied
    done = _done_words(applied) or "nothing"
    lines = [
        f"Apply interrupted: {len(applied.done)} of {terminal.count(stopped.total, 'change')} "
        f"applied ({done}); state is saved with every one of them.",
    ]
    if applied.failures:
        lines.append(f"{len(applied.failures)} failed before the interrupt:")
        lines += [f"  {markup(f.address)}: {markup(f.message)}" for f in applied.failures]
    if stopped.in_flight:
        n = stopped.in_flight
        lines.append(
            f"{terminal.count(n, 'create')} {'was' if n == 1 else 'were'} sent when it "
            "stopped, with no answer yet, and recorded as sent: the next plan looks for "
            f"{'it' if n == 1 else 'them'} at the vendor before creating anything again."
        )
    shown = markup(" ".join((path, *rerun)))
    again = (
        f"`billplan plan {shown} -o {markup(saved)}` to review the rest again, then "
        f"`billplan apply {markup(saved)} {shown}`"
        if saved is not None
        else f"`billplan apply {shown}` to apply the rest"
    )
    lines.append(f"Next: `billplan plan {shown}` shows what is left; {again}.")
    err = terminal.stderr()
    for line in lines:
        err.print(f"[bold yellow]{line}[/bold yellow]" if line is lines[0] else line)


def _done_words(applied: Applied) -> str:
    """`2 created, 1 updated`: what was done, by kind, in the summary's order."""
    counts: dict[str, int] = {}
    for change in applied.done:
        counts[change.label] = counts.get(change.label, 0) + 1
    return ", ".join(f"{counts[a]} {w}" for a, w in _DONE.items() if counts.get(a))


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
    nothing = "nothing more" if applied.moved or applied.marked else "nothing"
    done = _done_words(applied) or nothing
    if applied.failures:
        err = terminal.stderr()
        for failure in applied.failures:
            err.print(f"[red]{markup(failure.address)}[/red]: {markup(failure.message)}")
        console.print(f"Apply incomplete: {done}; {len(applied.failures)} failed.")
        return
    console.print(f"[bold green]Apply complete:[/bold green] {done}.")
