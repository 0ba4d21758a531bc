"""Which state owns a vendor object, when more than one billplan state could claim it.

One vendor project belongs to one state (docs/state.md). billplan cannot enforce that where a
vendor lets it tag nothing, so it says so:

- **Kantata** holds a state's lineage in each milestone's external reference. A run tells its
  Kantata clients the lineage of the state it plans against (`attach`); a milestone tagged by
  another lineage is never adopted, changed or deleted by this state, and the plan says so.
- **Ruddr, Wethod, Coperniq** (and Kantata too) get a warning on every object this plan would
  take (adopt, or confirm as a lost create) that another state billplan can see records. It
  can see the other billplan state files in the same directory as this state's file, and the
  other state names in the same PostgreSQL database (`Backend.others_holding`).
- A state read back behind its ledger (a restored backup) took back what the later runs made
  (compiler.state.ledger): the plan names those objects.

Within one state, `Owners` says which address owns a vendor object, for apply's checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from compiler.model import Observed
from compiler.model.change import Plan
from compiler.state import Backend, State
from compiler.state.ledger import taken_back_note

# A tagged object's owner when the tag names another state's lineage: `ADDRESS#LINEAGE`, which
# never equals an address, so the diff neither adopts it nor deletes it.
_FOREIGN = "#"


def foreign_owner(address: str, lineage: str) -> str:
    return f"{address}{_FOREIGN}{lineage}"


def _foreign(owner: str | None) -> tuple[str, str] | None:
    if owner is None or _FOREIGN not in owner:
        return None
    address, _, lineage = owner.rpartition(_FOREIGN)
    return address, lineage


def lineage_of(backend: Backend, state: State | None) -> str:
    """The state's lineage; for a state never written, the one its first write will give."""
    if state is not None and state.lineage:
        return state.lineage
    return backend.first_lineage()


def attach(providers: Mapping[str, Any], backend: Backend, state: State | None) -> None:
    """Tell each client that tags what it creates (declares `lineage`) which state it writes
    for, before it compiles: its tags then name that state."""
    lineage = lineage_of(backend, state)
    for provider in providers.values():
        if hasattr(type(provider), "lineage"):
            provider.lineage = lineage


def notes(backend: Backend, state: State, plan: Plan, observed: Iterable[Observed]) -> list[str]:
    """What the plan must say about ownership: objects taken back from the ledger, objects
    tagged by another state, and objects it would take that another state records."""
    said: list[str] = []
    taken = list(getattr(backend, "taken_back", ()))
    if taken:
        said.append(taken_back_note(backend.describe(), taken))
    if problem := getattr(backend, "ledger_problem", None):
        said.append(
            f"the ledger of {backend.describe()} could not be read ({problem}): had this "
            "state been restored from a backup, what later runs made would not be taken back "
            "in this plan (apply reads the ledger). Grant this role SELECT on it (docs/ci.md)"
        )
    for obs in observed:
        if (other := _foreign(obs.owner)) is not None:
            said.append(
                f"{obs.type} {obs.remote_id} (project {obs.project_id}) is tagged by another "
                f"billplan state (lineage {other[1]}, as {other[0]}): this state never adopts, "
                "changes or deletes it. One vendor project belongs to one state (docs/state.md)"
            )
    owned = {(e.type, e.remote_id) for e in state.entries.values() if e.remote_id}
    taking = {
        (c.type, c.remote_id): c.address
        for c in plan.changes
        if c.remote_id is not None and c.action != "create" and (c.type, c.remote_id) not in owned
    }
    if not taking:
        return said
    for where, address, type_name, remote_id in backend.others_holding(
        sorted({remote_id for _type, remote_id in taking})
    ):
        mine = taking.get((type_name, remote_id))
        if mine is None:
            continue
        said.append(
            f"{mine}: {type_name} {remote_id}, which this plan would take as its own, is "
            f"recorded by another billplan state ({where}, as {address}); both would then "
            "write it. One vendor project belongs to one state (docs/state.md): plan this "
            "project from one state only, or `billplan state rm` it from the other first"
        )
    return said


class Owners:
    """Which address in state owns each vendor object (type, remote id): indexed once per
    apply, so that checking a change costs the same however large the state.

    apply writes an entry only at the address of a change it has just checked (or at the
    address that change takes over, `moved_from`): `checked` names them, and they are indexed
    again before the next lookup, when their writes are done.
    """

    def __init__(self, state: State) -> None:
        self._state = state
        self._claim: dict[str, tuple[str, str]] = {}
        self._owners: dict[tuple[str, str], list[str]] = defaultdict(list)
        # Every address, until the first lookup: a check that looks nothing up (a create's)
        # costs no index.
        self._stale: list[str] | None = None

    def owner(self, type_name: str, remote_id: str) -> str | None:
        """The address whose entry holds this object, or None."""
        for address in self._state.entries if self._stale is None else self._stale:
            self._index(address)
        self._stale = []
        found = self._owners.get((type_name, remote_id), [])
        if len(found) > 1:
            # Two addresses hold one object (a state edited by hand): the first in state's
            # own order, as every check before this index said.
            return next(
                address
                for address, e in self._state.entries.items()
                if e.remote_id == remote_id and e.type == type_name
            )
        return found[0] if found else None

    def checked(self, *addresses: str | None) -> None:
        """Addresses whose entries the change just checked may write."""
        if self._stale is not None:
            self._stale.extend(a for a in addresses if a is not None)

    def _index(self, address: str) -> None:
        old = self._claim.pop(address, None)
        if old is not None:
            self._owners[old].remove(address)
        entry = self._state.entries.get(address)
        if entry is not None and entry.remote_id is not None:
            claim = (entry.type, entry.remote_id)
            self._claim[address] = claim
            self._owners[claim].append(address)
