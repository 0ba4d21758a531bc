"""What a vendor declares about itself beyond talking HTTP: the shapes of its declarations.

A provider class states, as data, what a plan may write for its vendor and what the vendor can
do, so that the rest of billplan derives from the class instead of repeating its name:

- `PlanOptions`: the vendor's options block (`ruddr: {...}` in defaults, a project, a charge or
  a template), as the JSON Schema of each key. The plan schema's `<vendor>Options` definition
  and its per-vendor properties are generated from it (`compiler.schema_vendors`).
- `Capabilities`: what the vendor can bill beyond a dated line, which expansion checks
  (`compiler.vendors`).
- `Connection`: what a connection block (`providers: {NAME: {type: VENDOR, ...}}`) says about
  this vendor and the keys only it takes.

The token variable and the rate limit are declared beside these (`default_token_env`,
`rate_limit`). The base class gives the defaults: no options, no capabilities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The JSON Schema of one key, written as it appears in the plan schema file (descriptions,
# x-hint and enumDescriptions included, since editors show them).
KeySchema = Mapping[str, Any]


@dataclass(frozen=True)
class PlanOptions:
    """The vendor's options block: its keys, each with its JSON Schema, in the order editors
    list them. An empty block is still a block: `kantata: {}` is accepted."""

    keys: Mapping[str, KeySchema] = field(default_factory=dict)
    # The options definition's description; by default it lists the keys.
    description: str | None = None
    # One sentence naming the block wherever it may be written (a project, a charge ...); by
    # default "TITLE options: key, key." The place's own scope sentence follows it.
    summary: str | None = None

    def described(self, title: str) -> str:
        if self.description is not None:
            return self.description
        if not self.keys:
            return f"{title} options. There are none yet; write {{}} or leave it out."
        return self.summarised(title)

    def summarised(self, title: str) -> str:
        if self.summary is not None:
            return self.summary
        if not self.keys:
            return f"{title} options (none yet)."
        return f"{title} options: {', '.join(self.keys)}."


@dataclass(frozen=True)
class Capabilities:
    """What a vendor can bill beyond one dated line per item."""

    # A milestone may bill when a task completes in the vendor's tool (`on_completion`)
    # instead of on a date.
    bills_on_completion: bool = False
    # The option key that puts several items on one vendor object (Coperniq's `group_by`:
    # one invoice per project and date), or None when every item is an object of its own.
    grouping: str | None = None


@dataclass(frozen=True)
class Connection:
    """What a connection to this vendor is, for the `type` a plan picks, and the keys only
    this vendor's connections take (besides type, token_env, timeout and max_rps)."""

    # What billplan bills at this vendor, shown beside the vendor's name as the plan picks a
    # `type`, e.g. "Ruddr (invoice milestones and product items)."
    summary: str
    keys: Mapping[str, KeySchema] = field(default_factory=dict)
    # Of `keys`, those every connection to this vendor must give.
    required: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [key for key in self.required if key not in self.keys]
        if unknown:
            raise ValueError(f"required connection keys {unknown} are not among its keys")
