"""One pass over a plan: each charge parsed into its spec, computed into occurrences, and
described into Items, within the plan's limits (items and template work); then each
project's cap is checked against what its charges bill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from compiler.diagnostics import Diagnostic
from compiler.expand import milestone, parallel, product, recurring
from compiler.expand.parse import Parser, Revalidate
from compiler.expand.relative import ProjectDates
from compiler.expand.spec import (
    Charge,
    ChargeSpec,
    Description,
    Invalid,
    MilestoneSpec,
    Occurrence,
    ProductSpec,
    ProjectSpec,
    RecurringSpec,
    Room,
    Settings,
    SplitSpec,
    Stop,
)
from compiler.limits import RAISE_ITEMS, Limits
from compiler.load import Document, PathKey
from compiler.model import Item
from compiler.money import format_grouped
from compiler.template_direct import Direct
from compiler.template_limits import PlanBudget
from compiler.templates import (
    PlanBudgetSpent,
    Rendered,
    TemplateProblem,
    prepare,
    render_again,
    render_counted,
    repeat,
)


@dataclass
class Expansion:
    """What a plan expanded to: its items, and every meaning problem found on the way."""

    items: list[Item] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass(frozen=True)
class Halves:
    """A plan's projects in two: the first expanded here, the rest by a worker that is
    already running (compiler/halves.py); `part()` waits for what it sends (expand_part)."""

    first: Sequence[str]
    rest: Sequence[str]
    part: Callable[[], bytes | None]
    # Given this process's items once they are made (in item order), before waiting for the
    # worker's part: what this process can do meanwhile (render's records of them).
    meanwhile: Callable[[Sequence[Item]], None] | None = None


def expand(
    doc: Document,
    as_of: date,
    *,
    skip: Callable[[PathKey], bool] = lambda path: False,
    revalidate: Revalidate | None = None,
    limits: Limits | None = None,
    halves: Halves | None = None,
) -> Expansion:
    """Expand every project of a plan into Items.

    skip(path) tells whether a part of the plan already failed the schema; such parts are
    not checked for meaning (their errors are already reported). revalidate checks a charge
    merged with its template against the schema for its kind. limits bound the items and
    the template work (the default limits when not given). With halves, a worker expands
    the rest of the projects; otherwise a large plan forks one here (compiler/expand/parallel).
    """
    out = Expansion()
    parser, describer, run = _start(doc, as_of, skip, revalidate, limits, out)
    if run is None:
        return out
    written = parser.root.get("projects")
    ordered = False  # whether out.items are in item order already
    try:
        if halves is not None:
            run(halves.first)
            # This process's items in order; the worker sends its own in order (_part): where
            # its projects all come after these, nothing is left to sort.
            out.items.sort(key=item_order)
            mine = len(out.items)
            if halves.meanwhile is not None:
                halves.meanwhile(out.items)
            taken = _take_part(halves.part(), run, halves.rest, out, describer)
            ordered = taken and _in_order_at(out.items, mine)
        elif (split := parallel.split(written)) is None:
            run(None)
        else:
            keys = list(written)
            _expand_in_two(run, keys[:split], keys[split:], out, describer)
    except Stop as stop:
        parser.error(stop.path, stop.message)
        return out
    if not ordered:
        out.items.sort(key=item_order)
    return out


def _in_order_at(items: list[Item], at: int) -> bool:
    """Whether two runs in item order, before `at` and from it, are in order together."""
    return at in (0, len(items)) or item_order(items[at - 1]) <= item_order(items[at])


def item_order(item: Item) -> tuple[str, date, str]:
    """Where an item comes in a plan's items: by project, date (undated last), address."""
    return (item.project, item.date or date.max, item.address)


def expand_part(
    doc: Document, as_of: date, keys: Sequence[str], *, revalidate: Revalidate, limits: Limits
) -> tuple[bytes, list[Item]]:
    """A worker's side of Halves: these projects expanded from the start, encoded, and the
    items themselves (in item order)."""
    out = Expansion()
    _, describer, run = _start(doc, as_of, lambda path: False, revalidate, limits, out)
    # Without defaults that read, the parent expands nothing either and never asks.
    return _part(run or (lambda keys: None), keys, out, describer), out.items


def _start(
    doc: Document,
    as_of: date,
    skip: Callable[[PathKey], bool],
    revalidate: Revalidate | None,
    limits: Limits | None,
    out: Expansion,
) -> tuple[Parser, _Describer, Callable[[Sequence[str] | None], None] | None]:
    """The parser and describer of one expansion, and what expands projects into `out`
    (None when the plan's defaults do not read)."""
    parser = Parser(doc, as_of, skip, revalidate, out.diagnostics.append)
    limits = limits or Limits()
    describer = _Describer(
        parser.vars,
        out.items,
        limits.max_items,
        PlanBudget(
            limits.template_steps,
            f"simplify the templates, or {RAISE_ITEMS} (the budget grows with it)",
        ),
    )
    defaults = parser.defaults()
    if defaults is None:
        return parser, describer, None
    return parser, describer, partial(_expand_projects, doc, parser, describer, defaults)


def _expand_projects(
    doc: Document,
    parser: Parser,
    describer: _Describer,
    defaults: Settings,
    keys: Sequence[str] | None,
) -> None:
    """Expand the plan's projects (those keys only, when given) into the describer's items."""
    for project in parser.projects(defaults, keys):
        start = len(describer.items)
        # Milestones dated after another wait until the project's charges are all read.
        dates = ProjectDates(project.key, parser.milestone_keys(project))
        for spec in parser.charges(project):
            if not dates.hold(spec):
                _describe(parser, describer, spec)
        for spec in dates.resolved(parser.error):
            _describe(parser, describer, spec)
        cap = parser.cap(project)
        if cap is not None:
            for problem in _cap_problems(doc, project, cap, describer.items[start:]):
                parser.report(problem)


def _expand_in_two(
    run: Callable[[Sequence[str]], None],
    first: Sequence[str],
    rest: Sequence[str],
    out: Expansion,
    describer: _Describer,
) -> None:
    """Expand the first projects here and the rest in a worker forked now."""

    def work(channel: parallel.Channel) -> None:  # in the worker, from the plan as it is now
        channel.send(_part(run, rest, out, describer))

    with parallel.Worker(work) as worker:
        run(first)
        sent = worker.result()
    _take_part(sent, run, rest, out, describer)


def _part(
    run: Callable[[Sequence[str]], None],
    keys: Sequence[str],
    out: Expansion,
    describer: _Describer,
) -> bytes:
    """These projects expanded into `out` (their items in item order), and what expanding
    them took, encoded."""
    budget = describer.budget
    items, problems = len(out.items), len(out.diagnostics)
    steps, elapsed, compiled = budget.steps, budget.elapsed, set(budget.compiled)
    stopped = False
    try:
        run(keys)
    except Stop:
        stopped = True
    out.items[items:] = sorted(out.items[items:], key=item_order)
    return parallel.encode(
        out.items[items:],
        out.diagnostics[problems:],
        stopped=stopped,
        peak=max(describer.peak, len(out.items)) - items,
        steps=steps - budget.steps,
        elapsed=budget.elapsed - elapsed,
        compiled=frozenset(budget.compiled - compiled),
    )


def _take_part(
    sent: bytes | None,
    run: Callable[[Sequence[str]], None],
    rest: Sequence[str],
    out: Expansion,
    describer: _Describer,
) -> bool:
    """The worker's part appended after this process's items (True), or the rest expanded
    here when it would not be exactly what expanding it here makes, or the worker failed
    (False)."""
    budget = describer.budget
    part = None if sent is None else parallel.decode(sent)
    if part is None or not part.fits(len(out.items), describer.max_items, budget):
        run(rest)
        return False
    budget.take(part.steps, part.elapsed, part.compiled)
    out.items.extend(part.items)
    out.diagnostics.extend(part.diagnostics)
    return True


def _describe(parser: Parser, describer: _Describer, spec: ChargeSpec) -> None:
    """A charge's items, or its first problem reported; a Stop ends the whole expansion."""
    try:
        describer.describe(spec.charge, _occurrences(spec, describer.room()))
    except Stop:
        raise
    except Invalid as problem:
        parser.error(problem.path, problem.message)


def _occurrences(spec: ChargeSpec, room: Room) -> Iterator[Occurrence]:
    if isinstance(spec, RecurringSpec):
        return recurring.occurrences(spec, room)
    if isinstance(spec, MilestoneSpec):
        return milestone.occurrences(spec)
    if isinstance(spec, SplitSpec):
        return milestone.split_occurrences(spec)
    assert isinstance(spec, ProductSpec)
    return product.occurrences(spec, room)


# The names a description may read that are the same for every item of a charge: a
# template reading only these renders once per charge (compiler.templates.repeat).
_CHARGE_NAMES = frozenset({"vars", "project", "charge", "currency", "rounding"})


class _Describer:
    """Turns a charge's occurrences into Items: renders each description and keeps the
    plan within its item limit and template budget."""

    def __init__(
        self,
        plan_vars: Any,
        items: list[Item],
        max_items: int,
        budget: PlanBudget,
    ) -> None:
        self.vars = plan_vars
        self.items = items
        self.max_items = max_items
        self.budget = budget
        # The most items the plan held at a limit check, counting the periods of the
        # charge at hand (compiler/expand/parallel.py reads it).
        self.peak = 0

    def room(self) -> Room:
        return Room(self.max_items - len(self.items), self.max_items, self._counted)

    def _counted(self, periods: int) -> None:
        self.peak = max(self.peak, len(self.items) + periods)

    def describe(self, charge: Charge, occurrences: Iterator[Occurrence]) -> None:
        project = charge.project
        address = charge.address
        text = _Texts(self, charge)
        append = self.items.append  # once per item of up to 100,000: looked up once
        for occurrence in occurrences:
            label = occurrence.label
            # Positional: an Item has 21 fields, and keywords cost a third of building it.
            append(
                Item(
                    address if label is None else f"{address}/{label}",
                    project.key,
                    charge.kind,
                    charge.key,
                    label,
                    occurrence.date,
                    occurrence.period,
                    text(occurrence),
                    occurrence.quantity,
                    occurrence.rate,
                    occurrence.amount,
                    charge.currency,
                    project.provider,
                    project.vendor,
                    project.project_id,
                    occurrence.task,
                    occurrence.percent,
                    charge.options,
                    charge.option_marks,
                    charge.mark,
                    charge.settings.adjust,
                )
            )


class _Texts:
    """The descriptions of one charge's items, each rendered with its item's context; a
    template that reads only what the charge's items share is rendered once."""

    def __init__(self, describer: _Describer, charge: Charge) -> None:
        self.describer = describer
        self.charge = charge
        self.shared: dict[str, Rendered] = {}  # template -> its text for every item
        # Templates rendered once already, that render without Jinja's runtime.
        self.direct: dict[str, Direct] = {}
        self.context: dict[str, Any] | None = None  # the items' context, made once

    def __call__(self, occurrence: Occurrence) -> str:
        describer = self.describer
        description = occurrence.description or self.charge.description
        source = description.text
        if source is None:
            raise Invalid(self.charge.path, "a description is required")
        if "{" not in source:
            text = source  # plain text needs no context
        else:
            # Most items of a large plan: a template rendered directly before, for this charge.
            direct = self.direct.get(source)
            if direct is None or (text := self._again(direct, description, occurrence)) is None:
                text = self._rendered(source, description, occurrence, direct is None)
        if len(describer.items) >= describer.max_items:
            raise describer.room().exceeded(self.charge.path, " with this charge")
        return text

    def _again(
        self, direct: Direct, description: Description, occurrence: Occurrence
    ) -> str | None:
        """The text its direct function makes, or None when Jinja must render it."""
        try:
            context = self._context(occurrence, occurrence.period)  # read by its fields
            return render_again(direct, context, self.describer.budget)
        except PlanBudgetSpent as problem:
            raise Stop(description.path, str(problem)) from None

    def _rendered(
        self, source: str, description: Description, occurrence: Occurrence, direct: bool
    ) -> str:
        """The text rendered in full (`direct`: unless a direct function renders it)."""
        budget = self.describer.budget
        try:
            once = self.shared.get(source)
            if once is not None and repeat(once, budget):
                return once.text
            period = occurrence.period and occurrence.period.context()
            context = self._context(occurrence, period)
            rendered = render_counted(source, context, budget, direct=direct)
        except TemplateProblem as problem:
            stop = Stop if isinstance(problem, PlanBudgetSpent) else Invalid
            raise stop(description.path, str(problem)) from None
        template = prepare(source)
        if template.repeatable and template.reads <= _CHARGE_NAMES:
            self.shared[source] = rendered
        elif template.direct is not None:
            self.direct[source] = template.direct
        return rendered.text

    def _context(self, occurrence: Occurrence, period: Any) -> dict[str, Any]:
        """The context of the occurrence's description: one mapping for the charge, its
        item's values set for each (Jinja renders from a copy; the direct functions only
        read it). `period` is Period.context(), or for a direct function the Period itself."""
        context = self.context
        if context is None:
            charge = self.charge
            context = self.context = {
                "vars": self.describer.vars,
                "project": charge.project.context,
                "charge": {"key": charge.key},
                "period": None,
                "date": None,
                "amount": None,
                "quantity": None,
                "rate": None,
                "currency": charge.currency,
                "rounding": charge.settings.rounding,  # read by the `money` filter
            }
        context["period"] = period
        context["date"] = occurrence.date
        context["amount"] = occurrence.amount
        context["quantity"] = occurrence.quantity
        context["rate"] = occurrence.rate
        return context


def _cap_problems(
    doc: Document, project: ProjectSpec, cap: Decimal, items: list[Item]
) -> Iterator[Diagnostic]:
    """A cap is in the project's currency and bounds what its charges bill (credits aside)."""
    currency = project.settings.currency or ""
    where = (*project.path, "cap")
    others = sorted({item.currency for item in items} - {currency})
    if others:
        yield doc.diagnostic(
            where,
            f"a cap is in the project's currency ({currency}) but charges here bill in "
            f"{', '.join(others)}; keep one currency in a capped project",
        )
        return
    positive = sum((item.amount for item in items if item.amount > 0), Decimal(0))
    if positive > cap:
        shown = (format_grouped(amount, currency) for amount in (cap, positive - cap, positive))
        cap_text, over, total = shown
        yield doc.diagnostic(
            where,
            f"cap {cap_text} {currency} exceeded by {over} {currency}: positive charges total "
            f"{total} {currency}; raise the cap or reduce the charges",
        )
