"""State: which remote object each address owns, what billplan last wrote there, and a lock.

billplan only ever changes or deletes objects its state owns. An entry whose create was sent
but whose response was lost is kept as `pending`, so the next plan knows to look for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

STATE_FORMAT_VERSION = 1

EntryStatus = Literal["managed", "pending"]


@dataclass(frozen=True)
class Entry:
    address: str
    provider: str
    type: str
    project: str
    project_id: str | int
    remote_id: str | None  # None while a create is pending
    attributes: Mapping[str, Any]  # what billplan last wrote (or adopted)
    currency: str
    date: date | None
    amount: Decimal
    status: EntryStatus = "managed"

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "provider": self.provider,
            "type": self.type,
            "project": self.project,
            "project_id": self.project_id,
            "remote_id": self.remote_id,
            "status": self.status,
            "currency": self.currency,
            "date": None if self.date is None else self.date.isoformat(),
            "amount": self.amount,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Entry:
        return cls(
            address=raw["address"],
            provider=raw["provider"],
            type=raw["type"],
            project=raw["project"],
            project_id=raw["project_id"],
            remote_id=raw.get("remote_id"),
            attributes=raw.get("attributes") or {},
            currency=raw.get("currency", ""),
            date=date.fromisoformat(raw["date"]) if raw.get("date") else None,
            amount=Decimal(raw.get("amount", 0)),
            status=raw.get("status", "managed"),
        )


@dataclass
class State:
    lineage: str = ""  # given on first write; "" is a state that was never written
    serial: int = 0
    entries: dict[str, Entry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "entries": [self.entries[a].to_json() for a in sorted(self.entries)],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> State:
        version = raw.get("format_version")
        if version != STATE_FORMAT_VERSION:
            raise StateError(
                f"state format_version {version!r} is not one this billplan reads "
                f"({STATE_FORMAT_VERSION}); upgrade billplan"
            )
        entries = [Entry.from_json(e) for e in raw.get("entries", [])]
        return cls(
            lineage=raw["lineage"],
            serial=int(raw.get("serial", 0)),
            entries={e.address: e for e in entries},
        )

    def by_remote_id(self) -> dict[str, Entry]:
        return {e.remote_id: e for e in self.entries.values() if e.remote_id}


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    who: str
    pid: int
    created: str  # ISO timestamp, UTC

    def describe(self) -> str:
        return (
            f"lock {self.id}: {self.operation} by {self.who} (pid {self.pid}) since {self.created}"
        )


class StateError(Exception):
    """State that cannot be read or written; the message says what to do."""


class StateLocked(StateError):
    def __init__(self, info: LockInfo, where: str) -> None:
        self.info = info
        super().__init__(
            f"the state at {where} is locked: {info.describe()}.\n"
            "Another billplan run is using it; wait for it to finish. If that run died, "
            f"remove the lock with: billplan force-unlock {info.id} PATH"
        )


class Backend(Protocol):
    """Where state lives. Writes are whole and atomic; the lock excludes other writers."""

    def describe(self) -> str: ...

    def read(self) -> State: ...

    def write(self, state: State) -> None: ...

    def lock(self, operation: str, wait: float = 0.0) -> AbstractContextManager[LockInfo]: ...

    def current_lock(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> None: ...
