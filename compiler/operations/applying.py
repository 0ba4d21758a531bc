"""Applying a plan (`apply PATH`, and `apply FILE PATH` once its saved plan is checked): under
the state's lock, the plan made, shown, refused if it breaks a policy rule (compiler.policy),
checked against the vendors' request budgets and approved by a person, then its changes made
(compiler.apply) with progress shown.

This module decides what happens and in which order; what is shown, and how approval is
asked, is the view's (ApplyView; compiler.render.apply_view shows it in a terminal).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from compiler.apply import Applied, actionable, apply_plan
from compiler.operations import saved_plan
from compiler.policy import PolicyBreached

if TYPE_CHECKING:
    from compiler.model.change import Change, Plan
    from compiler.planfile import Saved
    from compiler.state import State
    from compiler.targets import Targets
    from compiler.workspace import Workspace


class ApplyView(Protocol):
    """What an apply shows and asks, in the order it happens."""

    def agreed(self, plan_dir: Path, as_of: date, path: Path, plan: Plan) -> None:
        """A saved plan at path is what plan_dir gives now: its changes are applied."""

    def planned(self, plan: Plan) -> None:
        """The plan about to be applied."""

    def approved(self, plan: Plan) -> bool:
        """Whether a person approves applying the plan's changes."""

    def progress(self, total: int) -> AbstractContextManager[Callable[[Written], None]]:
        """Progress while total changes are made: called once per change, as it is written
        (or fails)."""

    def stopping(self) -> None:
        """Ctrl-C came while apply writes: it stops once the write in progress is done."""


@dataclass(frozen=True)
class Written:
    """One change as apply made it: the object's remote id (a create's new one), or why the
    write failed."""

    change: Change
    remote_id: str | None
    failure: str | None = None

    @property
    def address(self) -> str:
        return self.change.address


class Interrupted(Exception):
    """Ctrl-C stopped an apply, after the write in progress (or, pressed twice, at once).
    State holds `applied`, what was done; a create sent when a second Ctrl-C came is recorded
    as sent (`in_flight`), and the next plan looks for it at the vendor before creating it
    again."""

    def __init__(self, applied: Applied, total: int, in_flight: int) -> None:
        self.applied = applied
        self.total = total
        self.in_flight = in_flight
        super().__init__(f"interrupted after {len(applied.done)} of {total} changes")


class OverBudget(Exception):
    """A vendor's request budget cannot cover the plan's writes; nothing was applied. The
    message has a line per vendor."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ProtectedDelete(Exception):
    """The plan would delete protected objects (`protect: true`); nothing was applied. The
    message says what to do; `addresses` names them (the CLI exits EXIT_PROTECTED)."""

    def __init__(self, plan: Plan) -> None:
        self.addresses = [change.address for change in plan.refused]
        super().__init__(refusal(plan))


def refusal(plan: Plan) -> str:
    """Why a plan holding deletes of protected objects is neither passed nor applied."""
    n = len(plan.refused)
    return (
        f"the plan would delete {n} protected object{'s' if n != 1 else ''} "
        f"({', '.join(c.address for c in plan.refused)}), so nothing is applied. To delete "
        "one on purpose, apply the plan with `protect: false` on its charge first (that clears "
        "the mark billplan keeps in state), then remove the charge; to stop managing it and "
        "keep it at the vendor, list it under `removed:`"
    )


class NotApproved(Exception):
    """The plan was not approved; nothing was changed."""


def apply_dir(
    workspace: Workspace, targets: Targets, lock_timeout: float, view: ApplyView
) -> Applied | None:
    """Plan the workspace against the vendors now (with the targets) and apply it, under the
    state's lock; None when there is nothing to apply."""
    with workspace.backend.lock("apply", lock_timeout):
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state, targets), targets)
        return _approved_and_applied(workspace, plan, state, view)


def apply_saved(
    workspace: Workspace,
    saved: Saved,
    path: Path,
    plan_dir: Path,
    lock_timeout: float,
    view: ApplyView,
) -> Applied | None:
    """Plan plan_dir again (the workspace) with the vendors now, at the saved as-of date and
    targets, and apply that plan if it makes the saved plan's changes (SavedPlanRefused if
    not), under the state's lock; None when there is nothing to apply."""
    if saved.plan.refused:
        raise ProtectedDelete(saved.plan)  # refused when it was made: it stays refused
    with workspace.backend.lock("apply", lock_timeout):
        state, merged = saved_plan.replan(workspace, saved, path, plan_dir)
        view.agreed(plan_dir, saved.as_of, path, merged)
        return _approved_and_applied(workspace, merged, state, view)


def _approved_and_applied(
    workspace: Workspace, plan: Plan, state: State, view: ApplyView
) -> Applied | None:
    """Show the plan, check the request budget, ask approval, apply: for a plan made now or
    a saved one."""
    view.planned(plan)
    if plan.refused:
        raise ProtectedDelete(plan)
    if plan.breaches:
        raise PolicyBreached(plan.breaches)
    if not plan.has_changes:
        return None
    if problems := workspace.budget_problems(plan):
        raise OverBudget(problems)
    if not view.approved(plan):
        raise NotApproved()
    changes = actionable(plan)
    applied = Applied()
    pending_before = _pending(state)
    with view.progress(len(changes)) as progress, _ctrl_c(view) as stop:
        failed: dict[str, str] = {}  # the failures read so far, by address
        read = 0

        def written(change: Change) -> None:
            nonlocal read
            for failure in applied.failures[read:]:
                failed[failure.address] = failure.message
            read = len(applied.failures)
            progress(_written(change, failed.get(change.address), state))
            if stop.asked:
                raise _Stopped()

        try:
            return apply_plan(
                plan, workspace.providers, workspace.backend, state, written, into=applied
            )
        except (_Stopped, KeyboardInterrupt):
            # Still inside the state's lock, which is released on the way out. State is
            # written after every call, but a create's answer only with the next batch:
            # written here, so that state holds everything done (a create sent when a
            # second Ctrl-C came stays recorded as sent).
            workspace.backend.write(state)
            raise Interrupted(applied, len(changes), _pending(state) - pending_before) from None


class _Stopped(Exception):
    """The write in progress when Ctrl-C came is done: apply stops there."""


@dataclass
class _Stop:
    asked: bool = False


@contextmanager
def _ctrl_c(view: ApplyView) -> Iterator[_Stop]:
    """While apply writes, a first Ctrl-C lets the write in progress finish (its outcome is
    then recorded; none is left unknown) and stops after it; a second stops at once. Off the
    main thread, where no signal arrives, Ctrl-C is Python's own."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGINT)

    def asked(signum: int, frame: object) -> None:
        if stop.asked:
            raise KeyboardInterrupt
        stop.asked = True
        view.stopping()

    signal.signal(signal.SIGINT, asked)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _written(change: Change, failure: str | None, state: State) -> Written:
    """What apply just did for change: the remote id state now holds for it (a delete's or
    forget's, the one it had), or its failure."""
    entry = state.entries.get(change.address)
    remote_id = entry.remote_id if entry is not None and entry.remote_id else change.remote_id
    return Written(change, remote_id, failure)


def _pending(state: State) -> int:
    """Creates recorded as sent whose answer is not in state (yet)."""
    return sum(1 for entry in state.entries.values() if entry.status == "pending")
