"""A pull request that edits only YAML cannot make billplan contact a host outside the allowed
set, nor send any variable but the vendor's token.

Every command runs on a hostile plan with a canary secret in the environment (a GitHub token,
another database's connection string) and an "attacker" listening on loopback that records
every connection made to it. The environment also names an allowed host, set outside the plan
as a workflow would (BILLPLAN_RUDDR_BASE_URL): a "vendor" listener that records too. Afterwards
the attacker has seen nothing, the vendor no canary, and the canary is in no output or file.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import AS_OF_TEXT, INVOICE_ITEM, PROJECT_ID, billplan

CANARY = "canary-9f1e2d-must-never-leave"
REAL_TOKEN = "real-ruddr-token-3c4d"
ADDRESS = "acme/milestones/kickoff"

BODY = f"""\
defaults: {{currency: USD, ruddr: {{invoice_item: {INVOICE_ITEM}}}}}
projects:
  acme:
    provider: ruddr
    project_id: {PROJECT_ID}
    milestones:
      kickoff: {{description: Kickoff, date: 2026-01-15, amount: 10000}}
"""

# What a pull request could write, each on its own: `{attacker}` is the attacker's address.
HOSTILE = {
    "base_url": "providers:\n  ruddr: {{type: ruddr, base_url: 'http://{attacker}/api'}}\n",
    "https base_url": "providers:\n  ruddr: {{type: ruddr, base_url: 'https://{attacker}/api'}}\n",
    "token_env": "providers:\n  ruddr: {{type: ruddr, token_env: GITHUB_TOKEN}}\n",
    "base_url and token_env": "providers:\n  ruddr: {{type: ruddr, token_env: GITHUB_TOKEN, "
    "base_url: 'http://{attacker}/api'}}\n",
    "dsn_env": "providers:\n  ruddr: {{type: ruddr}}\n"
    "state: {{backend: postgres, name: acme, dsn_env: DATABASE_URL}}\n",
}

COMMANDS = {
    "validate": ["validate", "{plan}"],
    "render": ["render", "{plan}", "--format", "json"],
    "forecast": ["forecast", "{plan}"],
    "plan": ["plan", "{plan}", "--as-of", AS_OF_TEXT],
    "plan markdown": ["plan", "{plan}", "--as-of", AS_OF_TEXT, "--format", "markdown"],
    "plan -o": ["plan", "{plan}", "--as-of", AS_OF_TEXT, "-o", "{dir}/saved.json"],
    "plan --refresh-only": ["plan", "{plan}", "--as-of", AS_OF_TEXT, "--refresh-only"],
    "plan --sandbox": ["plan", "{plan}", "--as-of", AS_OF_TEXT, "--sandbox"],
    "plan --no-refresh": ["plan", "{plan}", "--as-of", AS_OF_TEXT, "--no-refresh", "ruddr"],
    "apply": ["apply", "{plan}", "--as-of", AS_OF_TEXT, "--auto-approve"],
    "import": ["import", ADDRESS, "remote-1", "{plan}", "--as-of", AS_OF_TEXT],
    "state list": ["state", "list", "{plan}"],
    "state show": ["state", "show", ADDRESS, "{plan}"],
    "state rm": ["state", "rm", ADDRESS, "{plan}"],
    "force-unlock": ["force-unlock", "lock-1", "{plan}"],
    "sandbox invoice": ["sandbox", "invoice", ADDRESS, "{plan}"],
}


@dataclass
class Listener:
    """A TCP listener on loopback that answers any request with `200 {}` and records what
    reached it."""

    address: str
    received: list[bytes] = field(default_factory=list)

    @property
    def contacted(self) -> bool:
        return bool(self.received)


@contextlib.contextmanager
def listening() -> Iterator[Listener]:
    listener = Listener("")

    class Record(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(1)
            data = b""
            with contextlib.suppress(OSError):
                data = self.request.recv(65536)
            listener.received.append(data or b"(connected)")
            with contextlib.suppress(OSError):
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
                )

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Record)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    listener.address = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Scene:
    attacker: Listener
    vendor: Listener
    directory: Path


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scene]:
    """The attacker, the vendor the workflow allows, and the environment of a CI job that
    holds the vendor's token, a GitHub token and another database's connection string."""
    with listening() as attacker, listening() as vendor:
        monkeypatch.setenv("RUDDR_API_TOKEN", REAL_TOKEN)
        monkeypatch.setenv("GITHUB_TOKEN", CANARY)
        monkeypatch.setenv("DATABASE_URL", f"postgresql://ci:{CANARY}@{attacker.address}/prod")
        monkeypatch.setenv("BILLPLAN_RUDDR_BASE_URL", f"http://{vendor.address}/api/workspace")
        for name in ("BILLPLAN_SANDBOX", "BILLPLAN_SANDBOX_URL", "BILLPLAN_PG_DSN"):
            monkeypatch.delenv(name, raising=False)
        yield Scene(attacker, vendor, tmp_path)


def _files(directory: Path) -> str:
    return "".join(
        path.read_bytes().decode("utf-8", errors="replace")
        for path in directory.rglob("*")
        if path.is_file()
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_no_command_on_a_hostile_plan_reaches_the_attacker_or_leaks_a_secret(
    hostile: str, scene: Scene
) -> None:
    directory = scene.directory / "billing"
    directory.mkdir()
    head = HOSTILE[hostile].format(attacker=scene.attacker.address)
    (directory / "plan.yaml").write_text("version: 1\n" + head + BODY, encoding="utf-8")
    shown = []
    for name, command in COMMANDS.items():
        args = [a.format(plan=directory, dir=scene.directory) for a in command]
        run = billplan(*args)
        shown.append(f"{name}: {run.text}")
        reads_state_only = name.startswith("state") or name in ("force-unlock", "sandbox invoice")
        if not reads_state_only or (hostile == "dsn_env" and name != "sandbox invoice"):
            # Every command that uses what the plan says refuses it, at the offending line.
            assert run.code == 1, f"{name} accepted the hostile plan:\n{run.text}"
            assert f"{directory / 'plan.yaml'}:" in run.err, f"{name}:\n{run.text}"

    assert scene.attacker.received == []
    assert not any(CANARY.encode() in seen for seen in scene.vendor.received)
    assert not any(REAL_TOKEN.encode() in seen for seen in scene.attacker.received)
    assert CANARY not in "\n".join(shown)
    assert CANARY not in _files(scene.directory)


@pytest.mark.parametrize("hostile", ["base_url", "dsn_env"])
def test_a_served_sandbox_refuses_to_seed_from_a_hostile_plan(hostile: str, scene: Scene) -> None:
    plan = scene.directory / "plan.yaml"
    head = HOSTILE[hostile].format(attacker=scene.attacker.address)
    plan.write_text("version: 1\n" + head + BODY, encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        served = subprocess.run(
            [sys.executable, "-m", "compiler", "sandbox", "serve", "--port", str(port),
             "--db", str(scene.directory / "sandbox.sqlite"), "--seed", str(plan)],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("billplan sandbox serve seeded from a hostile plan and started serving")
    assert served.returncode == 1
    assert f"{plan}:" in served.stderr
    assert scene.attacker.received == []
    assert CANARY not in served.stdout + served.stderr
