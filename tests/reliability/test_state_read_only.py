"""`plan` only reads state: a pull-request job can plan with a read-only database role (the
recipe in docs/ci.md), and a plan neither takes nor waits for the state's lock. The same role
cannot apply: the pull request's database credential cannot write billplan's state.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from support import Remote, remote, variant, write_plan

from compiler.state.postgres import PostgresBackend

# The recipe docs/ci.md gives, for a role named billplan_pr_reader (here with a test name).
READ_ONLY_ROLE = """
CREATE ROLE {role} LOGIN PASSWORD '{password}';
ALTER ROLE {role} SET default_transaction_read_only = on;
GRANT SELECT ON billplan_state, billplan_state_entry TO {role};
"""


@pytest.fixture
def ruddr() -> Iterator[Remote]:
    with remote() as served:
        yield served


@pytest.fixture
def applied(ruddr: Remote, pg_dsn: str, tmp_path: Path) -> tuple[Path, str]:
    """A plan applied with a postgres state (as the apply job would), then changed."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    head = ruddr.head + f"state: {{backend: postgres, name: {name}}}\n"
    directory = write_plan(tmp_path / "billing", head=head)
    assert ruddr.billplan("apply", directory).code == 0
    write_plan(directory, variant(("amount: 10000}", "amount: 12000}")), head=head)
    return directory, name


@pytest.fixture
def reader_dsn(pg_dsn: str, applied: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A read-only role made with the documented recipe; BILLPLAN_PG_DSN names it."""
    role, password = f"reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(READ_ONLY_ROLE.format(role=role, password=password))
    params = {**conninfo_to_dict(pg_dsn), "user": role, "password": password}
    dsn = make_conninfo(**params)
    monkeypatch.setenv("BILLPLAN_PG_DSN", dsn)
    return dsn


def test_a_plan_runs_with_a_read_only_database_role(
    ruddr: Remote, applied: tuple[Path, str], reader_dsn: str
) -> None:
    directory, _ = applied

    run = ruddr.billplan("plan", directory)

    assert run.code == 0, run.text
    assert "Plan: 0 to create, 1 to update, 0 to delete, 0 locked." in run.out


def test_the_read_only_role_cannot_apply(
    ruddr: Remote, applied: tuple[Path, str], reader_dsn: str
) -> None:
    directory, _ = applied

    run = ruddr.billplan("apply", directory)

    assert run.code == 1
    assert "cannot lock postgres state" in run.errors
    assert "cannot execute INSERT in a read-only transaction" in run.errors
    assert all(m["fee"] != 12000 for m in ruddr.admin.objects("ruddr_invoice_milestone"))


def test_a_plan_neither_takes_nor_waits_for_the_state_lock(
    ruddr: Remote, applied: tuple[Path, str], pg_dsn: str
) -> None:
    directory, name = applied
    holder = PostgresBackend.from_config({"backend": "postgres", "name": name})

    with holder.lock("apply"):  # another run is applying
        run = ruddr.billplan("plan", directory)

    assert run.code == 0, run.text
    assert "Plan: 0 to create, 1 to update" in run.out
