"""JSON that keeps money exact: Decimals are written as JSON numbers and read back as Decimals.

The standard library would turn a Decimal into a string or a binary float; both lose the
contract that 1600.00 sent is 1600.00 stored.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

_MARK = "\u2063decimal\u2063"  # invisible separator: cannot appear in a plan's own text
_MARKED = re.compile(f'"{_MARK}(-?[0-9.]+){_MARK}"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write non-finite number {value}")
        return f"{_MARK}{value:f}{_MARK}"  # plain digits: no exponent on the wire
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    text = json.dumps(
        value, default=_default, indent=indent, sort_keys=sort_keys, ensure_ascii=False
    )
    return _MARKED.sub(r"\1", text)


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)
