"""State: which remote object each address owns, what billplan last wrote there, and a lock.

billplan only ever changes or deletes objects its state owns. An entry whose create was sent
but whose response was lost is kept as `pending`, so the next plan knows to look for it: with
the moment it was sent (`sent_at`, UTC), and the remote objects a person said are not it
(`rejected`, by `billplan state reject`).

An entry may be `protected` (`protect: true` in the plan, compiler.keep): billplan refuses to
delete its object even once the charge, and its `protect:` key, have left the plan. Only an
apply of the plan with `protect: false` on it clears the mark.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from compiler.model import Resource
    from compiler.model.change import Change

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
    # A pending create: when apply sent it (UTC; None in a state written before it was kept),
    # and the ids of look-alikes a person rejected as not being it.
    sent_at: datetime | None = None
    rejected: tuple[str, ...] = ()
    # Remembered from the plan's `protect: true`: billplan never deletes this object.
    protected: bool = False

    @classmethod
    def at(
        cls,
        place: Resource | Change,
        remote_id: str | None,
        attributes: Mapping[str, Any],
        *,
        currency: str,
        date: date | None,
        amount: Decimal,
        status: EntryStatus = "managed",
        sent_at: datetime | None = None,
        protected: bool = False,
    ) -> Entry:
        """The entry for the object at `place` (a planned resource, or the change apply made
        there): its address, connection, type and project, with what state now knows of it."""
        return cls(
            address=place.address,
            provider=place.provider,
            type=place.type,
            project=place.project,
            project_id=place.project_id,
            remote_id=remote_id,
            attributes=dict(attributes),
            currency=currency,
            date=date,
            amount=amount,
            status=status,
            sent_at=sent_at,
            protected=protected,
        )

    def to_json(self) -> dict[str, Any]:
        # sent_at and rejected only where there is one: a managed entry reads as it always did.
        pending: dict[str, Any] = {}
        if self.sent_at is not None:
            pending["sent_at"] = self.sent_at.isoformat()
        if self.rejected:
            pending["rejected"] = list(self.rejected)
        # Written only when set: an unprotected entry reads as it always did, and an older
        # billplan's state (which has no such key) loads as unprotected.
        if self.protected:
            pending["protected"] = True
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
            **pending,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Entry:
        """An entry as written by to_json; StateError naming the field for anything else."""
        if not isinstance(raw, Mapping):
            raise StateError(f"an entry is {type(raw).__name__}, not an object")
        missing = [name for name in _REQUIRED if name not in raw]
        if missing:
            raise StateError(f"missing field(s) {', '.join(missing)}")
        status = raw.get("status", "managed")
        if status not in ("managed", "pending"):
            raise StateError(f"status {status!r} is not managed or pending")
        remote_id = raw["remote_id"]
        if remote_id is None and status != "pending":
            raise StateError("remote_id is null but the entry is not pending")
        attributes = raw.get("attributes") or {}
        if not isinstance(attributes, Mapping):
            raise StateError("attributes is not an object")
        try:
            amount = Decimal(str(raw.get("amount", 0)))
            when = date.fromisoformat(raw["date"]) if raw.get("date") else None
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise StateError(f"amount or date cannot be read ({exc})") from None
        if not amount.is_finite():
            raise StateError(f"amount {amount} is not a number")
        sent_at = _sent_at(raw.get("sent_at"))
        rejected = raw.get("rejected") or []
        if not isinstance(rejected, list) or not all(isinstance(r, str) for r in rejected):
            raise StateError("rejected is not a list of remote ids")
        for name in ("address", "provider", "type", "project"):
            if not isinstance(raw[name], str) or not raw[name]:
                raise StateError(f"{name} is not a non-empty string")
        protected = raw.get("protected", False)
        if not isinstance(protected, bool):
            raise StateError(f"protected {protected!r} is not true or false")
        return cls(
            address=raw["address"],
            provider=raw["provider"],
            type=raw["type"],
            project=raw["project"],
            project_id=raw["project_id"],
            remote_id=remote_id,
            attributes=attributes,
            currency=raw.get("currency", ""),
            date=when,
            amount=amount,
            status=status,
            sent_at=sent_at,
            rejected=tuple(rejected),
            protected=protected,
        )


def _sent_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise StateError(
            f"sent_at {value!r} is not a time like 2026-11-23T09:15:00+00:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# What every entry must carry; the rest have defaults (kept for states written by 0.1).
_REQUIRED = ("address", "provider", "type", "project", "project_id", "remote_id")


class Entries(dict[str, Entry]):
    """A state's entries by address, noting which addresses were set or removed since the
    backend last settled them (after a read or a write): a write records those and never
    looks at the others, so its cost follows what changed, not the size of the state.

    `touched` is None when anything may have changed (entries built outside a backend, or a
    whole new dict given to a State): the next write then compares every entry."""

    __slots__ = ("touched",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.touched: set[str] | None = None

    def settle(self) -> None:
        """What the backend holds now: nothing touched since."""
        self.touched = set()

    def _touch(self, address: str) -> None:
        if self.touched is not None:
            self.touched.add(address)

    def __setitem__(self, address: str, entry: Entry) -> None:
        self._touch(address)
        super().__setitem__(address, entry)

    def __delitem__(self, address: str) -> None:
        self._touch(address)
        super().__delitem__(address)

    def pop(self, address: str, *default: Any) -> Any:
        self._touch(address)
        return super().pop(address, *default)

    def popitem(self) -> tuple[str, Entry]:
        address, entry = super().popitem()
        self._touch(address)
        return address, entry

    def setdefault(self, address: str, entry: Entry) -> Entry:  # type: ignore[override]
        self._touch(address)
        return super().setdefault(address, entry)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for address, entry in dict(*args, **kwargs).items():
            self[address] = entry

    def __ior__(self, other: Any) -> Entries:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        self.touched = None
        super().clear()

    def __reduce__(self) -> Any:
        # A copy (copy, deepcopy, pickle) knows nothing of what a backend settled.
        return (Entries, (dict(self),))


@dataclass
class State:
    lineage: str = ""  # given on first write; "" is a state that was never written
    serial: int = 0
    entries: dict[str, Entry] = field(default_factory=Entries)  # always an Entries

    def __setattr__(self, name: str, value: Any) -> None:
        # Entries given as any mapping are kept as Entries (touched unknown), so that a write
        # after `state.entries = {...}` compares them all.
        if name == "entries" and not isinstance(value, Entries):
            value = Entries(value)
        super().__setattr__(name, value)

    def header(self) -> dict[str, Any]:
        """Everything but the entries: what a state file begins with."""
        return {
            "format_version": STATE_FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.header(),
            "entries": [self.entries[a].to_json() for a in sorted(self.entries)],
        }

    @classmethod
    def from_json(cls, raw: Any) -> State:
        """The state in raw, or StateError saying what is wrong and where (which entry)."""
        if not isinstance(raw, Mapping):
            raise StateError(f"the top level is {type(raw).__name__}, not an object")
        version = raw.get("format_version")
        if version != STATE_FORMAT_VERSION:
            raise StateError(
                f"state format_version {version!r} is not one this billplan reads "
                f"({STATE_FORMAT_VERSION}); upgrade billplan"
            )
        lineage, serial, listed = raw.get("lineage"), raw.get("serial", 0), raw.get("entries")
        if not isinstance(lineage, str) or not lineage:
            raise StateError("lineage is missing or not a string")
        if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
            raise StateError(f"serial {serial!r} is not a whole number")
        if not isinstance(listed, list):
            raise StateError("entries is missing or not a list")
        entries: dict[str, Entry] = {}
        for number, item in enumerate(listed, 1):
            try:
                entry = Entry.from_json(item)
            except StateError as exc:
                name = item.get("address") if isinstance(item, Mapping) else None
                where = f"entry {number}" + (f" ({name})" if isinstance(name, str) else "")
                raise StateError(f"{where}: {exc}") from None
            if entry.address in entries:
                raise StateError(f"entry {number}: address {entry.address} appears twice")
            entries[entry.address] = entry
        return cls(lineage=lineage, serial=serial, entries=entries)

    def by_remote_id(self) -> dict[str, Entry]:
        return {e.remote_id: e for e in self.entries.values() if e.remote_id}

    def touched(self) -> set[str] | None:
        """The addresses set or removed since a backend last settled the entries; None when
        that is not known (then every entry may have changed)."""
        entries = self.entries
        return entries.touched if isinstance(entries, Entries) else None

    def settle(self) -> None:
        """What the backend holds now: called by a backend after it read or wrote them."""
        if not isinstance(self.entries, Entries):
            self.entries = Entries(self.entries)
        self.entries.settle()


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    who: str
    pid: int
    created: str  # ISO timestamp, UTC

    @classmethod
    def taken_now(cls, operation: str) -> LockInfo:
        """A new lock's metadata: who takes it, from where, and when."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(
            id=str(uuid.uuid4()),
            operation=operation,
            who=f"{user}@{socket.gethostname()}",
            pid=os.getpid(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def describe(self) -> str:
        return (
            f"lock {self.id}: {self.operation} by {self.who} (pid {self.pid}) since {self.created}"
        )


class StateError(Exception):
    """State that cannot be read or written; the message says what to do."""


class StateLocked(StateError):
    def __init__(self, info: LockInfo, where: str, hint: str) -> None:
        self.info = info
        super().__init__(
            f"the state at {where} is locked: {info.describe()}.\n"
            f"Another billplan run is using it; wait for it to finish (or pass --lock-timeout "
            f"SECONDS to wait). {hint}"
        )


class Backend(Protocol):
    """Where state lives. A write is durable and atomic when it returns, and costs what it
    changed (the entries State.touched names), not the size of the state; the lock excludes
    other writers, and a run that dies (killed, crashed) does not keep it. docs/state.md
    describes both backends."""

    def describe(self) -> str: ...

    def read(self) -> State: ...

    def write(self, state: State) -> None: ...

    def lock(self, operation: str, wait: float = 0.0) -> AbstractContextManager[LockInfo]: ...

    def current_lock(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> None: ...

    # The lineage a state never written gets on its first write (so a plan can tag with it).
    def first_lineage(self) -> str: ...

    # (where, address, type, remote id) for each of remote_ids another state it can see
    # records: compiler.ownership warns before this state takes one.
    def others_holding(self, remote_ids: Sequence[str]) -> list[tuple[str, str, str, str]]: ...
