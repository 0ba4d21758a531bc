"""Recognising structure: one project's Found objects turned into the charges a person would
write, each reproducing its objects exactly.

Pure: no vendor, no files. `charges()` recognises only what is certain and leaves everything
else as it was found:

- recurring objects on consecutive calendar months, quarters or years, of one amount, one
  description template and one set of options, become one recurring charge (`start`, `end`,
  `every`, and `bill`, `day`, `prorate` when needed), with a prorated stub before and after
  where one prices exactly (its description may add an ending for stubs only), and the
  `holidays` a business-day rule passes over; a period whose line was edited by hand is
  paused and that line is a charge of its own (the odd one out, never a stub in disguise);
  runs that carry on one another at a new price are one charge with `amounts` steps, or
  `escalate` where one percentage at a regular interval prices every item
  (compiler.onboard.prices); a lone recurring object is a one-period charge;
- product objects of one quantity, rate and description template on consecutive periods
  become one repeating product; others are one-off products. A product the vendor holds as
  a bare amount (Ruddr's, when quantity x rate is not exactly the amount) is priced by a
  quantity x rate that rounds to it without being it, as billplan wrote it;
- dated or on-completion milestones with an amount, all in one currency and options, whose
  amounts are each a whole or half percent of their total become one split (at least two
  parts), or, failing that, all of them but one; the others stay plain milestones (with
  quantity x rate when they have one, or a `percent` of the contract value when they are one:
  a Coperniq PERCENTAGE invoice).

A kind is never changed where the vendor reads kinds back (Ruddr's milestone types,
Provider.reads_kinds_back): it would otherwise see a change. Where it does not
(`kinds_kept=False`), a run of amounts is recurring whatever the object's kind.

Every run is re-expanded with the plan's own schedule and money functions before it is
returned (compiler.onboard.runs); the tests write the charges into a plan and check that it
expands to exactly the objects found.

Keys are read from the descriptions; charges whose keys would be one are told apart by when
they first bill (wording.Keys). Bodies hold exact values (Decimal amounts with the currency's
decimals, dates): the writer turns them into YAML. Options are written on every charge under
the vendor's key (the prefix of the object's resource type), so that a project or `defaults`
block cannot change them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from compiler.expand.written import NUMBER_DECIMALS
from compiler.money import (
    MAX_AMOUNT,
    ROUNDING_MODES,
    Rounding,
    allocate,
    decimals,
    exponent,
    round_money,
)
from compiler.onboard import wording
from compiler.onboard.found import Found
from compiler.onboard.prices import every_text, joined, percent
from compiler.onboard.runs import Pool, Run, fit, labelled, longest

_SECTIONS = ("recurring", "products", "milestones")
# A split's shares are what a contract says: whole or half percentages.
_SHARE_STEP = Fraction(1, 200)
# Splits are looked for among at most this many milestones of a project when one is left out.
MAX_SPLIT_SEARCH = 60
# Numbers of a fee-only product's description tried as its quantity x rate (pairs of them).
_MOST_NUMBERS = 12
# A run is at least two full periods; fewer is a single item.
MIN_RUN = 2


class Unexpressible(ValueError):
    """An object no plan charge can reproduce; the message says which and why."""

    def __init__(self, found: Found, why: str) -> None:
        self.found = found
        super().__init__(f"{found.type} {found.remote_id}: {why}")


@dataclass(frozen=True)
class Charge:
    """One charge to write: its section, its key, its body as plain data (str, int, Decimal,
    date, dicts and lists), and the object behind each item it expands to."""

    section: str  # recurring | milestones | products
    key: str
    body: Mapping[str, Any]
    # The address suffix of each item (after PROJECT/), e.g. recurring/support/2026-01.
    covers: Mapping[str, Found]


@dataclass
class _Draft:
    """A charge before its key: the text its key is read from, and its items by label."""

    section: str
    name: str  # what its key is made from
    fallback: str
    body: dict[str, Any]
    items: list[tuple[str | None, Found]] = field(default_factory=list)


def charges(
    objects: Sequence[Found], *, currency: str | None = None, kinds_kept: bool = True
) -> list[Charge]:
    """The charges that reproduce `objects` exactly, one item per object.

    currency: the project's (written on the project); a charge in another currency says its
    own. By default, the currency most of the objects bill in.
    kinds_kept: whether the vendor keeps what kind of charge made an object (Ruddr's milestone
    types). Where it does not (Kantata, Wethod, Coperniq), an amount on a date is
    read as a recurring occurrence when it is part of a run and as a milestone otherwise,
    whatever its Found.kind says.
    Raises Unexpressible for an object no charge can reproduce.
    """
    # A fee-only product is priced for the plan; its item still covers the object as read.
    pairs = [(_with_pair(found), found) for found in objects]
    read_as = {id(priced): found for priced, found in pairs}
    ordered = sorted((priced for priced, _ in pairs), key=_order)
    for found in ordered:
        _check(found)
    if currency is None and ordered:
        currency = Counter(found.currency for found in ordered).most_common(1)[0][0]
    drafts: list[_Draft] = []
    # Objects tagged with the charge billplan made them for are recognised with each other
    # only: they were one charge, and are most likely one again.
    for part in _groups(ordered, _tagged_charge):
        drafts.extend(_drafts(part, kinds_kept=kinds_kept))
    drafts.sort(key=lambda draft: _SECTIONS.index(draft.section))  # stable: by date within
    keys = wording.Keys()
    # A charge billplan made keeps the key its objects are tagged with, before any other.
    owned = {id(draft): keys.own(_owned_key(draft)) for draft in drafts}
    unowned = [draft for draft in drafts if owned[id(draft)] is None]
    wanted = [(draft.name, draft.fallback, draft.items[0][1].date) for draft in unowned]
    claimed = dict(zip(map(id, unowned), keys.claim_all(wanted), strict=True))
    out: list[Charge] = []
    for draft in drafts:
        key = owned[id(draft)] or claimed[id(draft)]
        first = draft.items[0][1]
        body = {**draft.body, **_settings(first, currency)}
        prefix = f"{draft.section}/{key}"
        covers = {
            prefix if label is None else f"{prefix}/{label}": read_as[id(f)]
            for label, f in draft.items
        }
        out.append(Charge(draft.section, key, body, covers))
    return out


def _drafts(ordered: list[Found], *, kinds_kept: bool) -> list[_Draft]:
    if kinds_kept:
        recurring, _ = _recurring((o for o in ordered if o.kind == "recurring"), singles=True)
        milestones = [o for o in ordered if o.kind == "milestone"]
    else:
        # An amount on a date is a recurring occurrence in a run, else a milestone.
        loose = [
            o
            for o in ordered
            if o.kind != "product" and o.quantity is None and o.percent is None and o.date
        ]
        recurring, left = _recurring(loose, singles=False)
        read = {id(o) for o in loose}
        kept = [o for o in ordered if o.kind == "milestone" and id(o) not in read]
        milestones = sorted(left + kept, key=_order)
    return [
        *recurring,
        *_products([o for o in ordered if o.kind == "product"]),
        *_milestones(milestones),
    ]


def _tag(found: Found) -> list[str]:
    """SECTION, CHARGE[, LABEL] of the address the object is tagged with; empty if none."""
    owner = found.observed.owner
    # The project's key (the first part) may differ from the generated plan's.
    return owner.split("/")[1:] if owner else []


def _tagged_charge(found: Found) -> tuple[str, ...]:
    return tuple(_tag(found)[:2])


def _owned_key(draft: _Draft) -> str | None:
    """The charge key every object of the draft is tagged with, by the address billplan gave
    it (Kantata's external reference), when the tags say exactly this charge's addresses."""
    keys = set()
    for label, found in draft.items:
        parts = _tag(found)
        tail = [] if label is None else [label]
        if len(parts) != 2 + len(tail) or parts[0] != draft.section or parts[2:] != tail:
            return None
        keys.add(parts[1])
    return keys.pop() if len(keys) == 1 else None


def _order(found: Found) -> tuple[Any, ...]:
    return (
        found.date or date.max,
        found.kind,
        found.description,
        found.amount,
        found.remote_id,
    )


def _check(found: Found) -> None:
    """Refuse what no charge of the object's kind can say."""
    if decimals(found.amount) > exponent(found.currency) and found.amount != round_money(
        found.amount, found.currency, "half_up"
    ):
        raise Unexpressible(found, f"{found.amount} is finer than {found.currency} allows")
    priced = found.quantity is not None and found.rate is not None
    if (found.quantity is None) != (found.rate is None):
        raise Unexpressible(found, "it has a quantity or a rate but not both")
    if found.kind == "recurring" and (priced or found.date is None):
        raise Unexpressible(found, "a recurring item has a date and no quantity x rate")
    if found.kind == "product" and (not priced or found.date is None):
        raise Unexpressible(found, "a product has a date and a quantity x rate")
    if found.date is None and found.task is None:
        raise Unexpressible(found, "it has neither a date nor a task")
    for number in (found.quantity, found.rate, found.percent):
        if number is not None and decimals(number) > NUMBER_DECIMALS:
            raise Unexpressible(found, f"{number} has more than {NUMBER_DECIMALS} decimals")
    if priced and _rounding(found) is None:
        raise Unexpressible(found, "its amount is not its quantity x rate, rounded")
    if (found.percent is None) != (found.contract_value is None):
        raise Unexpressible(found, "a percent needs the contract value it is a share of")
    if found.percent is not None and (priced or found.kind != "milestone"):
        raise Unexpressible(found, "only a milestone is a percent of the contract value")
    if found.percent is not None and _rounding(found) is None:
        raise Unexpressible(
            found,
            f"it bills {found.amount}, which is not {found.percent}% of the contract value "
            f"{found.contract_value}, rounded",
        )


def _with_pair(found: Found) -> Found:
    """A product the vendor holds as a bare amount, with a quantity x rate that bills it.

    Ruddr keeps only the fee of a product whose quantity x rate is not exactly its rounded
    amount (45 x 112.875 bills 5079.38), so billplan's own such products read back fee-only;
    the pair that bills it must again round to the fee without being it exactly. Numbers in
    the description first (`45 licences at 112.875`), else 1 x the amount and a tenth of the
    currency's least unit, which rounds back to the amount."""
    if found.kind != "product" or found.quantity is not None or found.rate is not None:
        return found
    written = re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", found.description)
    # A description may be long: the first few distinct numbers name the pair, if any do.
    numbers = [
        number
        for number in map(Decimal, dict.fromkeys(written))
        if number < MAX_AMOUNT and decimals(number) <= NUMBER_DECIMALS
    ][:_MOST_NUMBERS]
    for quantity, rate in itertools.permutations(numbers, 2):
        exact = quantity * rate
        if exact != found.amount and round_money(exact, found.currency, "half_up") == found.amount:
            return replace(found, quantity=quantity, rate=rate)
    tenth = Decimal(1).scaleb(-exponent(found.currency) - 1)
    return replace(found, quantity=Decimal(1), rate=found.amount + tenth)


def _rounding(found: Found) -> Rounding | None:
    """The rounding under which quantity x rate, or percent of the contract value, bills the
    object's amount (half_up first)."""
    if found.percent is not None and found.contract_value is not None:
        exact = Fraction(found.contract_value) * Fraction(found.percent) / 100
    else:
        assert found.quantity is not None and found.rate is not None
        exact = Fraction(found.quantity) * Fraction(found.rate)
    for mode in ROUNDING_MODES:
        if round_money(exact, found.currency, mode) == found.amount:
            return mode
    return None


def _settings(found: Found, currency: str | None) -> dict[str, Any]:
    """What a charge says besides its terms: its currency when not the project's, its
    options, its rounding when quantity x rate needs half_even."""
    out: dict[str, Any] = {}
    if found.currency != currency:
        out["currency"] = found.currency
    computed = found.quantity is not None or found.percent is not None
    if computed and _rounding(found) == "half_even":
        out["rounding"] = "half_even"
    if found.options:
        out[_vendor(found)] = dict(found.options)
    return out


def _money(amount: Decimal, currency: str) -> Decimal:
    """An amount written with exactly its currency's decimals (10.500 USD is written 10.50)."""
    return amount.quantize(Decimal(1).scaleb(-exponent(currency)))


def _vendor(found: Found) -> str:
    # Resource types are named after their vendor: ruddr_invoice_milestone, wethod_invoice...
    return found.type.split("_", 1)[0]


def _group(found: Found) -> str:
    """What every item of one charge shares besides its terms."""
    return json.dumps([found.currency, _vendor(found), found.options], sort_keys=True, default=str)


def _groups(objects: Sequence[Found], key: Callable[[Found], Any]) -> list[list[Found]]:
    groups: dict[Any, list[Found]] = {}
    for found in objects:
        groups.setdefault(key(found), []).append(found)
    return list(groups.values())


# -- recurring ------------------------------------------------------------------------------


def _recurring(objects: Iterable[Found], *, singles: bool) -> tuple[list[_Draft], list[Found]]:
    """Recurring charges for the objects' runs, and for each object left over a one-period
    charge (`singles`), or the objects left over."""
    drafts: list[_Draft] = []
    left: list[Found] = []
    for group in _groups(list(objects), _group):
        pool = Pool.of(group)
        # Runs first, so that an item a run takes as its stub is not left alone.
        runs = longest(group, pool, stubs=True, least=MIN_RUN)
        for found in group:
            if pool.free(found) and not singles:
                left.append(found)
            elif pool.free(found):
                run = fit(found, pool, stubs=False)
                if run is None:  # cannot happen: any dated item is a one-period charge
                    raise Unexpressible(found, "no recurring charge reproduces it")
                pool.take(item for _, item in run.items)
                runs.append(run)
        drafts.extend(_recurring_draft(run) for run in joined(runs, pool))
    return sorted(drafts, key=lambda d: _order(d.items[0][1])), left


def _recurring_draft(run: Run) -> _Draft:
    currency = run.items[0][1].currency
    body: dict[str, Any] = {"description": run.template, **_term(run)}
    if run.steps:
        body["amounts"] = [
            {"from": day, "amount": _money(amount, currency)}
            for day, amount in [(run.start, run.amount), *run.steps]
        ]
    else:
        body["amount"] = _money(run.amount, currency)
    if run.escalation is not None:
        factor, every, first = run.escalation
        body["escalate"] = {"by": percent(factor), "every": every_text(every), "from": first}
    if run.stubbed and run.prorate != "daily":
        body["prorate"] = run.prorate
    if run.stubbed and run.rounding != "half_up":
        body["rounding"] = run.rounding
    return _Draft("recurring", run.template, "recurring", body, list(labelled(run)))


def _term(run: Run) -> dict[str, Any]:
    shape = run.shape
    term: dict[str, Any] = {"every": shape.every.unit, "start": run.start, "end": run.end}
    if shape.bill != "in_advance":
        term["bill"] = shape.bill
    if shape.day is not None:
        term["day"] = shape.day
    if run.holidays:
        term["holidays"] = sorted(run.holidays)
    if run.pauses:
        term["pauses"] = [{"from": first, "to": last} for first, last in run.pauses]
    return term


# -- products -------------------------------------------------------------------------------


def _products(objects: list[Found]) -> list[_Draft]:
    drafts: list[_Draft] = []
    same = _groups(objects, lambda f: (_group(f), f.quantity, f.rate, f.amount))
    for group in same:
        for run in longest(group, Pool.of(group), stubs=False, least=MIN_RUN):
            body = {"description": run.template, **_term(run), **_priced(run.items[0][1])}
            items: list[tuple[str | None, Found]] = list(labelled(run))
            drafts.append(_Draft("products", run.template, "product", body, items))
    repeating = {id(item) for draft in drafts for _, item in draft.items}
    for found in objects:
        if id(found) not in repeating:
            body = {"description": wording.literal(found.description), **_priced(found)}
            body["date"] = found.date
            drafts.append(_Draft("products", found.description, "product", body, [(None, found)]))
    return sorted(drafts, key=lambda d: _order(d.items[0][1]))


def _priced(found: Found) -> dict[str, Any]:
    return {"quantity": found.quantity, "rate": found.rate}


# -- milestones -----------------------------------------------------------------------------


def _milestones(objects: list[Found]) -> list[_Draft]:
    drafts: list[_Draft] = []
    splittable = [f for f in objects if f.quantity is None and f.percent is None and f.amount > 0]
    split_items: set[int] = set()
    for group in _groups(splittable, _group):
        draft = _split(group) or _split_but_one(group)
        if draft is not None:
            drafts.append(draft)
            split_items.update(id(item) for _, item in draft.items)
    for found in objects:
        if id(found) in split_items:
            continue
        body: dict[str, Any] = {"description": wording.literal(found.description)}
        body.update(_when(found))
        if found.quantity is not None:
            body.update(_priced(found))
        elif found.percent is not None:
            body["percent"] = f"{found.percent.normalize():f}%"
        else:
            body["amount"] = _money(found.amount, found.currency)
        drafts.append(_Draft("milestones", found.description, "milestone", body, [(None, found)]))
    return drafts


def _when(found: Found) -> dict[str, Any]:
    if found.date is None:
        return {"on_completion": {"task": found.task}}
    return {"date": found.date}


def _split(group: list[Found]) -> _Draft | None:
    """The milestones as one split of their total, when each is a whole or half percent of
    it and the allocation bills each exactly."""
    if len(group) < 2:
        return None
    total = sum((f.amount for f in group), Decimal(0))
    fractions = [Fraction(f.amount) / Fraction(total) for f in group]
    if any(fraction % _SHARE_STEP for fraction in fractions):
        return None
    if allocate(total, fractions, group[0].currency) != [f.amount for f in group]:
        return None
    keys = wording.Keys()
    parts: dict[str, Any] = {}
    items: list[tuple[str | None, Found]] = []
    # Parts billplan made keep the keys they are tagged with, when those are one split's.
    tags = [_tag(found) for found in group]
    tagged = len({tuple(tag[:2]) for tag in tags}) == 1 and all(len(tag) == 3 for tag in tags)
    owned = [(tagged and keys.own(tag[2])) or None for tag in tags]
    unowned = [found for found, key in zip(group, owned, strict=True) if key is None]
    claimed = iter(keys.claim_all([(f.description, "part", f.date) for f in unowned]))
    for found, fraction, own in zip(group, fractions, owned, strict=True):
        key = own or next(claimed)
        parts[key] = {
            "description": wording.literal(found.description),
            **_when(found),
            "share": _percent(fraction),
        }
        items.append((key, found))
    body = {"split": {"total": _money(total, group[0].currency), "parts": parts}}
    return _Draft("milestones", "payments", "payments", body, items)


def _split_but_one(group: list[Found]) -> _Draft | None:
    """A split of all the milestones but one (a kickoff fee beside a split delivery), the
    earliest one left out first."""
    if len(group) > MAX_SPLIT_SEARCH:
        return None
    for n in range(len(group)):
        draft = _split(group[:n] + group[n + 1 :])
        if draft is not None:
            return draft
    return None


def _percent(fraction: Fraction) -> str:
    value = Decimal(fraction.numerator * 100) / Decimal(fraction.denominator)
    return f"{value.normalize():f}%"
