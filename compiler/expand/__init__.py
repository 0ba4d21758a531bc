"""Expansion: a schema-valid Document becomes dated, priced Items, checking meaning as it goes.

Everything the JSON Schema cannot say is checked here (real dates, end after start, shares
summing to 100%, templates that render, caps, provider capabilities), and every problem is
reported with the place it was written, all at once. So are the bounds that keep a hostile
plan cheap to compile (amounts, dates, the number of items, template work): past the item
limit or the template budget, expansion stops at the charge that crossed it.

Vendor names and capabilities come from the provider registry (compiler/vendors.py).

In two steps per charge: parse.py reads the YAML into typed, located specs (spec.py), then
recurring.py, milestone.py and product.py compute its occurrences from the spec alone;
expansion.py walks the plan and describes occurrences into Items.
"""

from compiler.expand.expansion import Expansion, Halves, expand, expand_part, item_order

__all__ = ["Expansion", "Halves", "expand", "expand_part", "item_order"]
