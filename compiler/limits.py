"""How large a plan may expand: the limits set for a run, from outside the plan.

A plan arrives in a pull request and is compiled on CI, so whatever bounds its cost must not
be something the plan itself can raise. The one bound a large honest plan can reach, the
number of billing items, is set on the command line (--max-items) or in the environment
(BILLPLAN_MAX_ITEMS); the plan's budget for description templates grows with it. Bounds no
honest plan comes near are constants beside the code they guard (compiler/load.py,
compiler/template_limits.py, compiler/money.py, compiler/schedule.py); docs/language.md
lists them all under "Limits".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MAX_ITEMS_ENV = "BILLPLAN_MAX_ITEMS"
# Twice the 100,000-item portfolio of bench/bench_expand.py; about 5 s and 300 MB to expand.
DEFAULT_MAX_ITEMS = 200_000
# Template steps a plan may take for each item it may have, and at least TEMPLATE_STEPS_FLOOR
# whatever the item limit. A step is a microsecond or two, so the default allows a few seconds
# of template work in all; the 100,000-item portfolio of bench/ takes 2.3 steps an item,
# compiling its templates included.
TEMPLATE_STEPS_PER_ITEM = 10
TEMPLATE_STEPS_FLOOR = 1_000_000

RAISE_ITEMS = (
    f"if the plan really is that large, raise the limit with --max-items N (or {MAX_ITEMS_ENV}=N)"
)


class LimitError(ValueError):
    """A limit given on the command line or in the environment that is not a limit."""


@dataclass(frozen=True)
class Limits:
    max_items: int = DEFAULT_MAX_ITEMS

    @property
    def template_steps(self) -> int:
        """Steps all the plan's description templates may take together."""
        return max(self.max_items * TEMPLATE_STEPS_PER_ITEM, TEMPLATE_STEPS_FLOOR)

    @classmethod
    def given(
        cls, max_items: str | int | None = None, environ: Mapping[str, str] = os.environ
    ) -> Limits:
        """The limits for a run: --max-items if given, else BILLPLAN_MAX_ITEMS, else the
        default. LimitError for a value that is not a whole number of at least 1."""
        source = "--max-items"
        if max_items is None:
            max_items = environ.get(MAX_ITEMS_ENV) or None
            source = MAX_ITEMS_ENV
        if max_items is None:
            return cls()
        try:
            value = int(str(max_items).replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise LimitError(f"{source} must be a whole number of at least 1, got {max_items!r}")
        return cls(max_items=value)
