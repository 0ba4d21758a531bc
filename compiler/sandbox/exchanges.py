"""The exchange log: when BILLPLAN_SANDBOX_EXCHANGE_LOG names a file, every vendor-API exchange
the sandbox serves (never an `/_sandbox/` admin route) is appended to it as one JSON line, for
the contract tests that check each request and response against the vendor's published spec.

`ExchangeLog` is ASGI middleware around one emulator's mount, so the in-process transport and
`billplan sandbox serve` log alike. Each line is one `write` to a file opened with O_APPEND,
so any number of processes may share the file. Credentials never reach it: the values of
`Authorization` and `x-api-key` are redacted (the scheme word, `Bearer`, is kept)."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .base import ADMIN_PREFIX, FAULT_SCOPE_KEY

EXCHANGE_LOG_ENV = "BILLPLAN_SANDBOX_EXCHANGE_LOG"
SECRET_HEADERS = frozenset({"authorization", "x-api-key"})
REDACTED = "[redacted]"


class ExchangeLog:
    """Logs each vendor-API exchange of the emulator `app`, mounted for `vendor`, whose API
    lives at `api_root` below the mount. Paths in the log are relative to that root, as in the
    vendor's published spec."""

    def __init__(self, app: ASGIApp, vendor: str, api_root: str) -> None:
        self.app = app
        self.vendor = vendor
        self.api_root = api_root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = os.environ.get(EXCHANGE_LOG_ENV)
        path = _mount_path(scope) if scope["type"] == "http" else ""
        if not target or scope["type"] != "http" or _is_admin(path):
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, self.vendor, self.api_root, path)

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.request_body.append(message.get("body", b""))
                exchange.request_complete = not message.get("more_body", False)
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                exchange.response_body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    # Written before the client can read the whole answer, so a test that has
                    # its response finds the line already there.
                    exchange.write(target, answered=True)
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except BaseException:
            # A dropped connection or a lost response (sandbox faults), or a request the client
            # gave up on: the request went out, the answer never arrived.
            exchange.write(target, answered=False)
            raise
        exchange.write(target, answered=False)  # an app that never finished its answer


class _Exchange:
    def __init__(self, scope: Scope, vendor: str, api_root: str, path: str) -> None:
        self.scope = scope
        self.vendor = vendor
        under_root = path == api_root or path.startswith(api_root.rstrip("/") + "/")
        self.path = (path[len(api_root) :] or "/") if under_root else path
        self.under_api_root = under_root
        self.request_body: list[bytes] = []
        # False when the client went away before sending its whole body (a killed process).
        self.request_complete = False
        self.status: int | None = None
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.response_body: list[bytes] = []
        self.written = False

    def write(self, target: str, *, answered: bool) -> None:
        if self.written:
            return
        self.written = True
        scope = self.scope
        entry: dict[str, Any] = {
            "vendor": self.vendor,
            "method": scope["method"],
            "path": self.path,
            "under_api_root": self.under_api_root,
            "query": parse_qsl(scope.get("query_string", b"").decode("latin-1"), True),
            "request_headers": _headers(scope.get("headers", [])),
            "request_body": _text(self.request_body),
            "request_complete": self.request_complete,
            "status": self.status if answered else None,
            "response_headers": _headers(self.response_headers) if answered else [],
            "response_body": _text(self.response_body) if answered else None,
            # The status an armed fault answered with instead of serving the request: the test
            # made it up, the emulator did not choose it.
            "fault_status": scope.get(FAULT_SCOPE_KEY),
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


def _mount_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def _headers(raw: list[tuple[bytes, bytes]]) -> list[list[str]]:
    pairs = []
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1").lower()
        value = value_bytes.decode("latin-1")
        if name in SECRET_HEADERS:
            scheme, space, _secret = value.partition(" ")
            value = f"{scheme} {REDACTED}" if space else REDACTED
        pairs.append([name, value])
    return pairs


def _text(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", errors="replace")
