"""The ledger: an append-only record of every entry each state write changed, kept beside the
state and never rewritten, so that it survives a damaged state and a restored backup.

Each record is one entry's new value at one write: the state's lineage, the serial of the
write, when, and the entry (address, connection, type, project, project id, remote id, what
was written) or null when the address let go of its object. A state read back from a backup is
behind its ledger: the records of its lineage with a higher serial are what the lost runs did,
and replaying them in order takes back, as billplan's own, every object those runs created
(and every pending create they sent). The ledger is written before the state, so a run that
dies between the two loses nothing either.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from compiler import jsonio
from compiler.state import Entry, State, StateError


@dataclass(frozen=True)
class Record:
    lineage: str
    serial: int  # the state write it belongs to
    at: str  # when, ISO UTC
    address: str
    entry: Entry | None  # None: the address no longer owns anything

    def to_json(self) -> dict[str, Any]:
        return {
            "lineage": self.lineage,
            "serial": self.serial,
            "at": self.at,
            "address": self.address,
            "entry": None if self.entry is None else self.entry.to_json(),
        }

    @classmethod
    def from_json(cls, raw: Any) -> Record:
        if not isinstance(raw, Mapping):
            raise StateError("a record is not an object")
        lineage, serial, address = raw.get("lineage"), raw.get("serial"), raw.get("address")
        if not isinstance(lineage, str) or not isinstance(address, str):
            raise StateError("lineage or address is not a string")
        if not isinstance(serial, int) or isinstance(serial, bool):
            raise StateError("serial is not a whole number")
        entry = None if raw.get("entry") is None else Entry.from_json(raw["entry"])
        if entry is not None and entry.address != address:
            raise StateError(f"the record of {address} holds the entry of {entry.address}")
        return cls(lineage, serial, str(raw.get("at", "")), address, entry)


# The lineage of a state never written is derived from where it lives, so that a plan made
# before the first apply tags with the lineage that apply gives the state.
_LINEAGES = uuid.UUID("6f1d2c2e-5b0e-4d8e-9a57-3c1f0b7e2a10")


def first_lineage(place: str) -> str:
    return str(uuid.uuid5(_LINEAGES, place))


def last_serial(content: bytes, lineage: str) -> int:
    """The highest serial the ledger records for lineage (0 if none): a state made again
    where one was continues after it, and never replays the earlier one's records."""
    return next((r.serial for r in _from_the_end(content) if r.lineage == lineage), 0)


def changed(
    before: Mapping[str, Entry],
    after: Mapping[str, Entry],
    lineage: str,
    serial: int,
    addresses: Collection[str] | None = None,
) -> list[Record]:
    """The records of one write: each entry that differs from what was last written (before),
    or left it. Only `addresses` are compared when given (those touched since the last write,
    State.touched): a write then costs what it changed, however large the state."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    if addresses is None:
        addresses = before.keys() | after.keys()
    records = []
    for address in sorted(addresses):
        entry, known = after.get(address), before.get(address)
        if entry is None:
            if known is not None:
                records.append(Record(lineage, serial, at, address, None))
        elif known is not entry and known != entry:
            records.append(Record(lineage, serial, at, address, entry))
    return records


def encode(records: Iterable[Record], entries: Iterable[str | None] | None = None) -> bytes:
    """The records as ledger lines. `entries`, when given, holds each record's entry already
    encoded (jsonio.dumps of Entry.to_json; None for none): the state file reuses them."""
    if entries is None:
        entries = (None if r.entry is None else jsonio.dumps(r.entry.to_json()) for r in records)
    lines = []
    for record, entry in zip(records, entries, strict=True):
        head = {"lineage": record.lineage, "serial": record.serial, "at": record.at}
        head["address"] = record.address
        # The same bytes as jsonio.dumps(record.to_json()), the entry's JSON not made twice.
        lines.append(f'{jsonio.dumps(head)[:-1]}, "entry": {entry or "null"}}}\n')
    return "".join(lines).encode("utf-8")


def behind(state: State, content: bytes) -> list[Record]:
    """The records of the state's lineage written after it (a higher serial), in order: what
    a state restored from a backup, or left behind by a run that died, does not hold.

    Read from the end, stopping at the first record the state already holds: a plan reads
    one line of a long ledger, not all of it. A line that cannot be read (the last one cut
    short by a run that died while appending it, whose state write then never happened) is
    left out."""
    if not state.lineage:
        return []
    found: list[Record] = []
    for record in _from_the_end(content):
        if record.lineage != state.lineage:
            continue
        if record.serial <= state.serial:
            break
        found.append(record)
    return found[::-1]


def _from_the_end(content: bytes) -> Iterator[Record]:
    """The ledger's records, last first; a line that cannot be read (cut short by a run that
    died while appending it, or blank) is left out."""
    for line in reversed(content.split(b"\n")):
        if not line.strip():
            continue
        try:
            yield Record.from_json(jsonio.loads(line.decode("utf-8")))
        except (ValueError, StateError):
            continue


def replay(state: State, records: list[Record]) -> list[Entry]:
    """Bring the state up to its ledger (the records `behind` found), in place; the entries taken
    back (owned again, or pending again) that the state did not hold as they are now."""
    if not records:
        return []
    before = dict(state.entries)
    for record in records:
        if record.entry is None:
            state.entries.pop(record.address, None)
        else:
            state.entries[record.address] = record.entry
    # The next write follows the last one recorded, never reusing a serial the ledger holds.
    state.serial = max(state.serial, *(r.serial for r in records))
    return [
        entry for address, entry in sorted(state.entries.items()) if before.get(address) != entry
    ]


def taken_back_note(where: str, entries: list[Entry]) -> str:
    """What a plan says when it took entries back from the ledger."""
    named = ", ".join(f"{e.address} ({e.remote_id or 'create pending'})" for e in entries[:10]) + (
        f" and {len(entries) - 10} more" if len(entries) > 10 else ""
    )
    return (
        f"the state at {where} is behind its ledger (restored from a backup, or a run "
        f"stopped before writing it): billplan takes back, as its own, {len(entries)} "
        f"object(s) the later runs recorded: {named}"
    )
