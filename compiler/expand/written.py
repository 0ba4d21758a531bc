"""Values as a plan author writes them: dates, amounts, quantities, percentages, periods.

Each reader turns one written value into its exact form, or raises Invalid at the place it
was written with what to write instead.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from compiler.expand.spec import Invalid
from compiler.load import PathKey
from compiler.money import AMOUNT_DIGITS, decimals, exponent, too_large
from compiler.schedule import Every

# Decimals a quantity, rate, weight or percentage may have (an amount: its currency's).
NUMBER_DECIMALS = 10


def calendar_date(text: Any, path: PathKey) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise Invalid(path, _date_problem(str(text))) from None


def money(value: Any, path: PathKey, currency: str | None) -> Decimal:
    """A written amount, refused when it is finer than the currency's minor unit."""
    amount = number(value, path)
    if currency is not None and decimals(amount) > exponent(currency):
        allowed = exponent(currency)
        raise Invalid(
            path,
            f"{value} has {decimals(amount)} decimals but {currency} allows {allowed}; "
            + (
                "write it as a whole number"
                if allowed == 0
                else f"write it with at most {allowed} decimal{'' if allowed == 1 else 's'}"
            ),
        )
    if currency is not None:
        # 10000 is written, 10000.00 is billed: every amount carries the currency's decimals.
        amount = amount.quantize(Decimal(1).scaleb(-exponent(currency)))
    return amount


def quantity(value: Any, path: PathKey = ()) -> Decimal:
    """A quantity, rate or weight: at most AMOUNT_DIGITS digits before the point and
    NUMBER_DECIMALS after."""
    written = number(value, path)
    if decimals(written) > NUMBER_DECIMALS:
        raise Invalid(
            path,
            f"{value} has {decimals(written)} decimals; a quantity, rate or weight may have "
            f"at most {NUMBER_DECIMALS}",
        )
    return written


def number(value: Any, path: PathKey) -> Decimal:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        written = Decimal(value)
    else:
        try:
            written = Decimal(str(value))
        except InvalidOperation:
            raise Invalid(path, f"{value!r} is not a number") from None
    if too_large(written):
        raise Invalid(
            path,
            f"{_shown(value)} has more than {AMOUNT_DIGITS} digits before the decimal point; "
            "billplan bills amounts below 1,000,000,000,000,000",
        )
    return written


def percent(text: str, path: PathKey) -> Fraction:
    written = number(str(text).rstrip("%"), path)
    if decimals(written) > NUMBER_DECIMALS:
        raise Invalid(path, f"{text} has more than {NUMBER_DECIMALS} decimals; round it")
    return Fraction(written) / 100


def every(text: Any, path: PathKey) -> Every:
    """How often a charge bills or escalates; Invalid when billplan cannot bill that often."""
    try:
        return Every.parse(str(text))
    except ValueError as exc:
        raise Invalid(path, str(exc)) from None


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]}"


def _date_problem(text: str) -> str:
    parts = text.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        year, month, _ = (int(p) for p in parts)
        if not 1 <= year <= 9999:
            return f"{text} is not a date billplan can bill: years run from 0001 to 9999"
        if not 1 <= month <= 12:
            return f"{text} is not a real calendar date: there is no month {month}"
        last = calendar.monthrange(year, month)[1]
        return (
            f"{text} is not a real calendar date: {calendar.month_name[month]} {year} "
            f"has {last} days"
        )
    return f"{text!r} is not a date in YYYY-MM-DD form"
