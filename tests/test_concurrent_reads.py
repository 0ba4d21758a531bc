"""How a plan reads the vendors: each in a thread of its own under its own rate limit, the
projects state holds read while the plan is still expanding, each vendor's documented burst
used, and no read made that can be avoided. Against emulators served over loopback (as a
plan in CI reaches a vendor) or in this process."""

from __future__ import annotations

import contextlib
import ssl
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.apply import apply_plan
from compiler.credentials import Hosts
from compiler.model import Observed, Resource
from compiler.providers import PROVIDERS
from compiler.providers.base import ProviderError, RateLimiter
from compiler.sandbox import DEFAULT_ROOT, Sandbox, build_sandbox
from compiler.sandbox.bootstrap import prepare
from compiler.validate import check
from compiler.workspace import Workspace, open_workspace
from tests.support import AS_OF, INVOICE_ITEM, Clock, serving

WETHOD_PROJECTS = (7301, 7302)
RUDDR_PROJECTS = tuple(str(uuid.UUID(int=n, version=4)) for n in range(1, 6))


def milestones(count: int) -> str:
    return ", ".join(
        f"m{n}: {{description: Part {n}, date: 2026-0{1 + n % 9}-15, amount: {1000 + n}}}"
        for n in range(count)
    )


def wethod_plan(projects: Sequence[int], per_project: int = 3) -> str:
    body = "".join(
        f"  p{project}:\n    provider: wethod\n    project_id: {project}\n"
        f"    milestones: {{{milestones(per_project)}}}\n"
        for project in projects
    )
    head = "version: 1\nproviders: {wethod: {type: wethod, company: acme}}\n"
    return head + "defaults: {currency: EUR}\nprojects:\n" + body


def two_vendor_plan() -> str:
    """One Wethod project and one Ruddr project."""
    head = (
        "version: 1\nproviders:\n  wethod: {type: wethod, company: acme}\n"
        "  ruddr: {type: ruddr}\n"
        f"defaults: {{currency: EUR, ruddr: {{invoice_item: {INVOICE_ITEM}}}}}\nprojects:\n"
    )
    return (
        head
        + "  brand:\n    provider: wethod\n    project_id: 7301\n"
        + f"    milestones: {{{milestones(2)}}}\n"
        + f"  cloud:\n    provider: ruddr\n    project_id: {RUDDR_PROJECTS[0]}\n"
        + f"    milestones: {{{milestones(2)}}}\n"
    )


def ruddr_plan(projects: Sequence[str]) -> str:
    head = (
        "version: 1\nproviders: {ruddr: {type: ruddr}}\n"
        f"defaults: {{currency: USD, ruddr: {{invoice_item: {INVOICE_ITEM}}}}}\nprojects:\n"
    )
    return head + "".join(
        f"  p{n}:\n    provider: ruddr\n    project_id: {project}\n"
        f"    milestones: {{{milestones(1)}}}\n"
        for n, project in enumerate(projects)
    )


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plan.yaml").write_text(text)
    return directory


@contextlib.contextmanager
def served(directory: Path) -> Iterator[tuple[Hosts, Sandbox]]:
    """The emulators, seeded with what the plan at `directory` refers to, over loopback; the
    hosts that send every connection there (as `--sandbox-url` does)."""
    checked = check(directory, AS_OF)
    assert checked.document is not None, checked.diagnostics
    root = checked.document.root
    with build_sandbox() as sandbox:
        prepare(sandbox, checked.items, root["projects"], root["providers"])
        for emulator in sandbox.emulators.values():
            emulator.settings = replace(emulator.settings, rate_limit_per_second=None)
        with serving(sandbox) as url:
            yield Hosts.configured({}, PROVIDERS, (), url), sandbox


def apply(directory: Path, hosts: Hosts) -> None:
    with (
        open_workspace(directory, AS_OF, sandbox=False, hosts=hosts) as workspace,
        workspace.backend.lock("test"),
    ):
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        assert apply_plan(plan, workspace.providers, workspace.backend, state).ok


def admin(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT)


def requests(sandbox: Sandbox, vendor: str) -> list[dict[str, Any]]:
    with admin(sandbox) as client:
        return list(client.get(f"/{vendor}/_sandbox/requests").json())


def clear(sandbox: Sandbox, *vendors: str) -> None:
    with admin(sandbox) as client:
        for vendor in vendors:
            client.delete(f"/{vendor}/_sandbox/requests")


def listed(sandbox: Sandbox, vendor: str) -> list[str]:
    """The vendor's list requests, as path and query."""
    return [
        f"{r['path']}?{r.get('query', '')}"
        for r in requests(sandbox, vendor)
        if r["method"] == "GET" and r["path"].endswith("/invoices")
    ]


def read_ahead_done(workspace: Workspace) -> None:
    for thread in workspace.reading_ahead.values():
        thread.join(timeout=30)


# ---- reading while the plan expands -------------------------------------------------------


def test_a_plan_reads_the_projects_state_holds_before_it_has_expanded(tmp_path: Path) -> None:
    directory = write(tmp_path / "plan", wethod_plan(WETHOD_PROJECTS))
    with served(directory) as (hosts, sandbox):
        apply(directory, hosts)
        clear(sandbox, "wethod")
        with open_workspace(
            directory, AS_OF, sandbox=False, hosts=hosts, read_ahead=True
        ) as workspace:
            read_ahead_done(workspace)
            before_refresh = listed(sandbox, "wethod")
            state = workspace.state_to_plan()
            plan = workspace.plan(state, workspace.refresh(state))
        assert not plan.has_changes
        # The list was read while the plan was opened, and not again by the refresh.
        assert len(before_refresh) == 1 and "in%3A7301%2C7302" in before_refresh[0]
        assert listed(sandbox, "wethod") == before_refresh


def test_a_project_the_plan_adds_is_listed_on_its_own_beside_those_read_ahead(
    tmp_path: Path,
) -> None:
    directory = write(tmp_path / "plan", wethod_plan(WETHOD_PROJECTS))
    with served(directory) as (hosts, sandbox):
        apply(directory, hosts)
        write(directory, wethod_plan((*WETHOD_PROJECTS, 7303)))
        with admin(sandbox) as client:
            body = {"id": 7303, "company": "acme", "name": "Project 7303"}
            assert client.post("/wethod/_sandbox/projects", json=body).status_code == 201
        clear(sandbox, "wethod")
        with open_workspace(
            directory, AS_OF, sandbox=False, hosts=hosts, read_ahead=True
        ) as workspace:
            state = workspace.state_to_plan()
            plan = workspace.plan(state, workspace.refresh(state))
        assert plan.count("create") == 3  # the new project's milestones, no more
        # State's two projects in the query read ahead, the new one in its own: nothing twice.
        queries = listed(sandbox, "wethod")
        assert len(queries) == 2
        assert "in%3A7301%2C7302&" in queries[0] + "&" and "in%3A7303" in queries[1]


def test_a_refresh_of_state_read_again_asks_the_vendor_again(tmp_path: Path) -> None:
    # Apply reads state again under its lock: pages read before it was taken may be stale.
    directory = write(tmp_path / "plan", wethod_plan(WETHOD_PROJECTS))
    with served(directory) as (hosts, sandbox):
        apply(directory, hosts)
        clear(sandbox, "wethod")
        with open_workspace(
            directory, AS_OF, sandbox=False, hosts=hosts, read_ahead=True
        ) as workspace:
            read_ahead_done(workspace)
            with workspace.backend.lock("test"):
                state = workspace.backend.read()
                workspace.refresh(state)
        assert len(listed(sandbox, "wethod")) == 2  # read ahead, then read again


def test_without_read_ahead_nothing_is_read_before_the_refresh(tmp_path: Path) -> None:
    directory = write(tmp_path / "plan", wethod_plan(WETHOD_PROJECTS))
    with served(directory) as (hosts, sandbox):
        apply(directory, hosts)
        clear(sandbox, "wethod")
        with open_workspace(directory, AS_OF, sandbox=False, hosts=hosts) as workspace:
            assert not workspace.reading_ahead
            assert listed(sandbox, "wethod") == []


def test_the_vendor_whose_limit_stretches_its_reads_longest_is_read_ahead_first(
    tmp_path: Path,
) -> None:
    # The plan waits for the slowest vendor; its thread starts before the others take turns.
    slow = two_vendor_plan().replace("company: acme}", "company: acme, max_rps: 1}")
    directory = write(tmp_path / "plan", slow)
    with served(directory) as (hosts, _):
        apply(directory, hosts)
        with open_workspace(
            directory, AS_OF, sandbox=False, hosts=hosts, read_ahead=True
        ) as workspace:
            read_ahead_done(workspace)
            assert list(workspace.reading_ahead) == ["wethod", "ruddr"]


def test_every_connection_verifies_with_one_tls_context_made_once(tmp_path: Path) -> None:
    # Loading the CA bundle takes tens of milliseconds: once, not once per connection.
    ruddr = PROVIDERS["ruddr"]("ruddr", {"type": "ruddr"}, token="t")
    wethod = PROVIDERS["wethod"]("wethod", {"type": "wethod", "company": "acme"}, token="t")
    contexts = [
        provider.client._transport._pool._ssl_context  # type: ignore[attr-defined]
        for provider in (ruddr, wethod)
    ]
    assert contexts[0] is contexts[1]
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname


# ---- the vendors read at once -------------------------------------------------------------


def test_each_vendor_is_read_in_a_thread_of_its_own_at_the_same_time(tmp_path: Path) -> None:
    directory = write(tmp_path / "plan", two_vendor_plan())
    # Each vendor's read waits until the other's has started: read in turn, it never would.
    both_reading = threading.Barrier(2, timeout=10)
    with open_workspace(directory, AS_OF, sandbox=True) as workspace:
        for provider in workspace.providers.values():
            original = provider.list

            def meeting(
                ids: Sequence[str | int], planned: Sequence[Resource] = (), read: Any = original
            ) -> list[Observed]:
                both_reading.wait()
                found: list[Observed] = read(ids, planned)
                return found

            provider.list = meeting  # type: ignore[method-assign]
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
    assert plan.count("create") == 4


def test_every_connection_that_refuses_is_named_when_they_are_read_at_once(
    tmp_path: Path,
) -> None:
    from compiler.workspace import WorkspaceError

    directory = write(tmp_path / "plan", two_vendor_plan())
    with open_workspace(directory, AS_OF, sandbox=True) as workspace:
        with admin(workspace.sandbox) as client:
            for vendor in ("ruddr", "wethod"):
                client.put(f"/{vendor}/_sandbox/settings", json={"api_access_enabled": False})
        state = workspace.backend.read()
        with pytest.raises(WorkspaceError, match="2 connections refused") as refused:
            workspace.refresh(state)
    assert "ruddr:" in str(refused.value) and "wethod:" in str(refused.value)


# ---- bursts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "burst"), [("ruddr", 60), ("coperniq", 100), ("wethod", 1000), ("kantata", 1)]
)
def test_each_vendor_sends_as_many_requests_at_once_as_its_limit_allows(
    vendor: str, burst: int
) -> None:
    # ruddr.openapi.yml: 20/s with a burst of 60; coperniq.rate-limits.yml: 100 in a second;
    # Wethod documents only an hour's 5,000 (a fifth of it at once, the rest spread over the
    # hour); Kantata a short window of unknown size.
    assert PROVIDERS[vendor].rate_burst == burst


def test_a_plan_that_lowers_the_rate_is_sent_at_most_a_seconds_worth_at_once() -> None:
    ruddr = PROVIDERS["ruddr"]("ruddr", {"type": "ruddr", "max_rps": 5}, token="t")
    assert (ruddr.limiter.per_second, ruddr.limiter.burst) == (5, 5)
    unlowered = PROVIDERS["ruddr"]("ruddr", {"type": "ruddr"}, token="t")
    assert (unlowered.limiter.per_second, unlowered.limiter.burst) == (20, 60)


def test_a_429_spends_the_burst_so_the_requests_after_it_are_paced() -> None:
    clock = Clock()
    answers = iter([429] + [200] * 20)
    sent: list[float] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return httpx.Response(next(answers), json={"results": [], "hasMore": False})

    limiter = RateLimiter(20, burst=60, clock=clock, sleep=clock.sleep)
    ruddr = PROVIDERS["ruddr"](
        "ruddr",
        {"type": "ruddr"},
        transport=httpx.MockTransport(vendor),
        token="t",
        sleep=clock.sleep,
        limiter=limiter,
    )
    for _ in range(20):
        ruddr.request("GET", "/projects")
    # The 429 at 0 s said Ruddr's bucket is emptier than ours: from then on, one request per
    # 1/20 s (with the limiter's headroom), not the rest of a 60-request burst at once.
    interval = 1 / (20 * RateLimiter.HEADROOM)
    assert sent[0] == 0
    assert all(at >= k * interval - 1e-9 for k, at in enumerate(sent[1:]))
    assert sent[-1] >= 19 * interval - 1e-9


# ---- reads that can be avoided ------------------------------------------------------------


def ruddr_requests(workspace: Workspace) -> list[tuple[str, str]]:
    with admin(workspace.sandbox) as client:
        logged = client.get("/ruddr/_sandbox/requests").json()
    return [(r["method"], r["path"].removeprefix("/api/workspace")) for r in logged]


def test_ruddrs_planned_projects_are_read_from_one_page_of_the_project_list(
    tmp_path: Path,
) -> None:
    directory = write(tmp_path / "plan", ruddr_plan(RUDDR_PROJECTS))
    with open_workspace(directory, AS_OF, sandbox=True) as workspace:
        state = workspace.backend.read()
        plan = workspace.plan(state, workspace.refresh(state))
        reads = ruddr_requests(workspace)
    assert plan.count("create") == len(RUDDR_PROJECTS)
    project_reads = [path for _, path in reads if path.startswith("/projects")]
    assert project_reads == ["/projects"]  # one page, not one read per project


def test_a_planned_ruddr_project_the_list_leaves_out_is_still_read_by_id(
    tmp_path: Path,
) -> None:
    directory = write(tmp_path / "plan", ruddr_plan(RUDDR_PROJECTS[:-1]))
    missing = RUDDR_PROJECTS[-1]
    with served(directory) as (hosts, sandbox):
        write(directory, ruddr_plan(RUDDR_PROJECTS))  # one project Ruddr does not hold
        with open_workspace(directory, AS_OF, sandbox=False, hosts=hosts) as workspace:
            state = workspace.backend.read()
            with pytest.raises(ProviderError, match=f"Ruddr project {missing} does not exist"):
                workspace.refresh(state)
        reads = [(r["method"], r["path"]) for r in requests(sandbox, "ruddr")]
    assert ("GET", f"/api/workspace/projects/{missing}") in reads
