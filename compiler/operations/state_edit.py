"""Editing state by hand (`state list/show/rm/reject`, `force-unlock`): the plan's state backend,
opened from the `state:` block alone (no provider, no vendor call), and the edits a person
makes to it, each written under the state's lock.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from compiler import credentials
from compiler.diagnostics import Diagnostic
from compiler.load import LoadError, load
from compiler.state import Backend, Entry, StateError


class BackendUnopened(Exception):
    """The plan's state cannot be found from it: its located problems, one diagnostic each."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(map(str, diagnostics)))


class NotInState(StateError):
    """An address the command names is not in the state; nothing was changed."""


class NotPending(StateError):
    """`state reject` names an address whose create is not waiting on an answer."""


class OwnedElsewhere(StateError):
    """`state reject` names an object state owns: no plan offers it as a look-alike."""


def open_backend(path: Path, *, sandbox: bool) -> Backend:
    """The state backend of the plan at path; BackendUnopened for a plan file that leads out
    of its directory, a plan that does not load, or a `state:` block it may not use."""
    from compiler.state.location import StateLocationError, plan_file_problems
    from compiler.workspace import state_backend

    if linked := plan_file_problems(path):
        raise BackendUnopened(linked)
    try:
        document = load(path)
        # Only the `state:` block is read here, so only it is checked: at its line.
        problems = [] if sandbox else list(credentials.state_problems(document.root))
        if problems:
            raise BackendUnopened([document.diagnostic(at, message) for at, message, _ in problems])
        return state_backend(document, sandbox=sandbox)
    except (LoadError, StateLocationError) as exc:
        raise BackendUnopened(exc.diagnostics) from None


def entries(backend: Backend) -> list[Entry]:
    """Every entry in the state, by address."""
    state = backend.read()
    return [state.entries[address] for address in sorted(state.entries)]


def entry(backend: Backend, address: str) -> Entry:
    found = backend.read().entries.get(address)
    if found is None:
        raise NotInState(f"{address} is not in the state at {backend.describe()}")
    return found


def forget(backend: Backend, addresses: list[str], lock_timeout: float) -> None:
    """Remove addresses from state, all or none: the remote objects stay as they are, and are
    unmanaged from then on."""
    with backend.lock("state rm", lock_timeout):
        state = backend.read()
        if missing := [a for a in addresses if a not in state.entries]:
            raise NotInState(f"not in state: {', '.join(missing)}; nothing was removed")
        for address in addresses:
            del state.entries[address]
        backend.write(state)


def reject(backend: Backend, address: str, remote_id: str, lock_timeout: float) -> bool:
    """Record that remote_id is not what the lost create of address made, so that plans stop
    offering it (the object itself is not touched); False when it was recorded already."""
    from compiler.importer import id_problem

    if problem := id_problem(remote_id):
        raise StateError(f"{problem}; nothing was changed. Check the id the plan shows")
    with backend.lock("state reject", lock_timeout):
        state = backend.read()
        found = state.entries.get(address)
        if found is None:
            raise NotInState(
                f"{address} is not in the state at {backend.describe()}; nothing was changed. "
                "`billplan state list PATH` lists the addresses, a create waiting on an answer "
                "marked pending"
            )
        if found.remote_id is not None:
            raise NotPending(
                f"{address} owns {found.remote_id}: no create of it is waiting on an answer, so "
                "there is nothing to reject; nothing was changed"
            )
        owner = next(
            (
                e
                for e in state.entries.values()
                if e.remote_id == remote_id and e.type == found.type
            ),
            None,
        )
        if owner is not None:
            # Not a look-alike at all: plans never offer what state owns. Recording it would
            # only hide a mistyped id, and "it stays unmanaged" would be untrue.
            raise OwnedElsewhere(
                f"{remote_id} is {owner.address}'s, managed by billplan: it is not an object "
                f"the plan offers for {address}; nothing was changed. Check the id the plan "
                "shows"
            )
        if remote_id in found.rejected:
            return False
        state.entries[address] = replace(found, rejected=(*found.rejected, remote_id))
        backend.write(state)
        return True
