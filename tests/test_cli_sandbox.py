"""`billplan sandbox serve`: the emulators as a real HTTP server, seeded from a plan."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# The plan names no host: the served sandbox is chosen where billplan runs
# (BILLPLAN_SANDBOX_URL), and gets the sandbox's token, never RUDDR_API_TOKEN's.
PLAN = """\
version: 1
providers:
  ruddr: {type: ruddr}
defaults: {currency: USD, ruddr: {invoice_item: aba04832-216c-463e-8998-c520948f707c}}
projects:
  acme:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    milestones:
      kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _billplan(*args: str, cwd: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BILLPLAN_SANDBOX_URL": f"http://127.0.0.1:{port}",
        "RUDDR_API_TOKEN": "a-real-token-that-must-stay-home",
    }
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_served_sandbox_seeded_from_a_plan_takes_an_apply_and_converges(tmp_path: Path) -> None:
    port = _free_port()
    (tmp_path / "plan.yaml").write_text(PLAN)
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "compiler", "sandbox", "serve", "--port", str(port),
         "--db", str(tmp_path / "sandbox.sqlite"), "--seed", str(tmp_path / "plan.yaml")],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the sandbox server did not start"
                time.sleep(0.1)
        applied = _billplan(
            "apply", str(tmp_path / "plan.yaml"), "--auto-approve", cwd=root, port=port
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "Apply complete: 1 created." in applied.stdout
        again = _billplan(
            "plan", str(tmp_path / "plan.yaml"), "--detailed-exitcode", cwd=root, port=port
        )
        assert again.returncode == 0, again.stdout + again.stderr
        hosts = " ".join(again.stdout.split())
        assert f"127.0.0.1:{port} a served sandbox (BILLPLAN_SANDBOX_URL): ruddr" in hosts
        assert "(the sandbox's token)" in hosts
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert "sandbox: created Ruddr project d077258e-2158-4f34-aabd-97e971d0c18d" in output
    # What to set is printed, not a base_url for the plan.
    assert f"export BILLPLAN_SANDBOX_URL=http://127.0.0.1:{port}" in output
    assert "base_url" not in output
