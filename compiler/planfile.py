"""Saved plans: the documented JSON form of a Plan, and the check that it is still true.

`plan -o FILE` writes it. `apply FILE PATH` checks that every object its changes touch still
looks as it did when planned (by content, not by a serial), then plans PATH again and applies
that plan only if it makes the same changes (compiler/review.py).

A saved plan is the record of what a reviewer approved, never an authority: what apply writes
always comes from the plan directory it is given. Its checksum (sha256 over its canonical JSON:
keys sorted, compact, numbers digit for digit, without the checksum itself) catches a file
edited by hand or damaged, not an attacker, who can recompute it; `plan_path` records where
it was made, for messages only.

Each change is saved as a reviewer reads it: `action` is its label (the action, or drift /
locked) and `reason` its sentence, as format 1 always had them; `action_reason` (added within
format 1) is the reason's code. A plan saved before action_reason is read with each label's
usual reason (compiler.model.change.unlabel).

`breaches` (added within format 1) lists the policy rules the plan breaks (compiler.policy):
`apply FILE` refuses a saved plan that holds any. `billplan show FILE` reads the rest back
too (notes, hosts, unmanaged objects) to print the plan again as `plan` printed it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from compiler import __version__, jsonio
from compiler.credentials import Endpoint
from compiler.model import Observed
from compiler.model.breach import Breach
from compiler.model.change import (
    REASONS,
    WRITES,
    Change,
    FieldChange,
    Plan,
    SandboxChoice,
    Side,
    Unmanaged,
    label_of,
    unlabel,
)
from compiler.model.fields import same
from compiler.state import State

PLAN_FORMAT_VERSION = "1"
CHECKSUM_KEY = "checksum"
CHECKSUM_PREFIX = "sha256:"


class PlanFileError(Exception):
    pass


def to_json(
    plan: Plan, *, plan_path: str, as_of: date, sandbox: bool, state: State | None = None
) -> dict[str, Any]:
    impact = plan.impact()
    return {
        "format_version": PLAN_FORMAT_VERSION,
        # The state the plan was made against: apply refuses if it has changed since.
        "state": None if state is None else {"lineage": state.lineage, "serial": state.serial},
        "billplan_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan_path": plan_path,
        "as_of": as_of.isoformat(),
        "sandbox": sandbox,
        "summary": {
            "create": plan.count("create"),
            "update": plan.count("update") + plan.count("drift"),
            "delete": plan.count("delete"),
            "locked": plan.count("locked"),
            "adopt": plan.count("adopt"),
            "forget": plan.count("forget"),
            "no-op": plan.count("no-op"),
            # Lost creates waiting for a person (added within format 1).
            "unconfirmed": plan.count("unconfirmed"),
            # Deletes of protected objects, refused (added within format 1): a plan with any
            # is never applied, saved or not (exit 3).
            "protected": plan.count("protected"),
            "text": plan.summary(),
        },
        "impact": {
            "before": impact.before,
            "after": impact.after,
            "by_month": [
                {"month": month, "currency": currency, "net": net}
                for (month, currency), net in impact.by_month.items()
            ],
        },
        "notes": list(plan.notes),
        # Where each connection's requests went, set outside the plan: for the reviewer.
        "endpoints": [endpoint.to_json() for endpoint in plan.endpoints],
        # A partial plan's --target/--exclude, and the `moved:` renames apply makes in state.
        "targets": {"include": list(plan.targets), "exclude": list(plan.excludes)},
        "moved": [{"from": old, "to": new} for new, old in sorted(plan.moved.items())],
        # Protection marks apply sets (true) or clears (false) in state (added within format 1).
        "protection": [
            {"address": address, "protected": mark}
            for address, mark in sorted(plan.protection.items())
        ],
        "changes": [_change_json(c) for c in plan.changes],
        "unmanaged": [_unmanaged_json(u) for u in plan.unmanaged],
        # Policy rules the plan breaks (added within format 1): apply refuses such a plan.
        "breaches": [breach.to_json() for breach in plan.breaches],
    }


def dumps(
    plan: Plan, *, plan_path: str, as_of: date, sandbox: bool, state: State | None = None
) -> str:
    document = to_json(plan, plan_path=plan_path, as_of=as_of, sandbox=sandbox, state=state)
    # Checksummed as it will be read back: through its JSON text, so that types (dates, tuples)
    # become what `load` sees.
    document[CHECKSUM_KEY] = checksum(jsonio.loads(jsonio.dumps(document)))
    return jsonio.dumps(document, indent=2) + "\n"


def checksum(document: Mapping[str, Any]) -> str:
    """sha256 over the document's canonical JSON, leaving out the checksum key."""
    body = {key: value for key, value in document.items() if key != CHECKSUM_KEY}
    canonical = jsonio.dumps(body, sort_keys=True)
    return CHECKSUM_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _verify(raw: Mapping[str, Any], source: Path) -> None:
    stated = raw.get(CHECKSUM_KEY)
    if not isinstance(stated, str) or not stated.startswith(CHECKSUM_PREFIX):
        raise PlanFileError(
            f"{source}: the saved plan has no checksum, so billplan cannot tell whether it is "
            "what was reviewed; make it again with `billplan plan -o FILE`"
        )
    if stated != checksum(raw):
        raise PlanFileError(
            f"{source}: the saved plan does not match its checksum: it was edited or damaged "
            "after `billplan plan -o` wrote it. Nothing was applied; make the plan again "
            "instead of editing it"
        )


def _side_json(side: Side | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {
        "date": None if side.date is None else side.date.isoformat(),
        "amount": side.amount,
        "currency": side.currency,
    }


def _place_json(where: Change | Unmanaged) -> dict[str, Any]:
    """Where a remote object lives: its connection, type, project and id."""
    return {
        "provider": where.provider,
        "type": where.type,
        "project": where.project,
        "project_id": where.project_id,
        "remote_id": where.remote_id,
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "address": change.address,
        # The word a reviewer reads (the action, or drift / locked), as format 1 always had it;
        # action_reason (added within format 1) says why, and with it what apply does.
        "action": change.label,
        "action_reason": change.reason,
        **_place_json(change),
        "moved_from": change.moved_from,
        "reason": change.detail,
        "before": None if change.before is None else dict(change.before),
        "after": None if change.after is None else dict(change.after),
        "before_locked": change.before_locked,
        "fields": [{"field": f.field, "before": f.before, "after": f.after} for f in change.fields],
        "before_side": _side_json(change.before_side),
        "after_side": _side_json(change.after_side),
        # What the provider needs for the write beyond `after`: a saved plan applies with it.
        "private": dict(change.private),
    }


def _unmanaged_json(item: Unmanaged) -> dict[str, Any]:
    return {
        **_place_json(item),
        "locked": item.locked,
        "attributes": dict(item.attributes),
        "side": _side_json(item.side),
    }


def _side(raw: Mapping[str, Any] | None) -> Side | None:
    if raw is None:
        return None
    when = raw.get("date")
    return Side(
        date=date.fromisoformat(when) if when else None,
        amount=Decimal(raw["amount"]),
        currency=raw.get("currency", ""),
    )


class Saved:
    """A plan read back from a file. The file may be forged: anything not of the shape
    billplan writes raises ValueError or TypeError (load() reports it as damaged)."""

    def __init__(self, raw: Mapping[str, Any], source: Path) -> None:
        version = raw.get("format_version")
        if version != PLAN_FORMAT_VERSION:
            raise PlanFileError(
                f"{source}: plan format_version {version!r} is not {PLAN_FORMAT_VERSION!r}; "
                "make the plan again with this billplan"
            )
        self.plan_path = Path(raw["plan_path"])
        self.as_of = date.fromisoformat(raw["as_of"])
        self.sandbox = bool(raw.get("sandbox"))
        seen = _object(raw.get("state") or {}, "state")
        self.state_lineage: str | None = seen.get("lineage")
        self.state_serial: int | None = seen.get("serial")
        scope = _object(raw.get("targets") or {}, "targets")
        targets, excludes = _prefixes(scope.get("include")), _prefixes(scope.get("exclude"))
        for c in raw.get("changes", []):
            _object(c, "a change")
            for side in ("before_side", "after_side"):
                _object(c.get(side) or {}, side)
        self.plan = Plan(
            changes=[
                Change(
                    address=c["address"],
                    **_action_and_reason(c),
                    provider=c["provider"],
                    type=c["type"],
                    project=c["project"],
                    project_id=c["project_id"],
                    remote_id=c.get("remote_id"),
                    before=c.get("before"),
                    after=c.get("after"),
                    fields=tuple(
                        FieldChange(f["field"], f.get("before"), f.get("after"))
                        for f in c.get("fields", [])
                    ),
                    detail=c.get("reason", ""),
                    moved_from=c.get("moved_from"),
                    before_side=_side(c.get("before_side")),
                    after_side=_side(c.get("after_side")),
                    before_locked=bool(c.get("before_locked")),
                    private=_object(c.get("private") or {}, "private"),
                )
                for c in raw.get("changes", [])
            ],
            moved={m["to"]: m["from"] for m in raw.get("moved") or []},
            protection={
                str(m["address"]): _flag(m["protected"]) for m in raw.get("protection") or []
            },
            targets=targets,
            excludes=excludes,
            # What the plan's views show besides its changes (`billplan show`).
            unmanaged=[_unmanaged(u) for u in raw.get("unmanaged") or []],
            notes=[str(note) for note in raw.get("notes") or []],
            endpoints=[_endpoint(e) for e in raw.get("endpoints") or []],
            sandbox=SandboxChoice(in_process=self.sandbox),
            breaches=[Breach.from_json(_object(b, "a breach")) for b in raw.get("breaches") or []],
        )


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"protected {value!r} is not true or false")
    return value


def _unmanaged(raw: Any) -> Unmanaged:
    raw = _object(raw, "an unmanaged object")
    side = _side(_object(raw.get("side"), "side"))
    if side is None:  # never: _object refused a missing side
        raise TypeError("an unmanaged object has no side")
    return Unmanaged(
        provider=raw["provider"],
        type=raw["type"],
        project=raw["project"],
        project_id=raw["project_id"],
        remote_id=raw["remote_id"],
        attributes=_object(raw.get("attributes") or {}, "attributes"),
        locked=bool(raw.get("locked")),
        side=side,
    )


def _endpoint(raw: Any) -> Endpoint:
    raw = _object(raw, "an endpoint")
    return Endpoint(
        connection=raw["connection"],
        vendor=raw["vendor"],
        base_url=raw["base_url"],
        chosen_by=raw["chosen_by"],
        token_env=raw.get("token_env"),
    )


def _action_and_reason(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What apply does and why, from a saved change's `action` (the label a reviewer reads)
    and `action_reason`. A plan saved before action_reason existed gets the label's usual
    reason (drift for drift, new for a create ...)."""
    label = raw["action"]
    action, reason = unlabel(label)
    stated = raw.get("action_reason", reason)
    if stated not in REASONS or label_of(action, stated) != label:
        raise ValueError(
            f"{raw['address']}: {label} because of {stated!r} is no change billplan makes"
        )
    return {"action": action, "reason": stated}


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} is not an object")
    return value


def _prefixes(value: Any) -> tuple[str, ...]:
    """--target or --exclude prefixes as `plan -o` saved them: clean address prefixes."""
    from compiler.targets import TargetError, Targets

    prefixes = tuple(value or ())
    if not all(isinstance(prefix, str) for prefix in prefixes):
        raise TypeError("a target is not text")
    try:
        cleaned = Targets.of(prefixes, ()).include
    except TargetError as exc:
        raise ValueError(str(exc)) from None
    if cleaned != prefixes:
        raise ValueError(f"targets {list(prefixes)!r} are not address prefixes as saved")
    return prefixes


def write(path: Path, text: str) -> None:
    """Save a plan at path: a new file, or in place of an earlier saved plan. Never through a
    symlink (a checkout may hold plan.json as a link to anyone's file) nor over another file
    (the plan's own YAML, its state); written whole or not at all (a temporary file renamed)."""
    try:
        mode: int | None = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise PlanFileError(
            f"{path} is a symlink: billplan saves a plan only to a file of its own, never "
            "through a link. Remove the link or choose another name"
        )
    if mode is not None and not (stat.S_ISREG(mode) and _holds_saved_plan(path)):
        raise PlanFileError(
            f"{path} exists and is not a saved plan: billplan does not overwrite it. Choose "
            "another name for the saved plan"
        )
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _holds_saved_plan(path: Path) -> bool:
    try:
        raw = jsonio.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(raw, dict) and "changes" in raw and CHECKSUM_KEY in raw


def is_saved_plan(path: Path) -> bool:
    """Whether a path is a saved plan rather than a YAML plan: named .json, or any file that
    starts like one (`plan -o` takes any name)."""
    if not path.is_file():
        return False
    if path.suffix == ".json":
        return True
    try:
        with path.open("rb") as handle:
            start = handle.read(4096).lstrip()
    except OSError:
        return False
    return start.startswith(b"{") and b'"format_version"' in start


def load(path: Path) -> Saved:
    try:
        raw = jsonio.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such saved plan") from None
    except ValueError as exc:
        raise PlanFileError(f"{path}: not a billplan saved plan ({exc})") from None
    except RecursionError:  # nested deeper than any plan billplan writes
        raise PlanFileError(f"{path}: not a billplan saved plan (nested too deep)") from None
    if not isinstance(raw, dict) or "changes" not in raw:
        raise PlanFileError(f"{path}: not a billplan saved plan")
    if raw.get("format_version") == PLAN_FORMAT_VERSION:  # another version: Saved says so
        _verify(raw, path)
    try:
        return Saved(raw, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: damaged saved plan ({exc})") from None


def staleness(saved: Saved, state: State, observed: Iterable[Observed]) -> list[str]:
    """What moved since the plan was made, one line per object; empty if it still holds.

    Two checks: billplan's own state must be exactly the one planned against (any apply,
    import, state rm or failed attempt since then changes which objects it owns), and every
    remote object the plan touches must still look as it did (by content, not by a serial).
    """
    plan = saved.plan
    remote = {(o.type, o.remote_id): o for o in observed}
    problems: list[str] = []
    state_moved = (saved.state_lineage, saved.state_serial) != (state.lineage, state.serial)
    if state_moved:
        problems.append(
            "billplan's state changed since the plan was made (another apply, an import, a "
            "state rm, or an earlier attempt at this plan)"
        )
    for change in plan.changes:
        if change.action not in WRITES and change.action != "adopt":
            continue
        entry = state.entries.get(change.address)
        if change.action == "create":
            if entry is not None and entry.remote_id not in (None, change.remote_id):
                problems.append(f"{change.address}: was created since the plan was made")
            elif entry is not None and entry.remote_id is None and state_moved:
                # Pending when the plan was made (state has not moved), its create was planned
                # knowing it: a lost create believed lost, sent again.
                problems.append(
                    f"{change.address}: a create of it was sent since the plan was made and "
                    "its outcome is unknown; a new plan will look for it"
                )
            elif any(o.owner == change.address for o in remote.values()):
                problems.append(f"{change.address}: the vendor holds it since the plan was made")
            continue
        if change.remote_id is None:
            continue
        now = remote.get((change.type, change.remote_id))
        if now is None:
            problems.append(f"{change.address}: {change.remote_id} no longer exists remotely")
        elif now.locked and not change.before_locked:
            problems.append(f"{change.address}: was invoiced since the plan was made")
        elif not same(now.attributes, change.before):
            problems.append(f"{change.address}: changed remotely since the plan was made")
        elif change.action == "adopt" and entry is not None and entry.remote_id is not None:
            problems.append(f"{change.address}: was adopted since the plan was made")
    return problems
