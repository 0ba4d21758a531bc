"""A broken policy rule: the value a plan carries when it breaks a rule a firm set (compiler.
policy judges; render shows it; planfile saves it; apply refuses a plan that holds one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Breach:
    """One rule broken, in words a reviewer reads: which rule, by how much, where it was set,
    what to do, and the addresses that break it."""

    rule: str  # the rule's key in `policy:`, e.g. largest_change
    title: str  # the rule in words, e.g. "largest change per currency"
    message: str  # by how much, e.g. "USD 125,000.00 > 100,000.00 by 25,000.00"
    source: str  # where the rule was set: FILE:LINE:COL
    fix: str  # what to do about it
    addresses: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "message": self.message,
            "source": self.source,
            "fix": self.fix,
            "addresses": list(self.addresses),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Breach:
        """A breach as a saved plan holds it; TypeError or KeyError when it is not one."""
        fields = {key: raw[key] for key in ("rule", "title", "message", "source", "fix")}
        addresses = raw.get("addresses") or []
        if not all(isinstance(v, str) for v in [*fields.values(), *addresses]):
            raise TypeError("a policy breach holds text only")
        return cls(**fields, addresses=tuple(addresses))
