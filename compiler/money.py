"""Money: exact decimal amounts, ISO 4217 exponents, rounding once at the line, allocation.

Every computed amount is carried as an exact Fraction and rounded exactly once, to the
currency's minor unit, with the plan's rounding mode. Nothing here ever touches a binary float.
Amounts stay below 10^15 (AMOUNT_DIGITS): with three decimals that is 18 digits, well inside
the 28 that decimal arithmetic keeps exactly, even summed over a million lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from math import lcm
from typing import Literal

Rounding = Literal["half_up", "half_even"]
ROUNDING_MODES: tuple[Rounding, ...] = ("half_up", "half_even")

# ISO 4217 minor-unit exponents that differ from the usual 2.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
}


# Digits an amount may have before the decimal point: a thousand trillion is not an invoice.
AMOUNT_DIGITS = 15
MAX_AMOUNT = 10**AMOUNT_DIGITS  # exclusive
LARGEST_AMOUNT = "999,999,999,999,999"


class AmountTooLarge(ValueError):
    """A computed amount of AMOUNT_DIGITS + 1 digits or more before the decimal point."""

    def __init__(self, value: Fraction | Decimal | int) -> None:
        self.value = value
        super().__init__(
            f"the amount comes to {_magnitude(value)}, more than the largest amount billplan "
            f"bills ({LARGEST_AMOUNT})"
        )


def _magnitude(value: Fraction | Decimal | int) -> str:
    """About how large a value is, shown without writing out a huge number."""
    whole = abs(int(value))
    if whole < 10**24:
        return f"{whole:,}"
    return f"a number of about {int(whole.bit_length() * 0.30103) + 1} digits"


def too_large(value: Decimal) -> bool:
    """Whether a written amount or number has more than AMOUNT_DIGITS digits before the point."""
    return value.is_finite() and abs(value) >= MAX_AMOUNT


def exponent(currency: str) -> int:
    """Number of decimals the currency's minor unit allows (JPY 0, USD 2, KWD 3)."""
    return _EXPONENTS.get(currency.upper(), 2)


def decimals(value: Decimal) -> int:
    """How many decimals a written amount carries: 1234.50 -> 2, 15000 -> 0."""
    exp = value.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def round_money(value: Fraction | Decimal | int, currency: str, rounding: Rounding) -> Decimal:
    """Round an exact value to the currency's minor unit, half away from zero or half to even."""
    exp = exponent(currency)
    # The exact value as numerator / denominator (denominator > 0), in integers only.
    if isinstance(value, int):
        numerator, denominator = value, 1
    elif isinstance(value, Fraction):
        numerator, denominator = value.numerator, value.denominator
    else:
        numerator, denominator = value.as_integer_ratio()  # Decimal: exact
    if abs(numerator) >= MAX_AMOUNT * denominator:
        raise AmountTooLarge(value)
    numerator *= 10**exp
    negative = numerator < 0
    whole, remainder = divmod(-numerator if negative else numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and (rounding == "half_up" or whole % 2 == 1)):
        whole += 1
    units = -whole if negative else whole
    return from_minor_units(units, currency)


def from_minor_units(units: int, currency: str) -> Decimal:
    exp = exponent(currency)
    return Decimal(units).scaleb(-exp).quantize(Decimal(1).scaleb(-exp))


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Exact conversion to integer minor units; refuses an amount finer than the currency."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


def over_one_denominator(ratios: Iterable[tuple[int, int]]) -> tuple[list[int], int]:
    """Each (numerator, denominator) as a numerator over one common denominator, and that
    denominator: exact integer arithmetic in place of adding or comparing Fractions."""
    pairs = list(ratios)
    common = lcm(*(denominator for _, denominator in pairs))
    return [numerator * (common // denominator) for numerator, denominator in pairs], common


def allocate(total: Decimal, fractions: list[Fraction], currency: str) -> list[Decimal]:
    """Split total by fractions that sum to 1, exactly.

    Each part gets its share rounded toward zero to the minor unit; the minor units left over
    go one each to the parts with the largest remainders, ties to the part declared first.
    """
    # Every fraction over one common denominator: shares and remainders are then integers
    # (the same values and order as in Fractions, at a fraction of the cost).
    numerators, common = over_one_denominator(f.as_integer_ratio() for f in fractions)
    if sum(numerators) != common:
        raise ValueError("allocation fractions must sum to exactly 1")
    units = to_minor_units(total, currency)
    sign = -1 if units < 0 else 1
    magnitude = abs(units)
    floors: list[int] = []
    remainders: list[int] = []  # each over `common`
    for numerator in numerators:
        floor, remainder = divmod(magnitude * numerator, common)
        floors.append(floor)
        remainders.append(remainder)
    leftover = magnitude - sum(floors)
    by_remainder = sorted(range(len(fractions)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[:leftover]:
        floors[i] += 1
    return [from_minor_units(sign * part, currency) for part in floors]


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount with exactly the currency's decimals: '1600.00', '1200', '12.345'."""
    exp = exponent(currency)
    return str(amount.quantize(Decimal(1).scaleb(-exp)))


def format_grouped(amount: Decimal, currency: str) -> str:
    """For people: thousands separators and the currency's decimals, '15,000.00'."""
    exp = exponent(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-exp)):,.{exp}f}"
