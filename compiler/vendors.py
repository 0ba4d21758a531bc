"""The vendors billplan knows, as the stages before the network see them: their names and
capabilities, read from the provider registry (`compiler.providers.PROVIDERS`).

Expansion asks here instead of keeping its own list, so a vendor is declared once, on its
provider class. The registry is read on every call, not copied at import: importing it pulls
in the vendor clients and httpx, which `billplan --help` need not pay for, and a vendor
registered later (a test's) is seen.
"""

from __future__ import annotations


def names() -> tuple[str, ...]:
    """Every vendor type a connection may name, in registry order: ruddr, kantata, ..."""
    from compiler.providers import PROVIDERS

    return tuple(PROVIDERS)


def completion_billers() -> tuple[str, ...]:
    """The vendors that can bill a milestone when a task completes (`on_completion`)."""
    from compiler.providers import PROVIDERS

    return tuple(
        vendor
        for vendor, provider in PROVIDERS.items()
        if provider.capabilities.bills_on_completion
    )
