"""Reading a schema-checked plan into typed, located specs, checking what the schema cannot say.

Real dates, end after start, amounts in the currency's minor unit, shares summing to 100%,
templates that exist and merge into a valid charge, options for the project's own vendor,
on-completion billing only where the vendor has it. A problem stops the charge (or project)
it is in, is reported at the place it was written, and parsing goes on with the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from compiler import schedule
from compiler.diagnostics import Diagnostic
from compiler.expand import written
from compiler.expand.spec import (
    AmountStep,
    Charge,
    ChargeSpec,
    Description,
    Escalation,
    Invalid,
    MilestoneSpec,
    ProductSpec,
    ProjectSpec,
    RecurringSpec,
    Settings,
    SplitPart,
    SplitSpec,
    Term,
    When,
)
from compiler.expand.vendors import COMPLETION_PROVIDERS, PROVIDER_TYPES
from compiler.load import Document, PathKey
from compiler.model import SECTION, Kind
from compiler.money import AmountTooLarge, round_money
from compiler.schedule import Every

KINDS_BY_SECTION: dict[str, Kind] = {section: kind for kind, section in SECTION.items()}
# The fewest requests a second a connection may be paced to: below one, a plan of a few
# hundred changes would take hours to apply.
MIN_RPS = 1

Revalidate = Callable[[Kind, dict[str, Any]], list[tuple[PathKey, str]]]


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


class Parser:
    """Reads one plan's settings, projects and charges into specs, reporting what is wrong.

    projects() and charges() are lazy: a charge is read only when the one before it has been
    computed, so that once a limit of the whole plan stops the expansion, nothing after it
    is reported.
    """

    def __init__(
        self,
        doc: Document,
        as_of: date,
        skip: Callable[[PathKey], bool],
        revalidate: Revalidate | None,
        report: Callable[[Diagnostic], None],
    ) -> None:
        self.doc = doc
        self.root = doc.root
        self.as_of = as_of
        self.skip = skip
        self.revalidate = revalidate
        self.report = report
        self.vars: Mapping[str, Any] = self.root.get("vars") or {}
        self.templates: Mapping[str, Any] = self.root.get("templates") or {}
        self.providers: Mapping[str, Any] = self.root.get("providers") or {}

    def error(self, path: PathKey, message: str) -> None:
        self.report(self.doc.diagnostic(path, message))

    # -- the plan ---------------------------------------------------------------------------

    def defaults(self) -> Settings | None:
        """The plan-wide settings, or None when they (or the connections) cannot be read."""
        if self.skip(("defaults",)) or self.skip(("providers",)):
            return None
        self._check_connections()
        return self._settings(None, self.root.get("defaults") or {}, ("defaults",))

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

    def projects(self, defaults: Settings) -> Iterator[ProjectSpec]:
        for key, project in (self.root.get("projects") or {}).items():
            path: PathKey = ("projects", key)
            if self._project_header_broken(path, project):
                continue
            spec = self._project(key, project, path, defaults)
            if spec is not None:
                yield spec

    def _project_header_broken(self, path: PathKey, project: Any) -> bool:
        if not isinstance(project, dict):
            return True
        if "provider" not in project or "project_id" not in project:
            return True  # the schema already said which one is missing
        # An error on the project mapping itself (an unknown key) leaves its charges checkable;
        # a broken header value (provider, currency, ...) does not.
        return any(self.skip((*path, key)) for key in project if key not in KINDS_BY_SECTION)

    def _project(
        self, key: str, project: dict[str, Any], path: PathKey, defaults: Settings
    ) -> ProjectSpec | None:
        provider_name = project["provider"]
        provider = self.providers.get(provider_name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            self.error(
                (*path, "provider"),
                f"provider {provider_name!r} is not defined under `providers` (defined: {known})",
            )
            return None
        vendor = provider["type"]
        if self._foreign_options(project, path, vendor):
            return None
        settings = self._settings(defaults, project, path)
        if settings is None:
            return None
        contract_value = None
        if "contract_value" in project:
            try:
                contract_value = written.money(
                    project["contract_value"], (*path, "contract_value"), settings.currency
                )
            except Invalid as problem:
                self.error(problem.path, problem.message)
                return None
        return ProjectSpec(
            key=key,
            path=path,
            provider=provider_name,
            vendor=vendor,
            project_id=project["project_id"],
            name=project.get("name", key),
            contract_value=contract_value,
            settings=settings,
        )

    def cap(self, project: ProjectSpec) -> Decimal | None:
        """The project's cap in its currency; None when it has none (or no currency to read
        it in), or when it is written wrong (reported)."""
        written_cap = self._raw(project.path).get("cap")
        currency = project.settings.currency
        if written_cap is None or currency is None:
            return None
        try:
            return written.money(written_cap, (*project.path, "cap"), currency)
        except Invalid as problem:
            self.error(problem.path, problem.message)
            return None

    def _raw(self, path: PathKey) -> Mapping[str, Any]:
        node: Any = self.root
        for key in path:
            node = node[key]
        return node

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
                    written.written_date(text, (*path, "holidays", i))
                    for i, text in enumerate(layer["holidays"])
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
        for vendor in PROVIDER_TYPES:
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
        for other in PROVIDER_TYPES:
            if other != vendor and other in layer:
                self.error(
                    (*path, other),
                    f"`{other}` options do not apply here: this project's provider is a "
                    f"{vendor} connection; remove them or move them to a {other} project",
                )
                found = True
        return found

    # -- charges ----------------------------------------------------------------------------

    def charges(self, project: ProjectSpec) -> Iterator[ChargeSpec]:
        """The project's charges that read well, in the order written."""
        raw_project = self._raw(project.path)
        for section, kind in KINDS_BY_SECTION.items():
            for key, raw in (raw_project.get(section) or {}).items():
                path: PathKey = (*project.path, section, key)
                if self.skip(path):
                    continue
                try:
                    spec = self._charge(project, kind, key, raw, path)
                except Invalid as problem:
                    self.error(problem.path, problem.message)
                    continue
                if spec is not None:
                    yield spec

    def _charge(
        self, project: ProjectSpec, kind: Kind, key: str, raw: dict[str, Any], path: PathKey
    ) -> ChargeSpec | None:
        source = self._merge_template(kind, raw, path)
        if source is None:
            return None
        if self._foreign_options(raw, path, project.vendor):
            return None
        settings = self._settings(project.settings, source.values, path, source.where)
        if settings is None:
            return None
        if settings.currency is None:
            raise Invalid(
                path,
                "no currency: set `currency` under defaults, on the project or on the charge",
            )
        text = source.get("description")
        charge = Charge(
            project=project,
            kind=kind,
            key=key,
            path=path,
            settings=settings,
            currency=settings.currency,
            description=Description(
                None if text is None else str(text), source.where("description")
            ),
            options=dict(settings.options.get(project.vendor, {})),
            option_marks={
                option: self.doc.mark(where)
                for option, where in settings.option_paths.get(project.vendor, {}).items()
            },
            mark=self.doc.key_mark(path),
        )
        reader = _ChargeReader(charge, source, self.as_of)
        if kind == "recurring":
            return reader.recurring()
        if kind == "milestone":
            return reader.milestone()
        return reader.product()

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


class _ChargeReader:
    """One charge's kind-specific keys, read into its spec; Invalid at the first problem."""

    def __init__(self, charge: Charge, source: Source, as_of: date) -> None:
        self.charge = charge
        self.src = source
        self.as_of = as_of

    # -- recurring --------------------------------------------------------------------------

    def recurring(self) -> RecurringSpec:
        src = self.src
        term = self._term(self._every("every"))
        return RecurringSpec(
            charge=self.charge,
            term=term,
            steps=self._amount_steps(term.start),
            escalation=self._escalation(term.start),
            prorate=src.get("prorate", "daily"),
            growth_path=src.where("escalate", "by") if "escalate" in src.values else src.path,
        )

    def _term(self, every: Every) -> Term:
        src = self.src
        start = written.written_date(src.get("start"), src.where("start"))
        if "day" in src.values and not every.month_based:
            raise Invalid(
                src.where("day"),
                f"`day` applies only to month-based periods, not every {src.get('every')!r}; "
                "remove `day` (weekly charges are dated on the period's first or last day)",
            )
        if "end" in src.values and "count" in src.values:
            raise Invalid(src.where("count"), "give either `end` or `count`, not both")
        end = count = until = None
        if "end" in src.values:
            end = written.written_date(src.get("end"), src.where("end"))
            if end < start:
                raise Invalid(
                    src.where("end"),
                    f"end {end.isoformat()} is before start {start.isoformat()}; `end` is the "
                    "last day of service and must be on or after `start`",
                )
            periods_path = src.where("end")
        elif "count" in src.values:
            count = src.get("count")
            periods_path = src.where("count")
        else:
            until = self._until()
            periods_path = self.charge.settings.horizon_path or src.path
        return Term(
            every=every,
            align=src.get("align", "calendar"),
            start=start,
            end=end,
            count=count,
            until=until,
            periods_path=periods_path,
            bill=src.get("bill", "in_advance"),
            day=src.get("day"),
            day_path=src.where("day"),
        )

    def _until(self) -> date:
        """The last day an open-ended charge's periods may start: as of + horizon."""
        settings = self.charge.settings
        if settings.horizon is None:
            raise Invalid(
                self.src.path,
                "an open-ended charge needs `end`, `count`, or a `horizon` (on the charge or "
                "under defaults) saying how far ahead to bill",
            )
        try:
            return self.as_of + settings.horizon
        except (OverflowError, ValueError):
            raise Invalid(
                settings.horizon_path or self.src.path,
                f"the as-of date {self.as_of.isoformat()} plus this horizon runs past "
                f"{schedule.LAST_DAY.isoformat()}, the last date billplan can bill",
            ) from None

    def _amount_steps(self, start: date) -> tuple[AmountStep, ...]:
        src = self.src
        currency = self.charge.currency
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
            amount = written.money(src.get("amount"), src.where("amount"), currency)
            return (AmountStep(start, amount),)
        steps: list[AmountStep] = []
        for i, step in enumerate(src.get("amounts")):
            when = written.written_date(step["from"], src.where("amounts", i, "from"))
            value = written.money(step["amount"], src.where("amounts", i, "amount"), currency)
            if steps and when <= steps[-1].start:
                raise Invalid(
                    src.where("amounts", i, "from"),
                    f"`amounts` steps must be in date order: {when.isoformat()} is not after the "
                    f"previous step's {steps[-1].start.isoformat()}; reorder the steps",
                )
            steps.append(AmountStep(when, value))
        if steps[0].start > start:
            raise Invalid(
                src.where("amounts", 0, "from"),
                f"the first step starts {steps[0].start.isoformat()}, after the charge starts "
                f"{start.isoformat()}; the first `from` must be on or before `start`",
            )
        return tuple(steps)

    def _escalation(self, start: date) -> Escalation | None:
        src = self.src
        spec = src.get("escalate")
        if spec is None:
            return None
        if "by" not in spec:
            raise Invalid(src.where("escalate"), "`escalate` needs `by`, e.g. {by: 3%}")
        factor = 1 + written.percent(spec["by"], src.where("escalate", "by"))
        step = self._every("escalate", "every", default="year")
        if "from" in spec:
            first = written.written_date(spec["from"], src.where("escalate", "from"))
        else:
            try:
                first = step.add(start, 1)
            except (OverflowError, ValueError):
                raise Invalid(src.where("escalate"), str(schedule.PastLastDate())) from None
        return Escalation(
            factor=factor,
            every=step,
            first=first,
            path=src.where("escalate", "every") if "every" in spec else src.where("escalate"),
        )

    # -- milestones -------------------------------------------------------------------------

    def milestone(self) -> MilestoneSpec | SplitSpec:
        src = self.src
        contract_value = self.charge.project.contract_value
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
            return self._split()
        quantity = rate = percent = None
        if way == "amount":
            amount = written.money(src.get("amount"), src.where("amount"), self.charge.currency)
        elif way == "quantity":
            if "rate" not in src.values:
                raise Invalid(src.where("quantity"), "`quantity` needs `rate`")
            quantity = written.quantity(src.get("quantity"), src.where("quantity"))
            rate = written.quantity(src.get("rate"), src.where("rate"))
            amount = self._rounded(Fraction(quantity) * Fraction(rate), "quantity")
        else:
            percent = written.percent(src.get("percent"), src.where("percent"))
            if contract_value is None:
                raise Invalid(
                    src.where("percent"),
                    "`percent` is a share of the project's `contract_value`, which is not set; "
                    "add `contract_value` to the project",
                )
            amount = self._rounded(Fraction(contract_value) * percent, "percent")
        return MilestoneSpec(
            charge=self.charge,
            amount=amount,
            when=self._when(src.values, src.where),
            quantity=quantity,
            rate=rate,
            percent=None
            if percent is None
            else Decimal(percent.numerator) / percent.denominator * 100,
        )

    def _split(self) -> SplitSpec:
        src = self.src
        contract_value = self.charge.project.contract_value
        split = src.get("split")
        if "total" in split:
            total = written.money(split["total"], src.where("split", "total"), self.charge.currency)
        elif contract_value is not None:
            total = contract_value
        else:
            raise Invalid(
                src.where("split"),
                "a split needs `total`, or a `contract_value` on the project to split",
            )
        parts: dict[str, dict[str, Any]] = split["parts"]
        fractions = self._split_fractions(parts)
        read: list[SplitPart] = []
        for (part_key, part), fraction in zip(parts.items(), fractions, strict=True):

            def where(*keys: str, _part: str = part_key) -> PathKey:
                return src.where("split", "parts", _part, *keys)

            own = "date" in part or "on_completion" in part
            if own or not ("date" in src.values or "on_completion" in src.values):
                when = self._when(part, where, noun="a split part")
            else:
                # A part without its own date takes the milestone's, as it takes its description.
                when = self._when(src.values, src.where)
            text = part.get("description", src.get("description"))
            if text is None:
                text = src.get("description")
            read.append(
                SplitPart(
                    key=part_key,
                    fraction=fraction,
                    when=when,
                    description=Description(
                        None if text is None else str(text),
                        where("description") if "description" in part else src.where("description"),
                    ),
                )
            )
        return SplitSpec(charge=self.charge, total=total, parts=tuple(read))

    def _split_fractions(self, parts: dict[str, dict[str, Any]]) -> list[Fraction]:
        src = self.src
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
                written.percent(shares[k], src.where("split", "parts", k, "share")) for k in parts
            ]
            total = sum(fractions, Fraction(0))
            if total != 1:
                shown = _fraction_text(total * 100)
                raise Invalid(
                    src.where("split", "parts"),
                    f"shares sum to {shown}%, not 100%; adjust them so they add up exactly",
                )
            return fractions
        values = []
        for key in parts:
            weight = written.quantity(weights[key], src.where("split", "parts", key, "weight"))
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
        spec: Mapping[str, Any],
        where: Callable[..., PathKey],
        *,
        noun: str = "a milestone",
    ) -> When:
        has_date = "date" in spec
        has_task = "on_completion" in spec
        if has_date == has_task:
            raise Invalid(
                where(),
                f"{noun} needs exactly one of `date` or `on_completion`"
                + (" (both given)" if has_date else " (neither given)"),
            )
        if has_date:
            return When(written.written_date(spec["date"], where("date")), None)
        project = self.charge.project
        if project.vendor not in COMPLETION_PROVIDERS:
            raise Invalid(
                where("on_completion"),
                f"`on_completion` needs a provider that bills when a task completes (kantata); "
                f"project {project.key!r} uses {project.provider!r} ({project.vendor}); "
                "give a `date` instead",
            )
        return When(None, spec["on_completion"]["task"])

    # -- products ---------------------------------------------------------------------------

    def product(self) -> ProductSpec:
        src = self.src
        quantity = written.quantity(src.get("quantity"), src.where("quantity"))
        rate = written.quantity(src.get("rate"), src.where("rate"))
        amount = self._rounded(Fraction(quantity) * Fraction(rate), "quantity")
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
            when = written.written_date(src.get("date"), src.where("date"))
            return ProductSpec(self.charge, quantity, rate, amount, date=when, term=None)
        if "start" not in src.values:
            raise Invalid(src.path, "a repeating product needs `start`")
        term = self._term(self._every("every"))
        return ProductSpec(self.charge, quantity, rate, amount, date=None, term=term)

    # -- values -----------------------------------------------------------------------------

    def _every(self, *keys: str, default: str | None = None) -> Every:
        """The `every` at keys (`every`, or `escalate.every`)."""
        node: Any = self.src.values
        for key in keys:
            node = node.get(key, default) if isinstance(node, Mapping) else default
        return written.every(node, self.src.where(*keys))

    def _rounded(self, exact: Fraction, *keys: str) -> Decimal:
        """An exact amount rounded to the charge's currency; Invalid at the keys that made it
        when it is larger than billplan bills (quantity x rate, a percentage)."""
        try:
            return round_money(exact, self.charge.currency, self.charge.settings.rounding)
        except AmountTooLarge as exc:
            raise Invalid(self.src.where(*keys), str(exc)) from None


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(Decimal(value.numerator) / Decimal(value.denominator))
