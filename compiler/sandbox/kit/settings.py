"""The sandbox settings every emulator has (rate limit, burst, the API access switch, the
accepted tokens), as the admin surface shows them and reads a PUT /_sandbox/settings body."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from .admin import admin_object, refuse_unknown
from .errors import AdminError
from .wire import Json, is_number, is_whole, record_json

SANDBOX_TOKEN = "sandbox"
# The settings every emulator has, as the admin surface names and shows them.
COMMON_SETTINGS = ("rate_limit_per_second", "burst", "api_access_enabled", "tokens")


@dataclass(frozen=True)
class Settings:
    rate_limit_per_second: int | Decimal | None
    burst: int
    api_access_enabled: bool = True
    tokens: tuple[str, ...] = (SANDBOX_TOKEN,)

    def as_json(self) -> dict[str, Json]:
        return record_json(self, COMMON_SETTINGS)


def settings_from_json(current: Settings, body: Json, own: Iterable[str] = ()) -> Settings:
    """Apply a PUT /_sandbox/settings body; keys left out keep their current value. Keys in
    `own` are the vendor's settings, which it reads itself."""
    skipped = set(own)
    body = {name: value for name, value in admin_object(body).items() if name not in skipped}
    refuse_unknown(body, COMMON_SETTINGS)
    changes: dict[str, Json] = {}
    if "rate_limit_per_second" in body:
        rate = body["rate_limit_per_second"]
        if rate is not None and not (is_number(rate) and rate > 0):
            raise AdminError(400, "rate_limit_per_second must be a positive number or null")
        changes["rate_limit_per_second"] = rate
    if "burst" in body:
        if not (is_whole(body["burst"]) and body["burst"] >= 1):
            raise AdminError(400, "burst must be a whole number of at least 1")
        changes["burst"] = int(body["burst"])
    if "api_access_enabled" in body:
        if not isinstance(body["api_access_enabled"], bool):
            raise AdminError(400, "api_access_enabled must be true or false")
        changes["api_access_enabled"] = body["api_access_enabled"]
    if "tokens" in body:
        tokens = body["tokens"]
        if not (isinstance(tokens, list) and all(isinstance(t, str) and t for t in tokens)):
            raise AdminError(400, "tokens must be a list of non-empty strings")
        changes["tokens"] = tuple(tokens)
    return replace(current, **changes)
