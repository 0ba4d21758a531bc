"""`billplan plan` in a terminal or a CI log, in its --format: a plan as text, markdown or
JSON (the saved plan's text), a partial plan's warning first; a refresh-only plan as its drift
report (compiler.render.drift). compiler.operations.planning decides what is made and written;
this module shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from compiler.model.change import Plan
from compiler.render import drift, terminal
from compiler.render import plan as render_plan
from compiler.render.safe import markup


@dataclass(frozen=True)
class TerminalPlan:
    """compiler.operations.planning.PlanView on stdout, in one --format."""

    format: str  # text, markdown or json
    show_unchanged: bool = False  # text: list no-op objects too
    saved_to: str | None = None  # text: say where the plan was saved (-o)

    @property
    def record(self) -> bool:
        return self.format == "json"

    def warn(self, plan: Plan) -> None:
        if plan.mode != "refresh-only":
            terminal.warn_partial(plan)

    def show(self, plan: Plan, record: str) -> None:
        if plan.mode == "refresh-only":
            texts = {
                "json": lambda: drift.to_json(plan),
                "markdown": lambda: drift.to_markdown(plan),
            }
            terminal.print_in(self.format, texts, lambda console: drift.print_text(plan, console))
            return
        texts = {"json": lambda: record, "markdown": lambda: render_plan.to_markdown(plan)}
        terminal.print_in(self.format, texts, lambda console: self._text(plan, console))

    def _text(self, plan: Plan, console: Console) -> None:
        render_plan.print_text(plan, console, show_unchanged=self.show_unchanged)
        if self.saved_to and plan.breaches:
            out = markup(self.saved_to)
            console.print(f"Saved the plan to {out}, with the policy rules it breaks: apply "
                          f"refuses it, and `billplan show {out}` prints it again.")  # fmt: skip
        elif self.saved_to:
            out = markup(self.saved_to)
            console.print(f"Saved the plan to {out}; apply exactly it with `billplan apply {out}`.")
