"""A real PostgreSQL server for the state tests, and both state backends behind one fixture.

The server is started once per test session, on 127.0.0.1 and a free port, in a temporary
directory, with password authentication over TCP (so that the tests can check the password
never shows). `initdb` and `pg_ctl` refuse to run as root: as root, they run as the
`postgres` user, which then owns the directory. BILLPLAN_TEST_PG_DSN names an existing server
to use instead. Missing PostgreSQL binaries fail the tests, with what to install: a state
backend that CI never ran is not tested.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DSN_ENV = "BILLPLAN_TEST_PG_DSN"
SERVER_USER = "postgres"  # who runs the server when the tests run as root


@dataclass(frozen=True)
class Server:
    dsn: str
    password: str  # "" for a server given by BILLPLAN_TEST_PG_DSN


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
        found = str(candidates[-1]) if candidates else None
    if found is None:
        pytest.fail(
            f"PostgreSQL's `{name}` is not on PATH (nor in /usr/lib/postgresql/*/bin): the "
            "postgres state tests start a real server. Install PostgreSQL's server package "
            f"(e.g. apt-get install postgresql), or set {DSN_ENV} to a server to use.",
            pytrace=False,
        )
    return found


def _as_server_user() -> tuple[list[str], int | None]:
    """The prefix that runs a command as a user PostgreSQL accepts, and that user's uid."""
    if os.geteuid() != 0:
        return [], None
    try:
        uid = pwd.getpwnam(SERVER_USER).pw_uid
    except KeyError:
        pytest.fail(
            f"the tests run as root, and PostgreSQL refuses to: they run it as the "
            f"`{SERVER_USER}` user, which does not exist here. Create it (useradd "
            f"{SERVER_USER}) or run the tests as an ordinary user.",
            pytrace=False,
        )
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_USER, "--"], uid
    return ["su", SERVER_USER, "-s", "/bin/sh", "-c", '"$0" "$@"'], uid


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )


@contextlib.contextmanager
def _started_server() -> Iterator[Server]:
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    prefix, uid = _as_server_user()
    # As root, in /tmp: a private $TMPDIR could not be reached by the server's user.
    root = Path(tempfile.mkdtemp(prefix="billplan-test-pg-", dir="/tmp" if uid else None))
    password = "pw-" + secrets.token_hex(12)
    data = root / "data"
    try:
        (root / "pwfile").write_text(password + "\n", encoding="utf-8")
        if uid is not None:
            for path in (root, root / "pwfile"):
                os.chown(path, uid, -1)
        _run(
            [*prefix, initdb, "-D", str(data), "-U", "billplan", f"--pwfile={root / 'pwfile'}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
             "--no-instructions"],
            root,
        )  # fmt: skip
        for attempt in range(5):
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
                "-c fsync=off -c max_connections=100"
            )
            started = subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options,
                 "-w", "-t", "60", "start"],
                cwd=root, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            if started.returncode == 0:
                break
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
            if "already in use" not in log or attempt == 4:
                pytest.fail(f"PostgreSQL did not start:\n{started.stderr}\n{log}", pytrace=False)
        try:
            yield Server(f"postgresql://billplan:{password}@127.0.0.1:{port}/postgres", password)
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                cwd=root, capture_output=True, timeout=120,
            )  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    given = os.environ.get(DSN_ENV)
    if given:
        yield Server(given, "")
        return
    with _started_server() as server:
        yield server


@pytest.fixture
def pg_dsn(pg_server: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's connection string, also in BILLPLAN_PG_DSN (the default dsn_env)."""
    monkeypatch.setenv("BILLPLAN_PG_DSN", pg_server.dsn)
    return pg_server.dsn
