"""The exceptions a handler raises to answer a request: a vendor-path failure (answered in the
vendor's error body), an admin-surface failure, and the faults that cut a connection."""

from __future__ import annotations

from collections.abc import Sequence

from .wire import Json


class ApiError(Exception):
    """A vendor-path failure; the emulator turns it into the vendor's error body."""

    def __init__(self, status: int, message: str, errors: Sequence[Json] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = tuple(errors)


class AdminError(Exception):
    """An admin-surface failure, answered as {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ResponseLost(Exception):
    """Raised after a write committed when a fault says its response must never arrive.

    Over a real server the connection closes mid-response; `InProcessTransport` turns it into
    `httpx.ReadError`."""


class ConnectionDropped(ResponseLost):
    """Raised when a fault drops the connection before the request is served: nothing happened.

    Over a real server the connection closes with no answer; `InProcessTransport` turns it into
    `httpx.RemoteProtocolError`. Either way the client cannot tell it from a lost response."""
