"""Small conversions every vendor client needs when reading ids, money and times off the wire."""

from __future__ import annotations

from datetime import UTC, datetime
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


def moment(value: Any) -> datetime | None:
    """A vendor's ISO 8601 time stamp (`2026-11-23T09:15:00.123Z`, `...+00:00`) as an aware
    UTC datetime; None when absent or unreadable (then nothing is inferred from it)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
