"""Rate limits: the token bucket every emulator has (per second, with a burst), and the rolling
window of the vendors that also count requests per hour or per day. Clocks are injectable so
that tests never sleep."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """`per_second` tokens flow in, at most `burst` are held, each request takes one.
    `per_second=None` switches the limit off. The clock is injectable so tests never sleep.

    A vendor that limits each account separately (a company, a workspace) passes its `key`;
    every key has a bucket of its own, full at first use. Configuring empties them all."""

    # Clock readings are floats: refills that should come to exactly one token may fall short by
    # a rounding error.
    _EPSILON = 1e-9

    def __init__(self, clock: Clock, per_second: float | None, burst: int) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.configure(per_second, burst)

    def configure(self, per_second: float | None, burst: int) -> None:
        with self._lock:
            self._rate = per_second
            self._burst = float(burst)
            # key -> (tokens held, clock reading when they were counted)
            self._held: dict[str, tuple[float, float]] = {}

    def _tokens(self, key: str, now: float) -> float:
        assert self._rate is not None
        tokens, stamp = self._held.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - stamp) * self._rate)

    def take(self, key: str = "") -> bool:
        with self._lock:
            if self._rate is None:
                return True
            now = self._clock()
            tokens = self._tokens(key, now)
            if tokens + self._EPSILON < 1:
                self._held[key] = (tokens, now)
                return False
            self._held[key] = (max(0.0, tokens - 1), now)
            return True

    def retry_after(self, key: str = "") -> float:
        """Seconds until `key` may take a token again; 0 when it may now."""
        with self._lock:
            if self._rate is None:
                return 0.0
            missing = 1 - self._tokens(key, self._clock())
            return 0.0 if missing <= self._EPSILON else missing / self._rate


class RollingWindow:
    """How many requests each key was served in the last `span` seconds of the clock; each one
    frees its place exactly `span` seconds after it was served (Wethod's hour per token,
    Coperniq's day per key)."""

    def __init__(self, clock: Clock, span: float) -> None:
        self._clock = clock
        self._span = span
        self._lock = threading.Lock()
        self._served: dict[str, deque[float]] = {}

    def used(self, key: str) -> int:
        with self._lock:
            return len(self._pruned(key, self._clock()))

    def spend(self, key: str) -> int:
        """Count one request now; how many the window then holds."""
        with self._lock:
            now = self._clock()
            served = self._pruned(key, now)
            served.append(now)
            return len(served)

    def admit(self, key: str, limit: int | None) -> float | None:
        """Count a request of `key` now and answer None, or answer the seconds until it may
        make one again when `limit` requests in the window are spent (None: no limit)."""
        with self._lock:
            now = self._clock()
            served = self._pruned(key, now)
            if limit is not None and len(served) >= limit:
                return served[len(served) - limit] + self._span - now
            served.append(now)
            return None

    def clear(self) -> None:
        with self._lock:
            self._served.clear()

    def _pruned(self, key: str, now: float) -> deque[float]:
        served = self._served.setdefault(key, deque())
        while served and served[0] <= now - self._span:
            served.popleft()
        return served
