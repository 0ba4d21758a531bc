"""Where credentials may go: a plan never chooses the host a token is sent to, nor which
variable is sent. Hosts are the vendors' own over https, or set where billplan runs
(`--endpoint VENDOR=URL`, BILLPLAN_<VENDOR>_BASE_URL, a served sandbox's BILLPLAN_SANDBOX_URL);
`token_env` names only the vendor's variable or it followed by `_SUFFIX`; `dsn_env` only
BILLPLAN_PG_DSN or BILLPLAN_PG_DSN_<SUFFIX>. validate says so at the line, and every client
refuses again at run time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from support import (
    AS_OF,
    INVOICE_ITEM,
    PLAN,
    PROJECT_ID,
    admin_of,
    billplan,
    hosts_outside_the_plan,
    serving,
    write_plan,
)
from support_coperniq import Admin as CoperniqAdmin

from compiler import credentials
from compiler.credentials import Endpoint, EndpointError, Hosts, checked_url
from compiler.model.change import Plan
from compiler.providers import PROVIDERS, ConfigurationError, ProviderError
from compiler.render.plan import MARKDOWN_LIMIT, print_text, to_markdown
from compiler.sandbox import SANDBOX_TOKEN, Sandbox, build_sandbox
from compiler.validate import check, plan_schema
from compiler.workspace import WorkspaceError, open_workspace

CANARY = "canary-b81f-never-shown"


def _plan(tmp_path: Path, connection: str, state: str = "") -> Path:
    head = (
        f"version: 1\nproviders:\n  ruddr: {connection}\n{state}"
        f"defaults:\n  currency: USD\n  ruddr: {{invoice_item: {INVOICE_ITEM}}}\n"
    )
    return write_plan(tmp_path / "billing", PLAN, head=head) / "plan.yaml"


def _errors(path: Path) -> list[str]:
    return [str(d) for d in check(path, AS_OF).diagnostics]


# ---- validate: at the line, saying what to do instead ------------------------------------


def test_a_base_url_in_a_plan_is_refused_at_its_key_naming_the_variable_and_flag_to_use(
    tmp_path: Path,
) -> None:
    path = _plan(tmp_path, "{type: ruddr, base_url: 'https://www.ruddr.io/api/workspace'}")

    (error,) = _errors(path)

    assert error.startswith(f"{path}:3:24: $.providers.ruddr.base_url: `base_url` is not read")
    assert "set BILLPLAN_RUDDR_BASE_URL=URL or pass --endpoint ruddr=URL" in error
    assert "BILLPLAN_SANDBOX_URL" in error


@pytest.mark.parametrize(
    "named", ["GITHUB_TOKEN", "BILLPLAN_PG_DSN", "KANTATA_API_TOKEN", "RUDDR_API_TOKENX"]
)
def test_a_token_env_outside_the_vendors_own_family_is_refused_at_its_line(
    named: str, tmp_path: Path
) -> None:
    path = _plan(tmp_path, f"{{type: ruddr, token_env: {named}}}")

    (error,) = _errors(path)

    assert error.startswith(f"{path}:3:") and "$.providers.ruddr.token_env:" in error
    assert f"'{named}' is not a Ruddr token variable" in error
    assert "RUDDR_API_TOKEN, or RUDDR_API_TOKEN_ followed by a suffix" in error


def test_a_token_env_of_the_vendors_family_names_a_second_workspace(tmp_path: Path) -> None:
    path = _plan(tmp_path, "{type: ruddr, token_env: RUDDR_API_TOKEN_EU}")

    assert _errors(path) == []


@pytest.mark.parametrize("named", ["DATABASE_URL", "ACME_PG_DSN", "RUDDR_API_TOKEN"])
def test_a_dsn_env_other_than_billplans_own_is_refused_at_its_line(
    named: str, tmp_path: Path
) -> None:
    state = f"state: {{backend: postgres, name: acme, dsn_env: {named}}}\n"
    path = _plan(tmp_path, "{type: ruddr}", state)

    (error,) = _errors(path)

    assert error.startswith(f"{path}:4:") and "$.state.dsn_env:" in error
    assert "BILLPLAN_PG_DSN, or BILLPLAN_PG_DSN_ followed by a suffix" in error


def test_a_dsn_env_of_billplans_family_is_valid(tmp_path: Path) -> None:
    state = "state: {backend: postgres, name: acme, dsn_env: BILLPLAN_PG_DSN_ACME}\n"

    assert _errors(_plan(tmp_path, "{type: ruddr}", state)) == []


def test_state_commands_refuse_a_hostile_dsn_env_at_its_line_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://ci:{CANARY}@127.0.0.1:1/prod")
    state = "state: {backend: postgres, name: acme, dsn_env: DATABASE_URL}\n"
    path = _plan(tmp_path, "{type: ruddr}", state)

    run = billplan("state", "list", path)

    assert run.code == 1
    assert f"{path}:4:" in run.err and "$.state.dsn_env" in run.err
    assert CANARY not in run.text


# ---- the schema says the same, for editors --------------------------------------------------


def test_the_schema_refuses_base_url_with_what_to_use_instead() -> None:
    from jsonschema import Draft202012Validator

    plan = {"version": 1, "providers": {"ruddr": {"type": "ruddr", "base_url": "https://x"}}}
    (error,) = Draft202012Validator(plan_schema()).iter_errors(plan)

    assert list(error.absolute_path) == ["providers", "ruddr", "base_url"]
    assert "BILLPLAN_<VENDOR>_BASE_URL" in error.schema["x-refused"]


def test_the_schemas_token_variables_are_the_providers_own_families() -> None:
    pattern = plan_schema()["$defs"]["provider"]["properties"]["token_env"]["pattern"]
    owns = "|".join(provider.default_token_env for provider in PROVIDERS.values())

    assert sorted(pattern.removeprefix("^(").split(")")[0].split("|")) == sorted(owns.split("|"))
    assert pattern.endswith(f"){credentials.SUFFIX}$")
    dsn = plan_schema()["$defs"]["state"]["properties"]["dsn_env"]["pattern"]
    assert dsn == credentials.family(credentials.DSN_ENV)


# ---- the clients refuse too: defence in depth ------------------------------------------------


def test_a_client_refuses_a_base_url_in_its_configuration() -> None:
    with pytest.raises(ConfigurationError, match="`base_url` is not read from a plan"):
        PROVIDERS["ruddr"]("ruddr", {"type": "ruddr", "base_url": "http://127.0.0.1:1"}, token="t")


def test_a_client_refuses_another_variable_as_its_token_without_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)

    with pytest.raises(ConfigurationError, match="not a Ruddr token variable") as raised:
        PROVIDERS["ruddr"]("ruddr", {"type": "ruddr", "token_env": "GITHUB_TOKEN"})
    assert CANARY not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    ["http://api.example.com/v1", "http://10.0.0.1:8080", "ftp://127.0.0.1", "https://",
     "https://user:pw@api.example.com", "https://api.example.com/?to=evil", "not a url"],
)  # fmt: skip
def test_a_client_sends_no_token_over_plain_http_to_another_machine_or_to_an_odd_url(
    url: str,
) -> None:
    with pytest.raises(ConfigurationError):
        PROVIDERS["ruddr"]("ruddr", {"type": "ruddr"}, base_url=url, token="t")


@pytest.mark.parametrize(
    "url",
    ["https://www.ruddr.io/api/workspace", "http://127.0.0.1:8765/ruddr/api/workspace",
     "http://localhost:8765", "http://[::1]:8765", "https://proxy.internal:8443/ruddr/"],
)  # fmt: skip
def test_https_anywhere_and_http_to_this_machine_are_accepted(url: str) -> None:
    assert checked_url(url, "test") == url.rstrip("/")


# ---- hosts set where billplan runs ----------------------------------------------------------


def test_a_vendors_host_comes_from_its_variable_and_the_flag_wins() -> None:
    environ = {"BILLPLAN_RUDDR_BASE_URL": "https://eu.example/ruddr"}

    by_variable = Hosts.configured(environ, PROVIDERS)
    by_flag = Hosts.configured(environ, PROVIDERS, ["ruddr=https://us.example/ruddr"])

    assert by_variable.endpoint("r", "ruddr", "https://x", "RUDDR_API_TOKEN") == Endpoint(
        "r", "ruddr", "https://eu.example/ruddr", "BILLPLAN_RUDDR_BASE_URL", "RUDDR_API_TOKEN"
    )
    assert by_flag.vendors["ruddr"].url == "https://us.example/ruddr"
    assert by_flag.vendors["ruddr"].source == "--endpoint"
    assert by_flag.endpoint("k", "kantata", "https://k", "KANTATA_API_TOKEN").chosen_by == "default"


@pytest.mark.parametrize(
    ("environ", "flags", "message"),
    [
        ({"BILLPLAN_RUDDR_BASE_URL": "http://evil.example"}, [],
         "BILLPLAN_RUDDR_BASE_URL: http://evil.example is plain http to evil.example"),
        ({}, ["ruddr-eu=https://x"], "VENDOR one of coperniq, kantata, ruddr, wethod"),
        ({}, ["https://x"], "give VENDOR=URL"),
        ({"BILLPLAN_SANDBOX_URL": "http://192.168.1.5:8765"}, [],
         "BILLPLAN_SANDBOX_URL: http://192.168.1.5:8765 is plain http"),
    ],
)  # fmt: skip
def test_a_bad_host_setting_is_refused_naming_where_it_was_set(
    environ: dict[str, str], flags: list[str], message: str
) -> None:
    with pytest.raises(EndpointError, match=re.escape(message)):
        Hosts.configured(environ, PROVIDERS, flags)


def test_hosts_are_set_per_vendor_so_a_connection_cannot_borrow_another_vendors_host() -> None:
    # A workflow points Ruddr at a proxy; a plan renames its Kantata connection `ruddr`.
    hosts = Hosts.configured({"BILLPLAN_RUDDR_BASE_URL": "https://ruddr-proxy.internal"}, PROVIDERS)

    endpoint = hosts.endpoint("ruddr", "kantata", "https://api.mavenlink.com/api/v1", "K")

    assert endpoint.base_url == "https://api.mavenlink.com/api/v1"
    assert endpoint.chosen_by == "default"


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    with build_sandbox() as sandbox, serving(sandbox) as root:
        yield sandbox, root


def test_a_served_sandbox_gets_the_sandboxs_token_never_the_real_one(
    served: tuple[Sandbox, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, root = served
    monkeypatch.setenv("RUDDR_API_TOKEN", CANARY)
    directory = write_plan(tmp_path / "billing")

    with open_workspace(
        directory, AS_OF, sandbox=False, hosts=Hosts.configured({}, PROVIDERS, (), root)
    ) as workspace:
        (endpoint,) = workspace.endpoints
        assert workspace.providers["ruddr"].token == SANDBOX_TOKEN
    assert endpoint.token_env is None and endpoint.chosen_by == "--sandbox-url"
    assert endpoint.host == root.removeprefix("http://")


def test_sandbox_url_makes_an_apply_over_loopback_with_one_flag(
    served: tuple[Sandbox, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, root = served
    monkeypatch.setenv("RUDDR_API_TOKEN", CANARY)
    directory = write_plan(tmp_path / "billing")
    with admin_of(sandbox) as admin:
        admin.add_project()
        admin.add_invoice_item()
        admin.no_rate_limit()

    run = billplan("apply", directory, "--sandbox-url", root, "--auto-approve",
                   "--as-of", AS_OF.isoformat())  # fmt: skip

    assert run.code == 0, run.text
    assert "Apply complete: 7 created." in run.out
    assert f"{root.removeprefix('http://')}  a served sandbox (--sandbox-url)" in run.out
    assert CANARY not in run.text


def test_the_in_process_sandbox_and_a_served_one_cannot_be_mixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLPLAN_SANDBOX_URL", "http://127.0.0.1:8765")
    directory = write_plan(tmp_path / "billing")

    with pytest.raises(WorkspaceError, match="use one of them"):
        open_workspace(directory, date(2026, 11, 23), sandbox=True)


# ---- plan output names the hosts -------------------------------------------------------------


ENDPOINTS = [
    Endpoint("ruddr", "ruddr", "https://www.ruddr.io/api/workspace", "default", "RUDDR_API_TOKEN"),
    Endpoint("ruddr-eu", "ruddr", "https://www.ruddr.io/api/workspace", "default",
             "RUDDR_API_TOKEN_EU"),
    Endpoint("kantata", "kantata", "https://kantata-proxy.internal/api/v1",
             "BILLPLAN_KANTATA_BASE_URL", "KANTATA_API_TOKEN"),
]  # fmt: skip


def test_plan_text_names_each_host_who_chose_it_and_the_tokens_sent_there() -> None:
    from rich.console import Console

    console = Console(width=200, record=True)
    print_text(Plan(endpoints=ENDPOINTS), console)
    text = console.export_text()

    assert "Hosts contacted (set where billplan runs, never by the plan):" in text
    assert (
        "www.ruddr.io  the vendor's own: ruddr ($RUDDR_API_TOKEN), "
        "ruddr-eu ($RUDDR_API_TOKEN_EU)" in text
    )
    assert (
        "kantata-proxy.internal  set by BILLPLAN_KANTATA_BASE_URL: kantata ($KANTATA_API_TOKEN)"
        in text
    )


def test_the_pull_request_comment_names_the_hosts_in_its_head() -> None:
    markdown = to_markdown(Plan(endpoints=ENDPOINTS))

    assert "**Hosts contacted** (set where billplan runs, never by the plan)" in markdown
    assert "| www.ruddr.io | the vendor's own | ruddr (\\$RUDDR\\_API\\_TOKEN), " in markdown
    assert "| kantata-proxy.internal | set by BILLPLAN\\_KANTATA\\_BASE\\_URL |" in markdown


def test_the_hosts_in_the_comment_stay_one_row_per_vendor_however_many_connections() -> None:
    many = [
        Endpoint(f"c{n}", vendor, f"https://{vendor}.example", "default", f"X_{n}")
        for n in range(5000)
        for vendor in ("ruddr", "kantata", "wethod", "coperniq")
    ]

    markdown = to_markdown(Plan(endpoints=many))

    assert len(markdown) < MARKDOWN_LIMIT
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and ".example" in line]
    assert len(rows) == 4


def test_plan_json_lists_the_endpoints(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")

    run = billplan("plan", directory, "--sandbox", "--format", "json", "--as-of", "2026-11-23")

    assert run.code == 0, run.text
    (endpoint,) = json.loads(run.out)["endpoints"]
    assert endpoint == {
        "connection": "ruddr",
        "vendor": "ruddr",
        "host": "in process (no network)",
        "base_url": "http://sandbox.invalid/ruddr/api/workspace",
        "chosen_by": "--sandbox",
        "token_env": None,
    }


@pytest.mark.parametrize("path", ["https://attacker.invalid/x", "//attacker.invalid/x", "x"])
def test_a_client_sends_nothing_to_an_address_that_is_not_a_path_below_its_host(
    path: str,
) -> None:
    import httpx

    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    ruddr = PROVIDERS["ruddr"]("ruddr", {"type": "ruddr"}, transport=transport, token="t")

    with pytest.raises(ProviderError, match=re.escape("not a path below https://www.ruddr.io")):
        ruddr.request("GET", path)
    ruddr.close()
    assert sent == []


# An id (a plan's project id, a vendor's object id) that would climb out of the base path
# (to another service behind the same gateway host) or add a query or fragment of its own.
CLIMBING = [
    "/projects/../../../vault/secrets",
    "/projects/x/..",
    "/projects/./x",
    "/projects/%2e%2e/%2E%2e/vault",
    "/projects/x?admin=1",
    "/projects/x#fragment",
    "/projects/..\\..\\vault",
]


@pytest.mark.parametrize("path", CLIMBING)
def test_a_client_sends_nothing_to_a_path_that_climbs_out_of_its_base_path(path: str) -> None:
    import httpx

    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    base = "https://gateway.example/ruddr/api/workspace"
    ruddr = PROVIDERS["ruddr"](
        "ruddr", {"type": "ruddr"}, transport=transport, base_url=base, token="t"
    )

    with pytest.raises(ProviderError, match=re.escape(f"not a path below {base}")):
        ruddr.request("GET", path)
    ruddr.close()
    assert sent == []


def test_a_project_id_cannot_take_the_token_to_another_service_of_the_allowed_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The vendors' emulators served on one host, as services behind one gateway: a Ruddr
    # project id that climbs out of /ruddr/api/workspace would reach /coperniq/.
    climbing = "../../../../coperniq/v1/catalog-items"
    monkeypatch.setenv("RUDDR_API_TOKEN", SANDBOX_TOKEN)
    directory = write_plan(tmp_path / "billing", PLAN.replace(PROJECT_ID, climbing))
    with (
        build_sandbox() as sandbox,
        serving(sandbox) as root,
        hosts_outside_the_plan(root, "ruddr"),
        admin_of(sandbox, CoperniqAdmin) as coperniq,
    ):
        run = billplan("plan", directory, "--as-of", "2026-11-23")
        reached = coperniq.requests()

    assert run.code == 1
    # Refused before any request: a Ruddr id is a UUID. Had it been sent, the client's path
    # guard would refuse it (test_a_client_sends_nothing_to_a_path_that_climbs_out_of_...).
    assert (
        f"Ruddr ids are UUIDs (like d077258e-2158-4f34-aabd-97e971d0c18d); this charge's "
        f"project_id '{climbing}' is not" in run.errors
    )
    assert reached == []


def test_apply_of_a_saved_plan_names_the_hosts_this_apply_contacts(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "billing")
    saved = tmp_path / "plan.json"
    assert billplan("plan", directory, "--sandbox", "-o", saved, "--as-of", "2026-11-23").code == 0

    run = billplan("apply", saved, directory, "--sandbox", "--auto-approve")

    assert run.code == 0, run.text
    assert "in process (no network)  the built-in sandbox (--sandbox): ruddr" in run.out
