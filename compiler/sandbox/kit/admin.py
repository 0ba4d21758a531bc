"""Reading admin-surface requests: the JSON body, the field checks every seeding route makes
(answered as `AdminError`, {"error": message}), ids a person may choose when seeding, and the
stored object an admin path names. The admin surface lets none of the vendor's API rules apply:
it checks only what keeps an object showable."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

from starlette.requests import Request

from .errors import AdminError
from .store import Table
from .wire import Json, canonical_uuid, is_id, is_number, loads, plain_number

# The admin surface's spelling of a time stamp in milliseconds (Ruddr's and Wethod's).
MILLIS_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
MILLIS_EXAMPLE = "2026-03-03T09:15:00.000Z"


async def admin_json(request: Request) -> Json:
    raw = await request.body()
    try:
        if not raw.strip():
            raise ValueError("empty body")
        return loads(raw)
    except ValueError:
        raise AdminError(400, "the body must be JSON") from None


def admin_object(body: Json) -> dict[str, Json]:
    if not isinstance(body, dict):
        raise AdminError(400, "the body must be a JSON object")
    return body


async def admin_body(request: Request, known: Iterable[str]) -> dict[str, Json]:
    """The body as a JSON object with no field but `known`."""
    body = admin_object(await admin_json(request))
    refuse_unknown(body, known)
    return body


async def optional_body(request: Request, known: Iterable[str]) -> dict[str, Json]:
    """As `admin_body`, an empty body reading as {} (an action with optional fields)."""
    if not (await request.body()).strip():
        return {}
    return await admin_body(request, known)


def refuse_unknown(body: Mapping[str, Json], known: Iterable[str]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise AdminError(400, f"unknown field(s) {', '.join(unknown)}; known: {sorted(known)}")


# --------------------------------------------------------------------------------------------
# Field checks


def text(body: Mapping[str, Json], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not (isinstance(value, str) and value.strip()):
        raise AdminError(400, f"{name} is required and must be a non-empty string")
    return value


def optional_text(body: Mapping[str, Json], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise AdminError(400, f"{name} must be a string or null")
    return value


def flag(name: str, value: Json) -> bool:
    if not isinstance(value, bool):
        raise AdminError(400, f"{name} must be true or false")
    return value


def choice(name: str, value: Json, options: Sequence[str]) -> str:
    if value not in options:
        raise AdminError(400, f"{name} must be one of {', '.join(options)}")
    return str(value)


def number(body: Mapping[str, Json], name: str) -> int | Decimal:
    value = body.get(name)
    if not is_number(value):
        raise AdminError(400, f"{name} must be a number")
    return plain_number(value)


def optional(
    body: Mapping[str, Json], name: str, parse: Callable[[Json], Json], wording: str
) -> Json:
    """`name` read by `parse` (None: not one), or None when absent or null; else 400 saying
    `wording`."""
    value = body.get(name)
    if value is None:
        return None
    parsed = parse(value)
    if parsed is None:
        raise AdminError(400, wording)
    return parsed


def millis_stamp(name: str, value: Json) -> str:
    if not (isinstance(value, str) and MILLIS_STAMP.fullmatch(value)):
        raise AdminError(400, f"{name} must look like {MILLIS_EXAMPLE}")
    return value


# --------------------------------------------------------------------------------------------
# Ids a person chooses, and the objects admin paths name


def new_id(db: sqlite3.Connection, table: Table, wanted: Json, refusal: str) -> Json:
    """A new object's id: the next of a counted table's counter, else a fresh UUID; or
    `wanted` (admin seeding) when it is a free id of the table's kind. `refusal` (with
    `{wanted!r}`) is the vendor's wording for one that is not."""
    if wanted is None:
        return table.ids.take(db) if table.counted else str(uuid.uuid4())
    key = (wanted if is_id(wanted) else None) if table.counted else canonical_uuid(wanted)
    if key is None:
        raise AdminError(400, refusal.format(wanted=wanted))
    if table.get(db, str(key)) is not None:
        raise AdminError(409, f"an object with id {key} already exists")
    if table.counted:
        table.ids.claim(db, key)
    return key


def lookup(
    db: sqlite3.Connection,
    table: Table,
    noun: str,
    request: Request,
    key: Callable[[Json], Json] = str,
) -> dict[str, Json]:
    """The object the path's `{id}` names, read by `key` (None: no such object), else 404."""
    raw = request.path_params["id"]
    found = key(raw)
    doc = None if found is None else table.get(db, str(found))
    if doc is None:
        raise AdminError(404, f"no {noun} with id {raw}")
    return doc
