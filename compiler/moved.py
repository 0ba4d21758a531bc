"""`moved:` blocks: renaming addresses without replacing the objects they own.

A plan lists `moved: [{from: OLD, to: NEW}]`. Before the diff, every state entry at OLD, or
under it on whole path segments (`acme` covers `acme/milestones/kickoff`, never
`acme-two/...`), is renamed to the same path under NEW. The diff then compares the plan's NEW
addresses with the objects OLD owned: an unchanged object stays as it is (a vendor that
carries billplan's address tag gets that tag updated), instead of a delete and a create.

Checks against the plan (validate runs them): `to` must be in the plan and `from` no longer;
two moves may not share (or nest) a `from` or a `to`; no chains or cycles. Checks against
state (plan and apply run them): NEW must not already own an object. A `from` that is not in
state is a move already made: nothing happens, and the block can stay in the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from compiler.diagnostics import Diagnostic
from compiler.load import Document
from compiler.state import State

if TYPE_CHECKING:
    from compiler.model.change import Plan

SECTION = "moved"


@dataclass(frozen=True)
class Move:
    """One `{from, to}` of the plan's `moved:` list, at position `index`."""

    source: str
    target: str
    index: int

    def covers(self, address: str) -> bool:
        return under(address, self.source)

    def rename(self, address: str) -> str:
        return self.target + address[len(self.source) :]


def under(address: str, prefix: str) -> bool:
    """Whether address is prefix or lies below it, on whole path segments."""
    return address == prefix or address.startswith(prefix + "/")


def moves_of(document: Document) -> list[Move]:
    """The plan's moves. The schema has checked their shape; anything else is skipped."""
    raw = document.root.get(SECTION) or []
    moves = []
    for index, block in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(block, dict):
            source, target = block.get("from"), block.get("to")
            if isinstance(source, str) and isinstance(target, str):
                moves.append(Move(source.rstrip("/"), target.rstrip("/"), index))
    return moves


def _at(document: Document, move: Move, key: str, message: str) -> Diagnostic:
    return document.diagnostic((SECTION, move.index, key), message)


def plan_problems(document: Document, addresses: Iterable[str]) -> list[Diagnostic]:
    """What is wrong with the `moved:` list against the plan's addresses (no state needed)."""
    moves = moves_of(document)
    if not moves:
        return []
    planned = sorted(set(addresses))
    problems: list[Diagnostic] = []
    in_chain: set[int] = set()
    by_source = {m.source: m for m in moves}
    for move in moves:
        if move.source == move.target:
            problems.append(
                _at(document, move, "to", "`from` and `to` are the same address; remove this move")
            )
            in_chain.add(move.index)
            continue
        path = [move]
        while (following := by_source.get(path[-1].target)) is not None:
            if following in path:
                break
            path.append(following)
        if len(path) == 1:
            continue
        in_chain.update(m.index for m in path)
        names = " -> ".join([path[0].source, *(m.target for m in path)])
        if path[-1].target == move.source:
            message = f"moves form a cycle ({names}); an address can move only once"
        else:
            message = (
                f"moves form a chain ({names}); write one move from {path[0].source} "
                f"to {path[-1].target}"
            )
        if move is min(path, key=lambda m: m.index):
            problems.append(_at(document, move, "to", message))
    for key, name in (("from", "source"), ("to", "target")):
        seen: list[Move] = []
        for move in moves:
            mine = getattr(move, name)
            clash = next(
                (m for m in seen if under(mine, getattr(m, name)) or under(getattr(m, name), mine)),
                None,
            )
            if clash is not None:
                first = document.mark((SECTION, clash.index, key))
                same = "the same" if getattr(clash, name) == mine else "an overlapping"
                verb = "moves from" if key == "from" else "moves to"
                problems.append(
                    _at(
                        document,
                        move,
                        key,
                        (
                            f"{same} address {verb} {getattr(clash, name)} already at {first}; "
                            "two moves cannot share an address: keep one"
                        ),
                    )
                )
            seen.append(move)
    for move in moves:
        if move.index in in_chain:
            continue
        if not any(under(a, move.target) for a in planned):
            problems.append(
                _at(
                    document,
                    move,
                    "to",
                    (
                        f"{move.target} is not an address of the plan; a move renames an "
                        "address to one the plan defines (`billplan render` lists them)"
                    ),
                )
            )
        still = next((a for a in planned if under(a, move.source)), None)
        if still is not None:
            problems.append(
                _at(
                    document,
                    move,
                    "from",
                    (
                        f"{move.source} is still in the plan ({still}); a moved address must leave "
                        "the plan, or billplan cannot tell which of the two owns the object"
                    ),
                )
            )
    return problems


class MoveConflict(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(map(str, diagnostics)))


def renames(document: Document, state: State) -> dict[str, str]:
    """State addresses the plan's moves rename: new address -> old. Raises MoveConflict when
    a new address already owns another object in state."""
    out: dict[str, str] = {}
    problems: list[Diagnostic] = []
    moves = moves_of(document)
    if not moves:
        return out  # the usual case: nothing to look for among every address in state
    for address in sorted(state.entries):
        move = next((m for m in moves if m.covers(address)), None)
        if move is None:
            continue
        new = move.rename(address)
        taken = state.entries.get(new)
        if taken is not None:
            owns = taken.remote_id or "a create whose outcome is unknown"
            problems.append(
                _at(
                    document,
                    move,
                    "to",
                    (
                        f"{new} already owns {owns} in state, so {address} cannot move "
                        f"there; remove the move, or `billplan state rm {new}` first if that "
                        "object is not wanted"
                    ),
                )
            )
            continue
        out[new] = address
    if problems:
        raise MoveConflict(problems)
    return out


def renamed(state: State, moves: Mapping[str, str]) -> State:
    """A copy of state with each old address's entry under its new address."""
    entries = dict(state.entries)
    for new, old in moves.items():
        entry = entries.pop(old)
        entries[new] = replace(entry, address=new, project=new.split("/", 1)[0])
    return State(lineage=state.lineage, serial=state.serial, entries=entries)


def commit(state: State, moves: Mapping[str, str]) -> list[str]:
    """Rename in place, as apply does before any write; problems if state no longer fits."""
    problems = []
    for new, old in sorted(moves.items()):
        entry = state.entries.get(old)
        if entry is None:
            problems.append(f"{old}: no longer in state, so it cannot move to {new}")
        elif new in state.entries:
            problems.append(f"{new}: owns an object of its own since the plan was made")
    if not problems:
        state.entries = renamed(state, moves).entries
    return problems


def annotate(plan: Plan, moves: Mapping[str, str], document: Document) -> Plan:
    """Mark the changes of moved addresses, and say in a note what each move renames."""
    if not moves:
        return plan
    changes = []
    for change in plan.changes:
        old = moves.get(change.address)
        if old is not None:
            why = f"moved from {old} (`moved:` in the plan)"
            detail = f"{why}; {change.detail}" if change.detail else why
            reason = "moved" if change.reason == "unchanged" else change.reason
            change = replace(change, moved_from=old, detail=detail, reason=reason)
        changes.append(change)
    notes = []
    for move in moves_of(document):
        count = sum(1 for old in moves.values() if move.covers(old))
        if count:
            notes.append(
                f"moved {move.source} to {move.target}: {count} address"
                f"{'es' if count != 1 else ''} renamed in state, the objects kept as they are"
            )
    return replace(plan, changes=changes, notes=notes + plan.notes, moved=dict(moves))


def unmoved(plan: Plan) -> Plan:
    """The plan as apply_plan runs it once commit() has renamed state: plain changes at the
    new addresses (moved_from means a takeover to apply_plan)."""
    changes = [
        replace(c, moved_from=None) if plan.moved.get(c.address) == c.moved_from else c
        for c in plan.changes
    ]
    return replace(plan, changes=changes)
