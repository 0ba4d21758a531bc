"""The diff: desired Resources, State and Observed remote objects become a Plan of Changes,
each with an action (what apply does) and a reason (why: compiler.model.change).

An object whose wanted change is invoiced is a no-op (locked: never written); an unmanaged
remote object exactly equal to what a create would make is adopted; a managed object edited
behind billplan's back (drift, judged by compiler.drift) is updated back to the plan; one
already deleted remotely and no longer planned is forgotten (dropped from state). An object
state owns by remote id that lacks only billplan's tag (a Kantata milestone made by hand, then
imported or onboarded) is no change: the tag goes with the next write the plan makes for a
billing reason (docs/reliability.md, "Kantata's tag").
Within one charge, leftover deletes and creates pair up in date order into updates, so a
shifted schedule reads as date changes, not replacements.

A create whose answer was lost (a `pending` entry) is never sent again on a guess. The object
billplan tagged with the address (Kantata), or one exactly as sent, is adopted. Otherwise a
look-alike, an unclaimed object of the same type and project made no earlier than the create
was sent (less CLOCK_SKEW), is shown `unconfirmed` for a person to confirm (`billplan import`)
or reject (`billplan state reject`); with none, the create is sent again only when the
project's objects were read completely (not in `unproven`). A pending entry whose charge left
the plan is forgotten, never matched by content and never deleted: billplan deletes only what
state or its tag proves it made. Its look-alikes are named, for a person to check.

Guardrails (compiler.keep, compiler.removed): a delete of a protected object (the plan's
`protect: true`, or the mark state remembers) is refused: a no-op with reason `protected`,
which fails the plan. An address under the plan's `removed:` is forgotten (`released`), never
deleted. A field the plan `ignore:`s keeps the vendor's value: no drift, no update; the change
says where it differs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from compiler import adjust, drift
from compiler.holdings import Claim, Holdings
from compiler.model import Observed, Resource
from compiler.model.change import (
    Change,
    FieldChange,
    Plan,
    Reason,
    SandboxChoice,
    Side,
    Unmanaged,
    settle_commands,
)
from compiler.model.fields import field_changes
from compiler.moved import under
from compiler.state import Entry, State

# How much earlier than a pending create's `sent_at` (billplan's clock) the object it made may
# say it was made (the vendor's clock): the two clocks may disagree. Wide on purpose: a
# look-alike is only ever shown for a person to decide, never taken, and an object older than
# this cannot be what the create made.
CLOCK_SKEW = timedelta(minutes=15)
# How many look-alikes a change names by id; the rest are counted.
NAMED = 5


def diff(
    desired: Iterable[Resource],
    state: State,
    observed: Iterable[Observed],
    project_keys: Mapping[tuple[str, str], str],
    unproven: Collection[tuple[str, str]] = (),
    sandbox: SandboxChoice | None = None,
    released: Collection[str] = (),
) -> Plan:
    """Compare what the plan wants with what state owns and what the vendors hold.

    project_keys maps (provider, str(project_id)) to the plan's project key, for naming
    unmanaged objects and orphans. unproven holds the (provider, str(project_id)) whose
    objects were not proven read completely: a lost create not found there is not believed
    lost, so not created again. sandbox is the sandbox the observed objects came from, which
    the commands the plan prints must name. released holds the plan's `removed:` prefixes:
    state entries under them that the plan no longer wants are forgotten, never deleted.
    """
    sandbox = sandbox or SandboxChoice()
    remote: dict[tuple[str, str], Observed] = {}
    provider_of_type: dict[str, str] = {}
    wanted = {r.address: r for r in desired}
    for resource in wanted.values():
        provider_of_type[resource.type] = resource.provider
    for entry in state.entries.values():
        provider_of_type.setdefault(entry.type, entry.provider)
    for obs in observed:
        remote[(obs.type, obs.remote_id)] = obs
    # Indexed once: each unheld item below is looked up, never searched for among them all.
    holdings = Holdings(remote.values())
    claimed: set[Claim] = {(e.type, e.remote_id) for e in state.entries.values() if e.remote_id}
    changes: list[Change] = []
    # Lost creates found neither by tag nor as sent: settled once every exact match is claimed.
    unsettled: list[tuple[Resource, Entry]] = []

    for address, resource in sorted(wanted.items()):
        entry = state.entries.get(address)
        if entry is not None and entry.remote_id is not None:
            obs = remote.get((entry.type, entry.remote_id))
            if obs is not None and entry.type == resource.type:
                # Compared once: a no-op plan makes this comparison for every object it holds.
                fields = field_changes(obs.attributes, resource.attributes)
                moved = _replacement(resource, entry, obs, fields)
                changes.extend(moved or [_compare(resource, entry, obs, owned=True, fields=fields)])
                continue
            if obs is not None:
                # The item moved to another kind of object: remove the old, create the new.
                changes += _kind_changed(resource, entry, obs)
                continue
            why = f"{entry.remote_id} was deleted outside billplan; it will be created again"
            gone = _create(resource, "gone", why)
            # remote_id names the object the create replaces, so apply knows it may.
            changes.append(replace(gone, remote_id=entry.remote_id))
            continue
        tagged = holdings.tagged(address, resource.type, claimed)
        if tagged is not None:
            # The vendor holds an object tagged with this address: billplan made it (a lost
            # create, or a lost state); own it, and bring it to the plan if it differs.
            claimed.add((tagged.type, tagged.remote_id))
            found = _compare(resource, entry or _entry_of(resource, tagged), tagged)
            why = "found by the address billplan tagged it with"
            if found.label == "no-op":
                found = replace(found, action="adopt")
            if found.reason in ("unchanged", "changed"):
                found = replace(found, reason="adopted")
            changes.append(replace(found, detail=f"{why}; {found.detail}".rstrip("; ")))
            continue
        sent = _find_sent(entry, holdings, claimed) if entry is not None else None
        if entry is not None and sent is not None:
            claimed.add((sent.type, sent.remote_id))
            if sent.type != resource.type:
                # Sent as another kind of object than the plan now wants: replace it.
                changes += _kind_changed(resource, entry, sent)
                continue
            found = _compare(resource, entry, sent)
            if found.label in ("update", "locked"):
                # The lost create landed and the plan has changed since: update what landed
                # (or, invoiced meanwhile, show it locked), never a second create beside it.
                why = "the create's response was lost; found it remotely, as sent"
                if found.reason == "changed":
                    found = replace(found, reason="adopted")
                changes.append(replace(found, detail=f"{why}; {found.detail}".rstrip("; ")))
                continue
        match = sent or _find_adoptable(resource, holdings, claimed)
        if match is not None:
            claimed.add((match.type, match.remote_id))
            why = (
                "the create's response was lost; found it remotely"
                if entry is not None and entry.status == "pending"
                else "exactly what billplan would create; adopting it instead of a duplicate"
            )
            adopted = _compare(resource, _entry_of(resource, match), match)
            if adopted.label == "update":
                # Only billplan's own tag is missing (made by hand): adopt it and tag it.
                why = "identical but for billplan's tag; adopting it and adding the tag"
                adopted = replace(adopted, reason="adopted")
            elif adopted.label == "no-op":
                adopted = replace(adopted, action="adopt", reason="adopted")
            else:  # invoiced, and the tag cannot be added: shown, never written
                why = f"{why}; {adopted.detail}"
            changes.append(replace(adopted, detail=why))
            continue
        if entry is not None:
            unsettled.append((resource, entry))
            continue
        changes.append(_create(resource, "new", ""))

    forgotten: list[tuple[Entry, list[Observed]]] = []
    for address, entry in sorted(state.entries.items()):
        if address in wanted:
            continue
        if any(under(address, prefix) for prefix in released):
            if entry.remote_id:
                claimed.add((entry.type, entry.remote_id))  # kept, not shown as unmanaged
            changes.append(_release(entry))
            continue
        obs = remote.get((entry.type, entry.remote_id)) if entry.remote_id else None
        if obs is None:
            # A lost create of a charge since removed: only billplan's tag proves it landed
            # (then it is deleted like any removed object); content alone proves nothing.
            obs = holdings.tagged(address, entry.type, claimed)
            if obs is not None:
                claimed.add((obs.type, obs.remote_id))
        if obs is None and entry.remote_id is None:
            forgotten.append((entry, _look_alikes(entry, holdings, claimed)))
        elif obs is None:
            changes.append(_forget(entry))
        elif obs.locked:
            why = "removed from the plan but already invoiced; it will not be deleted"
            kept = _delete(entry, obs, "removed", why)
            changes.append(
                replace(kept, action="no-op", reason="locked", fields=(), before_locked=True)
            )
        else:
            changes.append(_delete(entry, obs, "removed", "no longer in the plan"))

    # What a removed charge's lost create made, exactly as sent, belongs to nobody now and is
    # no look-alike of another address: a person checks it by its name in the forget. A mere
    # look-alike of it may be another lost create's object, edited by a person: it stays on
    # offer there, since leaving it out could send that create again, a duplicate.
    theirs = {
        (o.type, o.remote_id)
        for entry, found in forgotten
        for o in found
        if not field_changes(o.attributes, entry.attributes)
    }
    shown: set[tuple[str, str]] = set()
    for resource, entry in unsettled:
        alike = [
            o
            for o in _look_alikes(entry, holdings, claimed, fixed=resource.fixed)
            if (o.type, o.remote_id) not in theirs
        ]
        shown |= {(o.type, o.remote_id) for o in alike}
        changes.append(_settle(resource, entry, alike, unproven, sandbox))
    claimed |= shown  # shown with the address they may be, not again as unmanaged
    # A forget names only what no planned address is offered: never "delete it by hand" of
    # an object that may be another item's.
    changes += [
        _forget(entry, [o for o in found if (o.type, o.remote_id) not in shown])
        for entry, found in forgotten
    ]

    changes = _pair_moves(changes, wanted=set(wanted), owned=set(state.entries))
    changes = _refuse_protected(changes, wanted, state)
    # A type the plan does not use in a project (a hand-made product item beside planned
    # milestones) is still named by its project.
    provider_of_project = {str(project_id): name for name, project_id in project_keys}

    def provider_of(obs: Observed) -> str:
        found = provider_of_type.get(obs.type)
        return found if found is not None else provider_of_project.get(str(obs.project_id), "")

    unmanaged = [
        Unmanaged(
            provider=provider_of(obs),
            type=obs.type,
            project=project_keys.get((provider_of(obs), str(obs.project_id)), ""),
            project_id=obs.project_id,
            remote_id=obs.remote_id,
            attributes=obs.attributes,
            locked=obs.locked,
            side=Side(obs.date, obs.amount, ""),
        )
        for key, obs in sorted(remote.items())
        if key not in claimed
    ]
    return Plan(
        changes=sorted(changes, key=_order),
        unmanaged=unmanaged,
        notes=_priced_apart(changes),
        sandbox=sandbox,
        protection=_marks(changes, wanted, state),
    )


def _protected(address: str, wanted: Mapping[str, Resource], state: State) -> bool:
    """Whether billplan must keep the object at address: the plan's `protect:` where it says
    one, else the mark state remembers (the plan dropped the key, or the whole charge)."""
    resource = wanted.get(address)
    if resource is not None and resource.protected is not None:
        return resource.protected
    entry = state.entries.get(address)
    return entry is not None and entry.protected


def _refuse_protected(
    changes: list[Change], wanted: Mapping[str, Resource], state: State
) -> list[Change]:
    """Each delete of a protected object turned into a refusal: shown, never written, and the
    plan fails (EXIT_PROTECTED) until the reader does what the detail says."""
    out = []
    for change in changes:
        if change.action != "delete" or not _protected(change.address, wanted, state):
            out.append(change)
            continue
        if change.address in wanted:  # replaced: a field that cannot change in place
            how = (
                "to replace it; revert the change that replaces it, or write `protect: false` "
                "on the charge and apply, then make the change"
            )
        else:
            how = (
                "although it left the plan. To delete it on purpose, put the charge back with "
                "`protect: false` and apply (that clears the mark), then remove it; to stop "
                "managing it and keep it at the vendor, list it under `removed:`"
            )
        why = f"protected (`protect: true`, kept in state): billplan will not delete it {how}"
        out.append(replace(change, action="no-op", reason="protected", fields=(), detail=why))
    return out


def _marks(
    changes: Iterable[Change], wanted: Mapping[str, Resource], state: State
) -> dict[str, bool]:
    """The protection marks apply must change in state: where the plan's `protect:` differs
    from what state remembers, for every address that owns (or will own) an object."""
    held: dict[str, bool] = {}
    for change in changes:
        entry = state.entries.get(change.address)
        if entry is not None and entry.remote_id is not None:
            held[change.address] = entry.protected
        elif change.action in ("create", "adopt", "update"):
            old = state.entries.get(change.moved_from or "")
            held[change.address] = old is not None and old.protected
    marks = {}
    for address, now in held.items():
        resource = wanted.get(address)
        if resource is not None and resource.protected is not None and resource.protected != now:
            marks[address] = resource.protected
    return marks


def _priced_apart(changes: Iterable[Change]) -> list[str]:
    """Objects equal to the plan field by field whose amount the vendor works out differently
    (a percentage of a contract value it holds): nothing to write, but worth saying."""
    notes = []
    for change in changes:
        old, new = change.before_side, change.after_side
        if change.label in ("no-op", "adopt") and old and new and old.amount != new.amount:
            notes.append(
                f"{change.address}: the vendor bills {old.amount} {new.currency} where the plan "
                f"expects {new.amount}; check the figures it computes from (a contract value?)"
            )
    return notes


def _order(change: Change) -> tuple[str, str]:
    return (change.address, change.label)


def _against(resource: Resource, obs: Observed, entry: Entry | None = None) -> Change:
    """The plan's resource against the object the vendor holds: a no-op until judged."""
    return Change.to(
        resource,
        "no-op",
        "unchanged",
        remote_id=obs.remote_id,
        before=obs.attributes,
        after=resource.attributes,
        private={**obs.private, **resource.private},
        before_side=_side_of_observed(obs, resource.currency, entry),
        after_side=_side_of(resource),
        before_locked=obs.locked,
    )


def _compare(
    resource: Resource,
    entry: Entry,
    obs: Observed,
    owned: bool = False,
    fields: tuple[FieldChange, ...] | None = None,
) -> Change:
    """The plan's resource against the vendor's object. owned: state holds this object's
    remote id, so billplan's tag, should the object lack it, is no reason to write. fields:
    how their attributes differ, when the caller compared them already."""
    base = _against(resource, obs, entry)
    if fields is None:
        fields = field_changes(obs.attributes, resource.attributes)
    kept = [f for f in fields if f.field in resource.ignored]
    if kept:
        # `ignore:`d fields keep the vendor's value: left out of the comparison, and written
        # back as the vendor holds them should another field be updated.
        base = _ignoring(base, resource, obs, kept)
        fields = tuple(f for f in fields if f.field not in resource.ignored)
    if owned and _lacks_only_tags(fields, resource.tags):
        fields = ()
    said = base.detail
    if not fields:
        if not obs.locked:
            return base
        return replace(base, detail="; ".join(filter(None, ["invoiced", said])))
    base = replace(base, detail="")
    return _said(_judged(resource, entry, obs, base, fields), said)


def _said(change: Change, ignored: str) -> Change:
    """The change's detail, followed by what it ignores."""
    return replace(change, detail="; ".join(filter(None, [change.detail, ignored])))


def _ignoring(base: Change, resource: Resource, obs: Observed, kept: list[FieldChange]) -> Change:
    """The change with the vendor's values of the ignored fields, and a detail naming each:
    `ignored: description differs (vendor: "X", plan: "Y")`."""
    after = {**resource.attributes, **{f.field: obs.attributes.get(f.field) for f in kept}}
    names = {resource.ignored[f.field] for f in kept}
    after_side = base.after_side
    if "date" in names and after_side is not None:
        after_side = replace(after_side, date=obs.date)
    said = "; ".join(
        f"ignored: {resource.ignored[f.field]} differs (vendor: {_text(f.before)}, "
        f"plan: {_text(f.after)})"
        for f in kept
    )
    return replace(
        base, after=after, after_side=after_side, detail=said, ignored=tuple(sorted(names))
    )


def _text(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) and not _is_day(value) else str(value)


def _is_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _judged(
    resource: Resource,
    entry: Entry,
    obs: Observed,
    base: Change,
    fields: tuple[FieldChange, ...],
) -> Change:
    """An object that differs from the plan in `fields`: locked, drift restored, or changed."""
    if obs.locked:
        return replace(
            base,
            reason="locked",
            fields=fields,
            detail="already invoiced: billplan will not change it; bill the difference "
            "with a new charge or credit",
        )
    drifted = [f for f in drift.of(entry, obs) if f.field not in resource.ignored]
    if drifted:
        names = ", ".join(f.field for f in drifted)
        return replace(
            base,
            action="update",
            reason="drift",
            fields=fields,
            detail=f"changed outside billplan ({names}); restoring the planned values",
        )
    return replace(base, action="update", reason="changed", fields=fields)


def _lacks_only_tags(fields: tuple[FieldChange, ...], tags: frozenset[str]) -> bool:
    """Whether the only differences are billplan's tags, absent from the vendor's object (a
    Kantata milestone made by hand, then imported or onboarded). The tag finds an object state
    does not hold the id of (a lost create, a lost state) and tells states apart; state holds
    this one's id, so the tag waits for the next write made for a billing reason, which
    carries it. A tag naming another address (a rename) is wrong, not missing: corrected."""
    return bool(fields) and all(f.field in tags and f.before is None for f in fields)


def _replacement(
    resource: Resource, entry: Entry, obs: Observed, fields: tuple[FieldChange, ...]
) -> list[Change]:
    """A change to a field the vendor cannot change in place (the project an object is in)
    is a delete of the old object and a create of the new; empty when there is none. fields:
    how the object's attributes differ from the resource's (field_changes)."""
    fixed = [f.field for f in fields if f.field in resource.fixed]
    if not fixed or obs.locked:
        return []  # no such change; or invoiced, which _compare shows as locked
    why = f"{', '.join(fixed)} cannot change in place: the old object is deleted, a new one made"
    return [
        _delete(entry, obs, "replaced", why),
        replace(_create(resource, "replaced", why), remote_id=obs.remote_id),
    ]


def _kind_changed(resource: Resource, entry: Entry, obs: Observed) -> list[Change]:
    """The object `entry` owns is of another type than the plan now wants: delete it and
    create the new one."""
    return [
        _delete(entry, obs, "replaced", "replaced by a different object type"),
        _create(resource, "replaced", "its kind changed"),
    ]


def _create(resource: Resource, reason: Reason, detail: str) -> Change:
    return Change.to(
        resource,
        "create",
        reason,
        remote_id=None,
        before=None,
        after=resource.attributes,
        fields=field_changes(None, resource.attributes),
        detail=detail,
        after_side=_side_of(resource),
        private=resource.private,
    )


def _delete(entry: Entry, obs: Observed, reason: Reason, detail: str) -> Change:
    return Change.to(
        entry,
        "delete",
        reason,
        remote_id=obs.remote_id,
        before=obs.attributes,
        after=None,
        fields=field_changes(obs.attributes, None),
        detail=detail,
        before_side=_side_of_observed(obs, entry.currency, entry),
        private=obs.private,
    )


def _release(entry: Entry) -> Change:
    """An address under the plan's `removed:`: dropped from state, kept at the vendor."""
    return Change.to(
        entry,
        "forget",
        "released",
        remote_id=entry.remote_id,
        before=None,
        after=None,
        detail="`removed:` in the plan: billplan stops managing it; the vendor keeps it",
    )


def _forget(entry: Entry, look_alikes: Iterable[Observed] = ()) -> Change:
    if entry.remote_id is not None:
        why = "already deleted outside billplan; dropping it from state"
    else:
        found = list(look_alikes)
        why = (
            f"removed from the plan while the answer to the create billplan sent{_sent_on(entry)} "
            "was missing: billplan forgets it and deletes nothing it cannot prove it made"
        )
        if len(found) == 1:
            why += (
                f"; {entry.provider} holds {_ids(found)}, which looks like it and stays as it "
                "is: check it, and delete it there by hand if it is not wanted"
            )
        elif found:
            why += (
                f"; {entry.provider} holds {_ids(found)}, which look like it and stay as they "
                "are: check them, and delete there by hand any that is not wanted"
            )
    return Change.to(
        entry,
        "forget",
        "gone",
        remote_id=entry.remote_id,
        before=None,
        after=None,
        detail=why,
    )


def _ids(objects: Iterable[Observed]) -> str:
    """The ids of look-alikes, the first NAMED of them: a project where people made many
    drafts around the time of a lost create would otherwise fill the plan with ids."""
    ids = [o.remote_id for o in objects]
    if len(ids) <= NAMED:
        return ", ".join(ids)
    return f"{', '.join(ids[:NAMED])} and {len(ids) - NAMED} more"


def _sent_on(entry: Entry) -> str:
    if entry.sent_at is None:
        return ""
    return f" on {entry.sent_at.strftime('%Y-%m-%d at %H:%M')} UTC"


def _look_alikes(
    entry: Entry,
    holdings: Holdings,
    claimed: set[Claim],
    fixed: frozenset[str] = frozenset(),
) -> list[Observed]:
    """What a lost create may have made, most like what was sent first: unclaimed objects of
    its type and project, tagged for no other address, that a person has not rejected, made
    no earlier than it was sent (less CLOCK_SKEW; any age when either time is unknown), and
    differing from what was sent in no field the vendor cannot change (`fixed`)."""
    since = entry.sent_at - CLOCK_SKEW if entry.sent_at is not None else None
    found = [
        obs
        for obs in holdings.placed(entry.type, entry.project_id)
        if (obs.type, obs.remote_id) not in claimed
        and obs.owner in (None, entry.address)
        and obs.remote_id not in entry.rejected
        and (since is None or obs.created is None or obs.created >= since)
        and not any(f.field in fixed for f in field_changes(obs.attributes, entry.attributes))
    ]

    def likeness(obs: Observed) -> tuple[int, str, str]:
        differing = len(field_changes(obs.attributes, entry.attributes))
        return (differing, obs.created.isoformat() if obs.created else "", obs.remote_id)

    return sorted(found, key=likeness)


def _settle(
    resource: Resource,
    entry: Entry,
    look_alikes: list[Observed],
    unproven: Collection[tuple[str, str]],
    sandbox: SandboxChoice,
) -> Change:
    """A lost create found neither by tag nor as sent: its most likely look-alike, shown for a
    person to confirm or reject; none, and the project read completely: created again; none,
    but the read not proven complete: nothing, until a plan reads it completely."""
    lost = f"billplan sent it{_sent_on(entry)} but the answer never arrived"
    if not look_alikes:
        if (resource.provider, str(resource.project_id)) in unproven:
            why = (
                f"{lost}, and billplan could not read this project's list at "
                f"{resource.provider} completely (it changed while billplan read it, or "
                "--no-refresh left it unread), so billplan cannot tell whether it was made: "
                "nothing is created now; run `billplan plan` again"
            )
            return Change.to(
                resource,
                "no-op",
                "unproven",
                remote_id=None,
                before=None,
                after=resource.attributes,
                detail=why,
                after_side=_side_of(resource),
                private=resource.private,
            )
        why = f"{lost}; {resource.provider} holds nothing it could have made: creating it again"
        return _create(resource, "new", why)
    best, *others = look_alikes
    sent = field_changes(best.attributes, entry.attributes)
    differing = ", ".join(f.field for f in sent) or "nothing billplan compares"
    confirm, reject = settle_commands(entry.address, best.remote_id, sandbox)
    # Early in the sentence: a plan comment cuts a long one, and this a reviewer must read.
    made = "made since and already invoiced" if best.locked else "made since"
    why = (
        f"{lost}. {resource.provider} holds {best.remote_id}, {made}, which differs from "
        f"what was sent in {differing}: perhaps billplan's, edited by a person. Nothing is "
        f"created until someone decides. If it is this item: `{confirm}`; if not: `{reject}`"
    )
    if best.locked:
        # The customer may already have been billed what it holds: a reviewer must know.
        why += (
            ". Invoiced, it stays as it is even once confirmed: bill any difference with a new "
            "charge or credit"
        )
    if others:
        why += f". Also like it: {_ids(others)}"
    return replace(
        _against(resource, best, entry),
        reason="unconfirmed",
        # What a person compares to decide: the look-alike against what billplan sent (the
        # plan may have changed since; once confirmed, the next plan restores the plan's).
        fields=sent,
        detail=why,
    )


def _find_adoptable(resource: Resource, holdings: Holdings, claimed: set[Claim]) -> Observed | None:
    """The unclaimed object exactly what a create of resource would make, but for billplan's
    tags (lowest id if several). An object tagged for an address is that address's (see
    Holdings.tagged), never a twin."""
    wanted = {k: v for k, v in resource.attributes.items() if k not in resource.tags}
    return holdings.equal(
        resource.type, resource.project_id, wanted, claimed, ignore=resource.tags, untagged=True
    )


def _find_sent(entry: Entry, holdings: Holdings, claimed: set[Claim]) -> Observed | None:
    """For a pending create (sent, response lost): the unclaimed remote object equal to what
    was sent, if it landed."""
    if entry.status != "pending" or entry.remote_id is not None:
        return None
    return holdings.equal(entry.type, entry.project_id, entry.attributes, claimed)


def _entry_of(resource: Resource, obs: Observed) -> Entry:
    """What state would hold had the create's response arrived: the object as sent."""
    return Entry.at(
        resource,
        obs.remote_id,
        obs.attributes,
        currency=resource.currency,
        date=obs.date,
        amount=obs.amount,
    )


def _pair_moves(changes: list[Change], wanted: set[str], owned: set[str]) -> list[Change]:
    """Within a charge, pair leftover deletes with creates in date order into updates.

    Only brand-new addresses (not in state) pair, and only with deletes of addresses the plan
    dropped; a recreate or a replacement keeps its own meaning.
    """
    creates: dict[tuple[str, str, str], list[Change]] = defaultdict(list)
    deletes: dict[tuple[str, str, str], list[Change]] = defaultdict(list)
    for change in changes:
        if adjust.is_line(change.address):
            continue  # an adjusting line is an object of its own, never a period that moved
        key = (_charge_of(change.address), change.type, str(change.project_id))
        if change.action == "create" and change.address not in owned:
            creates[key].append(change)
        elif change.action == "delete" and change.address not in wanted:
            deletes[key].append(change)
    paired: dict[str, Change] = {}
    dropped: set[str] = set()
    for key, new in creates.items():
        old = deletes.get(key, [])
        if not old:
            continue
        new_sorted = sorted(new, key=lambda c: (c.after_side.date or date.max, c.address))
        old_sorted = sorted(old, key=lambda c: (c.before_side.date or date.max, c.address))
        for create, delete in zip(new_sorted, old_sorted, strict=False):
            fields = field_changes(delete.before, create.after)
            paired[create.address] = replace(
                create,
                action="update",
                reason="moved",
                remote_id=delete.remote_id,
                before=delete.before,
                fields=fields,
                moved_from=delete.address,
                detail=f"takes over {delete.address} (the schedule moved)",
                before_side=delete.before_side,
                private={**delete.private, **create.private},
            )
            dropped.add(delete.address)
    out = []
    for change in changes:
        if change.action == "delete" and change.address in dropped:
            continue
        if change.action == "create" and change.address in paired:
            out.append(paired[change.address])
            continue
        out.append(change)
    return out


def _charge_of(address: str) -> str:
    # PROJECT/recurring/CHARGE/LABEL -> PROJECT/recurring/CHARGE ; split parts likewise
    return "/".join(address.split("/")[:3])


def _side_of(resource: Resource) -> Side:
    return Side(resource.date, resource.amount, resource.currency)


def _side_of_observed(obs: Observed, currency: str, entry: Entry | None = None) -> Side:
    when = obs.date
    if not obs.dated_by_vendor and entry is not None and entry.date is not None:
        when = entry.date  # the vendor keeps no billing date: trust what billplan wrote
    return Side(when, obs.amount, currency)
