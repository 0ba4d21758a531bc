"""Secrets: a token never appears in output, saved plans, state, the .billplan directory, the
emulators' request logs and admin output, or in the text of any error billplan raises; and
TLS certificates are always verified, whatever the plan says.

The token is set to an unusual, greppable value; billplan then runs plan, plan -o, apply,
apply FILE and a series of failures (401, 5xx, a provider's own error message, a connection
refused, a timeout) as separate processes against emulators served over loopback, and every
byte they leave behind is searched for it.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from compiler.providers import PROVIDERS
from compiler.providers.base import ProviderError
from compiler.workspace import WorkspaceError
from reliability.faults import (
    TOKEN_ENVS,
    VENDORS,
    environment,
    free_port,
    plan_text,
    run,
    served,
    write,
)

TOKEN = "bp-SeCrEt-7f3a9c0e-NEVER-print-me"
# Bound to the plan's company, with the sandbox's default permissions (those billplan needs).
WETHOD_GRANT = {"company": "acme"}


def _tokens(token: str, vendor: str) -> list[object]:
    return [{"token": token, **WETHOD_GRANT}] if vendor == "wethod" else [token]


def _search(texts: dict[str, str]) -> list[str]:
    """Where the token (or a recognisable part of it) shows up."""
    needles = (TOKEN, TOKEN[3:20], TOKEN[-12:])
    return sorted(where for where, text in texts.items() if any(n in text for n in needles))


def _files(directory: Path) -> dict[str, str]:
    return {
        str(path): path.read_bytes().decode("utf-8", errors="replace")
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_the_token_never_appears_in_output_files_logs_or_errors(tmp_path: Path) -> None:
    seen: dict[str, str] = {}

    def record(
        name: str, done: subprocess.CompletedProcess[str]
    ) -> subprocess.CompletedProcess[str]:
        seen[f"{name}: stdout"] = done.stdout
        seen[f"{name}: stderr"] = done.stderr
        return done

    with served(tmp_path / "server") as server:
        env = environment(token=TOKEN, root=server.root)
        for vendor in VENDORS:
            server.settings(vendor, tokens=_tokens(TOKEN, vendor))
        directory = write(tmp_path / "billing", plan_text(VENDORS, max_rps=500))
        saved = tmp_path / "reviewed.json"

        assert record("plan", run("plan", directory, env=env)).returncode == 0
        assert record("plan -o", run("plan", directory, "-o", saved, env=env)).returncode == 0
        assert record("apply FILE", run("apply", saved, directory, env=env)).returncode == 0
        write(directory, plan_text(VENDORS, version=1, max_rps=500))
        assert record("apply", run("apply", directory, env=env)).returncode == 0
        assert (
            record("plan json", run("plan", directory, "--format", "json", env=env)).returncode == 0
        )

        # Failures, each in words, none with the token.
        refused = record(
            "401", run("plan", directory, env=environment(token=TOKEN + "-wrong", root=server.root))
        )
        assert refused.returncode == 1 and "401" in refused.stderr
        write(directory, plan_text(VENDORS, version=2, max_rps=500, timeout=0.3))
        for vendor in VENDORS:  # a 5xx on a create is never retried: quick to provoke
            server.fault(vendor, method="POST", status=503)
        failing = record("5xx", run("apply", directory, env=env))
        assert failing.returncode == 1 and "503" in failing.stderr
        for vendor in VENDORS:
            server.clear_faults(vendor)
            # On every read, as a real vendor refuses a bad request again: plan reads ahead
            # (issue 20) and would take a one-time fault for a blip it can read past.
            server.fault(
                vendor, method="GET", status=400, message=f"bad request for {vendor}", times=100
            )
        worded = record("vendor message", run("plan", directory, env=env))
        assert worded.returncode == 1 and "bad request for" in worded.stderr
        for vendor in VENDORS:
            server.clear_faults(vendor)
        write(directory, plan_text(VENDORS, version=5, max_rps=500, timeout=0.3))
        for vendor in VENDORS:
            server.fault(vendor, method="POST", lose_response=True)
        lost = record("lost responses", run("apply", directory, env=env))
        assert lost.returncode == 1 and "may have happened" in lost.stderr
        for vendor in VENDORS:
            server.clear_faults(vendor)
            seen[f"{vendor} request log"] = server.client.get(f"/{vendor}/_sandbox/requests").text
        seen["serve output"] = server.log.read_text(encoding="utf-8")

    seen.update(_files(tmp_path / "billing"))
    seen[str(saved)] = saved.read_text(encoding="utf-8")
    assert (tmp_path / "billing" / ".billplan" / "state.json").is_file()
    assert _search(seen) == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_errors_raised_with_a_token_never_carry_it(vendor: str, tmp_path: Path) -> None:
    config = {"type": vendor, "company": "acme", "timeout": 0.5, "max_rps": 1000}
    body = {"recordId": 1, "description": "d", "dueDate": "2026-01-01", "fee": 1}
    root = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    provider = PROVIDERS[vendor](vendor, config, base_url=root, token=TOKEN, sleep=lambda s: None)
    type_name = next(iter(provider.types))
    failures: list[BaseException] = []
    for call in (
        lambda: provider.list(["1"]),
        lambda: provider.create(type_name, [body]),
        lambda: provider.update(type_name, "1", body),
        lambda: provider.delete(type_name, "1"),
    ):
        with pytest.raises(ProviderError) as raised:
            call()
        failures.append(raised.value)
    provider.close()

    texts = {}
    for index, error in enumerate(failures):
        texts[f"str {index}"] = str(error)
        texts[f"repr {index}"] = repr(error)
        texts[f"traceback {index}"] = "".join(traceback.format_exception(error))
        cause: BaseException | None = error
        while cause is not None:  # the httpx error, which holds the request, is not shown
            assert not isinstance(cause, httpx.HTTPError), repr(cause)
            shown = None if cause.__suppress_context__ else cause.__context__
            cause = cause.__cause__ or shown
    assert _search(texts) == []


def test_a_missing_token_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENVS["ruddr"], raising=False)
    with pytest.raises(Exception, match=TOKEN_ENVS["ruddr"]) as raised:
        PROVIDERS["ruddr"]("ruddr", {"type": "ruddr", "token_env": TOKEN_ENVS["ruddr"]})
    assert TOKEN not in str(raised.value)


# ---- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate, answering `[]` to all."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr.decode()

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_self_signed_certificate_is_refused_at_once_with_a_clear_error(
    self_signed_https: str, tmp_path: Path
) -> None:
    slept: list[float] = []
    wethod = PROVIDERS["wethod"](
        "wethod", {"type": "wethod", "company": "acme"}, base_url=self_signed_https,
        token=TOKEN, sleep=slept.append,
    )  # fmt: skip
    with pytest.raises(ProviderError, match="TLS certificate could not be verified") as raised:
        wethod.list([7301])
    wethod.close()
    assert slept == []  # not retried: waiting cannot make a certificate trusted
    assert "self-signed" in str(raised.value) or "verify" in str(raised.value)
    assert TOKEN not in str(raised.value)

    directory = write(tmp_path / "billing", plan_text(("wethod",)))
    # The host is set where billplan runs, as a workflow would: a plan cannot name one.
    env = environment(token=TOKEN, BILLPLAN_WETHOD_BASE_URL=self_signed_https)
    planned = run("plan", directory, env=env)
    assert planned.returncode == 1
    assert "TLS certificate could not be verified" in " ".join(planned.stderr.split())


@pytest.mark.parametrize("setting", ["verify: false", "insecure: true", "tls_verify: false"])
def test_no_plan_setting_turns_verification_off(setting: str, tmp_path: Path) -> None:
    text = plan_text(("ruddr",)).replace("{type: ruddr", f"{{type: ruddr, {setting}")
    directory = write(tmp_path / "billing", text)
    from compiler.workspace import open_workspace

    with pytest.raises(WorkspaceError) as raised:
        open_workspace(directory, __import__("datetime").date(2026, 11, 23), sandbox=True)
    problems = " ".join(str(d) for d in raised.value.diagnostics)
    assert setting.split(":")[0] in problems


def test_the_real_clients_verify_certificates() -> None:
    for vendor in VENDORS:
        provider = PROVIDERS[vendor](vendor, {"type": vendor, "company": "acme"}, token=TOKEN)
        transport = provider.client._transport  # the real one: no sandbox transport given
        context = transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        provider.close()
