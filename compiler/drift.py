"""Drift: what changed at a vendor outside billplan, judged once for every stage that asks.

`of` compares one managed object as billplan last wrote it (its state entry) with what the
vendor holds now. The diff uses it to tell a restore of drift from an update the plan asks for;
`refresh_only` uses it for `plan --refresh-only`, a plan mode that shows the vendors' changes
and nothing else: the plan's own wishes play no part, and it is never applied.

compiler.render.drift shows a refresh-only plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from compiler.model import Observed
from compiler.model.change import Change, FieldChange, Plan, Side
from compiler.model.fields import field_changes
from compiler.state import Entry, State
from compiler.targets import Targets


def of(entry: Entry, now: Observed) -> tuple[FieldChange, ...]:
    """The fields the vendor holds otherwise than billplan last wrote them (before: what
    billplan wrote; after: what the vendor holds); empty when nothing drifted."""
    return field_changes(entry.attributes, now.attributes)


def refresh_only(
    state: State, observed: Iterable[Observed], targets: Targets | None = None
) -> Plan:
    """The refresh-only plan: one no-op change per managed object compared (a create whose
    outcome is unknown is not compared: it is listed as pending), its reason `drift` when the
    vendor changed it, `gone` when the vendor no longer holds it, `unchanged` otherwise.
    Each change runs from what billplan last wrote (before) to what the vendor holds (after)."""
    remote = {(o.type, o.remote_id): o for o in observed}
    targets = targets or Targets()
    changes: list[Change] = []
    pending: list[str] = []
    for address, entry in sorted(state.entries.items()):
        if not targets.matches(address):
            continue
        if entry.remote_id is None:
            pending.append(address)
            continue
        changes.append(_against(entry, remote.get((entry.type, entry.remote_id))))
    return Plan(changes=changes, mode="refresh-only", pending=pending)


def _against(entry: Entry, now: Observed | None) -> Change:
    # A refresh-only plan writes nothing, neither to the vendors nor to state: a no-op.
    common = Change.to(
        entry,
        "no-op",
        "gone",
        remote_id=entry.remote_id,
        before=entry.attributes,
        after=None,
        detail="deleted outside billplan",
        before_side=Side(entry.date, entry.amount, entry.currency),
    )
    if now is None:
        return common
    fields = of(entry, now)
    return replace(
        common,
        after=now.attributes,
        fields=fields,
        reason="drift" if fields else "unchanged",
        detail="changed outside billplan" if fields else "",
        after_side=Side(now.date, now.amount, entry.currency),
        before_locked=now.locked,  # invoiced at the vendor now
    )
