"""Making a plan (`billplan plan`): state read, the vendors refreshed, the plan made in its
mode (normal; or refresh-only, which finds drift and is never saved), and its outputs written
in order: the saved plan (`-o FILE`, compiler.planfile), then the view, then a copy for
GitHub Actions' job summary. What the view shows is its own (PlanView; compiler.render.
plan_view shows it in a terminal or a CI log).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from compiler import planfile
from compiler.model.change import Mode, Plan

if TYPE_CHECKING:
    from compiler.state import State
    from compiler.targets import Targets
    from compiler.workspace import Workspace


class PlanView(Protocol):
    """What `billplan plan` shows, in the order it happens."""

    @property
    def record(self) -> bool:
        """Whether show() needs the saved plan's text (a JSON view): it is made only when
        asked for, as at 10,000 objects it costs seconds."""

    def warn(self, plan: Plan) -> None:
        """What a person must know about the plan before anything is written (it is partial)."""

    def show(self, plan: Plan, record: str) -> None:
        """The plan; record is the saved plan's text when it was made (-o, or asked for)."""


def plan(
    workspace: Workspace,
    targets: Targets,
    mode: Mode,
    view: PlanView,
    *,
    save_to: Path | None = None,
) -> Plan:
    """The plan in mode (for the targets), shown by the view; a normal plan saved at save_to
    (PlanFileError when it cannot be written) and copied to the job summary in Actions."""
    state = workspace.state_to_plan()
    made = workspace.plan(state, workspace.refresh(state, targets), targets, mode=mode)
    view.warn(made)
    if mode == "refresh-only":
        # Drift is a report: nothing to apply, so nothing to save or put in a job summary.
        view.show(made, "")
        return made
    record = _record(workspace, made, state) if save_to or view.record else ""
    if save_to is not None:
        planfile.write(save_to, record)
    view.show(made, record)
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        # GitHub Actions' job summary: appended to (other steps write there too), any view.
        from compiler.render.plan import to_markdown

        with open(summary, "a", encoding="utf-8") as out:
            out.write(to_markdown(made) + "\n")
    return made


def _record(workspace: Workspace, plan: Plan, state: State) -> str:
    """The saved plan's text: the plan, the state it was made against, and where and as of
    when it was made."""
    return planfile.dumps(
        plan,
        # Absolute: a record of where the plan was made, which `apply FILE` names when it is
        # run without a plan directory.
        plan_path=str(workspace.path.resolve()),
        as_of=workspace.as_of,
        sandbox=workspace.sandbox is not None,
        state=state,
    )
