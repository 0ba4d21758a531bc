"""The cost of one state write as the state grows: local file and postgres, as `apply` writes.

For each state size N, a state of N entries (shaped like a first apply's: one per object, about
600 bytes of JSON each) is written once, untimed. Then, under the state's lock as `apply` holds
it, W writes follow, each as apply makes them for a create: the previous create's outcome
(its entry, now managed) and the next create pending. Printed: the median and mean time of a
write, and the time the lock's release takes (where the state file is written whole), per N.
A write whose cost does not grow with the state shows the same figure at every N.

Postgres runs against BILLPLAN_PG_DSN when it is set; otherwise against a throwaway server
(initdb and pg_ctl from PATH or /usr/lib/postgresql, as the tests start one; its default
durability settings: every commit is flushed to disk). `--backends local` skips it.

    .venv/bin/python bench/bench_apply_state.py [--sizes 100,1000,5000,10000] [--writes 200]
        [--no-fsync]

--no-fsync replaces os.fsync by a no-op for the local backend's run: what billplan itself
spends per write, apart from the disk (whose fsync on a shared machine varies tenfold).

It runs against whatever `compiler` Python imports: to compare with another checkout, run it
with PYTHONPATH set to that checkout (the first line says which one ran).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import compiler
from compiler.state import Entry, State
from compiler.state.local import LocalBackend

SIZES = (100, 1_000, 5_000, 10_000)


def entry(n: int, status: str = "managed") -> Entry:
    """An entry shaped like a Ruddr invoice item's: the body billplan sent, and its id."""
    return Entry(
        address=f"client-{n // 100:04d}/recurring/retainer/{n % 100:03d}",
        provider="ruddr",
        type="ruddr_invoice_item",
        project=f"client-{n // 100:04d}",
        project_id=str(uuid.UUID(int=n // 100)),
        remote_id=None if status == "pending" else str(uuid.UUID(int=10**9 + n)),
        attributes={
            "projectId": str(uuid.UUID(int=n // 100)),
            "invoiceItemId": "aba04832-216c-463e-8998-c520948f707c",
            "date": "2026-03-01",
            "description": f"Monthly retainer for March 2026 under MSA-{n:06d}, in advance",
            "amount": Decimal("12500.00") + n,
            "currency": "USD",
            "notes": "billplan",
        },
        currency="USD",
        date=date(2026, 3, 1),
        amount=Decimal("12500.00") + n,
        status=status,  # type: ignore[arg-type]
        sent_at=datetime(2026, 11, 23, 9, 15, tzinfo=UTC) if status == "pending" else None,
    )


def measure(backend: Any, size: int, writes: int) -> tuple[list[float], float]:
    """W writes of a create's outcome and the next create pending, on a state of `size`
    entries; each write's seconds, and the lock release's."""
    state = State()
    for n in range(size):
        state.entries[entry(n).address] = entry(n)
    with backend.lock("setup"):
        backend.read()
        backend.write(state)
    times: list[float] = []
    lock = backend.lock("apply")
    lock.__enter__()
    state = backend.read()
    previous: Entry | None = None
    for n in range(size, size + writes):
        if previous is not None:
            state.entries[previous.address] = entry(n - 1)
        previous = entry(n, "pending")
        state.entries[previous.address] = previous
        started = time.perf_counter()
        backend.write(state)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    lock.__exit__(None, None, None)
    return times, time.perf_counter() - started


def report(name: str, results: dict[int, tuple[list[float], float]]) -> None:
    print(f"\n{name}:")
    print(f"  {'entries':>8} {'median ms/write':>15} {'mean ms/write':>13} {'release ms':>10}")
    for size, (times, release) in sorted(results.items()):
        print(
            f"  {size:>8,} {1000 * statistics.median(times):>15.2f} "
            f"{1000 * statistics.fmean(times):>13.2f} {1000 * release:>10.1f}"
        )
    first, last = min(results), max(results)
    growth = statistics.median(results[last][0]) / statistics.median(results[first][0])
    print(f"  a write at {last:,} entries costs x{growth:.2f} one at {first:,} (1.00: flat)")


def local(directory: Path) -> Callable[[int], Any]:
    return lambda size: LocalBackend(directory / f"state-{size}.json")


def postgres(dsn: str) -> Callable[[int], Any]:
    from compiler.state.postgres import Connection, PostgresBackend

    place = "bench"
    run = uuid.uuid4().hex[:8]
    return lambda size: PostgresBackend(
        f"bench-{run}-{size}", Connection("BILLPLAN_PG_DSN", dsn, place)
    )


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server on a free loopback port in a temporary directory; its DSN."""

    def binary(name: str) -> str:
        found = shutil.which(name) or next(
            iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None
        )
        if found is None:
            raise SystemExit(f"{name} not found: install PostgreSQL or set BILLPLAN_PG_DSN")
        return str(found)

    prefix: list[str] = []
    uid = None
    if os.geteuid() == 0:  # initdb and pg_ctl refuse root: run them as `postgres`
        uid = pwd.getpwnam("postgres").pw_uid
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="bench-pg-", dir="/tmp"))
    password = secrets.token_hex(8)
    (root / "pw").write_text(password + "\n")
    if uid is not None:
        os.chown(root, uid, -1)
        os.chown(root / "pw", uid, -1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"
    quiet: dict[str, Any] = {"check": True, "capture_output": True, "cwd": root}
    subprocess.run(
        [*prefix, binary("initdb"), "-D", str(data), "-U", "bench", f"--pwfile={root / 'pw'}",
         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-instructions"],
        **quiet,
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
    subprocess.run(
        [*prefix, binary("pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options,
         "-w", "start"],
        **quiet,
    )  # fmt: skip
    try:
        yield f"postgresql://bench:{password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, binary("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--backends", default="local,postgres")
    parser.add_argument("--no-fsync", action="store_true", help="local: os.fsync a no-op")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"compiler from {Path(compiler.__file__).parent}; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        if "local" in backends:
            make = local(Path(tmp))
            fsync = os.fsync
            if args.no_fsync:
                os.fsync = lambda fd: None
            try:
                results = {s: measure(make(s), s, args.writes) for s in sizes}
            finally:
                os.fsync = fsync
            report("local file" + (" (fsync a no-op)" if args.no_fsync else ""), results)
        if "postgres" in backends:
            given = os.environ.get("BILLPLAN_PG_DSN")
            with contextlib.nullcontext(given) if given else throwaway_postgres() as dsn:
                make = postgres(dsn)
                report("postgres", {s: measure(make(s), s, args.writes) for s in sizes})


if __name__ == "__main__":
    main()
