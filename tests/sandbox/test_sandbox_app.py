"""The sandbox as one app (compiler/sandbox/__init__.py): every path below a vendor's prefix
reaches that vendor's emulator, which answers in the vendor's own shape."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from compiler.sandbox import DEFAULT_ROOT, EMULATORS, Sandbox, base_url


@pytest.mark.parametrize("vendor", [emulator.vendor for emulator in EMULATORS])
def test_a_path_holding_a_line_break_still_reaches_the_vendor_emulator(
    sandbox: Sandbox, vendor: str
) -> None:
    # Found by schemathesis (tests/contract/test_fuzz_emulators.py): an id with `%0A` in it fell
    # through the vendor's mount to a plain-text "Not Found" that no vendor answers.
    with httpx.Client(transport=sandbox.transport) as client:
        response = client.get(base_url(vendor) + "/invoices/a%0Ab")
    assert response.status_code == 401  # no credentials: the emulator itself answered
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("vendor", [emulator.vendor for emulator in EMULATORS])
def test_the_request_log_says_when_each_request_arrived(sandbox: Sandbox, vendor: str) -> None:
    # How a client spaced its requests is what a rate limit is about: the log keeps each
    # request's arrival (UTC, the machine's own clock), refused ones too.
    with httpx.Client(transport=sandbox.transport) as client:
        before = time.time()
        client.get(base_url(vendor) + "/invoices")
        time.sleep(0.01)
        client.get(base_url(vendor) + "/invoices")
        after = time.time()
        log = client.get(f"{DEFAULT_ROOT}/{vendor}/_sandbox/requests").json()
    first, second = (datetime.fromisoformat(entry["received"]).timestamp() for entry in log)
    assert before <= first < second <= after and second - first >= 0.01
    assert log[0]["received"].endswith("+00:00")
