"""Each kind of charge's own keys, read into its spec: step one of expansion, per kind.

A recurring charge's term (pauses included), price steps and escalation; a milestone's
price (amount, quantity x rate, percent of the contract or a split) and its date or task;
a product's quantity x rate and its date or term. Each problem is an Invalid at the place it was
written (the charge, or the template it came from); the first one stops the charge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from compiler import schedule, vendors
from compiler.expand import written
from compiler.expand.spec import (
    After,
    AmountStep,
    Charge,
    Description,
    Escalation,
    Invalid,
    MilestoneSpec,
    Pause,
    ProductSpec,
    RecurringSpec,
    SplitPart,
    SplitSpec,
    Term,
    When,
)
from compiler.load import PathKey
from compiler.money import AmountTooLarge, over_one_denominator, round_money
from compiler.schedule import Every, Offset


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
        if self.template_path is None:  # most charges: no template, so always the charge
            return (*self.path, *keys)
        node: Any = self.own
        for key in keys:
            # dict and list first: a Mapping check alone is slow, and this runs per value read.
            if not isinstance(node, dict | list | Mapping) or (
                not isinstance(node, list) and key not in node
            ):
                if self.template_path is not None:
                    return (*self.template_path, *keys)
                break
            node = node[key]
        return (*self.path, *keys)


class ChargeReader:
    """One charge's kind-specific keys, read into its spec; Invalid at the first problem."""

    def __init__(self, charge: Charge, source: Source, as_of: date) -> None:
        self.charge = charge
        self.src = source
        self.as_of = as_of

    # -- recurring --------------------------------------------------------------------------

    def recurring(self) -> RecurringSpec:
        src = self.src
        # Read in the order a reader checks it (the first problem is the one reported).
        term = self._term(self._every("every"))
        steps = self._amount_steps(term.start)
        escalation = self._escalation(term.start)
        return RecurringSpec(
            charge=self.charge,
            term=term,
            steps=steps,
            escalation=escalation,
            prorate=src.get("prorate", "daily"),
            growth_path=src.where("escalate", "by") if "escalate" in src.values else src.path,
        )

    def _term(self, every: Every) -> Term:
        src = self.src
        start = written.calendar_date(src.get("start"), src.where("start"))
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
            end = written.calendar_date(src.get("end"), src.where("end"))
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
            day_path=src.where("day") if "day" in src.values else src.path,
            pauses=self._pauses(),
        )

    def _pauses(self) -> tuple[Pause, ...]:
        """The charge's pauses in date order; `to` before `from` and overlaps are errors."""
        src = self.src
        read: list[Pause] = []
        for i, pause in enumerate(src.get("pauses") or ()):
            first = written.calendar_date(pause["from"], src.where("pauses", i, "from"))
            last = written.calendar_date(pause["to"], src.where("pauses", i, "to"))
            if last < first:
                raise Invalid(
                    src.where("pauses", i, "to"),
                    f"this pause ends on {last.isoformat()}, before it starts on "
                    f"{first.isoformat()}; `to` is the last paused day, on or after `from`",
                )
            for j, other in enumerate(read):
                if first <= other.end and other.start <= last:
                    raise Invalid(
                        src.where("pauses", i),
                        f"this pause ({first.isoformat()} to {last.isoformat()}) overlaps "
                        f"pauses[{j}] ({other.start.isoformat()} to {other.end.isoformat()}); "
                        "merge them into one pause",
                    )
            read.append(Pause(first, last, src.where("pauses", i)))
        return tuple(sorted(read, key=lambda pause: pause.start))

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
            when = written.calendar_date(step["from"], src.where("amounts", i, "from"))
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
            anchor = written.calendar_date(spec["from"], src.where("escalate", "from"))
        else:
            anchor = start  # Revision 2: increases are anniversaries of start, not of the first
        return Escalation(
            factor=factor,
            every=step,
            anchor=anchor,
            anchor_rises="from" in spec,
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
            amount = self._rounded(_times(quantity, rate), "quantity")
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
        values: list[tuple[int, int]] = []
        for key in parts:
            weight = written.quantity(weights[key], src.where("split", "parts", key, "weight"))
            if weight <= 0:
                raise Invalid(
                    src.where("split", "parts", key, "weight"),
                    f"a weight must be more than 0, got {weight}; remove the part to bill nothing",
                )
            values.append(weight.as_integer_ratio())
        # Exactly weight / sum of weights, in integers: every weight over one common
        # denominator (Fraction arithmetic on each took most of reading a split).
        scaled, _ = over_one_denominator(values)
        whole = sum(scaled)
        return [Fraction(part, whole) for part in scaled]

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
        if has_date and isinstance(spec["date"], Mapping):
            return When(None, None, self._after(spec["date"], where))
        if has_date:
            return When(written.calendar_date(spec["date"], where("date")), None)
        project = self.charge.project
        billers = vendors.completion_billers()
        if project.vendor not in billers:
            raise Invalid(
                where("on_completion"),
                "`on_completion` needs a provider that bills when a task completes "
                f"({', '.join(billers)}); "
                f"project {project.key!r} uses {project.provider!r} ({project.vendor}); "
                "give a `date` instead",
            )
        return When(None, spec["on_completion"]["task"])

    def _after(self, relative: Mapping[str, Any], where: Callable[..., PathKey]) -> After:
        """`date: {after: KEY, plus: 30 days}`, resolved by expansion once KEY is dated."""
        try:
            plus = Offset.parse(str(relative["plus"]))
        except ValueError as exc:
            raise Invalid(where("date", "plus"), str(exc)) from None
        return After(str(relative["after"]), plus, where("date", "after"), where("date", "plus"))

    # -- products ---------------------------------------------------------------------------

    def product(self) -> ProductSpec:
        src = self.src
        quantity = written.quantity(src.get("quantity"), src.where("quantity"))
        rate = written.quantity(src.get("rate"), src.where("rate"))
        amount = self._rounded(_times(quantity, rate), "quantity")
        has_date = "date" in src.values
        if has_date == ("every" in src.values):
            raise Invalid(
                src.path,
                "a product needs either `date` (one-off) or `every` and `start` (repeating)"
                + (", not both" if has_date else "; neither is given"),
            )
        if has_date:
            for key in ("start", "end", "count", "align", "bill", "day", "horizon", "pauses"):
                if key in src.values:
                    raise Invalid(
                        src.where(key), f"`{key}` only applies to a repeating product (`every`)"
                    )
            when = written.calendar_date(src.get("date"), src.where("date"))
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


def _times(quantity: Decimal, rate: Decimal) -> Fraction:
    """quantity x rate exactly, from their integer ratios (converting each Decimal to a
    Fraction and multiplying those took several times as long)."""
    quantity_numerator, quantity_denominator = quantity.as_integer_ratio()
    rate_numerator, rate_denominator = rate.as_integer_ratio()
    return Fraction(quantity_numerator * rate_numerator, quantity_denominator * rate_denominator)


def _fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(Decimal(value.numerator) / Decimal(value.denominator))
