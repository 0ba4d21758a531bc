"""The request log: every vendor-path request an emulator answered, as GET /_sandbox/requests
shows it, with the moment it arrived (`received`, UTC in ISO 8601 to the microsecond: how
a client's requests were spaced, which a rate limit is about)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .wire import Json, record_json


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    body: Json = None
    lost: bool = False
    received: str = ""

    def as_json(self) -> dict[str, Json]:
        fields = ("method", "path", "query", "status", "body", "lost", "received")
        return record_json(self, fields)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
