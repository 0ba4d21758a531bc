"""Executing a Plan: provider calls in a safe order, state written after every call.

Order: state-only changes (adopt, forget: recorded together in one write, with the `moved:`
renames and the protection marks, as no vendor call comes between them), then deletes, then
updates, then creates in batches. A create is first recorded as pending, with the moment it
is sent (`sent_at`, UTC), so that a crash or a lost response leaves a trace the next plan
resolves by reading back (adopt), never by creating twice. A failure is reported with its
address and the run goes on with the changes that do not depend on it. Each write costs what
it changed, not the size of the state (compiler.state.local: the ledger, under the lock).

Protection marks (`protect:`, Plan.protection) are written to state first, with the `moved:`
renames, and every entry apply writes keeps its address's mark. A plan that would delete a
protected object is never applied (compiler.operations.applying refuses it), and a delete of
an entry marked protected is refused here too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from compiler import moved
from compiler.model import Observed
from compiler.model.change import Change, Plan
from compiler.model.fields import field_changes
from compiler.ownership import Owners
from compiler.providers.base import OutcomeUnknown, Provider, ProviderError
from compiler.state import Backend, Entry, EntryStatus, State

Progress = Callable[[Change], None]


@dataclass(frozen=True)
class Failure:
    address: str
    message: str
    unknown: bool = False  # the write may have happened


@dataclass
class Applied:
    done: list[Change] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    moved: int = 0  # addresses renamed in state by the plan's `moved:`
    marked: int = 0  # protection marks set or cleared in state (`protect:`)

    @property
    def ok(self) -> bool:
        return not self.failures


_ORDER = {"forget": 0, "adopt": 1, "delete": 2, "update": 3, "create": 4}
_STATE_ONLY = ("forget", "adopt")  # no vendor call


def actionable(plan: Plan) -> list[Change]:
    return sorted(
        (c for c in plan.changes if c.action in _ORDER),
        key=lambda c: (_ORDER[c.action], c.address),
    )


def apply_plan(
    plan: Plan,
    providers: Mapping[str, Provider],
    backend: Backend,
    state: State,
    progress: Progress = lambda change: None,
    into: Applied | None = None,
) -> Applied:
    """Make the plan's changes; into: the Applied to record them in as they happen (so that
    a caller stopped by Ctrl-C still knows what was done)."""
    result = Applied() if into is None else into
    if plan.moved:
        # `moved:` renames first, in state only: the changes then name the new addresses.
        if problems := moved.commit(state, plan.moved):
            result.failures += [Failure("moved", problem) for problem in problems]
            return result
        result.moved = len(plan.moved)
        plan = moved.unmoved(plan)
    result.marked = _mark(state, plan.protection)
    owners = Owners(state)  # indexed once: each change's check then costs the same
    changes = actionable(plan)
    # The renames, the marks and the changes to state alone (adopt, forget) call no vendor:
    # one write records them all, before the first vendor call.
    settled = [c for c in changes if c.action in _STATE_ONLY]
    for change in settled:
        refusal = ownership_problem(change, state, owners)
        if refusal is not None:
            result.failures.append(Failure(change.address, f"not written: {refusal}"))
            continue
        _apply_one(change, providers[change.provider], state, plan.protection)
        result.done.append(change)
    if result.moved or result.marked or result.done:
        backend.write(state)
    for change in settled:
        progress(change)
    # Creates are batched per provider and type, across projects: the fewest requests. A
    # batch the vendor refuses because of some of its items is sent again without them.
    creates: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in changes:
        if change.action in _STATE_ONLY:
            continue
        if change.action == "create":
            creates[(change.provider, change.type)].append(change)
            continue
        refusal = ownership_problem(change, state, owners)
        if refusal is not None:
            result.failures.append(Failure(change.address, f"not written: {refusal}"))
            progress(change)
            continue
        try:
            _apply_one(change, providers[change.provider], state, plan.protection)
        except ProviderError as exc:
            result.failures.append(
                Failure(change.address, str(exc), isinstance(exc, OutcomeUnknown))
            )
        else:
            result.done.append(change)
        backend.write(state)
        progress(change)
    for (provider_name, _type), batch in creates.items():
        provider = providers[provider_name]
        size = max(1, provider.batch_size)
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            _create_batch(chunk, provider, backend, state, result, plan.protection)
            for change in chunk:
                progress(change)
    if creates:
        backend.write(state)  # the outcome of the last create batch
    return result


def _mark(state: State, marks: Mapping[str, bool]) -> int:
    """Set or clear the protection marks of the entries state holds; how many changed (the
    entries a create makes take their mark when they are written)."""
    changed = 0
    for address, protected in marks.items():
        entry = state.entries.get(address)
        if entry is not None and entry.protected != protected:
            state.entries[address] = replace(entry, protected=protected)
            changed += 1
    return changed


def _protected(state: State, change: Change, marks: Mapping[str, bool]) -> bool:
    """The mark an entry apply writes at change's address keeps: the plan's, or the one its
    address (or the address it takes over) had."""
    if change.address in marks:
        return marks[change.address]
    earlier = state.entries.get(change.address) or state.entries.get(change.moved_from or "")
    return earlier is not None and earlier.protected


def _apply_one(change: Change, provider: Provider, state: State, marks: Mapping[str, bool]) -> None:
    protected = _protected(state, change, marks)
    if change.action == "forget":
        state.entries.pop(change.address, None)
    elif change.action == "adopt":
        assert change.remote_id is not None and change.before is not None
        state.entries[change.address] = _entry(
            change, change.remote_id, change.before, protected=protected
        )
    elif change.action == "delete":
        assert change.remote_id is not None
        provider.delete(change.type, change.remote_id)
        state.entries.pop(change.address, None)
    else:  # update (a restore of drift among them)
        assert change.remote_id is not None and change.after is not None
        observed = provider.update(change.type, change.remote_id, change.after, change.private)
        # The write happened: record it before judging the vendor's echo of it.
        if change.moved_from:
            state.entries.pop(change.moved_from, None)
        state.entries[change.address] = _entry(
            change, observed.remote_id, observed.attributes, protected=protected
        )
        _check_echo(change, observed)


def ownership_problem(change: Change, state: State, owners: Owners | None = None) -> str | None:
    """Why billplan may not make this write now, or None.

    billplan writes only what its state owns, or an object found for an address that owns
    nothing yet (a lost create found again, a tagged object, a twin to adopt); never an
    object another address owns, and never one state has let go of. owners: state indexed
    by remote id for a whole apply (indexed here for one check when not given); the change's
    addresses are marked as about to be written.
    """
    problem = _ownership_problem(change, state, owners or Owners(state))
    if owners is not None:
        owners.checked(change.address, change.moved_from)
    return problem


def _ownership_problem(change: Change, state: State, owners: Owners) -> str | None:
    entry = state.entries.get(change.address)
    if change.action == "create":
        # A create may replace only the object it was planned to replace (deleted remotely).
        if entry is not None and entry.remote_id not in (None, change.remote_id):
            return f"it already owns {entry.remote_id}"
        return None
    if change.action == "forget" or change.remote_id is None:
        return None
    if change.action == "delete" and entry is not None and entry.protected:
        return "it is protected (`protect: true`); billplan never deletes it"
    owner = owners.owner(change.type, change.remote_id)
    if change.moved_from:
        if owner != change.moved_from:
            return f"{change.moved_from} no longer owns {change.remote_id}"
        if entry is not None:
            return f"{change.address} has an object of its own since the plan was made"
        return None
    if owner is not None and owner != change.address:
        return f"{change.remote_id} belongs to {owner}"
    if owner is None and entry is not None and entry.remote_id is not None:
        return f"it owns {entry.remote_id}, not {change.remote_id}"
    if owner is None and change.action == "delete" and entry is None:
        return f"{change.remote_id} is no longer billplan's (it was removed from state)"
    return None


def _create_batch(
    chunk: Sequence[Change],
    provider: Provider,
    backend: Backend,
    state: State,
    result: Applied,
    marks: Mapping[str, bool],
) -> None:
    refused = {c.address: p for c in chunk if (p := ownership_problem(c, state)) is not None}
    for address, problem in refused.items():
        result.failures.append(Failure(address, f"not written: {problem}"))
    chunk = [c for c in chunk if c.address not in refused]
    if not chunk:
        return
    # Taken before the request: whatever the vendor made of it was made after this moment.
    sent_at = datetime.now(UTC)
    protected = {c.address: _protected(state, c, marks) for c in chunk}
    for change in chunk:
        earlier = state.entries.get(change.address)
        pending = _entry(change, None, change.after or {}, "pending", protected[change.address])
        pending = replace(pending, sent_at=sent_at)
        if earlier is not None and earlier.remote_id is None:
            # Sent again after a lost create was believed lost: the look-alikes a person
            # rejected are still not it.
            pending = replace(pending, rejected=earlier.rejected)
        state.entries[change.address] = pending
    # One write records both the previous batch's outcome and this batch as pending: a crash
    # from here on leaves a trace the next plan resolves.
    backend.write(state)
    while True:
        try:
            bodies = [dict(c.after or {}) for c in chunk]
            made = provider.create(chunk[0].type, bodies, [c.private for c in chunk])
            break
        except OutcomeUnknown as exc:
            for change in chunk:
                result.failures.append(Failure(change.address, str(exc), unknown=True))
            return
        except ProviderError as exc:
            if exc.status is None or exc.status >= 500:
                # Not a refusal (an answer that could not be read, say): it may have happened.
                for change in chunk:
                    result.failures.append(Failure(change.address, str(exc), unknown=True))
                return
            # Refused (4xx): nothing of the batch was created. When the vendor named the items
            # at fault, those fail and the rest is sent again; otherwise all of it fails.
            named = exc.refused if exc.refused and len(exc.refused) < len(chunk) else None
            failed = [c for i, c in enumerate(chunk) if named is None or i in named]
            for change in failed:
                state.entries.pop(change.address, None)
                result.failures.append(Failure(change.address, str(exc)))
            backend.write(state)
            if named is None:
                return
            chunk = [c for i, c in enumerate(chunk) if i not in named]
    for change, observed in zip(chunk, made, strict=True):
        state.entries[change.address] = _entry(
            change, observed.remote_id, observed.attributes, protected=protected[change.address]
        )
        result.done.append(change)
        try:
            _check_echo(change, observed)
        except ProviderError as exc:
            result.failures.append(Failure(change.address, str(exc)))


def _check_echo(change: Change, observed: Observed) -> None:
    """The vendor must hold what we sent; anything else is a bug worth stopping for."""
    differences = field_changes(observed.attributes, change.after)
    if differences:
        names = ", ".join(f.field for f in differences)
        raise ProviderError(
            f"the vendor stored different values than billplan sent ({names}); "
            "the next plan will show it as drift"
        )


def _entry(
    change: Change,
    remote_id: str | None,
    attributes: Mapping[str, object],
    status: EntryStatus = "managed",
    protected: bool = False,
) -> Entry:
    side = change.after_side or change.before_side
    return Entry.at(
        change,
        remote_id,
        attributes,
        currency=side.currency if side else "",
        date=side.date if side else None,
        amount=side.amount if side else Decimal(0),
        status=status,
        protected=protected,
    )
