"""Policy: the rules a firm keeps in its repository about what one plan may change, read from
the plan's `policy:` section and from a file the command line names (`--policy FILE`), and
judged on a plan once it is made.

Each rule kind is a row of RULE_KINDS: its key in `policy:`, its words, whether it holds a limit
per currency, what to do when it is broken, the flag that allows it for one run, and its judge.
Two sources of one rule combine to the stricter (the lower limit): a plan cannot loosen the
policy file CI points at. A broken rule is a Breach (compiler.model.breach) carried by the plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from compiler.diagnostics import Diagnostic, Mark
from compiler.expand.spec import Invalid
from compiler.expand.written import money
from compiler.load import Document, LoadError, PathKey, load
from compiler.model.breach import Breach
from compiler.model.change import Change, Plan
from compiler.money import format_grouped

SECTION = "policy"
ALLOW_LARGE_DELETE = "--allow-large-delete"
# Addresses named in a breach's message; the breach itself keeps them all.
_NAMED = 3


@dataclass(frozen=True)
class Rule:
    """One rule as written: its kind, its currency and limit (rules per currency), and where
    it was set (FILE:LINE:COL), which a breach names."""

    kind: str
    source: str
    currency: str | None = None
    limit: Decimal | None = None


@dataclass(frozen=True)
class Judging:
    """What a plan is judged with besides its changes: the day it is planned as of, and the
    rule kinds allowed for this run by their flag (`--allow-large-delete`)."""

    as_of: date
    allowed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleKind:
    key: str  # in `policy:`
    title: str  # how a breach names it
    per_currency: bool  # a limit per currency (a mapping), or a switch (`refuse`)
    fix: str  # what to do when it is broken
    judge: Callable[[Rule, Plan, Judging], list[Breach]]
    allowed_by: str | None = None  # the flag that allows breaking it for one run


# ---- what each rule counts -------------------------------------------------------------------


def changed_amounts(changes: Iterable[Change]) -> dict[str, Decimal]:
    """Per currency, the money a plan writes: over every create, update and delete, the
    absolute difference between the amount after and before (a create counts its amount, a
    delete its amount, an update |new - old|, in each side's own currency). Adopts, forgets,
    locked and unconfirmed objects write no money and count nothing; a date moved without a
    change of amount counts nothing (the past-dates rule and the reviewer see dates)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for change in changes:
        if change.action not in ("create", "update", "delete"):
            continue
        old = change.before_side if change.action != "create" else None
        new = change.after_side if change.action != "delete" else None
        if old is not None and new is not None and old.currency == new.currency:
            totals[new.currency] += abs(new.amount - old.amount)
            continue
        for side in (old, new):
            if side is not None:
                totals[side.currency] += abs(side.amount)
    return dict(totals)


def _over(currency: str, amount: Decimal, limit: Decimal) -> str:
    shown = lambda value: format_grouped(value, currency)  # noqa: E731
    return f"{currency} {shown(amount)} > {shown(limit)} by {shown(amount - limit)}"


def _largest_change(rule: Rule, plan: Plan, judging: Judging) -> list[Breach]:
    assert rule.currency is not None and rule.limit is not None
    amount = changed_amounts(plan.changes).get(rule.currency, Decimal(0))
    if amount <= rule.limit:
        return []
    kind = RULE_KINDS[rule.kind]
    addresses = tuple(
        c.address
        for c in plan.changes
        if c.action in ("create", "update", "delete")
        and rule.currency in {s.currency for s in (c.before_side, c.after_side) if s is not None}
    )
    message = _over(rule.currency, amount, rule.limit)
    return [Breach(rule.kind, kind.title, message, rule.source, kind.fix, addresses)]


def _large_delete(rule: Rule, plan: Plan, judging: Judging) -> list[Breach]:
    assert rule.currency is not None and rule.limit is not None
    large = sorted(
        ((abs(c.before_side.amount), c.address) for c in plan.changes
         # A replace deletes an object only to create its successor in the same plan: its
         # money stays scheduled (and counts in the largest change): no large delete.
         if c.action == "delete" and c.reason != "replaced" and c.before_side is not None
         and c.before_side.currency == rule.currency and abs(c.before_side.amount) > rule.limit),
        key=lambda pair: (-pair[0], pair[1]),
    )  # fmt: skip
    if not large:
        return []
    amount, address = large[0]
    message = f"{address} deletes {_over(rule.currency, amount, rule.limit)}"
    if len(large) > 1:
        message = (
            f"{len(large):,} deletes above {rule.currency} "
            f"{format_grouped(rule.limit, rule.currency)}, the largest {message}: "
            + _named([a for _, a in large])
        )
    kind = RULE_KINDS[rule.kind]
    return [Breach(rule.kind, kind.title, message, rule.source, kind.fix,
                   tuple(a for _, a in large))]  # fmt: skip


def _named(addresses: list[str]) -> str:
    """The first few addresses, and how many more."""
    more = f" and {len(addresses) - _NAMED:,} more" if len(addresses) > _NAMED else ""
    return ", ".join(addresses[:_NAMED]) + more


def _past_dates(rule: Rule, plan: Plan, judging: Judging) -> list[Breach]:
    # Creates and updates only: a delete takes a date away, and a locked (invoiced) object is
    # a no-op, never a change.
    past = sorted(
        (c.after_side.date, c.address)
        for c in plan.changes
        if c.action in ("create", "update")
        and c.after_side is not None
        and c.after_side.date is not None
        and c.after_side.date < judging.as_of
    )
    if not past:
        return []
    earliest = past[0][0]
    n = len(past)
    days = (judging.as_of - earliest).days
    message = (
        f"{n:,} change{'s' if n != 1 else ''} dated before {judging.as_of} (the as-of date), "
        f"the earliest {earliest} ({days:,} day{'s' if days != 1 else ''} before): "
        + _named([address for _, address in past])
    )
    kind = RULE_KINDS[rule.kind]
    return [Breach(rule.kind, kind.title, message, rule.source, kind.fix,
                   tuple(address for _, address in past))]  # fmt: skip


RULE_KINDS: dict[str, RuleKind] = {
    kind.key: kind
    for kind in (
        RuleKind(
            "largest_change",
            "largest change per currency",
            per_currency=True,
            fix="split the change into smaller plans (--target), or raise the limit in the "
            "policy in its own reviewed change",
            judge=_largest_change,
        ),
        RuleKind(
            "large_delete",
            "large delete",
            per_currency=True,
            fix=f"if the delete is meant, plan and apply again with {ALLOW_LARGE_DELETE}; "
            "otherwise put the object back in the plan",
            judge=_large_delete,
            allowed_by=ALLOW_LARGE_DELETE,
        ),
        RuleKind(
            "past_dates",
            "no billing dates in the past",
            per_currency=False,
            fix="date the items on or after the as-of date (or end the charge's schedule "
            "earlier); an item billed already is recorded with `billplan import`, not created",
            judge=_past_dates,
        ),
    )
}


# ---- the policy: reading and combining -------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """Every rule in force, at most one per kind and currency (the strictest written)."""

    rules: tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def combined(self, other: Policy) -> Policy:
        """Both policies in force: where both set one rule, the stricter (lower) limit."""
        kept: dict[tuple[str, str | None], Rule] = {}
        for rule in (*self.rules, *other.rules):
            key = (rule.kind, rule.currency)
            held = kept.get(key)
            if held is None or (rule.limit is not None and held.limit is not None
                                and rule.limit < held.limit):  # fmt: skip
                kept[key] = rule
        return Policy(tuple(kept.values()))

    def judge(self, plan: Plan, judging: Judging) -> Plan:
        """The plan with the breaches it makes; a breach its flag allows for this run becomes a
        note instead (the reviewer still reads it)."""
        if plan.mode != "normal":
            return plan  # a refresh-only plan applies nothing
        breaches: list[Breach] = []
        notes: list[str] = []
        for rule in self.rules:
            kind = RULE_KINDS[rule.kind]
            found = kind.judge(rule, plan, judging)
            if kind.allowed_by and kind.key in judging.allowed:
                notes += [f"{b} (allowed by {kind.allowed_by}; set at {b.source})" for b in found]
            else:
                breaches += found
        return replace(plan, breaches=[*plan.breaches, *breaches], notes=[*plan.notes, *notes])


def _mark(doc: Document, path: PathKey) -> str:
    return str(doc.key_mark(path))


def read(
    doc: Document, skip: Callable[[PathKey], bool] = lambda path: False
) -> tuple[Policy, list[Diagnostic]]:
    """The plan's `policy:` section (none: no rules), and its problems of meaning; the
    schema has checked its shape (skip: places it found broken, already reported)."""
    section = doc.root.get(SECTION)
    if not isinstance(section, Mapping):
        return Policy(), []
    rules: list[Rule] = []
    problems: list[Diagnostic] = []
    for key, value in section.items():
        kind = RULE_KINDS.get(key)
        if kind is None:
            continue  # the schema names it
        path: PathKey = (SECTION, key)
        if skip(path):
            continue
        if not kind.per_currency:
            if value == "refuse":
                rules.append(Rule(key, _mark(doc, path)))
            continue
        if not isinstance(value, Mapping):
            continue
        for currency, written in value.items():
            where = (*path, currency)
            if skip(where):
                continue
            try:
                limit = money(written, where, str(currency))
            except Invalid as exc:
                problems.append(doc.diagnostic(exc.path, exc.message))
                continue
            if limit < 0:
                problems.append(
                    doc.diagnostic(
                        where, f"{written} is below zero; a limit is an amount of 0 or more"
                    )
                )
                continue
            rules.append(Rule(key, _mark(doc, where), str(currency), limit))
    return Policy(tuple(rules)), problems


class PolicyFileError(Exception):
    """A policy file (`--policy FILE`) that cannot be used; every located problem in it."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(map(str, diagnostics)))


def read_file(path: Path) -> Policy:
    """The policy in a file of its own: a YAML file holding `policy:` (and, if it likes,
    `version: 1`), nothing else, in the plan's language. PolicyFileError when it is not one."""
    from compiler.schema_check import schema_problems

    where = Mark(str(path), 1, 1)
    if path.is_dir():
        raise PolicyFileError([Diagnostic(where, "$", _not_a_file("a directory"))])
    try:
        doc = load(path)
    except LoadError as exc:
        raise PolicyFileError(exc.diagnostics) from None
    problems = list(_file_shape(doc))
    if not problems:
        problems = [diagnostic for _, diagnostic in schema_problems(doc)]
    if not problems:
        policy, problems = read(doc)
    if problems:
        raise PolicyFileError(problems)
    return policy


def _not_a_file(what: str) -> str:
    return (
        f"--policy takes one YAML file holding `policy:`, and this is {what}; point it at "
        "the policy file (e.g. policy.yaml)"
    )


def _file_shape(doc: Document) -> Iterator[Diagnostic]:
    others = sorted(key for key in doc.root if key not in (SECTION, "version"))
    for key in others:
        yield doc.diagnostic(
            (key,),
            f"a policy file holds only `policy:` (and `version: 1`), not `{key}:`; keep the "
            "plan's other sections in the plan",
            at_key=True,
        )
    if SECTION not in doc.root and not others:
        yield doc.diagnostic((), "the file holds no `policy:` section; add one, e.g. "
                             "policy: {largest_change: {USD: 100000}}")  # fmt: skip


# ---- a plan that breaks the policy -----------------------------------------------------------


class PolicyBreached(Exception):
    """A plan that breaks a policy rule: never applied. The message says what to do; lines,
    one per breach, say which rule, by how much, where it was set and what to do."""

    def __init__(self, breaches: Iterable[Breach], what: str = "The plan") -> None:
        self.breaches = list(breaches)
        n = len(self.breaches)
        allowable = sorted(
            {flag for b in self.breaches if (flag := RULE_KINDS[b.rule].allowed_by) is not None}
        )
        flags = f" (or, if what it breaks is meant, add {' '.join(allowable)})" if allowable else ""
        super().__init__(
            f"{what} breaks {n} policy rule{'s' if n != 1 else ''}; nothing was applied. "
            f"Change the plan{flags} and plan again"
        )

    @property
    def lines(self) -> list[str]:
        return breach_lines(self.breaches)


def breach_lines(breaches: Iterable[Breach]) -> list[str]:
    """One line per breach: the rule, by how much, where it was set, what to do."""
    return [f"{b} (set at {b.source}): {b.fix}" for b in breaches]
