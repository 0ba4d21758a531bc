"""`removed:` blocks: billplan stops managing addresses, and deletes nothing at the vendor.

A plan lists `removed: [{from: ADDRESS}]`, where ADDRESS is an address or a prefix of whole
path segments (`acme` covers `acme/milestones/kickoff`, never `acme-two/...`), like Terraform's
`removed` blocks with `destroy = false`. Every state entry at or under it that the plan no
longer defines is forgotten (reason `released`): dropped from state, its object kept at the
vendor as it is, invoiced or not, protected or not (nothing is deleted, so `protect:` does
not stand in the way).

Checks against the plan (validate runs them): an address the plan still defines cannot be
removed (billplan could not tell whether to manage it); two blocks may not share or nest a
`from`. Against state (plan runs it): a `from` that matches nothing in state is a warning that
names it, so that the block can be deleted once applied (Terraform's behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from compiler.diagnostics import Diagnostic
from compiler.load import Document
from compiler.moved import under
from compiler.state import State

SECTION = "removed"


@dataclass(frozen=True)
class Removal:
    """One `{from}` of the plan's `removed:` list, at position `index`."""

    prefix: str
    index: int

    def covers(self, address: str) -> bool:
        return under(address, self.prefix)


def removals_of(document: Document) -> list[Removal]:
    """The plan's removals. The schema has checked their shape; anything else is skipped."""
    raw = document.root.get(SECTION) or []
    found = []
    for index, block in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(block, dict) and isinstance(block.get("from"), str):
            found.append(Removal(block["from"].rstrip("/"), index))
    return found


def plan_problems(document: Document, addresses: Iterable[str]) -> list[Diagnostic]:
    """What is wrong with the `removed:` list against the plan's addresses (no state needed)."""
    removals = removals_of(document)
    if not removals:
        return []
    planned = sorted(set(addresses))
    problems: list[Diagnostic] = []
    seen: list[Removal] = []
    for removal in removals:
        clash = next(
            (r for r in seen if under(removal.prefix, r.prefix) or under(r.prefix, removal.prefix)),
            None,
        )
        if clash is not None:
            first = document.mark((SECTION, clash.index, "from"))
            problems.append(
                _at(
                    document,
                    removal,
                    f"{removal.prefix} overlaps {clash.prefix}, already removed at {first}; "
                    "keep one of the two",
                )
            )
        seen.append(removal)
        still = next((a for a in planned if removal.covers(a)), None)
        if still is not None:
            problems.append(
                _at(
                    document,
                    removal,
                    f"{removal.prefix} is still in the plan ({still}); billplan cannot both "
                    "manage it and stop managing it: delete the charge (or project) from the "
                    "plan, or this `removed:` block",
                )
            )
    return problems


def released(document: Document) -> tuple[str, ...]:
    """The prefixes the diff forgets instead of deleting."""
    return tuple(removal.prefix for removal in removals_of(document))


def unmatched(document: Document, state: State) -> list[str]:
    """A note for each removal that matches nothing in state: applied already, or never
    managed; either way the block can go."""
    notes = []
    for removal in removals_of(document):
        if not any(removal.covers(address) for address in state.entries):
            where = document.mark((SECTION, removal.index, "from"))
            notes.append(
                f"{where}: $.removed[{removal.index}].from: {removal.prefix} matches nothing "
                "billplan manages (already forgotten, or never managed): nothing to forget; "
                "the block may stay, or go once every state that needed it has applied it"
            )
    return notes


def _at(document: Document, removal: Removal, message: str) -> Diagnostic:
    return document.diagnostic((SECTION, removal.index, "from"), message)
