"""`InProcessTransport`: lets a synchronous `httpx.Client` talk to an ASGI app in the same process.

httpx's own ASGITransport is async only, so this runs the app on a private event loop in a daemon
thread and hands each request to it. Any number of threads may share one transport."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading

import httpx
from starlette.types import ASGIApp

from .base import ConnectionDropped, ResponseLost


class InProcessTransport(httpx.BaseTransport):
    """Serve requests from `app` without a socket.

    A response the sandbox deliberately drops surfaces as `httpx.ReadError`, a connection it drops
    before serving as `httpx.RemoteProtocolError` (as over a socket); a response slower
    than the client's read timeout as `httpx.ReadTimeout`, while the app carries on serving it, as
    a real server would. Closing stops the loop; the next request starts a new one, so clients
    that share a transport may each close it."""

    def __init__(self, app: ASGIApp) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        forwarded = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.read(),
            extensions=request.extensions,
        )
        future = asyncio.run_coroutine_threadsafe(self._exchange(forwarded), self._running_loop())
        try:
            status, headers, content = future.result(timeout=_read_timeout(request))
        except concurrent.futures.TimeoutError:
            raise httpx.ReadTimeout("the sandbox did not answer in time", request=request) from None
        except ConnectionDropped as dropped:
            raise httpx.RemoteProtocolError(str(dropped), request=request) from dropped
        except ResponseLost as lost:
            raise httpx.ReadError(str(lost), request=request) from lost
        return httpx.Response(status, headers=headers, content=content)

    async def _exchange(
        self, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self._asgi.handle_async_request(request)
        content = await response.aread()
        return response.status_code, response.headers.raw, content

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="billplan-sandbox", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        # Requests still being served (a response held back by a fault, one the client gave up
        # on) end here, cancelled, rather than being torn down half-run when the loop closes.
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _cancel_pending() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _read_timeout(request: httpx.Request) -> float | None:
    timeouts = request.extensions.get("timeout", {})
    return timeouts.get("read")
