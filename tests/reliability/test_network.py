"""A network that fails: every provider against its emulator, with faults armed through the
emulator's admin surface. Reads and updates are retried (capped exponential backoff with
jitter, or the vendor's Retry-After); a create is sent again only when it certainly never ran
(a 429, a connection never made); any other failed create is an unknown outcome, never resent,
and the next plan finds it again (or creates it once). The client-side rate limiter keeps a
large apply under the vendor's limit.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.providers import PROVIDERS
from compiler.providers.base import OutcomeUnknown, Provider, ProviderError, RateLimiter
from reliability.faults import VENDORS, Clock, assert_exactly_planned, attempt, plan_text, write

WRITES_OF_UPDATES = "PATCH,PUT"


def _plan(tmp_path: Path, vendor: str, **settings: Any) -> Path:
    return write(tmp_path / vendor, plan_text((vendor,), **settings))


# ---- the rate limiter ---------------------------------------------------------------------


def test_the_limiter_spaces_requests_at_the_rate_it_is_given() -> None:
    clock = Clock()
    limiter = RateLimiter(20, clock=clock, sleep=clock.sleep)

    stamps = []
    for _ in range(101):
        limiter.wait()
        stamps.append(clock.now)

    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 1 / 20  # never faster than the limit
    assert stamps[-1] <= 1.04 * 100 / 20  # and not much slower
    assert limiter.waited == pytest.approx(stamps[-1])


def test_the_limiter_lets_a_burst_through_then_paces() -> None:
    clock = Clock()
    limiter = RateLimiter(10, burst=5, clock=clock, sleep=clock.sleep)

    for _ in range(5):
        limiter.wait()
    assert clock.now == 0  # the burst
    limiter.wait()
    assert clock.now == pytest.approx(1 / (10 * RateLimiter.HEADROOM))


def test_a_limit_read_as_none_means_no_pacing() -> None:
    clock = Clock()
    limiter = RateLimiter(lambda: None, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        limiter.wait()
    assert clock.now == 0


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_has_its_documented_or_assumed_rate_limit(vendor: str) -> None:
    # Wethod: no rate a second is documented; the 4,000 of its hour's 5,000 not sent at once,
    # spread over the hour.
    expected = {"ruddr": 20, "kantata": 10, "wethod": 4000 / 3600, "coperniq": 100}
    assert PROVIDERS[vendor].rate_limit == expected[vendor]


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_large_apply_under_the_vendors_limit_provokes_at_most_a_few_429s(
    vendor: str, tmp_path: Path
) -> None:
    # 120 months and a kickoff: 121 objects, each its own request except Kantata's batched
    # creates; then every amount changes (119 updates, one request each) and two months go.
    directory = write(tmp_path / vendor, plan_text((vendor,), months=120))
    clock = Clock()
    created = attempt(directory, clock=clock)
    write(directory, plan_text((vendor,), version=3, months=118))
    start = clock.now
    updated = attempt(directory, clock=clock)

    for run in (created, updated):
        assert run.applied is not None and run.applied.ok, run.applied
        statuses = [r["status"] for r in run.requests[vendor]]
        assert statuses.count(429) <= 3, f"{statuses.count(429)} 429s in {len(statuses)}"
    updates = updated.sent(vendor, WRITES_OF_UPDATES)
    assert len(updates) == 118 + 1  # every month left, and the kickoff's new name
    # The benchmark's promise: n writes under a limit R take at most 1.15 x n / R seconds.
    limit = PROVIDERS[vendor].rate_limit
    requests = len(updated.requests[vendor])
    assert clock.now - start <= 1.15 * requests / limit
    assert_exactly_planned(directory, vendor)


def test_without_the_limiter_the_same_apply_meets_a_storm_of_429s(tmp_path: Path) -> None:
    # The control for the test above: it can fail.
    directory = write(tmp_path / "ruddr", plan_text(("ruddr",), months=120))
    clock = Clock()
    run = attempt(directory, clock=clock, client_rps=1_000_000)
    statuses = [r["status"] for r in run.requests["ruddr"]]
    assert statuses.count(429) > 10  # against at most 3 with it; Ruddr's burst is 60


def test_max_rps_in_the_plan_overrides_the_vendors_limit(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "ruddr", max_rps=3)
    run = attempt(plan, apply=False)  # in --sandbox the plan's max_rps still rules
    assert run.plan.count("create") == 5
    from compiler.workspace import open_workspace

    with open_workspace(plan, _as_of(), sandbox=True) as workspace:
        assert workspace.providers["ruddr"].limiter.per_second == 3
    with open_workspace(_plan(tmp_path / "b", "ruddr"), _as_of(), sandbox=True) as workspace:
        # Without max_rps, the sandbox's client paces at the limit its emulator enforces now.
        ruddr = workspace.providers["ruddr"]
        assert ruddr.limiter.per_second == 20
        emulator = workspace.sandbox.emulators["ruddr"]
        emulator.settings = type(emulator.settings)(rate_limit_per_second=7, burst=1)
        assert ruddr.limiter.per_second == 7


def _as_of() -> Any:
    from datetime import date

    return date(2026, 11, 23)


# ---- faults on reads: retried -------------------------------------------------------------

READ_FAULTS = {
    "a 429 with Retry-After": {"status": 429, "retry_after": 3},
    "a 503, twice": {"status": 503, "times": 2},
    "a 500": {"status": 500},
    "a dropped connection": {"disconnect": True},
    "an answer slower than the timeout": {"delay_ms": 1500},
    "a lost response": {"lose_response": True},
}


@pytest.mark.parametrize("fault", READ_FAULTS, ids=list(READ_FAULTS))
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_failed_read_is_retried_and_the_apply_completes(
    vendor: str, fault: str, tmp_path: Path
) -> None:
    directory = _plan(tmp_path, vendor, timeout=0.5)

    run = attempt(directory, faults={vendor: [{"method": "GET", **READ_FAULTS[fault]}]})

    assert run.applied is not None and run.applied.ok, run.applied.failures
    times = READ_FAULTS[fault].get("times", 1)
    assert len(run.slept) == times  # one wait per failed attempt
    if "retry_after" in READ_FAULTS[fault]:
        assert run.slept == [3.0]  # as the vendor asked, not a guess
    else:
        assert all(0 < s <= Provider.backoff_cap for s in run.slept)
    assert len(run.rows[vendor]) == 5
    assert_exactly_planned(directory, vendor)


def test_backoff_grows_exponentially_with_jitter_and_is_capped(tmp_path: Path) -> None:
    directory = _plan(tmp_path, "ruddr")
    attempts = PROVIDERS["ruddr"].max_attempts
    run = attempt(
        directory,
        faults={"ruddr": [{"method": "GET", "status": 503, "times": attempts - 1}]},
        apply=False,
    )
    waits = run.slept
    assert len(waits) == attempts - 1
    for number, wait in enumerate(waits, start=1):
        ceiling = min(Provider.backoff_cap, Provider.backoff_base * 2 ** (number - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert max(waits) <= Provider.backoff_cap


def test_a_read_that_keeps_failing_stops_with_a_clear_error(tmp_path: Path) -> None:
    directory = _plan(tmp_path, "kantata")
    attempts = PROVIDERS["kantata"].max_attempts
    with pytest.raises(ProviderError, match=r"Kantata OX 503"):
        attempt(
            directory,
            faults={"kantata": [{"method": "GET", "status": 503, "times": attempts}]},
            apply=False,
        )


# ---- faults on creates: never sent twice ----------------------------------------------------

# fault, whether it may have run (unknown), whether the object landed
CREATE_FAULTS = {
    "a 429 with Retry-After": ({"status": 429, "retry_after": 2}, None, True),
    "a 503": ({"status": 503}, True, False),
    "a dropped connection": ({"disconnect": True}, True, False),
    "a lost response after commit": ({"lose_response": True}, True, True),
    "an answer slower than the timeout, after commit": ({"delay_after_ms": 1500}, True, True),
}


@pytest.mark.parametrize("fault", CREATE_FAULTS, ids=list(CREATE_FAULTS))
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_failed_create_is_never_resent_and_the_next_plan_converges(
    vendor: str, fault: str, tmp_path: Path
) -> None:
    armed, unknown, landed = CREATE_FAULTS[fault]
    directory = _plan(tmp_path, vendor, timeout=0.5)

    first = attempt(directory, faults={vendor: [{"method": "POST", **armed}]})

    assert first.applied is not None
    creates = 1 if vendor == "kantata" else 5  # Kantata creates a batch in one request
    posts = first.sent(vendor)
    if unknown is None:  # refused before it ran: sent again after the wait asked for
        assert first.applied.ok and first.slept == [2.0]
        assert len(posts) == creates + 1
    else:
        assert len(posts) == creates  # the failed create was not sent again
        failed = first.applied.failures
        assert failed and all(f.unknown for f in failed), failed
        assert all("may have happened" in f.message for f in failed)
        pending = [e for e in _entries(directory) if e["status"] == "pending"]
        assert len(pending) == len(failed)
        assert len(first.rows[vendor]) == 5 - (0 if landed else len(failed))
        # The next plan finds what landed and creates only what did not.
        second = attempt(directory)
        assert second.applied is not None and second.applied.ok, second.applied.failures
        recreated = len(second.sent(vendor))
        if landed:
            assert recreated == 0
            actions = {c.action for c in second.plan.changes}
            assert "adopt" in actions and actions <= {"adopt", "no-op"}, actions
        else:
            assert recreated == (1 if vendor == "kantata" else len(failed))
    assert_exactly_planned(directory, vendor)
    assert len(assert_exactly_planned(directory, vendor).rows[vendor]) == 5


def _entries(directory: Path) -> list[dict[str, Any]]:
    from reliability.faults import state_entries

    return state_entries(directory)


# ---- faults on updates: retried, because an update sent twice lands once -------------------


@pytest.mark.parametrize(
    "armed",
    [{"lose_response": True}, {"status": 503}, {"disconnect": True}, {"delay_after_ms": 1500}],
    ids=["lost response", "503", "dropped connection", "slower than the timeout"],
)
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_failed_update_is_retried_and_lands_once(
    vendor: str, armed: dict[str, Any], tmp_path: Path
) -> None:
    directory = _plan(tmp_path, vendor, timeout=0.5)
    assert attempt(directory).applied.ok
    write(directory, plan_text((vendor,), version=3, timeout=0.5))  # every amount changes

    run = attempt(directory, faults={vendor: [{"method": WRITES_OF_UPDATES, **armed}]})

    assert run.applied is not None and run.applied.ok, run.applied.failures
    assert len(run.slept) == 1
    assert run.plan.count("update") == 5 and len(run.rows[vendor]) == 5
    assert len(run.sent(vendor, WRITES_OF_UPDATES)) == 5 + 1  # the failed one, once more
    assert_exactly_planned(directory, vendor)


# ---- connections never made, and timeouts ---------------------------------------------------


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now


def test_a_connection_never_made_is_retried_even_for_a_create_then_reported() -> None:
    slept: list[float] = []
    ruddr = PROVIDERS["ruddr"]("ruddr", {"type": "ruddr"}, base_url=_closed_port(),
                               token="t", sleep=slept.append)  # fmt: skip
    body = {"projectId": "p", "invoiceItemId": "i", "date": "2026-01-01", "name": "n", "fee": 1}
    with pytest.raises(ProviderError) as raised:
        ruddr.create("ruddr_invoice_milestone", [body])
    ruddr.close()
    # Nothing was sent: safe to try again, and not an unknown outcome.
    assert not isinstance(raised.value, OutcomeUnknown)
    assert len(slept) == ruddr.max_attempts - 1
    assert "could not connect" in str(raised.value)


def test_the_timeout_is_configurable_and_named_when_it_runs_out(tmp_path: Path) -> None:
    directory = _plan(tmp_path, "wethod", timeout=0.2)
    attempts = PROVIDERS["wethod"].max_attempts
    with pytest.raises(ProviderError, match=r"timed out after 0.2 s.*raise `timeout`"):
        attempt(
            directory,
            faults={"wethod": [{"method": "GET", "delay_ms": 400, "times": attempts}]},
            apply=False,
        )


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "must be more than 0"), ("fast", "must be a number")],
)
def test_a_bad_timeout_or_max_rps_is_refused_with_its_name(value: Any, message: str) -> None:
    from compiler.providers.base import ConfigurationError

    for key in ("timeout", "max_rps"):
        with pytest.raises(ConfigurationError, match=f"`{key}` {message}"):
            PROVIDERS["ruddr"]("ruddr", {"type": "ruddr", key: value}, token="t")


def test_the_timeout_reaches_httpx(tmp_path: Path) -> None:
    ruddr = PROVIDERS["ruddr"]("ruddr", {"type": "ruddr", "timeout": 12.5}, token="t")
    assert ruddr.client.timeout == httpx.Timeout(12.5)
    ruddr.close()


def test_retry_after_as_an_http_date_is_understood() -> None:
    ruddr = PROVIDERS["ruddr"]("ruddr", {"type": "ruddr"}, token="t")
    when = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert ruddr.retry_after(when) == 0.0  # in the past: go now
    assert ruddr.retry_after(httpx.Response(429, headers={"Retry-After": "4"})) == 4.0
    assert ruddr.retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    ruddr.close()
