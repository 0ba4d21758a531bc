"""The sandbox's exchange log (BILLPLAN_SANDBOX_EXCHANGE_LOG): one JSON line per vendor-API
exchange, in process and over loopback, never an admin route, never a credential. The contract
tests read it; these tests pin down what a line holds."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler import __version__
from compiler.providers.ruddr import Ruddr
from compiler.sandbox import EXCHANGE_LOG_ENV, SANDBOX_TOKEN, Sandbox, base_url

from .conftest import serving

ROOT = "http://sandbox.invalid"
SECRET = "tok-3f9c1e-do-not-log"


@pytest.fixture
def exchange_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own exchange log (the contract plugin's session log does not see it)."""
    path = tmp_path / "exchanges.jsonl"
    monkeypatch.setenv(EXCHANGE_LOG_ENV, str(path))
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def client(sandbox: Sandbox, vendor: str, **headers: str) -> httpx.Client:
    return httpx.Client(
        transport=sandbox.transport, base_url=base_url(vendor, ROOT), headers=headers
    )


def test_an_exchange_is_one_json_line_with_its_path_below_the_vendor_api_root(
    sandbox: Sandbox, exchange_log: Path
) -> None:
    with client(sandbox, "ruddr", Authorization=f"Bearer {SANDBOX_TOKEN}") as ruddr:
        answer = ruddr.get("/project-invoice-milestones", params={"limit": 5, "projectId": "p"})

    [line] = lines(exchange_log)
    assert line["vendor"] == "ruddr"
    assert line["method"] == "GET"
    assert line["path"] == "/project-invoice-milestones"  # not /ruddr/api/workspace/...
    assert line["query"] == [["limit", "5"], ["projectId", "p"]]
    assert line["request_body"] == ""
    assert line["status"] == answer.status_code
    assert line["response_body"] == answer.text
    assert ["content-type", "application/json"] in line["response_headers"]
    assert line["fault_status"] is None


def test_a_request_body_is_logged_as_sent(sandbox: Sandbox, exchange_log: Path) -> None:
    with client(sandbox, "ruddr", Authorization=f"Bearer {SANDBOX_TOKEN}") as ruddr:
        ruddr.post("/project-invoice-milestones", content=b'{"name": "Kickoff"}')

    [line] = lines(exchange_log)
    assert line["request_body"] == '{"name": "Kickoff"}'
    assert line["request_complete"] is True


def test_credentials_never_reach_the_exchange_log(sandbox: Sandbox, exchange_log: Path) -> None:
    with client(sandbox, "ruddr", Authorization=f"Bearer {SECRET}") as ruddr:
        ruddr.get("/projects")
    with client(sandbox, "coperniq", **{"x-api-key": SECRET}) as coperniq:
        coperniq.get("/invoices")

    assert SECRET not in exchange_log.read_text(encoding="utf-8")
    ruddr_line, coperniq_line = lines(exchange_log)
    assert ["authorization", "Bearer [redacted]"] in ruddr_line["request_headers"]
    assert ["x-api-key", "[redacted]"] in coperniq_line["request_headers"]


def test_admin_routes_are_not_logged(sandbox: Sandbox, exchange_log: Path) -> None:
    with httpx.Client(transport=sandbox.transport, base_url=ROOT) as admin:
        assert admin.get("/ruddr/_sandbox/settings").status_code == 200
        assert admin.get("/").status_code == 200

    assert lines(exchange_log) == []


def test_nothing_is_logged_without_the_variable(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(EXCHANGE_LOG_ENV, raising=False)
    with client(sandbox, "ruddr", Authorization=f"Bearer {SANDBOX_TOKEN}") as ruddr:
        assert ruddr.get("/projects").status_code == 200

    assert list(tmp_path.iterdir()) == []


def test_an_answer_made_up_by_a_fault_carries_the_fault_status(
    sandbox: Sandbox, exchange_log: Path
) -> None:
    with httpx.Client(transport=sandbox.transport, base_url=ROOT) as admin:
        fault = {"method": "GET", "path": "/api/workspace/projects", "status": 503}
        assert admin.post("/ruddr/_sandbox/faults", json=fault).status_code == 201
    with client(sandbox, "ruddr", Authorization=f"Bearer {SANDBOX_TOKEN}") as ruddr:
        assert ruddr.get("/projects").status_code == 503
        assert ruddr.get("/projects").status_code == 200

    faulted, served = lines(exchange_log)
    assert (faulted["status"], faulted["fault_status"]) == (503, 503)
    assert (served["status"], served["fault_status"]) == (200, None)


def test_a_lost_response_is_logged_as_a_request_without_an_answer(
    sandbox: Sandbox, exchange_log: Path
) -> None:
    with httpx.Client(transport=sandbox.transport, base_url=ROOT) as admin:
        fault = {"method": "GET", "path": "/api/workspace/projects", "lose_response": True}
        assert admin.post("/ruddr/_sandbox/faults", json=fault).status_code == 201
    with (
        client(sandbox, "ruddr", Authorization=f"Bearer {SANDBOX_TOKEN}") as ruddr,
        pytest.raises(httpx.ReadError),
    ):
        ruddr.get("/projects")

    [line] = lines(exchange_log)
    assert (line["path"], line["status"], line["response_body"]) == ("/projects", None, None)


def test_a_sandbox_served_over_loopback_logs_its_exchanges_too(
    sandbox: Sandbox, exchange_log: Path
) -> None:
    with (
        serving(sandbox.app) as root,
        httpx.Client(base_url=base_url("kantata", root)) as kantata,
    ):
        answer = kantata.get("/billing_milestones", headers={"Authorization": "Bearer sandbox"})

    [line] = lines(exchange_log)
    assert (line["vendor"], line["path"]) == ("kantata", "/billing_milestones")
    assert (line["status"], line["response_body"]) == (answer.status_code, answer.text)


def test_billplan_providers_say_who_they_are_in_the_user_agent(
    sandbox: Sandbox, exchange_log: Path
) -> None:
    provider = Ruddr(
        "ruddr", {}, transport=sandbox.transport, base_url=base_url("ruddr", ROOT), token=SECRET
    )
    with pytest.raises(Exception, match="401"):
        provider.request("GET", "/projects")
    provider.close()

    assert ["user-agent", f"billplan/{__version__}"] in lines(exchange_log)[0]["request_headers"]


def test_a_request_whose_client_died_mid_body_is_marked_incomplete(
    sandbox: Sandbox, exchange_log: Path
) -> None:
    with serving(sandbox.app) as root:
        host, port = root.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as connection:
            connection.sendall(
                b"PATCH /ruddr/api/workspace/project-invoice-milestones/m HTTP/1.1\r\n"
                b"Host: sandbox\r\nAuthorization: Bearer sandbox\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                b'{"name": '
            )
        deadline = time.monotonic() + 5
        while not lines(exchange_log) and time.monotonic() < deadline:
            time.sleep(0.01)

    [line] = lines(exchange_log)
    assert (line["path"], line["request_complete"]) == ("/project-invoice-milestones/m", False)
