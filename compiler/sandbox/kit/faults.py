"""Fault injection: what a test arms through POST /_sandbox/faults (an error status, a delay, a
dropped connection, a lost or late response, a row deleted by a person while a list is read)
and the queue of armed faults a vendor request takes from."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .admin import admin_object, refuse_unknown
from .errors import AdminError
from .wire import Json, is_whole, record_json

# Set in a request's ASGI scope when an armed fault answers it with an error status, so the
# exchange log (exchanges.py) can tell a made-up answer from one the emulator chose.
FAULT_SCOPE_KEY = "billplan.sandbox.fault_status"
# In a `then_delete` path, the id of the first row of the list page just served.
FIRST_ROW = "{first}"
# What the admin surface shows of a fault, in order.
SHOWN_FIELDS = (
    "method",
    "path",
    "status",
    "message",
    "delay_ms",
    "lose_response",
    "retry_after",
    "disconnect",
    "delay_after_ms",
    "then_delete",
)


@dataclass(frozen=True)
class Fault:
    """What to do to a matching vendor request: answer `status` instead of serving it (with a
    `Retry-After` of `retry_after` seconds when given), wait `delay_ms` first, drop the
    connection without serving it (`disconnect`), serve it and then drop the response
    (`lose_response`), or serve it and wait `delay_after_ms` before answering (a server that
    hangs after committing). `then_delete`, an admin path such as "/invoices/17", deletes that
    object, as a person in the vendor's UI would, once the request is served and before its
    answer goes out (`{first}` in it: the first row of the list page served): with `after`,
    a row deleted on an earlier page while a list is paged.
    `after` lets that many matching requests through untouched first.
    `method` is one method, several separated by commas ("POST,PATCH,PUT,DELETE"), or "*"."""

    method: str
    path: str
    status: int | None = None
    message: str | None = None
    delay_ms: int = 0
    lose_response: bool = False
    retry_after: int | None = None
    disconnect: bool = False
    delay_after_ms: int = 0
    then_delete: str | None = None
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        prefix = self.path.rstrip("/")
        on_path = path == prefix or path.startswith(prefix + "/") or not prefix
        return on_path and (self.method == "*" or method in self.method.split(","))

    @property
    def served_late(self) -> bool:
        """Whether the request is served but its answer is held back, lost, or goes out only
        after something else happened."""
        return self.lose_response or self.delay_after_ms > 0 or self.then_delete is not None

    def as_json(self) -> dict[str, Json]:
        # `after` is not shown here: an armed fault shows how many requests still pass.
        return record_json(self, SHOWN_FIELDS)


def fault_from_json(body: Json, default_path: str) -> tuple[Fault, int]:
    """Read a POST /_sandbox/faults body into a fault and how many requests it applies to."""
    body = admin_object(body)
    refuse_unknown(
        body,
        {"method", "path", "status", "message", "delay_ms", "lose_response", "times",
         "retry_after", "disconnect", "delay_after_ms", "then_delete", "after"},
    )  # fmt: skip
    method = body.get("method", "*")
    path = body.get("path", default_path)
    status = body.get("status")
    message = body.get("message")
    delay_ms = body.get("delay_ms", 0)
    lose = body.get("lose_response", False)
    times = body.get("times", 1)
    retry_after = body.get("retry_after")
    disconnect = body.get("disconnect", False)
    delay_after_ms = body.get("delay_after_ms", 0)
    then_delete = body.get("then_delete")
    after = body.get("after", 0)
    if not (isinstance(method, str) and method):
        raise AdminError(400, 'method must be an HTTP method such as "POST", or "*"')
    if not (isinstance(path, str) and path.startswith("/")):
        raise AdminError(400, 'path must be a vendor path prefix such as "/api/workspace/..."')
    if status is not None and not (is_whole(status) and 400 <= status <= 599):
        raise AdminError(400, "status must be an error status from 400 to 599")
    if message is not None and not isinstance(message, str):
        raise AdminError(400, "message must be a string")
    if not (is_whole(delay_ms) and delay_ms >= 0):
        raise AdminError(400, "delay_ms must be a whole number of milliseconds")
    if not isinstance(lose, bool):
        raise AdminError(400, "lose_response must be true or false")
    if retry_after is not None and not (is_whole(retry_after) and retry_after >= 0):
        raise AdminError(400, "retry_after must be a whole number of seconds")
    if retry_after is not None and status is None:
        raise AdminError(400, "retry_after goes with an error status (429, 503)")
    if not isinstance(disconnect, bool):
        raise AdminError(400, "disconnect must be true or false")
    if not (is_whole(delay_after_ms) and delay_after_ms >= 0):
        raise AdminError(400, "delay_after_ms must be a whole number of milliseconds")
    if then_delete is not None and not (
        isinstance(then_delete, str) and then_delete.startswith("/") and "?" not in then_delete
    ):
        raise AdminError(
            400, 'then_delete must be an admin path of one object, such as "/invoices/17"'
        )
    if then_delete is not None and (status is not None or disconnect):
        raise AdminError(
            400, "then_delete goes with a request that is served: no status, no disconnect"
        )
    if not (is_whole(after) and after >= 0):
        raise AdminError(400, "after must be a whole number of requests")
    outcomes = [status is not None, lose, disconnect]
    if sum(outcomes) > 1 or (delay_after_ms and (status is not None or disconnect)):
        raise AdminError(
            400,
            "a fault either answers an error status, disconnects, or serves the request and "
            "then loses or delays the response",
        )
    if not any(outcomes) and not delay_ms and not delay_after_ms and then_delete is None:
        raise AdminError(
            400,
            "a fault needs status, delay_ms, delay_after_ms, disconnect, lose_response or "
            "then_delete",
        )
    if not (is_whole(times) and times >= 1):
        raise AdminError(400, "times must be a whole number of at least 1")
    fault = Fault(
        method=",".join(m.strip() for m in method.upper().split(",")),
        path=path,
        status=None if status is None else int(status),
        message=message,
        delay_ms=int(delay_ms),
        lose_response=lose,
        retry_after=None if retry_after is None else int(retry_after),
        disconnect=disconnect,
        delay_after_ms=int(delay_after_ms),
        then_delete=then_delete,
        after=int(after),
    )
    return fault, int(times)


@dataclass
class _ArmedFault:
    fault: Fault
    remaining: int
    passing: int = 0  # matching requests still to let through untouched


class Faults:
    """Faults waiting for their requests, first added first served. Clearing them also
    abandons requests a `delay_ms` fault is still holding: they are dropped unserved, so that a
    test which killed the client never sees that write land later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_ArmedFault] = []
        self.generation = 0  # how many times the faults were cleared

    def add(self, fault: Fault, times: int) -> None:
        with self._lock:
            self._armed.append(_ArmedFault(fault, times, fault.after))

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if armed.fault.matches(method, path):
                    if armed.passing:
                        armed.passing -= 1
                        continue
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                    return armed.fault
            return None

    def pending(self) -> list[dict[str, Json]]:
        with self._lock:
            return [
                {**a.fault.as_json(), "times": a.remaining, "after": a.passing} for a in self._armed
            ]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.generation += 1
