"""`--target` and `--exclude`: a partial plan, limited to address prefixes.

A prefix matches on whole path segments: `acme` matches `acme` and `acme/milestones/kickoff`,
never `acme-two/...`. With targets, a change is in the plan only if its address is under one
of them; with excludes, only if it is under none. A partial plan says so in its notes, and a
saved one records its prefixes, so `apply FILE` applies only what was saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from compiler.model.change import Plan
from compiler.moved import under


class TargetError(Exception):
    pass


@dataclass(frozen=True)
class Targets:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Sequence[str] | None, exclude: Sequence[str] | None) -> Targets:
        def clean(prefixes: Sequence[str] | None, flag: str) -> tuple[str, ...]:
            out = []
            for prefix in prefixes or ():
                text = prefix.strip().strip("/")
                if not text or any(not part for part in text.split("/")):
                    raise TargetError(
                        f"{flag} {prefix!r} is not an address prefix; write one like acme or "
                        "acme/milestones/kickoff"
                    )
                out.append(text)
            return tuple(dict.fromkeys(out))

        return cls(clean(include, "--target"), clean(exclude, "--exclude"))

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def matches(self, address: str) -> bool:
        if self.include and not any(under(address, p) for p in self.include):
            return False
        return not any(under(address, p) for p in self.exclude)

    def projects(self) -> set[str] | None:
        """The plan's project keys the targets reach, or None when every project may be."""
        if not self.include:
            return None
        return {prefix.split("/", 1)[0] for prefix in self.include}

    def check(self, addresses: Iterable[str]) -> None:
        """Every prefix must match an address of the plan or of state: a typo would
        otherwise make a quiet, empty plan."""
        known = set(addresses)
        for flag, prefixes in (("--target", self.include), ("--exclude", self.exclude)):
            for prefix in prefixes:
                if not any(under(address, prefix) for address in known):
                    raise TargetError(
                        f"{flag} {prefix} matches no address of the plan or of billplan's "
                        "state; `billplan render` and `billplan state list` show them"
                    )

    def note(self) -> str:
        parts = []
        if self.include:
            parts.append(f"only {', '.join(self.include)} (--target)")
        if self.exclude:
            parts.append(f"without {', '.join(self.exclude)} (--exclude)")
        return (
            f"partial plan: {' and '.join(parts)}. Changes elsewhere are left out and will not "
            "be applied; run a plan without --target/--exclude to see everything."
        )

    def narrow(self, plan: Plan) -> Plan:
        """The plan's changes under the targets; unmanaged objects only of whole projects in
        scope."""
        if not self:
            return plan
        return replace(
            plan,
            changes=[c for c in plan.changes if self.matches(c.address)],
            unmanaged=[u for u in plan.unmanaged if u.project and self.matches(u.project)],
            moved={new: old for new, old in plan.moved.items() if self.matches(new)},
            protection={a: mark for a, mark in plan.protection.items() if self.matches(a)},
            notes=[self.note(), *plan.notes],
            targets=self.include,
            excludes=self.exclude,
        )
