"""Every access problem before any write, all at once: a plan over four vendors names each
missing token, each rejected token, each missing permission and each unknown project in one
run, instead of one per run, and writes nothing.

The problems are made the way a real account makes them, through the emulators' admin
surfaces: a rotated Ruddr key, a Wethod token without the view permissions, an archived
Kantata workspace.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest
from support import billplan, serving

from compiler.sandbox import DEFAULT_ROOT, SANDBOX_TOKEN, build_sandbox
from compiler.sandbox.bootstrap import prepare
from compiler.validate import check

AS_OF = "2026-11-23"
RUDDR_PROJECT = "d077258e-2158-4f34-aabd-97e971d0c18d"
RUDDR_INVOICE_ITEM = "aba04832-216c-463e-8998-c520948f707c"
PROJECT_IDS = {"ruddr": RUDDR_PROJECT, "kantata": 41001, "wethod": 7301, "coperniq": 5120}
TOKENS = ("RUDDR_API_TOKEN", "KANTATA_API_TOKEN", "WETHOD_API_TOKEN", "COPERNIQ_API_KEY")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

HEAD = f"""\
version: 1
providers:
  ruddr: {{type: ruddr}}
  kantata: {{type: kantata}}
  wethod: {{type: wethod, company: acme}}
  coperniq: {{type: coperniq}}
defaults:
  currency: USD
  ruddr: {{invoice_item: {RUDDR_INVOICE_ITEM}}}
  coperniq: {{catalog_item: 3001}}
projects:
"""


def project(vendor: str) -> str:
    return (
        f"  {vendor}-work:\n"
        f"    provider: {vendor}\n"
        f"    project_id: {PROJECT_IDS[vendor]}\n"
        f"    name: Work for {vendor}\n"
        "    milestones:\n"
        "      kickoff: {description: Kickoff, date: 2026-01-15, amount: 500}\n"
    )


def four_vendor_plan(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = HEAD + "".join(project(vendor) for vendor in PROJECT_IDS)
    (directory / "plan.yaml").write_text(text, encoding="utf-8")
    return directory


def test_every_missing_token_is_named_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = four_vendor_plan(tmp_path / "billing")
    for name in (*TOKENS, "BILLPLAN_SANDBOX_URL"):
        monkeypatch.delenv(name, raising=False)

    run = billplan("plan", directory, "--as-of", AS_OF)

    assert run.code == 1
    assert "4 connections cannot be used; nothing was read or written" in run.errors
    for variable in TOKENS:
        assert f"${variable}" in run.errors


def test_a_rejected_token_a_missing_permission_and_an_archived_project_are_named_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = four_vendor_plan(tmp_path / "billing")
    with build_sandbox() as sandbox:
        checked = check(directory / "plan.yaml", date.fromisoformat(AS_OF))
        document = checked.document
        assert document is not None
        prepare(sandbox, checked.items, document.root["projects"], document.root["providers"])
        with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as admin:
            # Ruddr: the key was rotated in Ruddr's settings.
            admin.put("/ruddr/_sandbox/settings", json={"tokens": ["rotated-key"]})
            # Wethod: the token's user may not see invoices.
            for key in ("invoices.view", "invoices.view_other"):
                path = f"/wethod/_sandbox/tokens/{SANDBOX_TOKEN}/permissions/{key}"
                assert admin.delete(path).status_code < 400
            # Kantata: someone archived the workspace.
            workspace = f"/kantata/_sandbox/workspaces/{PROJECT_IDS['kantata']}"
            assert admin.patch(workspace, json={"archived": True}).status_code < 400

        with serving(sandbox) as root:
            monkeypatch.setenv("BILLPLAN_SANDBOX_URL", root)
            run = billplan("plan", directory, "--as-of", AS_OF)

        assert run.code == 1, run.text
        assert "3 connections refused what the plan needs; nothing was written" in run.errors
        assert "ruddr: Ruddr 401" in run.errors
        assert "did not accept the sandbox's token of connection 'ruddr'" in (run.errors)
        assert "wethod: Wethod 403" in run.errors
        assert "Wethod refused to list invoices for connection 'wethod'" in run.errors
        assert "invoices.view" in run.errors
        assert "kantata: Kantata OX would refuse this plan" in run.errors
        assert f"Kantata workspace {PROJECT_IDS['kantata']} was not found" in run.errors
        assert "is archived" in run.errors
        with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as admin:
            for vendor in PROJECT_IDS:
                log = admin.get(f"/{vendor}/_sandbox/requests").json()
                assert [r for r in log if r["method"] in WRITES] == [], vendor
                # Coperniq had nothing wrong, and was read all the same.
                assert log, f"{vendor} was not read"
