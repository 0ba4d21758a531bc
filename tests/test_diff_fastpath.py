"""The diff's fast path: field_changes compares cheaply first and asks DeepDiff only about pairs
that differ. Its answers must be exactly those of DeepDiff on every pair (the reference below is
field_changes as it was, DeepDiff on everything): checked with hypothesis over nested values
made of dicts, lists, tuples, numbers of every type, text and nulls, most of them twins that
differ in one small way, or not at all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler.model.fields
from compiler.model.change import FieldChange
from compiler.model.fields import field_changes, same


def reference(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[FieldChange, ...]:
    """field_changes before the fast path: DeepDiff on every pair."""
    old = {k: v for k, v in (before or {}).items() if v is not None}
    new = {k: v for k, v in (after or {}).items() if v is not None}
    if not old or not new:  # a create or a delete: each field by name
        return tuple(FieldChange(k, old.get(k), new.get(k)) for k in sorted(old or new))
    found = DeepDiff(
        old, new, ignore_numeric_type_changes=True, threshold_to_diff_deeper=0, view="tree"
    )
    keys = {
        str(level.path(output_format="list")[0])
        for bucket in found.values()
        for level in bucket
        if level.path(output_format="list")
    }
    return tuple(FieldChange(k, old.get(k), new.get(k)) for k in sorted(keys))


# Numbers equal by value in different types, and near misses: what the diff must tell apart.
EQUAL_NUMBERS = (
    (15000, 15000.0, Decimal("15000"), Decimal("15000.00")),
    (1, 1.0, True, Decimal("1.0")),
    (0, 0.0, -0.0, False, Decimal("0.00")),
    (0.1, Decimal("0.1")),
    (0.5, Decimal("0.50")),
    (float("nan"), Decimal("NaN")),
)
numbers = st.one_of(
    st.sampled_from([n for group in EQUAL_NUMBERS for n in group]),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    # Money-sized: DeepDiff itself cannot compare decimals beyond the context's 28 digits.
    st.decimals(min_value=-(10**15), max_value=10**15, places=2),
)
# Keys DeepDiff spells plainly, and some it quotes otherwise.
keys = st.one_of(
    st.sampled_from(["fee", "date", "name", "lineItems", "projectId", "a b", "x-y", "v.1"]),
    st.text(alphabet="ab'\"][\\ ", min_size=1, max_size=3),
)
leaves = st.one_of(st.none(), numbers, st.text(max_size=4), st.binary(max_size=2))
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(st.integers(0, 2), inner, max_size=2),
    ),
    max_leaves=12,
)
records = st.dictionaries(keys, values, max_size=6)


def twin(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """A value mostly equal to `value`: the same, an equal number of another type, or one small
    change (a different leaf, a container of another type, a key dropped, added or nulled)."""
    how = draw(st.integers(0, 9))
    if how == 0 and depth > 0:
        return draw(values)  # anything at all
    if isinstance(value, dict):
        out = {k: twin(draw, v, depth + 1) for k, v in value.items()}
        if how == 1 and out:
            out.pop(draw(st.sampled_from(sorted(out, key=repr))))
        elif how == 2:
            out[draw(keys)] = draw(values)
        elif how == 3 and out:
            out[draw(st.sampled_from(sorted(out, key=repr)))] = None
        elif how == 4:
            return OrderedDict(out)
        return out
    if isinstance(value, list | tuple):
        out_list = [twin(draw, v, depth + 1) for v in value]
        if how == 1 and out_list:
            out_list.pop()
        elif how == 2:
            out_list.append(draw(values))
        if how == 4:
            return tuple(out_list) if isinstance(value, list) else out_list
        return type(value)(out_list)
    for group in EQUAL_NUMBERS:
        if any(value is n for n in group) or (
            type(value) in (int, float, Decimal, bool) and value in group and how < 6
        ):
            return draw(st.sampled_from(group))
    if how == 5:
        return draw(leaves)
    return value


@st.composite
def pairs(draw: st.DrawFn) -> tuple[dict[Any, Any] | None, dict[Any, Any] | None]:
    before = draw(records)
    after = twin(draw, before)
    if isinstance(after, OrderedDict):
        after = dict(after)
    side = draw(st.integers(0, 9))
    if side == 0:
        return None, after
    if side == 1:
        return before, None
    return before, after


@settings(max_examples=1500, deadline=None)
@given(pairs())
def test_the_fast_path_answers_exactly_as_deepdiff_does(pair: tuple[Any, Any]) -> None:
    before, after = pair

    assert field_changes(before, after) == reference(before, after)
    assert same(before, after) == (reference(before, after) == ())


@settings(max_examples=300, deadline=None)
@given(records)
def test_a_value_equal_to_itself_has_no_changes(record: dict[str, Any]) -> None:
    assert field_changes(record, record) == reference(record, record)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"fee": Decimal("15000.00")}, {"fee": 15000}),
        ({"fee": 15000.0}, {"fee": Decimal("15000")}),
        ({"fee": 1, "quantity": None}, {"fee": 1}),
        (
            {"lines": [{"unitPrice": Decimal("2.50"), "quantity": 4}]},
            {"lines": [{"unitPrice": 2.5, "quantity": Decimal("4")}]},
        ),
        (None, {}),
    ],
)
def test_equal_pairs_never_reach_deepdiff(
    before: Any, after: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("DeepDiff was asked about an equal pair")

    monkeypatch.setattr(compiler.model.fields, "DeepDiff", refuse)

    assert field_changes(before, after) == ()


def test_a_pair_that_differs_is_explained_field_by_field() -> None:
    before = {"fee": Decimal("15000"), "lines": [{"quantity": 1}], "name": "Go-live"}
    after = {"fee": 15000.0, "lines": [{"quantity": 2}], "name": "Go-live"}

    assert field_changes(before, after) == (
        FieldChange("lines", [{"quantity": 1}], [{"quantity": 2}]),
    )


def test_pairs_the_cheap_check_cannot_vouch_for_are_judged_by_deepdiff() -> None:
    # DeepDiff compares 0.1 and Decimal("0.1") by value, though == tells them apart; and it
    # tells a dict from an OrderedDict, though == does not.
    assert field_changes({"rate": 0.1}, {"rate": Decimal("0.1")}) == ()
    (change,) = field_changes({"x": {"a": 1}}, {"x": OrderedDict(a=1)})
    assert change.field == "x"


def test_a_create_or_delete_names_its_fields_as_deepdiff_does() -> None:
    body = {"projectId": "p", "fee": Decimal("10")}

    assert field_changes(None, body) == reference(None, body)
    assert field_changes(body, None) == reference(body, None)
    assert field_changes(None, {"fee": 1}) == (FieldChange("fee", None, 1),)
