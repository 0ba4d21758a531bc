"""Expansion: a schema-valid Document becomes dated, priced Items, checking meaning as it goes.

Everything the JSON Schema cannot say is checked here (real dates, end after start, shares
summing to 100%, templates that render, caps, provider capabilities), and every problem is
reported with the place it was written, all at once. So are the bounds that keep a hostile
plan cheap to compile (amounts, dates, the number of items, template work): past the item
limit or the template budget, expansion stops at the charge that crossed it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cached_property
from typing import Any

from dateutil.relativedelta import relativedelta

from compiler import schedule, vendors
from compiler.diagnostics import Diagnostic, Mark
from compiler.limits import RAISE_ITEMS, Limits
from compiler.load import Document, PathKey
from compiler.model import SECTION, Item, Kind
from compiler.money import (
    AMOUNT_DIGITS,
    AmountTooLarge,
    Rounding,
    allocate,
    decimals,
    exponent,
    format_grouped,
    round_money,
    too_large,
)
from compiler.schedule import Every, Period, ScheduleError, TooManyPeriods
from compiler.template_limits import PlanBudget
from compiler.templates import PlanBudgetSpent, TemplateProblem, render

_KINDS_BY_SECTION: dict[str, Kind] = {section: kind for kind, section in SECTION.items()}
# Decimals a quantity, rate, weight or percentage may have (an amount: its currency's).
NUMBER_DECIMALS = 10
# Increases an escalation may compound: each is a power of an exact fraction.
MAX_ESCALATIONS = 1_000
# The fewest requests a second a connection may be paced to: below one, a plan of a few
# hundred changes would take hours to apply.
MIN_RPS = 1


class Invalid(Exception):
    """One meaning error inside a charge; stops that charge, not the plan."""

    def __init__(self, path: PathKey, message: str) -> None:
        self.path = path
        self.message = message


class _Stop(Invalid):
    """A limit of the whole plan was reached at this place: stops the expansion."""


@dataclass(frozen=True)
class Settings:
    """Settings resolved for one charge: defaults, then project, then charge (nearer wins)."""

    currency: str | None
    rounding: Rounding
    holidays: frozenset[date]
    horizon: relativedelta | None
    horizon_path: PathKey | None  # where the horizon in force was written
    options: Mapping[str, Mapping[str, Any]]  # vendor type -> merged option block
    # vendor type -> option key -> where the winning value was written (for provider errors)
    option_paths: Mapping[str, Mapping[str, PathKey]] = field(default_factory=dict)


@dataclass
class Source:
    """A charge after `use:` merged its template, remembering where each key was written."""

    values: dict[str, Any]
    path: PathKey  # the charge in the plan
    template_path: PathKey | None
    own: Mapping[str, Any]  # the charge as written (without the template)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def where(self, *keys: str | int) -> PathKey:
        """The path a value came from: the charge if it wrote it, else its template."""
        node: Any = self.own
        for key in keys:
            if not isinstance(node, Mapping | list) or (
                isinstance(node, Mapping) and key not in node
            ):
                if self.template_path is not None:
                    return (*self.template_path, *keys)
                break
            node = node[key]
        return (*self.path, *keys)


@dataclass
class Expansion:
    items: list[Item] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def expand(
    doc: Document,
    as_of: date,
    *,
    skip: Callable[[PathKey], bool] = lambda path: False,
    revalidate: Callable[[Kind, dict[str, Any]], list[tuple[PathKey, str]]] | None = None,
    limits: Limits | None = None,
) -> Expansion:
    """Expand every project of a plan into Items.

    skip(path) tells whether a part of the plan already failed the schema; such parts are
    not checked for meaning (their errors are already reported). revalidate checks a charge
    merged with its template against the schema for its kind. limits bound the items and
    the template work (the default limits when not given).
    """
    return _Expander(doc, as_of, skip, revalidate, limits or Limits()).run()


class _Expander:
    def __init__(
        self,
        doc: Document,
        as_of: date,
        skip: Callable[[PathKey], bool],
        revalidate: Callable[[Kind, dict[str, Any]], list[tuple[PathKey, str]]] | None,
        limits: Limits,
    ) -> None:
        self.doc = doc
        self.root = doc.root
        self.as_of = as_of
        self.skip = skip
        self.revalidate = revalidate
        self.max_items = limits.max_items
        self.template_budget = PlanBudget(
            limits.template_steps,
            f"simplify the templates, or {RAISE_ITEMS} (the budget grows with it)",
        )
        self.out = Expansion()
        self.vars = self.root.get("vars") or {}
        self.templates = self.root.get("templates") or {}
        self.providers = self.root.get("providers") or {}

    def error(self, path: PathKey, message: str) -> None:
        self.out.diagnostics.append(self.doc.diagnostic(path, message))

    def run(self) -> Expansion:
        defaults = self.root.get("defaults") or {}
        if self.skip(("defaults",)) or self.skip(("providers",)):
            return self.out
        self._check_connections()
        base = self._settings(None, defaults, ("defaults",))
        if base is None:
            return self.out
        try:
            for key, project in (self.root.get("projects") or {}).items():
                path: PathKey = ("projects", key)
                if self._project_header_broken(path, project):
                    continue
                self._project(key, project, path, base)
        except _Stop as stop:
            self.error(stop.path, stop.message)
            return self.out
        self.out.items.sort(key=lambda item: (item.project, item.date or date.max, item.address))
        return self.out

    def _check_connections(self) -> None:
        for name, provider in self.providers.items():
            rate = provider.get("max_rps") if isinstance(provider, Mapping) else None
            number = isinstance(rate, int | float | Decimal) and not isinstance(rate, bool)
            if number and rate < MIN_RPS:
                self.error(
                    ("providers", name, "max_rps"),
                    f"max_rps {rate} is below {MIN_RPS} request a second, at which a plan of "
                    "a few hundred changes takes hours to apply; give 1 or more",
                )

    def _project_header_broken(self, path: PathKey, project: Any) -> bool:
        if not isinstance(project, dict):
            return True
        if "provider" not in project or "project_id" not in project:
            return True  # the schema already said which one is missing
        # An error on the project mapping itself (an unknown key) leaves its charges checkable;
        # a broken header value (provider, currency, ...) does not.
        return any(self.skip((*path, key)) for key in project if key not in _KINDS_BY_SECTION)

    # -- settings ---------------------------------------------------------------------------

    def _settings(
        self,
        parent: Settings | None,
        layer: Mapping[str, Any],
        path: PathKey,
        where: Callable[..., PathKey] | None = None,
    ) -> Settings | None:
        holidays = parent.holidays if parent else frozenset()
        if "holidays" in layer:
            try:
                holidays = frozenset(
                    _date(text, (*path, "holidays", i)) for i, text in enumerate(layer["holidays"])
                )
            except Invalid as problem:
                self.error(problem.path, problem.message)
                return None
        horizon = parent.horizon if parent else None
        horizon_path = parent.horizon_path if parent else None
        if "horizon" in layer:
            try:
                horizon = schedule.parse_duration(layer["horizon"])
            except ValueError as exc:
                self.error((*path, "horizon"), str(exc))
                return None
            horizon_path = (*path, "horizon")
        options: dict[str, Mapping[str, Any]] = dict(parent.options) if parent else {}
        option_paths = dict(parent.option_paths) if parent else {}
        locate = where or (lambda *keys: (*path, *keys))
        for vendor in vendors.names():
            if vendor in layer:
                options[vendor] = {**options.get(vendor, {}), **layer[vendor]}
                option_paths[vendor] = {
                    **option_paths.get(vendor, {}),
                    **{key: locate(vendor, key) for key in layer[vendor]},
                }
        return Settings(
            currency=layer.get("currency", parent.currency if parent else None),
            rounding=layer.get("rounding", parent.rounding if parent else "half_up"),
            holidays=holidays,
            horizon=horizon,
            horizon_path=horizon_path,
            options=options,
            option_paths=option_paths,
        )

    def _foreign_options(self, layer: Mapping[str, Any], path: PathKey, vendor: str) -> bool:
        found = False
        for other in vendors.names():
            if other != vendor and other in layer:
                self.error(
                    (*path, other),
                    f"`{other}` options do not apply here: this project's provider is a "
                    f"{vendor} connection; remove them or move them to a {other} project",
                )
                found = True
        return found

    # -- projects ---------------------------------------------------------------------------

    def _project(self, key: str, project: dict[str, Any], path: PathKey, base: Settings) -> None:
        provider_name = project["provider"]
        provider = self.providers.get(provider_name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            self.error(
                (*path, "provider"),
                f"provider {provider_name!r} is not defined under `providers` (defined: {known})",
            )
            return
        vendor = provider["type"]
        if self._foreign_options(project, path, vendor):
            return
        settings = self._settings(base, project, path)
        if settings is None:
            return
        ctx = _ProjectContext(
            key=key,
            path=path,
            provider=provider_name,
            vendor=vendor,
            project_id=project["project_id"],
            name=project.get("name", key),
            contract_value=None,
        )
        currency = settings.currency
        if "contract_value" in project:
            try:
                ctx.contract_value = _money(
                    project["contract_value"], (*path, "contract_value"), currency
                )
            except Invalid as problem:
                self.error(problem.path, problem.message)
                return
        start = len(self.out.items)
        for section, kind in _KINDS_BY_SECTION.items():
            for charge_key, raw in (project.get(section) or {}).items():
                charge_path: PathKey = (*path, section, charge_key)
                if self.skip(charge_path):
                    continue
                try:
                    self._charge(ctx, kind, charge_key, raw, charge_path, settings)
                except _Stop:
                    raise
                except Invalid as problem:
                    self.error(problem.path, problem.message)
        if "cap" in project:
            self._check_cap(project, path, currency, self.out.items[start:])

    def _check_cap(
        self, project: dict[str, Any], path: PathKey, currency: str | None, items: list[Item]
    ) -> None:
        if currency is None:
            return
        try:
            cap = _money(project["cap"], (*path, "cap"), currency)
        except Invalid as problem:
            self.error(problem.path, problem.message)
            return
        others = sorted({item.currency for item in items} - {currency})
        if others:
            self.error(
                (*path, "cap"),
                f"a cap is in the project's currency ({currency}) but charges here bill in "
                f"{', '.join(others)}; keep one currency in a capped project",
            )
            return
        positive = sum((item.amount for item in items if item.amount > 0), Decimal(0))
        if positive > cap:
            over = positive - cap
            self.error(
                (*path, "cap"),
                f"cap {_fmt(cap, currency)} {currency} exceeded by {_fmt(over, currency)} "
                f"{currency}: positive charges total {_fmt(positive, currency)} {currency}; "
                "raise the cap or reduce the charges",
            )

    # -- charges ----------------------------------------------------------------------------

    def _charge(
        self,
        ctx: _ProjectContext,
        kind: Kind,
        key: str,
        raw: dict[str, Any],
        path: PathKey,
        project_settings: Settings,
    ) -> None:
        source = self._merge_template(kind, raw, path)
        if source is None:
            return
        if self._foreign_options(raw, path, ctx.vendor):
            return
        settings = self._settings(project_settings, source.values, path, source.where)
        if settings is None:
            return
        if settings.currency is None:
            raise Invalid(
                path,
                "no currency: set `currency` under defaults, on the project or on the charge",
            )
        charge = _Charge(
            ctx=ctx,
            kind=kind,
            key=key,
            source=source,
            settings=settings,
            address=f"{ctx.key}/{SECTION[kind]}/{key}",
            # One options mapping and one mark per charge, shared by its items (read-only).
            options=dict(settings.options.get(ctx.vendor, {})),
            option_marks={
                key: self.doc.mark(where)
                for key, where in settings.option_paths.get(ctx.vendor, {}).items()
            },
            mark=self.doc.key_mark(path),
            context={"key": key},
        )
        if kind == "recurring":
            self._recurring(charge)
        elif kind == "milestone":
            self._milestone(charge)
        else:
            self._product(charge)

    def _merge_template(self, kind: Kind, raw: dict[str, Any], path: PathKey) -> Source | None:
        name = raw.get("use")
        if name is None:
            return Source(values=raw, path=path, template_path=None, own=raw)
        if name not in self.templates:
            known = ", ".join(sorted(self.templates)) or "none"
            raise Invalid((*path, "use"), f"template {name!r} is not defined (defined: {known})")
        template_path: PathKey = ("templates", name)
        if self.skip(template_path):
            return None
        own = {k: v for k, v in raw.items() if k != "use"}
        merged = _deep_merge(self.templates[name], own)
        source = Source(values=merged, path=path, template_path=template_path, own=own)
        if self.revalidate is not None:
            problems = self.revalidate(kind, merged)
            for rel, message in problems:
                keys = [k for k in rel if isinstance(k, str)]
                where = source.where(*keys) if keys else path
                self.error(where, f"{message} (after applying template {name!r})")
            if problems:
                return None
        return source

    def _recurring(self, charge: _Charge) -> None:
        src = charge.source
        every = _every(src, "every")
        start, end, count, until = self._term(charge, every)
        amount_steps = self._amount_steps(charge, start)
        escalation = self._escalation(charge, start, every)
        prorate = src.get("prorate", "daily")
        currency, rounding = charge.settings.currency or "", charge.settings.rounding
        try:
            for period in self._periods(charge, every, start, end, count, until):
                if period.is_stub and prorate == "skip":
                    continue
                base = _step_in_force(amount_steps, period.start)
                exact = Fraction(base) * escalation(period.start)
                if period.is_stub and prorate == "daily":
                    exact = exact * period.days / period.full_days
                amount = round_money(exact, currency, rounding)
                self._emit(charge, period.label, self._bill_date(charge, period), period, amount)
        except AmountTooLarge as exc:  # written amounts are bounded: escalation grew it
            grew = src.where("escalate", "by") if "escalate" in src.values else src.path
            raise Invalid(grew, str(exc)) from None

    def _periods(
        self,
        charge: _Charge,
        every: Every,
        start: date,
        end: date | None,
        count: int | None,
        until: date | None,
    ) -> list[Period]:
        """The charge's periods, up to as many as the plan still has room for items."""
        src = charge.source
        room = self.max_items - len(self.out.items)
        try:
            return schedule.periods(
                every,
                src.get("align", "calendar"),
                start,
                end=end,
                count=count,
                until=until,
                most=room,
            )
        except ScheduleError as exc:
            # What decides how many periods there are: where the error points.
            decides = "count" if count is not None else "end" if end is not None else None
            at = src.where(decides) if decides else charge.settings.horizon_path or src.path
            if isinstance(exc, TooManyPeriods):
                raise _Stop(at, self._too_many_items(" with this charge's periods")) from None
            raise Invalid(at, str(exc)) from None

    def _too_many_items(self, how: str) -> str:
        return (
            f"the plan expands to more than {self.max_items:,} billing items{how}, the most "
            f"a plan may have; {RAISE_ITEMS}"
        )

    def _product(self, charge: _Charge) -> None:
        src = charge.source
        quantity = _decimal(src.get("quantity"), src.where("quantity"))
        rate = _decimal(src.get("rate"), src.where("rate"))
        amount = _rounded(Fraction(quantity) * Fraction(rate), charge, "quantity")
        has_date = "date" in src.values
        if has_date == ("every" in src.values):
            raise Invalid(
                src.path,
                "a product needs either `date` (one-off) or `every` and `start` (repeating)"
                + (", not both" if has_date else "; neither is given"),
            )
        if has_date:
            for key in ("start", "end", "count", "align", "bill", "day", "horizon"):
                if key in src.values:
                    raise Invalid(
                        src.where(key), f"`{key}` only applies to a repeating product (`every`)"
                    )
            when = _date(src.get("date"), src.where("date"))
            self._emit(charge, None, when, None, amount, quantity=quantity, rate=rate)
            return
        if "start" not in src.values:
            raise Invalid(src.path, "a repeating product needs `start`")
        every = _every(src, "every")
        start, end, count, until = self._term(charge, every)
        for period in self._periods(charge, every, start, end, count, until):
            when = self._bill_date(charge, period)
            self._emit(charge, period.label, when, period, amount, quantity=quantity, rate=rate)

    def _milestone(self, charge: _Charge) -> None:
        src = charge.source
        ctx = charge.ctx
        currency = charge.settings.currency or ""
        ways = [key for key in ("amount", "quantity", "percent", "split") if key in src.values]
        if "rate" in src.values and "quantity" not in src.values:
            raise Invalid(src.where("rate"), "`rate` needs `quantity` (amount = quantity x rate)")
        if len(ways) != 1:
            listed = " and ".join(f"`{w}`" for w in ways) if ways else "none"
            raise Invalid(
                src.path,
                "a milestone needs exactly one of `amount`, `quantity` with `rate`, `percent` "
                f"or `split` (found {listed})",
            )
        way = ways[0]
        if way == "split":
            self._split(charge)
            return
        quantity = rate = percent = None
        if way == "amount":
            amount = _money(src.get("amount"), src.where("amount"), currency)
        elif way == "quantity":
            if "rate" not in src.values:
                raise Invalid(src.where("quantity"), "`quantity` needs `rate`")
            quantity = _decimal(src.get("quantity"), src.where("quantity"))
            rate = _decimal(src.get("rate"), src.where("rate"))
            amount = _rounded(Fraction(quantity) * Fraction(rate), charge, "quantity")
        else:
            percent = _percent(src.get("percent"), src.where("percent"))
            if ctx.contract_value is None:
                raise Invalid(
                    src.where("percent"),
                    "`percent` is a share of the project's `contract_value`, which is not set; "
                    "add `contract_value` to the project",
                )
            amount = _rounded(Fraction(ctx.contract_value) * percent, charge, "percent")
        when, task = self._when(charge, src.values, src.where)
        self._emit(
            charge,
            None,
            when,
            None,
            amount,
            quantity=quantity,
            rate=rate,
            task=task,
            percent=None
            if percent is None
            else Decimal(percent.numerator) / percent.denominator * 100,
        )

    def _split(self, charge: _Charge) -> None:
        src = charge.source
        ctx = charge.ctx
        currency = charge.settings.currency or ""
        split = src.get("split")
        if "total" in split:
            total = _money(split["total"], src.where("split", "total"), currency)
        elif ctx.contract_value is not None:
            total = ctx.contract_value
        else:
            raise Invalid(
                src.where("split"),
                "a split needs `total`, or a `contract_value` on the project to split",
            )
        parts: dict[str, dict[str, Any]] = split["parts"]
        fractions = self._split_fractions(src, parts)
        amounts = allocate(total, fractions, currency)
        for (part_key, part), amount in zip(parts.items(), amounts, strict=True):

            def where(*keys: str, _part: str = part_key) -> PathKey:
                return src.where("split", "parts", _part, *keys)

            own = "date" in part or "on_completion" in part
            if own or not ("date" in src.values or "on_completion" in src.values):
                when, task = self._when(charge, part, where, noun="a split part")
            else:
                # A part without its own date takes the milestone's, as it takes its description.
                when, task = self._when(charge, src.values, src.where)
            self._emit(
                charge,
                part_key,
                when,
                None,
                amount,
                task=task,
                description=part.get("description", src.get("description")),
                description_path=where("description")
                if "description" in part
                else src.where("description"),
            )

    def _split_fractions(self, src: Source, parts: dict[str, dict[str, Any]]) -> list[Fraction]:
        shares = {k: p["share"] for k, p in parts.items() if "share" in p}
        weights = {k: p["weight"] for k, p in parts.items() if "weight" in p}
        for key, part in parts.items():
            if ("share" in part) == ("weight" in part):
                raise Invalid(
                    src.where("split", "parts", key),
                    "each split part needs exactly one of `share` or `weight`",
                )
        if shares and weights:
            raise Invalid(
                src.where("split", "parts"),
                "split parts use `share` (percentages) or `weight` (relative numbers), not both",
            )
        if shares:
            fractions = [
                _percent(shares[k], src.where("split", "parts", k, "share")) for k in parts
            ]
            total = sum(fractions, Fraction(0))
            if total != 1:
                written = _fraction_text(total * 100)
                raise Invalid(
                    src.where("split", "parts"),
                    f"shares sum to {written}%, not 100%; adjust them so they add up exactly",
                )
            return fractions
        values = []
        for key in parts:
            weight = _decimal(weights[key], src.where("split", "parts", key, "weight"))
            if weight <= 0:
                raise Invalid(
                    src.where("split", "parts", key, "weight"),
                    f"a weight must be more than 0, got {weight}; remove the part to bill nothing",
                )
            values.append(Fraction(weight))
        whole = sum(values, Fraction(0))
        return [v / whole for v in values]

    def _when(
        self,
        charge: _Charge,
        spec: Mapping[str, Any],
        where: Callable[..., PathKey],
        *,
        noun: str = "a milestone",
    ) -> tuple[date | None, str | int | None]:
        has_date = "date" in spec
        has_task = "on_completion" in spec
        if has_date == has_task:
            raise Invalid(
                where(),
                f"{noun} needs exactly one of `date` or `on_completion`"
                + (" (both given)" if has_date else " (neither given)"),
            )
        if has_date:
            return _date(spec["date"], where("date")), None
        billers = vendors.completion_billers()
        if charge.ctx.vendor not in billers:
            raise Invalid(
                where("on_completion"),
                "`on_completion` needs a provider that bills when a task completes "
                f"({', '.join(billers)}); "
                f"project {charge.ctx.key!r} uses {charge.ctx.provider!r} ({charge.ctx.vendor}); "
                "give a `date` instead",
            )
        return None, spec["on_completion"]["task"]

    # -- terms, steps and escalation --------------------------------------------------------

    def _term(
        self, charge: _Charge, every: Every
    ) -> tuple[date, date | None, int | None, date | None]:
        src = charge.source
        start = _date(src.get("start"), src.where("start"))
        if "day" in src.values and not every.month_based:
            raise Invalid(
                src.where("day"),
                f"`day` applies only to month-based periods, not every {src.get('every')!r}; "
                "remove `day` (weekly charges are dated on the period's first or last day)",
            )
        if "end" in src.values and "count" in src.values:
            raise Invalid(src.where("count"), "give either `end` or `count`, not both")
        if "end" in src.values:
            end = _date(src.get("end"), src.where("end"))
            if end < start:
                raise Invalid(
                    src.where("end"),
                    f"end {end.isoformat()} is before start {start.isoformat()}; `end` is the "
                    "last day of service and must be on or after `start`",
                )
            return start, end, None, None
        if "count" in src.values:
            return start, None, src.get("count"), None
        horizon = charge.settings.horizon
        if horizon is None:
            raise Invalid(
                src.path,
                "an open-ended charge needs `end`, `count`, or a `horizon` (on the charge or "
                "under defaults) saying how far ahead to bill",
            )
        try:
            return start, None, None, self.as_of + horizon
        except (OverflowError, ValueError):
            raise Invalid(
                charge.settings.horizon_path or src.path,
                f"the as-of date {self.as_of.isoformat()} plus this horizon runs past "
                f"{schedule.LAST_DAY.isoformat()}, the last date billplan can bill",
            ) from None

    def _amount_steps(self, charge: _Charge, start: date) -> list[tuple[date, Decimal]]:
        src = charge.source
        currency = charge.settings.currency or ""
        has_amount = "amount" in src.values
        if has_amount == ("amounts" in src.values):
            raise Invalid(
                src.path,
                "a recurring charge needs exactly one of `amount` or `amounts`"
                + (
                    " (both given); keep `amount` for one price or `amounts` for price steps"
                    if has_amount
                    else " (neither given)"
                ),
            )
        if has_amount:
            return [(start, _money(src.get("amount"), src.where("amount"), currency))]
        steps: list[tuple[date, Decimal]] = []
        for i, step in enumerate(src.get("amounts")):
            when = _date(step["from"], src.where("amounts", i, "from"))
            value = _money(step["amount"], src.where("amounts", i, "amount"), currency)
            if steps and when <= steps[-1][0]:
                raise Invalid(
                    src.where("amounts", i, "from"),
                    f"`amounts` steps must be in date order: {when.isoformat()} is not after the "
                    f"previous step's {steps[-1][0].isoformat()}; reorder the steps",
                )
            steps.append((when, value))
        if steps[0][0] > start:
            raise Invalid(
                src.where("amounts", 0, "from"),
                f"the first step starts {steps[0][0].isoformat()}, after the charge starts "
                f"{start.isoformat()}; the first `from` must be on or before `start`",
            )
        return steps

    def _escalation(self, charge: _Charge, start: date, every: Every) -> Callable[[date], Fraction]:
        src = charge.source
        spec = src.get("escalate")
        if spec is None:
            return lambda day: Fraction(1)
        if "by" not in spec:
            raise Invalid(src.where("escalate"), "`escalate` needs `by`, e.g. {by: 3%}")
        factor = 1 + _percent(spec["by"], src.where("escalate", "by"))
        step = _every(src, "escalate", "every", default="year")
        if "from" in spec:
            first = _date(spec["from"], src.where("escalate", "from"))
        else:
            try:
                first = step.add(start, 1)
            except (OverflowError, ValueError):
                raise Invalid(src.where("escalate"), str(schedule.PastLastDate())) from None
        powers: dict[int, Fraction] = {}

        def escalated(day: date) -> Fraction:
            n = schedule.count_increases(first, step, day)
            if n > MAX_ESCALATIONS:
                raise Invalid(
                    src.where("escalate", "every") if "every" in spec else src.where("escalate"),
                    f"the price would escalate more than {MAX_ESCALATIONS:,} times by "
                    f"{day.isoformat()}; escalate less often or end the charge earlier",
                )
            if n not in powers:
                powers[n] = factor**n
            return powers[n]

        return escalated

    def _bill_date(self, charge: _Charge, period: Period) -> date:
        src = charge.source
        when = schedule.bill_date(period, src.get("bill", "in_advance"))
        if "day" in src.values:
            try:
                when = schedule.move_to_day(when, src.get("day"), charge.settings.holidays)
            except ValueError as exc:
                raise Invalid(src.where("day"), str(exc)) from None
        return when

    # -- items ------------------------------------------------------------------------------

    def _emit(
        self,
        charge: _Charge,
        label: str | None,
        when: date | None,
        period: Period | None,
        amount: Decimal,
        *,
        quantity: Decimal | None = None,
        rate: Decimal | None = None,
        task: str | int | None = None,
        percent: Decimal | None = None,
        description: str | None = None,
        description_path: PathKey | None = None,
    ) -> None:
        ctx = charge.ctx
        src = charge.source
        address = charge.address if label is None else f"{charge.address}/{label}"
        text = description if description is not None else src.get("description")
        if text is None:
            raise Invalid(src.path, "a description is required")
        currency = charge.settings.currency or ""
        text = str(text)
        if "{" not in text:
            rendered = text  # plain text: no context to build
        else:
            context = {
                "vars": self.vars,
                "project": ctx.context,
                "charge": charge.context,
                "period": _period_context(period),
                "date": when,
                "amount": amount,
                "quantity": quantity,
                "rate": rate,
                "currency": currency,
                "rounding": charge.settings.rounding,  # read by the `money` filter
            }
            try:
                rendered = render(text, context, self.template_budget)
            except TemplateProblem as problem:
                where = description_path or src.where("description")
                stop = _Stop if isinstance(problem, PlanBudgetSpent) else Invalid
                raise stop(where, str(problem)) from None
        if len(self.out.items) >= self.max_items:
            raise _Stop(src.path, self._too_many_items(" with this charge"))
        self.out.items.append(
            Item(
                address=address,
                project=ctx.key,
                kind=charge.kind,
                charge=charge.key,
                label=label,
                date=when,
                period=period,
                description=rendered,
                quantity=quantity,
                rate=rate,
                amount=amount,
                currency=currency,
                provider=ctx.provider,
                provider_type=ctx.vendor,
                project_id=ctx.project_id,
                task=task,
                percent=percent,
                options=charge.options,
                option_marks=charge.option_marks,
                mark=charge.mark,
            )
        )


@dataclass
class _ProjectContext:
    key: str
    path: PathKey
    provider: str
    vendor: str
    project_id: str | int
    name: str
    contract_value: Decimal | None

    @cached_property
    def context(self) -> dict[str, Any]:
        """`project` in descriptions (shared by the project's items; templates cannot write)."""
        return {"key": self.key, "name": self.name, "project_id": self.project_id}


@dataclass
class _Charge:
    ctx: _ProjectContext
    kind: Kind
    key: str
    source: Source
    settings: Settings
    address: str  # PROJECT/SECTION/CHARGE, the prefix of its items' addresses
    options: Mapping[str, Any]  # the project's vendor's options, merged for this charge
    option_marks: Mapping[str, Mark]  # where each of those options was written
    mark: Mark  # where the charge is written
    context: dict[str, Any]  # `charge` in descriptions


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _every(src: Source, *keys: str, default: str | None = None) -> Every:
    """The `every` at keys (`every`, or `escalate.every`); Invalid there when billplan cannot
    bill that often."""
    node: Any = src.values
    for key in keys:
        node = node.get(key, default) if isinstance(node, Mapping) else default
    try:
        return Every.parse(str(node))
    except ValueError as exc:
        raise Invalid(src.where(*keys), str(exc)) from None


def _rounded(exact: Fraction, charge: _Charge, *keys: str) -> Decimal:
    """An exact amount rounded to the charge's currency; Invalid at the keys that made it
    (the charge itself without keys) when it is larger than billplan bills: quantity x rate,
    a percentage, compounded escalation."""
    settings = charge.settings
    try:
        return round_money(exact, settings.currency or "", settings.rounding)
    except AmountTooLarge as exc:
        source = charge.source
        raise Invalid(source.where(*keys) if keys else source.path, str(exc)) from None


def _date(text: Any, path: PathKey) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise Invalid(path, _date_problem(str(text))) from None


def _money(value: Any, path: PathKey, currency: str | None) -> Decimal:
    """A written amount, refused when it is finer than the currency's minor unit."""
    amount = _number(value, path)
    if currency is not None and decimals(amount) > exponent(currency):
        allowed = exponent(currency)
        raise Invalid(
            path,
            f"{value} has {decimals(amount)} decimals but {currency} allows {allowed}; "
            + (
                "write it as a whole number"
                if allowed == 0
                else f"write it with at most {allowed} decimal{'' if allowed == 1 else 's'}"
            ),
        )
    if currency is not None:
        # 10000 is written, 10000.00 is billed: every amount carries the currency's decimals.
        amount = amount.quantize(Decimal(1).scaleb(-exponent(currency)))
    return amount


def _decimal(value: Any, path: PathKey = ()) -> Decimal:
    """A quantity, rate or weight: at most AMOUNT_DIGITS digits before the point and
    NUMBER_DECIMALS after."""
    number = _number(value, path)
    if decimals(number) > NUMBER_DECIMALS:
        raise Invalid(
            path,
            f"{value} has {decimals(number)} decimals; a quantity, rate or weight may have "
            f"at most {NUMBER_DECIMALS}",
        )
    return number


def _number(value: Any, path: PathKey) -> Decimal:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise Invalid(path, f"{value!r} is not a number") from None
    if too_large(number):
        raise Invalid(
            path,
            f"{_shown(value)} has more than {AMOUNT_DIGITS} digits before the decimal point; "
            "billplan bills amounts below 1,000,000,000,000,000",
        )
    return number


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]}"


def _percent(text: str, path: PathKey) -> Fraction:
    number = _number(str(text).rstrip("%"), path)
    if decimals(number) > NUMBER_DECIMALS:
        raise Invalid(path, f"{text} has more than {NUMBER_DECIMALS} decimals; round it")
    return Fraction(number) / 100


def _fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(Decimal(value.numerator) / Decimal(value.denominator))


def _step_in_force(steps: list[tuple[date, Decimal]], day: date) -> Decimal:
    amount = steps[0][1]
    for when, value in steps:
        if when > day:
            break
        amount = value
    return amount


def _period_context(period: Period | None) -> dict[str, Any] | None:
    if period is None:
        return None
    return {
        "start": period.start,
        "end": period.end,
        "label": period.label,
        "index": period.index,
        "count": period.count,
        "days": period.days,
        "is_stub": period.is_stub,
    }


def _date_problem(text: str) -> str:
    parts = text.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        year, month, _ = (int(p) for p in parts)
        if not 1 <= year <= 9999:
            return f"{text} is not a date billplan can bill: years run from 0001 to 9999"
        if not 1 <= month <= 12:
            return f"{text} is not a real calendar date: there is no month {month}"
        last = calendar.monthrange(year, month)[1]
        return (
            f"{text} is not a real calendar date: {calendar.month_name[month]} {year} "
            f"has {last} days"
        )
    return f"{text!r} is not a date in YYYY-MM-DD form"


def _fmt(amount: Decimal, currency: str) -> str:
    return format_grouped(amount, currency)
