"""What expansion knows of vendors: their names and which can bill a milestone on completion.

Parsing reads these to resolve per-vendor option blocks and to refuse options or
`on_completion` a project's vendor cannot take.
"""

from __future__ import annotations

PROVIDER_TYPES = ("ruddr", "kantata", "wethod", "coperniq")
# Vendors that can bill a milestone when a task completes.
COMPLETION_PROVIDERS = frozenset({"kantata"})
SETTING_KEYS = ("currency", "rounding", "holidays", "horizon", *PROVIDER_TYPES)
