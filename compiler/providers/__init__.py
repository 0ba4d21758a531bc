"""Vendor clients. A new vendor is one module and one line in PROVIDERS."""

from __future__ import annotations

from compiler.providers.base import (
    ConfigurationError,
    OutcomeUnknown,
    Provider,
    ProviderError,
)
from compiler.providers.coperniq import Coperniq
from compiler.providers.kantata import Kantata
from compiler.providers.ruddr import Ruddr
from compiler.providers.wethod import Wethod

PROVIDERS: dict[str, type[Provider]] = {
    provider.vendor: provider for provider in (Ruddr, Kantata, Wethod, Coperniq)
}

__all__ = [
    "PROVIDERS",
    "ConfigurationError",
    "OutcomeUnknown",
    "Provider",
    "ProviderError",
]
