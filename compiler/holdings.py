"""What the vendors hold, indexed once per plan for the diff's searches: by the address an
object is tagged with, by type and project, and by natural key (its body's texts: description,
dates, currency, ids). A search looks only at the few objects its key selects, skips the ones
already claimed, rules out those whose amounts differ, and asks `same()` (DeepDiff behind it)
only about what is left: adopting N objects costs N lookups, not N x N comparisons.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from compiler.model import Observed
from compiler.model.fields import same

# (type, remote id): how the diff names a vendor object it has claimed.
Claim = tuple[str, str]
# An object's body as far as an index may compare it: each field's name with its text, or with
# only the kind of value it holds (a number, anything else), which `same()` compares finely.
NaturalKey = frozenset[tuple[str, str]]

_NUMBER = "#"  # a field holding a number: compared by _differ, then by same()
_OTHER = "~"  # a list, an object, anything but a text or a number: compared by same()
# Numbers DeepDiff compares (as `same()` asks it: ignore_numeric_type_changes) by their text
# to 12 decimal places; whole numbers go through a float on the way.
_PLACES = 12
_WHOLE = 2**53


def natural_key(attributes: Mapping[str, Any], leave_out: Collection[str] = ()) -> NaturalKey:
    """A key equal for any two bodies `same()` finds equal: the fields set (null is left
    out), each text as it is. Numbers and nested values count only by kind: two amounts
    DeepDiff calls equal may be written differently (15000, 15000.0, Decimal('15000.00'))."""
    return frozenset(
        (name, _kind(value))
        for name, value in attributes.items()
        if value is not None and name not in leave_out
    )


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}"  # the quote keeps a text apart from the kinds below
    if isinstance(value, int | float | Decimal | Fraction):  # bool among them, as DeepDiff
        return _NUMBER
    return _OTHER


def _exact(value: Any) -> int | Decimal | None:
    """The number itself where DeepDiff's text of it is exact (so that two such numbers are
    equal to it exactly when they are equal), else None: a whole number a float holds, or a
    decimal of at most 12 places."""
    if type(value) is int and -_WHOLE <= value <= _WHOLE:
        return value
    if type(value) is Decimal and value.is_finite():
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -_PLACES:
            return value
    return None


def _differ(numbers: Iterable[tuple[str, Any]], attributes: Mapping[str, Any]) -> bool:
    """Whether some number surely differs between the wanted `numbers` and `attributes`: the
    amount, quantity or rate of another item with the same texts. Unsure is False."""
    for name, value in numbers:
        mine, theirs = _exact(value), _exact(attributes.get(name))
        if mine is not None and theirs is not None and mine != theirs:
            return True
    return False


class Holdings:
    """The vendors' objects as the diff searches them. Which ones are claimed stays with the
    diff (a set that only grows), passed to each search."""

    def __init__(self, objects: Iterable[Observed]) -> None:
        # Lowest remote id first, everywhere: where several objects match, the diff takes
        # the lowest id, so that the same vendor state always gives the same plan.
        ordered = sorted(objects, key=lambda obs: obs.remote_id)
        self._tagged: dict[tuple[str, str], list[Observed]] = defaultdict(list)
        self._placed: dict[tuple[str, str], list[Observed]] = defaultdict(list)
        for obs in ordered:
            if obs.owner is not None:
                self._tagged[(obs.owner, obs.type)].append(obs)
            self._placed[(obs.type, str(obs.project_id))].append(obs)
        # Built on first use, per (type, project, fields left out, untagged only).
        self._by_content: dict[
            tuple[str, str, frozenset[str], bool], dict[NaturalKey, list[Observed]]
        ] = {}

    def placed(self, type_name: str, project_id: str | int) -> list[Observed]:
        """Every object of this type in this project, claimed or not."""
        return self._placed.get((type_name, str(project_id)), [])

    def tagged(self, address: str, type_name: str, claimed: Collection[Claim]) -> Observed | None:
        """The unclaimed object of this type tagged with address (lowest id if several)."""
        for obs in self._tagged.get((address, type_name), ()):
            if (obs.type, obs.remote_id) not in claimed:
                return obs
        return None

    def equal(
        self,
        type_name: str,
        project_id: str | int,
        attributes: Mapping[str, Any],
        claimed: Collection[Claim],
        ignore: frozenset[str] = frozenset(),
        untagged: bool = False,
    ) -> Observed | None:
        """The unclaimed object of this type and project exactly equal to attributes (lowest
        id if several), leaving out its `ignore` fields; untagged: only among objects tagged
        for no address."""
        index = self._content(type_name, str(project_id), ignore, untagged)
        numbers = [(k, v) for k, v in attributes.items() if _kind(v) == _NUMBER]
        for obs in index.get(natural_key(attributes), ()):
            if (obs.type, obs.remote_id) in claimed or _differ(numbers, obs.attributes):
                continue
            if same({k: v for k, v in obs.attributes.items() if k not in ignore}, attributes):
                return obs
        return None

    def _content(
        self, type_name: str, project: str, ignore: frozenset[str], untagged: bool
    ) -> dict[NaturalKey, list[Observed]]:
        where = (type_name, project, ignore, untagged)
        index = self._by_content.get(where)
        if index is None:
            index = defaultdict(list)
            for obs in self._placed.get((type_name, project), ()):
                if not untagged or obs.owner is None:
                    index[natural_key(obs.attributes, ignore)].append(obs)
            self._by_content[where] = index
        return index
