"""Money: ISO 4217 exponents, rounding once at the line, exact allocation, formatting."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.money import (
    AmountTooLarge,
    allocate,
    decimals,
    exponent,
    format_amount,
    format_grouped,
    from_minor_units,
    round_money,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("ISK", 0), ("CLP", 0), ("VND", 0),
     ("KWD", 3), ("BHD", 3), ("OMR", 3), ("TND", 3), ("JOD", 3), ("IQD", 3), ("LYD", 3)],
)  # fmt: skip
def test_each_currency_has_its_iso_4217_exponent(currency: str, expected: int) -> None:
    assert exponent(currency) == expected


def test_decimals_counts_the_decimals_as_written() -> None:
    assert [decimals(Decimal(t)) for t in ("15000", "1234.50", "0.125", "-3.1")] == [0, 2, 3, 1]


def test_round_money_rounds_exact_halves_away_from_zero_with_half_up() -> None:
    assert round_money(Fraction("10.005"), "USD", "half_up") == Decimal("10.01")
    assert round_money(Fraction("-10.005"), "USD", "half_up") == Decimal("-10.01")


def test_round_money_rounds_exact_halves_to_even_with_half_even() -> None:
    assert round_money(Fraction("10.005"), "USD", "half_even") == Decimal("10.00")
    assert round_money(Fraction("10.015"), "USD", "half_even") == Decimal("10.02")
    assert round_money(Fraction("-10.005"), "USD", "half_even") == Decimal("-10.00")


def test_round_money_rounds_a_third_of_a_cent_down_in_either_mode() -> None:
    third = Fraction(100, 3)  # 33.333...
    assert round_money(third, "USD", "half_up") == round_money(third, "USD", "half_even")
    assert str(round_money(third, "USD", "half_up")) == "33.33"


def test_round_money_returns_exactly_the_currencys_decimals() -> None:
    assert str(round_money(5, "USD", "half_up")) == "5.00"
    assert str(round_money(Fraction(10000 * 16, 31), "JPY", "half_up")) == "5161"
    assert str(round_money(Fraction("51.6774"), "KWD", "half_up")) == "51.677"


def test_minor_units_round_trip_and_refuse_amounts_finer_than_the_currency() -> None:
    assert to_minor_units(Decimal("1234.50"), "USD") == 123450
    assert from_minor_units(123450, "USD") == Decimal("1234.50")
    assert to_minor_units(Decimal("1500"), "JPY") == 1500
    with pytest.raises(ValueError, match="more decimals than JPY allows"):
        to_minor_units(Decimal("1500.5"), "JPY")


def test_allocate_gives_leftover_cents_to_the_largest_remainders_ties_to_the_first() -> None:
    thirds = [Fraction(1, 3)] * 3
    assert allocate(Decimal("100000.00"), thirds, "USD") == [
        Decimal("33333.34"),
        Decimal("33333.33"),
        Decimal("33333.33"),
    ]


def test_allocate_prefers_a_larger_remainder_over_declaration_order() -> None:
    # 0.10 in 1/6, 1/3, 1/2: exact 1.67, 3.33, 5 cents -> the first part has the largest rest.
    parts = allocate(Decimal("0.10"), [Fraction(1, 6), Fraction(1, 3), Fraction(1, 2)], "USD")
    assert parts == [Decimal("0.02"), Decimal("0.03"), Decimal("0.05")]


def test_allocate_splits_a_negative_total_symmetrically() -> None:
    assert allocate(Decimal("-100.00"), [Fraction(1, 3)] * 3, "USD") == [
        Decimal("-33.34"),
        Decimal("-33.33"),
        Decimal("-33.33"),
    ]


def test_allocate_refuses_fractions_that_do_not_sum_to_one() -> None:
    with pytest.raises(ValueError, match="sum to exactly 1"):
        allocate(Decimal("100"), [Fraction(1, 2), Fraction(49, 100)], "USD")


def test_allocate_in_yen_hands_out_whole_yen() -> None:
    assert allocate(Decimal("100"), [Fraction(1, 3)] * 3, "JPY") == [
        Decimal("34"),
        Decimal("33"),
        Decimal("33"),
    ]


def test_format_amount_writes_exactly_the_currencys_decimals() -> None:
    assert format_amount(Decimal("1600"), "USD") == "1600.00"
    assert format_amount(Decimal("1200"), "JPY") == "1200"
    assert format_amount(Decimal("12.3"), "KWD") == "12.300"


def test_format_grouped_adds_thousands_separators_for_people() -> None:
    assert format_grouped(Decimal("15000"), "USD") == "15,000.00"
    assert format_grouped(Decimal("-1234567.5"), "USD") == "-1,234,567.50"
    assert format_grouped(Decimal("1500000"), "JPY") == "1,500,000"


def test_an_amount_of_a_thousand_trillion_or_more_is_refused_not_miscomputed() -> None:
    assert round_money(Fraction(10**15 - 1), "USD", "half_up") == Decimal("999999999999999.00")
    for value in (Fraction(10**15), Decimal("-1.0e+26"), Fraction(11) ** 5000):
        with pytest.raises(AmountTooLarge, match=r"more than the largest amount billplan bills"):
            round_money(value, "USD", "half_up")


def _allocated_in_fractions(total: Decimal, fractions: list[Fraction], currency: str) -> list[int]:
    """allocate() as it was written in Fractions: what the integer arithmetic must match."""
    magnitude = abs(to_minor_units(total, currency))
    exact = [magnitude * fraction for fraction in fractions]
    floors = [value.numerator // value.denominator for value in exact]
    remainders = [value - floor for value, floor in zip(exact, floors, strict=True)]
    order = sorted(range(len(fractions)), key=lambda i: (-remainders[i], i))
    for i in order[: magnitude - sum(floors)]:
        floors[i] += 1
    return [-part if total < 0 else part for part in floors]


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=8),
    cents=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(("USD", "JPY", "KWD")),
)
def test_allocate_hands_out_exactly_what_fraction_arithmetic_does(
    weights: list[int], cents: int, currency: str
) -> None:
    fractions = [Fraction(weight, sum(weights)) for weight in weights]
    total = Decimal(cents).scaleb(-2).quantize(Decimal(1).scaleb(-exponent(currency)))
    parts = allocate(total, fractions, currency)
    assert [to_minor_units(part, currency) for part in parts] == _allocated_in_fractions(
        total, fractions, currency
    )
