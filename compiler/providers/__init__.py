"""Vendor clients. A new vendor is one module and one line in PROVIDERS."""

from __future__ import annotations

from compiler.providers.base import (
    ConfigurationError,
    Observed,
    OutcomeUnknown,
    Provider,
    ProviderError,
    Resource,
)
from compiler.providers.ruddr import Ruddr

PROVIDERS: dict[str, type[Provider]] = {
    Ruddr.vendor: Ruddr,
}

__all__ = [
    "PROVIDERS",
    "ConfigurationError",
    "Observed",
    "OutcomeUnknown",
    "Provider",
    "ProviderError",
    "Resource",
]
