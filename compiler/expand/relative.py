"""Milestone dates written after another milestone of the same project, resolved per project.

`date: {after: design, plus: 30 days}` dates a milestone (or a split part) from another one:
a milestone's key, or CHARGE/PART for a split part. Expansion reads a project's charges in
order; a milestone whose date waits on another is held here, and once the project's charges
are all read, the held ones are dated in the order they depend on each other. Unknown keys,
keys with no date and cycles are errors at the `after` that names them. A key whose own
milestone failed to read is already reported: what depends on it is dropped quietly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date

from compiler.expand.spec import (
    After,
    ChargeSpec,
    Invalid,
    MilestoneSpec,
    SplitPart,
    SplitSpec,
    When,
)
from compiler.load import PathKey
from compiler.schedule import ScheduleError

Report = Callable[[PathKey, str], None]


class ProjectDates:
    """The project's milestone dates by KEY or CHARGE/PART, and the milestones still waiting.

    `written` maps each milestone key written in the project to its split part keys (None
    for a milestone that is not split), so that a key naming nothing can be told from one
    naming a milestone that failed to read.
    """

    def __init__(self, project: str, written: Mapping[str, tuple[str, ...] | None]) -> None:
        self.project = project
        self.written = written
        self.dated: dict[str, date] = {}
        self.on_completion: set[str] = set()
        self.waiting: list[ChargeSpec] = []
        self.after: dict[str, After] = {}  # date key -> what it waits on
        self.holidays: dict[str, frozenset[date]] = {}

    def hold(self, spec: ChargeSpec) -> bool:
        """Record a milestone's dates; True when some wait on another milestone (held)."""
        if isinstance(spec, MilestoneSpec):
            whens = {spec.charge.key: spec.when}
        elif isinstance(spec, SplitSpec):
            whens = {f"{spec.charge.key}/{part.key}": part.when for part in spec.parts}
        else:
            return False
        held = False
        for key, when in whens.items():
            if when.after is not None:
                self.after[key] = when.after
                self.holidays[key] = spec.charge.settings.holidays
                held = True
            elif when.date is not None:
                self.dated[key] = when.date
            else:
                self.on_completion.add(key)
        if held:
            self.waiting.append(spec)
        return held

    def resolved(self, report: Report) -> Iterator[ChargeSpec]:
        """The held milestones with their dates filled in, each problem reported once."""
        failed: set[str] = set()
        for spec in self.waiting:
            try:
                yield self._dated_spec(spec, failed, report)
            except _Dropped:
                continue
            except Invalid as problem:
                report(problem.path, problem.message)

    def _dated_spec(self, spec: ChargeSpec, failed: set[str], report: Report) -> ChargeSpec:
        if isinstance(spec, MilestoneSpec):
            when = self._when(spec.charge.key, spec.when, failed, report)
            return replace(spec, when=when)
        assert isinstance(spec, SplitSpec)
        parts: list[SplitPart] = []
        for part in spec.parts:
            key = f"{spec.charge.key}/{part.key}"
            parts.append(replace(part, when=self._when(key, part.when, failed, report)))
        return replace(spec, parts=tuple(parts))

    def _when(self, key: str, when: When, failed: set[str], report: Report) -> When:
        if when.after is None:
            return when
        return When(self._date(key, [], failed, report), None)

    def _date(self, key: str, chain: list[str], failed: set[str], report: Report) -> date:
        """The date of key, dating what it waits on first; chain is the keys waiting on it."""
        if key in self.dated:
            return self.dated[key]
        if key in failed:
            raise _Dropped()
        after = self.after[key]
        if after.key in chain or after.key == key:
            start = chain.index(after.key) if after.key in chain else len(chain)
            cycle = [*chain[start:], key, after.key]
            failed.update(cycle)
            # Reported once, at the `after` of the milestone the cycle was entered from.
            first = cycle[0]
            report(
                self.after[first].key_path,
                f"these milestone dates wait on each other in a cycle: {' -> '.join(cycle)}; "
                "give one of them a calendar date",
            )
            raise _Dropped()
        problem = self._unusable(after)
        if problem is not None:
            failed.add(key)
            raise Invalid(after.key_path, problem)
        if after.key not in self.dated and after.key not in self.after:
            failed.add(key)  # it failed to read: its own error says why
            raise _Dropped()
        try:
            base = self._date(after.key, [*chain, key], failed, report)
        except _Dropped:
            failed.add(key)
            raise
        try:
            self.dated[key] = after.plus.after(base, self.holidays[key])
        except ScheduleError as exc:
            failed.add(key)
            raise Invalid(after.plus_path, str(exc)) from None
        return self.dated[key]

    def _unusable(self, after: After) -> str | None:
        """Why `after` names no date of this project, or None when it names one."""
        charge, _, part = after.key.partition("/")
        parts = self.written.get(charge, ())
        if charge not in self.written or (part and (parts is None or part not in parts)):
            return (
                f"`after: {after.key}` names no milestone of project {self.project!r}; "
                f"name one of: {', '.join(self._keys())} (a split part is CHARGE/PART)"
            )
        if not part and parts is not None:
            shown = ", ".join(f"{charge}/{p}" for p in parts)
            return (
                f"`after: {after.key}` names a split milestone, which has a date per part; "
                f"name one of its parts: {shown}"
            )
        if after.key in self.on_completion:
            return (
                f"`after: {after.key}` names a milestone billed when a task completes, which "
                "has no date; name a dated milestone or write a calendar date"
            )
        return None

    def _keys(self) -> list[str]:
        keys: list[str] = []
        for charge, parts in self.written.items():
            keys.extend([charge] if parts is None else [f"{charge}/{p}" for p in parts])
        return keys


class _Dropped(Exception):
    """A held milestone that cannot be dated for a reason already reported."""
