"""Whether a saved plan is what the merged plan directory gives now: the check that makes
`apply FILE` apply only what was reviewed and merged.

A saved plan is the record of what a reviewer approved, never an authority: in CI it comes
from the pull request's own run, which the pull request's author controls, and anyone can
recompute its checksum. So `apply FILE` plans again from the plan directory it is given and
the vendors as they are now, at the saved plan's as-of date and with its targets, and goes on
only when that plan makes the same changes: the same addresses and actions (as a reviewer
read them: an update, a restore of drift, a lock), on the same remote
objects, with the same bodies and the same dates and amounts for state. What it then applies
is the plan it made, never a body read from the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from compiler import jsonio
from compiler.model.change import Change, Plan, Side

NO_CHANGE = "no change"
ABSENT = "nothing"
_LONGEST = 200  # characters of one value shown; a body can be long

# What a change writes besides its body: which vendor and object, and what state records.
_TARGET_FIELDS = ("provider", "type", "project_id", "remote_id", "moved_from")


@dataclass(frozen=True)
class Difference:
    """One way the saved plan and the merged plan disagree, on one address."""

    address: str
    aspect: str  # "action", a body field, "remote_id", "date and amount", "moved from" ...
    saved: str  # what the saved plan says, as shown
    merged: str  # what the merged plan gives, as shown

    def __str__(self) -> str:
        return (
            f"{self.address}: {self.aspect}: the saved plan has {self.saved}, "
            f"the merged plan has {self.merged}"
        )


def differences(saved: Plan, merged: Plan) -> list[Difference]:
    """Every difference between the changes of a saved plan and of the plan made now; empty
    when apply may go on. No-op changes write nothing and are not compared."""
    found: list[Difference] = []
    # A plan has one change per address; a file with two for one is no plan billplan made.
    counts = Counter(c.address for c in saved.changes)
    for address in sorted(a for a, n in counts.items() if n > 1):
        found.append(Difference(address, "changes", f"{counts[address]} of it", "one at most"))
    reviewed, now = _by_address(saved.changes), _by_address(merged.changes)
    for address in sorted(reviewed.keys() | now.keys()):
        old, new = reviewed.get(address), now.get(address)
        if old is None or new is None or old.label != new.label:
            found.append(Difference(address, "action", _action(old), _action(new)))
            continue
        found += _compare(address, old, new)
    for new_address in sorted(saved.moved.keys() | merged.moved.keys()):
        old_name, new_name = saved.moved.get(new_address), merged.moved.get(new_address)
        if old_name != new_name:
            found.append(
                Difference(
                    new_address,
                    "moved from",
                    ABSENT if old_name is None else old_name,
                    ABSENT if new_name is None else new_name,
                )
            )
    # A protection mark is a state write like a rename: applied only as it was reviewed.
    for address in sorted(saved.protection.keys() | merged.protection.keys()):
        old_mark, new_mark = saved.protection.get(address), merged.protection.get(address)
        if old_mark != new_mark:
            shown = {None: ABSENT, True: "protect", False: "unprotect"}
            found.append(Difference(address, "protection", shown[old_mark], shown[new_mark]))
    return found


def _by_address(changes: Iterable[Change]) -> dict[str, Change]:
    return {c.address: c for c in changes if c.label != "no-op"}


def _action(change: Change | None) -> str:
    return NO_CHANGE if change is None else change.label


def _compare(address: str, old: Change, new: Change) -> list[Difference]:
    if _identical(_written(old), _written(new)):
        return []  # the common case, without writing JSON (10,000 changes in well under 1 s)
    found: list[Difference] = []
    for name in _TARGET_FIELDS:
        a, b = _canonical(getattr(old, name)), _canonical(getattr(new, name))
        if a != b:
            found.append(Difference(address, name, _cut(a), _cut(b)))
    found += _body(address, old.after, new.after)
    # What the provider sends beside the body (Coperniq's status and issue date): it is
    # written as surely as the body is.
    found += [
        replace(d, aspect=f"{d.aspect} (sent beside the body)")
        for d in _body(address, old.private, new.private)
    ]
    # The date, amount and currency state records for the object (what was there before
    # is the remote object itself, which the staleness check already compares).
    a, b = _canonical(_side(old.after_side)), _canonical(_side(new.after_side))
    if a != b:
        found.append(Difference(address, "date and amount", _cut(a), _cut(b)))
    return found


def _body(
    address: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[Difference]:
    """The body to be written, field by field, digit for digit: a number written 12000.00
    on one side and 12000 on the other is a difference, as it is on the wire."""
    if (old is None) != (new is None):
        return [Difference(address, "body", _cut(_canonical(old)), _cut(_canonical(new)))]
    old, new = old or {}, new or {}
    found = []
    for key in sorted(old.keys() | new.keys()):
        a = _canonical(old[key]) if key in old else ABSENT
        b = _canonical(new[key]) if key in new else ABSENT
        if a != b:
            found.append(Difference(address, key, _cut(a), _cut(b)))
    return found


def _written(change: Change) -> dict[str, Any]:
    fields = {name: getattr(change, name) for name in _TARGET_FIELDS}
    return {
        **fields,
        "after": change.after,
        "after_side": _side(change.after_side),
        "private": change.private,
    }


def _side(side: Side | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {"date": side.date, "amount": side.amount, "currency": side.currency}


def _identical(a: Any, b: Any) -> bool:
    """Whether two values are one JSON value, digit for digit; False may also mean "not
    sure" (a date on one side, its text on the other): the canonical JSON then decides."""
    a, b = _read_back(a), _read_back(b)
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    if kind is list:
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if kind is Decimal:
        return f"{a:f}" == f"{b:f}"  # as jsonio writes it: 12000.00 is not 12000
    return bool(a == b)


def _read_back(value: Any) -> Any:
    """One level of value as the saved side holds it after JSON: a float is the Decimal it
    reads back as (1e-05 and 0.00001 are one value), a tuple a list, a mapping a dict."""
    kind = type(value)
    if kind is float:
        return Decimal(repr(value))
    if kind is tuple:
        return list(value)
    if kind is not dict and isinstance(value, Mapping):
        return dict(value)
    return value


def _canonical(value: Any) -> str:
    """A value as canonical JSON (keys sorted, numbers with their exact digits): how both
    sides are compared, and how a difference shows them."""
    return jsonio.dumps(_as_read_back(value), sort_keys=True)


def _as_read_back(value: Any) -> Any:
    """value, all levels of it, as _read_back makes one."""
    value = _read_back(value)
    if type(value) is dict:
        return {key: _as_read_back(item) for key, item in value.items()}
    if type(value) is list:
        return [_as_read_back(item) for item in value]
    return value


def _cut(text: str) -> str:
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"
