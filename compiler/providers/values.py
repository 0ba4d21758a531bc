"""Small conversions every vendor client needs when reading ids and money off the wire."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def integer_id(value: Any) -> int | None:
    """An integer id from an int, an integral Decimal or a digit string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def decimal(value: Any) -> Decimal:
    """A money value read from JSON (already a Decimal from billplan's parser) or text."""
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))
