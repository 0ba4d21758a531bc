"""Comparing two objects' attributes field by field: which fields differ, and whether any do.

Used wherever billplan asks "is this what it should be": the diff (plan against vendor), drift
(what billplan wrote against vendor), apply (what was sent against the vendor's echo) and the
saved plan's staleness check. Numbers compare by value (15000 equals 15000.0), and a field set
to null is the same as a field left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from compiler.model.change import FieldChange


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[FieldChange, ...]:
    """Field-level differences; 15000 and 15000.0 are equal (numbers compare by value), and
    a field set to null is the same as a field left out.

    Most pairs a plan compares are equal, so equality is checked cheaply first; DeepDiff runs
    only on a pair that differs (or that the cheap check cannot vouch for), to name what does."""
    if _equal_fields(before or {}, after or {}):
        return ()
    old = {k: v for k, v in (before or {}).items() if v is not None}
    new = {k: v for k, v in (after or {}).items() if v is not None}
    if not old or not new:  # a create or a delete: every field is a change
        return tuple(FieldChange(k, old.get(k), new.get(k)) for k in sorted(old or new))
    # threshold_to_diff_deeper=0: name each field even when few are shared, never "root".
    # The tree view gives each difference's path as keys, however a key is spelled.
    found = DeepDiff(
        old,
        new,
        ignore_numeric_type_changes=True,
        threshold_to_diff_deeper=0,
        view="tree",
    )
    keys: set[str] = set()
    for bucket in _DEEPDIFF_BUCKETS:
        for level in found.get(bucket, ()):
            path = level.path(output_format="list")
            keys.add(str(path[0]) if path else "(value)")
    return tuple(FieldChange(k, old.get(k), new.get(k)) for k in sorted(keys))


def DeepDiff(*args: Any, **kwargs: Any) -> Any:  # named as the class it stands for
    """deepdiff.DeepDiff, imported when a pair first differs: the import takes a tenth of a
    second, which a plan where nothing differs never needs to spend."""
    from deepdiff import DeepDiff as deep_diff

    return deep_diff(*args, **kwargs)


_DEEPDIFF_BUCKETS = (
    "values_changed",
    "type_changes",
    "dictionary_item_added",
    "dictionary_item_removed",
    "iterable_item_added",
    "iterable_item_removed",
)
# Numbers compare by value across these types, as DeepDiff's ignore_numeric_type_changes does.
_NUMBERS = frozenset({int, float, Decimal, bool})
# Values whose == is exactly DeepDiff's verdict when both sides have the same type.
_SCALARS = frozenset({str, int, float, Decimal, bool, type(None)})


def _equal_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """_equal of the two with their null fields left out, without copying either: a no-op
    plan asks this of every object it holds. Same-typed scalars, most fields, are compared
    here rather than in a call each."""
    fields = 0
    for key, value in before.items():
        if value is None:
            continue
        other = after.get(key)
        if other is None or type(key) is not str:
            return False
        kind = type(value)
        if kind is type(other) and kind in _SCALARS:
            if value != other:
                return False
        elif not _equal(value, other):
            return False
        fields += 1
    return fields == sum(value is not None for value in after.values())


def _equal(a: Any, b: Any) -> bool:
    """True only when DeepDiff would find no difference: the same JSON-like shape (dicts with
    text keys, lists, tuples), the same text, numbers equal by value. False means "differs, or
    not sure": the caller asks DeepDiff."""
    kind = type(a)
    if kind is dict:
        if type(b) is not dict or len(a) != len(b):
            return False
        for key, value in a.items():
            if type(key) is not str or key not in b or not _equal(value, b[key]):
                return False
        return True
    if kind is list or kind is tuple:
        if type(b) is not kind or len(a) != len(b):
            return False
        return all(_equal(x, y) for x, y in zip(a, b, strict=True))
    other = type(b)
    if kind is other:
        return kind in _SCALARS and a == b
    return kind in _NUMBERS and other in _NUMBERS and a == b


def same(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return not field_changes(a, b)
