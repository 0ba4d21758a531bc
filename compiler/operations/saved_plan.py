"""Applying a saved plan (`apply FILE PATH`): the checks that refuse the file before anything
is planned, and the plan made again from the plan directory and the vendors now, which goes on
to apply only when the saved plan is still true and makes the same changes (compiler/review.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from compiler import planfile, review
from compiler.policy import PolicyBreached
from compiler.targets import Targets

if TYPE_CHECKING:
    from compiler.model.change import Plan
    from compiler.state import State
    from compiler.workspace import Workspace


class SavedPlanRefused(Exception):
    """A saved plan that is not applied: the message says why and what to do, and `details`
    lists what changed or differs, one line each."""

    def __init__(self, message: str, details: Iterable[str] = ()) -> None:
        self.details = list(details)
        super().__init__(message)


def opened(path: Path, *, plan_dir: str | None, sandbox: bool, as_of: str | None) -> planfile.Saved:
    """The saved plan at path, when it may be checked against plan_dir from this command line:
    against the same kind of vendors (the sandbox or the real ones), at its own as-of date.
    PolicyBreached when it was planned breaking a policy rule."""
    try:
        saved = planfile.load(path)
    except planfile.PlanFileError as exc:
        raise SavedPlanRefused(str(exc)) from None
    if saved.plan.breaches:
        # Refused before anything is read or planned: the reviewed plan broke the policy.
        raise PolicyBreached(saved.plan.breaches, f"{path}, as it was planned,")
    if plan_dir is None:
        raise SavedPlanRefused(
            f"{path} is a saved plan: name the plan directory to check it against, as in "
            f"`billplan apply {path} PATH` (it was made from {saved.plan_path}). billplan "
            "plans that directory again and applies only what it gives, if it is what was saved"
        )
    if sandbox != saved.sandbox:
        made, here = ("the sandbox", "the real vendors") if saved.sandbox else (
            "the real vendors", "the sandbox")  # fmt: skip
        flag = "add --sandbox" if saved.sandbox else "drop --sandbox and BILLPLAN_SANDBOX"
        raise SavedPlanRefused(f"{path} was planned against {made}, not {here}; {flag} to apply it")
    if saved.as_of > date.today():
        # No plan run made it (a review plans as of its own day), and the date decides how
        # far open-ended charges reach: a forged one would apply more than was reviewed.
        raise SavedPlanRefused(
            f"{path} was planned as of {saved.as_of}, which is after today ({date.today()}): "
            "a reviewed plan is made as of the day it is planned. Nothing was applied; plan, "
            "review and apply again"
        )
    if as_of is not None and as_of != saved.as_of.isoformat():
        raise SavedPlanRefused(
            f"{path} was planned as of {saved.as_of}, and is checked at that date; "
            f"drop --as-of {as_of}"
        )
    return saved


def replan(
    workspace: Workspace, saved: planfile.Saved, path: Path, plan_dir: Path
) -> tuple[State, Plan]:
    """The state, and the plan plan_dir gives now with the saved targets: the plan to apply.
    SavedPlanRefused when an object the saved plan touches changed since it was made, or when
    the new plan's changes are not the saved ones. Run it under the state's lock."""
    state = workspace.backend.read()
    scope = Targets(saved.plan.targets, saved.plan.excludes)
    observed = workspace.refresh(state, scope)
    problems = planfile.staleness(saved, state, observed)
    missing = sorted({c.provider for c in saved.plan.changes} - set(workspace.providers))
    problems += [f"provider {name!r} is no longer in the plan" for name in missing]
    if problems:
        raise SavedPlanRefused(
            f"{path} is stale: {len(problems)} object(s) changed since it was made. "
            "Nothing was applied; run `billplan plan` again.",
            problems,
        )
    merged = workspace.plan(state, observed, scope)
    if found := review.differences(saved.plan, merged):
        raise SavedPlanRefused(
            f"{path} is not what {plan_dir} gives now (as of {saved.as_of}): "
            f"{len(found)} difference(s). Nothing was applied. A saved plan is only "
            "the record of what was reviewed; billplan applies what the plan "
            "directory gives, and only when the two agree. Plan, review and apply again.",
            map(str, found),
        )
    return state, merged
