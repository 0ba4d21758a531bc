"""The wire format every emulator writes: JSON with exact decimals (money never passes through
a binary float), numbers in their shortest form, stored documents shaped into wire objects,
the time stamps vendors write, the admin surface's records as JSON, and the type checks request
readers share."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response

Json = Any
WallClock = Callable[[], datetime]
DATE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def dumps(value: Json) -> str:
    """Compact JSON in which a Decimal is written as the number it holds, digit for digit."""
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts)


def _encode(value: Json, out: Callable[[str], None]) -> None:
    if value is None or isinstance(value, bool | str | float):
        out(json.dumps(value, ensure_ascii=False, allow_nan=False))
    elif isinstance(value, int):
        out(str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        out(str(value))
    elif isinstance(value, Mapping):
        out("{")
        for index, (key, item) in enumerate(value.items()):
            out("," if index else "")
            out(json.dumps(str(key), ensure_ascii=False))
            out(":")
            _encode(item, out)
        out("}")
    elif isinstance(value, list | tuple):
        out("[")
        for index, item in enumerate(value):
            out("," if index else "")
            _encode(item, out)
        out("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Json:
    """Parse JSON keeping every fractional number as a Decimal, so money never passes through a
    binary float. NaN and Infinity are refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def plain_number(value: int | Decimal) -> int | Decimal:
    """The shortest spelling of a number, as a JavaScript server would send it back:
    1600.00 -> 1600, 1600.50 -> 1600.5, 1E+3 -> 1000."""
    number = Decimal(value)
    if number == number.to_integral_value():
        return int(number)
    return Decimal(format(number.normalize(), "f"))


class JSONBody(Response):
    """A JSON response written with `dumps`, so Decimal values keep their digits."""

    media_type = "application/json"

    def render(self, content: Json) -> bytes:
        return dumps(content).encode("utf-8")


def is_number(value: Json) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def is_whole(value: Json) -> bool:
    return is_number(value) and value == int(value)


def is_integer(value: Json) -> bool:
    """A JSON integer (true and false are not numbers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_id(value: Json) -> bool:
    """An integer id: a JSON integer of at least 1."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def as_date(value: Json) -> date | None:
    """A `YYYY-MM-DD` calendar date, or None when `value` is not one."""
    if not (isinstance(value, str) and DATE_FORMAT.fullmatch(value)):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def is_date(value: Json) -> bool:
    return as_date(value) is not None


def canonical_uuid(value: Json) -> str | None:
    """A UUID in its canonical spelling (ids matched case-insensitively), or None."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Time stamps: each vendor declares the one it writes

Stamp = Callable[[datetime], str]


def millis_z(moment: datetime) -> str:
    """UTC with milliseconds and a Z, as JavaScript's toISOString writes a date (a year of four
    digits: strftime's %Y writes the year 626 as `626`)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_offset(moment: datetime) -> str:
    """UTC to the second with its offset, as Rails writes a time: 2026-03-03T09:15:00+00:00."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------
# Stored documents as wire objects


def shaped(
    doc: Mapping[str, Json], shape: Iterable[str], as_text: frozenset[str] = frozenset()
) -> dict[str, Json]:
    """The shape's fields of a stored document, in order; those in `as_text` written as
    strings (a vendor whose ids are integers in requests and strings in responses)."""
    rendered: dict[str, Json] = {}
    for name in shape:
        value = doc.get(name)
        rendered[name] = str(value) if name in as_text and value is not None else value
    return rendered


def record_json(record: object, names: Iterable[str]) -> dict[str, Json]:
    """The named attributes of a record (settings, a fault, a logged request) as the admin
    surface shows them, in order; a tuple as a JSON list."""
    values = ((name, getattr(record, name)) for name in names)
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values}


def by_id(docs: Iterable[dict[str, Json]]) -> list[dict[str, Json]]:
    """Documents with integer ids, in id order."""
    return sorted(docs, key=lambda doc: int(doc["id"]))
