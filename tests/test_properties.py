"""Properties that must hold for every plan, not just the examples: checked with hypothesis.

Splits sum exactly to their total, recurring periods tile the service term, expansion is
deterministic, amounts carry exactly the currency's decimals, and the two rounding modes
differ only on exact halves.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

from conftest import HEAD, plan_text
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.model import Item
from compiler.money import allocate, exponent, from_minor_units, round_money
from compiler.validate import check

CURRENCIES = ("USD", "EUR", "JPY", "KWD")
EVERY = ("week", "2 weeks", "month", "3 months", "quarter", "year")
AS_OF = date(2026, 1, 1)

currencies = st.sampled_from(CURRENCIES)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


def expand_text(text: str) -> list[Item]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "plan.yaml"
        path.write_text(text, encoding="utf-8")
        checked = check(path, AS_OF)
    assert checked.diagnostics == [], "\n".join(map(str, checked.diagnostics))
    return checked.items


def money_text(units: int, currency: str) -> str:
    return str(from_minor_units(units, currency))


# --- splits -----------------------------------------------------------------------------------


@given(
    units=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=12),
    currency=currencies,
)
def test_weighted_allocation_always_sums_exactly_to_the_total(
    units: int, weights: list[int], currency: str
) -> None:
    total = from_minor_units(units, currency)
    fractions = [Fraction(w, sum(weights)) for w in weights]
    parts = allocate(total, fractions, currency)
    assert sum(parts) == total
    unit = Decimal(1).scaleb(-exponent(currency))
    for part, fraction in zip(parts, fractions, strict=True):
        assert abs(Fraction(part) - Fraction(total) * fraction) < Fraction(unit)


@st.composite
def shares_in_basis_points(draw: st.DrawFn) -> list[int]:
    """Shares such as 33.33%, 33.33%, 33.34%: positive, summing to 100.00%."""
    n = draw(st.integers(min_value=1, max_value=8))
    cuts = sorted(draw(st.sets(st.integers(1, 9999), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 10000]
    return [b - a for a, b in pairwise(bounds)]


@settings(max_examples=60, deadline=None)
@given(
    units=st.integers(min_value=0, max_value=10**10),
    shares=shares_in_basis_points(),
    currency=currencies,
)
def test_a_split_with_shares_expands_to_parts_that_sum_to_its_total(
    units: int, shares: list[int], currency: str
) -> None:
    total = money_text(units, currency)
    parts = "\n".join(
        f"                p{i}: {{date: 2026-03-01, share: {Decimal(bp) / 100}%}}"
        for i, bp in enumerate(shares)
    )
    items = expand_text(
        plan_text(
            f"""
            projects:
              acme:
                provider: ruddr
                project_id: 1
                currency: {currency}
                milestones:
                  delivery:
                    description: Delivery
                    split:
                      total: "{total}"
                      parts:
            """
        )
        + parts
        + "\n"
    )
    assert len(items) == len(shares)
    assert sum(i.amount for i in items) == Decimal(total)


# --- recurring periods ------------------------------------------------------------------------


@st.composite
def recurring_charges(draw: st.DrawFn) -> tuple[str, date, date | None, int | None]:
    """(YAML for one recurring charge, start, end or None, count or None)."""
    start = draw(days)
    every = draw(st.sampled_from(EVERY))
    align = draw(st.sampled_from(("calendar", "start")))
    if draw(st.booleans()):
        end = start + timedelta(days=draw(st.integers(min_value=0, max_value=800)))
        term, count = f"end: {end}", None
    else:
        end, count = None, draw(st.integers(min_value=1, max_value=30))
        term = f"count: {count}"
    yaml = (
        "{description: Service, "
        f"every: {every}, align: {align}, start: {start}, {term}, amount: 1000, "
        f"bill: {draw(st.sampled_from(('in_advance', 'in_arrears')))}, "
        f"prorate: {draw(st.sampled_from(('daily', 'none')))}}}"
    )
    return yaml, start, end, count


@settings(max_examples=150, deadline=None)
@given(charge=recurring_charges())
def test_recurring_periods_tile_the_service_term_without_gap_or_overlap(
    charge: tuple[str, date, date | None, int | None],
) -> None:
    yaml, start, end, count = charge
    items = expand_text(
        plan_text(
            f"""
            projects:
              acme:
                provider: ruddr
                project_id: 1
                recurring:
                  service: {yaml}
            """
        )
    )
    periods = [i.period for i in items]
    assert all(p is not None for p in periods)
    spans = [(p.start, p.end) for p in periods if p is not None]
    assert spans[0][0] == start
    if end is not None:
        assert spans[-1][1] == end
    else:
        assert len(spans) == count
    for (_, before_end), (next_start, _) in pairwise(spans):
        assert next_start == before_end + timedelta(days=1)
    assert all(s <= e for s, e in spans)
    assert len({i.address for i in items}) == len(items)  # labels never collide


# --- determinism and decimals -----------------------------------------------------------------


@st.composite
def plans(draw: st.DrawFn) -> str:
    """A plan with a few charges of each kind, in a random currency and rounding mode."""
    currency = draw(currencies)
    amount = st.integers(min_value=-(10**8), max_value=10**8).map(
        lambda units: str(from_minor_units(units, currency))
    )
    rate = st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False).map(str)
    recurring = "\n".join(
        f"      r{i}: {{description: 'R {{{{ period.label }}}}',"
        f" every: {draw(st.sampled_from(EVERY))},"
        f" start: {draw(days)}, count: {draw(st.integers(1, 6))}, amount: '{draw(amount)}',"
        f" escalate: {{by: {draw(st.integers(-20, 20))}.5%, every: 3 months}}}}"
        for i in range(draw(st.integers(1, 3)))
    )
    products = "\n".join(
        f"      p{i}: {{description: P, quantity: '{draw(rate)}', rate: '{draw(rate)}',"
        f" date: {draw(days)}}}"
        for i in range(draw(st.integers(0, 3)))
    )
    whole = st.integers(min_value=-(10**6), max_value=10**6).map(str)  # 15000, not 15000.00
    milestones = "\n".join(
        [
            f"      m{i}: {{description: M, date: {draw(days)}, quantity: 3, rate: '{draw(rate)}'}}"
            for i in range(draw(st.integers(0, 2)))
        ]
        + [f"      fixed: {{description: F, date: {draw(days)}, amount: {draw(whole)}}}"]
    )
    body = (
        "projects:\n  acme:\n    provider: ruddr\n    project_id: 1\n"
        f"    currency: {currency}\n"
        f"    rounding: {draw(st.sampled_from(('half_up', 'half_even')))}\n"
        f"    recurring:\n{recurring}\n"
    )
    if products:
        body += f"    products:\n{products}\n"
    body += f"    milestones:\n{milestones}\n"
    return HEAD + body


@settings(max_examples=60, deadline=None)
@given(text=plans())
def test_expanding_the_same_plan_twice_gives_equal_items(text: str) -> None:
    assert expand_text(text) == expand_text(text)


@settings(max_examples=60, deadline=None)
@given(text=plans())
def test_amounts_carry_exactly_the_decimals_their_currency_allows(text: str) -> None:
    for item in expand_text(text):
        assert item.amount.as_tuple().exponent == -exponent(item.currency), item


# --- rounding modes ---------------------------------------------------------------------------


@given(
    value=st.fractions(min_value=-(10**9), max_value=10**9, max_denominator=10**6),
    currency=currencies,
)
def test_half_up_and_half_even_agree_except_on_exact_halves(value: Fraction, currency: str) -> None:
    up = round_money(value, currency, "half_up")
    even = round_money(value, currency, "half_even")
    scaled = value * 10 ** exponent(currency)
    is_half = (scaled - (scaled.numerator // scaled.denominator)) == Fraction(1, 2)
    if not is_half:
        assert up == even
    else:
        # On a half, half_up moves away from zero and half_even to the even minor unit.
        assert abs(up) >= abs(even)
        assert int(even.scaleb(exponent(currency))) % 2 == 0
    unit = Fraction(1, 10 ** exponent(currency))
    assert abs(Fraction(up) - value) <= unit / 2
    assert abs(Fraction(even) - value) <= unit / 2
