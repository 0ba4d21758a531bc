"""What the plan keeps from billplan's own hands: `protect:` and `ignore:`.

Both are written like a setting, under `defaults`, on a project, on a template or on a charge,
and the nearest wins (charge, then the template it uses, then the project, then `defaults`).

- `protect: true`: billplan never deletes the charge's objects. The diff refuses any delete of
  one (the plan fails with EXIT_PROTECTED) and apply records the mark in state, so that the
  protection outlives the charge: removing the charge and its `protect:` key in one commit
  still refuses. `protect: false`, written, clears the mark on the next apply; a plan that
  says nothing leaves state's mark as it is.
- `ignore: [description, date]`: a person's edit of those fields at the vendor stays. The
  diff neither restores it nor calls it drift, and says where the field differs.

Which fields may be ignored is IGNORABLE: the text and the billing date, which people edit
at the vendor for reasons of their own (a wording the customer asked for, a date moved by a
day). Money (amount, quantity, rate) may not be ignored: billplan's billing impact and every
total it shows would then be wrong, and a changed price must be billed on purpose (a new
charge or credit), not kept silently.

Each provider says which of its attributes hold each ignorable field (Provider.plan_fields):
Ruddr's `name` or `description`, Kantata's `title`, and so on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from compiler.load import Document
from compiler.model import SECTION, Item, Resource
from compiler.model.change import Plan

# The plan's names for fields `ignore:` may list (the schema's enum says the same).
IGNORABLE: tuple[str, ...] = ("description", "date")


@dataclass(frozen=True)
class Guard:
    """One charge's protect and ignore, resolved: protect None when no level says."""

    protect: bool | None = None
    ignore: frozenset[str] = frozenset()


class Fields(Protocol):
    def plan_fields(self) -> Mapping[str, str]: ...


def guards(document: Document) -> dict[str, Guard]:
    """Each charge's guard, by its address (PROJECT/SECTION/CHARGE); charges with none are
    left out. The schema has checked the shapes; anything else is skipped here."""
    root = document.root
    defaults = _mapping(root.get("defaults"))
    templates = _mapping(root.get("templates"))
    found: dict[str, Guard] = {}
    for project_key, project in _mapping(root.get("projects")).items():
        project = _mapping(project)
        for section in SECTION.values():
            for charge_key, charge in _mapping(project.get(section)).items():
                charge = _mapping(charge)
                template = _mapping(templates.get(charge.get("use")))
                levels = (charge, template, project, defaults)
                protect = _nearest(levels, "protect", bool)
                ignore = _nearest(levels, "ignore", list) or []
                guard = Guard(protect, frozenset(f for f in ignore if f in IGNORABLE))
                if guard != Guard():
                    found[f"{project_key}/{section}/{charge_key}"] = guard
    return found


def guarded(
    resources: Iterable[Resource], found: Mapping[str, Guard], providers: Mapping[str, Fields]
) -> list[Resource]:
    """Resources with the guards of the charges they bill. An object billing several charges
    (a Coperniq invoice grouped by date) is protected when any of them is, and ignores a field
    only where every one of them does."""
    out = []
    for resource in resources:
        guards_of = [found.get(charge_of(item), Guard()) for item in resource.items]
        if not any(g != Guard() for g in guards_of):
            out.append(resource)
            continue
        protect: bool | None = None
        if any(g.protect for g in guards_of):
            protect = True
        elif guards_of and all(g.protect is False for g in guards_of):
            protect = False
        ignore = frozenset.intersection(*(g.ignore for g in guards_of))
        names = providers[resource.provider].plan_fields()
        ignored = {attribute: name for attribute, name in names.items() if name in ignore}
        out.append(replace(resource, protected=protect, ignored=ignored))
    return out


def charge_of(item: Item) -> str:
    """The charge's address, the first three segments of its items' addresses."""
    return f"{item.project}/{SECTION[item.kind]}/{item.charge}"


def _nearest(levels: Iterable[Mapping[str, Any]], key: str, kind: type) -> Any:
    for level in levels:
        value = level.get(key)
        if isinstance(value, kind):
            return value
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def ignored_note(plan: Plan) -> list[str]:
    """A note when objects the plan leaves alone differ from it only in ignored fields: the
    plan shows no change for them, and a reviewer should still know the vendor's text or
    date is not the plan's (`--show-unchanged` lists each)."""
    quiet = [c for c in plan.changes if c.label == "no-op" and c.ignored]
    if not quiet:
        return []
    fields = sorted({name for c in quiet for name in c.ignored})
    objects = "object differs" if len(quiet) == 1 else "objects differ"
    return [
        f"{len(quiet)} unchanged {objects} from the plan only in ignored fields "
        f"({', '.join(fields)}): billplan leaves the vendor's values; --show-unchanged lists "
        "each"
    ]
