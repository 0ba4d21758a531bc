"""`billplan generate` as a new user reads it and as a hostile directory or vendor meets it:
file names that belong to other files, runs that fail while writing, an object seen through
two connections, a connection with nothing to onboard, projects without a name, and text and
money that YAML and Jinja would misread.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import support_wethod as wethod
import yaml
from support import AS_OF, AS_OF_TEXT, MILESTONE, PRODUCT_ITEM, billplan, plan_sandbox, sandboxed
from support import state_file as state_path

from compiler.onboard.wording import slug
from compiler.operations import onboarding
from compiler.state import StateError
from compiler.state.local import LocalBackend

ROOT = Path(__file__).parent.parent
PROVIDERS = """\
# yaml-language-server: $schema=../schemas/billing-plan.schema.json
version: 1
providers:
  ruddr: {type: ruddr}
"""
ALPHA = "00000000-0000-4000-8000-00000000000a"
BETA = "00000000-0000-4000-8000-00000000000b"


def generate(directory: Path, *extra: str) -> tuple[int, str]:
    run = billplan("generate", directory, "--all", "--sandbox", "--as-of", AS_OF_TEXT, *extra)
    return run.code, run.text


def ruddr_projects(directory: Path, *projects: tuple[str, str], currency: str = "USD") -> None:
    """Ruddr projects (id, name) made by hand, each with one milestone."""
    with plan_sandbox(directory) as admin:
        admin.add_invoice_item()
        for number, (project_id, name) in enumerate(projects):
            admin._call("POST", "/projects", {"id": project_id, "name": name,
                        "billingTypeId": "fixed_recurring", "currency": currency})  # fmt: skip
            admin.add(MILESTONE, projectId=project_id, date="2026-01-15",
                      name=f"Kickoff {number}", fee=100, typeId="custom")  # fmt: skip


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    made = tmp_path / "plans"
    made.mkdir()
    (made / "providers.yaml").write_text(PROVIDERS, encoding="utf-8")
    return made


def files_of(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if p.is_file()}


# ---- file names: a new project's fragment never takes another file's name ---------------------


def test_a_project_named_like_the_providers_file_gets_a_file_of_its_own(directory: Path) -> None:
    ruddr_projects(directory, (ALPHA, "Providers"))
    code, text = generate(directory)
    assert code == 0, text
    assert (directory / "providers-2.yaml").exists()
    assert (directory / "providers.yaml").read_text() == PROVIDERS
    assert "No changes" in sandboxed("plan", directory).out


def test_overwrite_never_replaces_a_file_that_holds_another_project(directory: Path) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"), (BETA, "Other"))
    theirs = (
        "version: 1\nprojects:\n  other:\n    provider: ruddr\n"
        f"    project_id: {BETA}\n    currency: USD\n"
    )
    (directory / "alpha.yaml").write_text(theirs)
    run = billplan("generate", directory, "--project", ALPHA, "--sandbox",
                   "--as-of", AS_OF_TEXT, "--overwrite")  # fmt: skip
    assert run.code == 0, run.text
    assert (directory / "alpha.yaml").read_text() == theirs
    assert "project_id: " + ALPHA in (directory / "alpha-2.yaml").read_text()


def test_overwrite_never_replaces_a_fragment_that_holds_more_than_its_project(
    directory: Path,
) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"))
    assert generate(directory)[0] == 0
    fragment = directory / "alpha.yaml"
    added = "  added-by-hand:\n    provider: ruddr\n    project_id: x\n    currency: USD\n"
    fragment.write_text(fragment.read_text() + added)
    before = files_of(directory)
    code, text = generate(directory, "--overwrite")
    assert code == 1
    assert "alpha.yaml also holds project added-by-hand" in text
    assert files_of(directory) == before


def test_a_directory_with_a_fragment_s_name_is_never_written_over(directory: Path) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"), (BETA, "Beta"))
    (directory / "beta.yaml").mkdir()
    code, text = generate(directory, "--overwrite")
    assert code == 0, text
    assert (directory / "beta.yaml").is_dir()
    assert (directory / "beta-2.yaml").is_file()


# ---- all or nothing: a run that fails while writing leaves nothing ----------------------------


def request(directory: Path, **how: Any) -> onboarding.Request:
    return onboarding.Request(directory, None, (), True, AS_OF, sandbox=True, **how)


@pytest.mark.parametrize("failure", [StateError("the disk is full"), KeyboardInterrupt()])
def test_a_run_stopped_while_writing_state_leaves_no_fragment(
    directory: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"), (BETA, "Beta"))
    before = files_of(directory)

    def fails(self: LocalBackend, state: object) -> None:
        raise failure

    monkeypatch.setattr(LocalBackend, "write", fails)
    with pytest.raises(type(failure)):
        onboarding.onboard(request(directory))
    assert files_of(directory) == before
    assert not state_path(directory).exists()


def test_a_run_stopped_while_overwriting_puts_the_old_fragments_back(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"), (BETA, "Beta"))
    assert generate(directory)[0] == 0
    (directory / "alpha.yaml").write_text(
        (directory / "alpha.yaml").read_text().replace("# Generated", "# Mine. Generated")
    )
    before = files_of(directory)
    state_before = state_path(directory).read_text()

    def fails(self: LocalBackend, state: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalBackend, "write", fails)
    with pytest.raises(KeyboardInterrupt):
        onboarding.onboard(request(directory, overwrite=True))
    assert files_of(directory) == before
    assert state_path(directory).read_text() == state_before
    assert not [p for p in directory.iterdir() if p.name.startswith(".") and p.is_file()]


# ---- one object, one address -------------------------------------------------------------------


def test_an_object_two_connections_both_show_is_refused_naming_both(directory: Path) -> None:
    # Two connections to one Ruddr workspace (a token per team, say) see the same projects:
    # onboarding both would give every object two addresses, two owners for one invoice line.
    (directory / "providers.yaml").write_text(PROVIDERS + "  eu: {type: ruddr}\n")
    ruddr_projects(directory, (ALPHA, "Alpha"))
    code, text = generate(directory)
    assert code == 1
    assert "alpha/milestones/kickoff-0" in text and "alpha-2/milestones/kickoff-0" in text
    assert "--provider" in text
    assert files_of(directory) == {"providers.yaml": PROVIDERS + "  eu: {type: ruddr}\n"}
    assert not state_path(directory).exists()


# ---- --all over several connections: one with nothing to onboard ------------------------------


WETHOD = "  wethod: {type: wethod, company: sandbox}\ndefaults: {currency: EUR}\n"


def test_all_onboards_every_connection_that_shows_projects_and_names_the_empty_one(
    directory: Path,
) -> None:
    (directory / "providers.yaml").write_text(PROVIDERS + WETHOD)
    ruddr_projects(directory, (ALPHA, "Alpha"))
    code, text = generate(directory)
    assert code == 0, text
    assert (directory / "alpha.yaml").exists()
    assert "wethod: Wethod shows this connection no project; nothing to onboard there" in text


def test_all_is_refused_when_no_connection_shows_a_project(directory: Path) -> None:
    (directory / "providers.yaml").write_text(PROVIDERS + WETHOD)
    with plan_sandbox(directory):
        pass
    code, text = generate(directory)
    assert code == 1
    assert "shows this connection no project" in text


# ---- projects the vendor keeps no name for (Wethod) -------------------------------------------


@pytest.fixture
def wethod_directory(tmp_path: Path) -> Path:
    made = tmp_path / "plans"
    made.mkdir()
    head = "version: 1\nproviders:\n  wethod: {type: wethod, company: sandbox}\n"
    (made / "providers.yaml").write_text(head + "defaults: {currency: EUR}\n")
    with wethod.plan_sandbox(made) as admin:
        admin.add_project(wethod.BRAND, company="sandbox", name="Lakeside brand refresh")
        admin.add(value=4000, issue_date="2026-03-15", notes="Kickoff workshop")
    return made


def test_a_project_without_a_name_is_reported_without_an_empty_one(wethod_directory: Path) -> None:
    code, text = generate(wethod_directory, "--dry-run")
    assert code == 0, text
    assert f"project-{wethod.BRAND}: (project {wethod.BRAND}, EUR) -> project-" in text
    assert "  (" not in text


def test_an_unknown_project_lists_nameless_ones_without_empty_brackets(
    wethod_directory: Path,
) -> None:
    run = billplan("generate", wethod_directory, "--project", "1", "--sandbox")
    assert run.code == 1
    assert f"  {wethod.BRAND}\n" in run.err or f"  {wethod.BRAND} " in run.err, run.err
    assert "()" not in run.text


# ---- keys ----------------------------------------------------------------------------------------


def test_a_key_leaves_template_tags_out_as_it_leaves_expressions_out() -> None:
    text = "Managed services {{ period.start.year }}{% if period.is_stub %} (incl. DR){% endif %}"
    assert slug(text) == "managed-services-incl-dr"


def test_the_demo_portfolio_s_stub_charges_have_keys_without_template_words(
    tmp_path: Path,
) -> None:
    made = tmp_path / "onboarding"
    made.mkdir()
    (made / "providers.yaml").write_text((ROOT / "plans/onboarding/providers.yaml").read_text())
    assert billplan("sandbox", "seed-portfolio", made).code == 0
    code, text = generate(made, "--dry-run")
    assert code == 0, text
    assert "if-period-is-stub" not in text and "endif" not in re.sub(r"\{%.*?%\}", "", text)


# ---- text and money that YAML and Jinja would misread ------------------------------------------


HOSTILE = [
    "{{ evil }}", "{% if x %}y{% endif %}", "a: b", "# hash", "* star", "& amp", "line1\nline2",
    "yes", "no", "null", "~", "123", "1.50", "2026-01-01", "0x1F", "!tag", "@at", "`tick`",
    "%pct", "a\\b", "- dash", "? q", "|pipe", ">gt", "<<", "'quoted'", '"dq"', "  lead",
    "trail ", "tab\there", "}} {{", "{#", "üñíçødé ✓", "x" * 255,
    # Numbers in YAML 1.2's core schema (what billplan and the editor read), text in 1.1's.
    "1e3", "0o17", "0x10", ".inf", "-.5e-2", "True",
]  # fmt: skip


def test_descriptions_yaml_and_jinja_would_misread_come_back_exactly(directory: Path) -> None:
    with plan_sandbox(directory) as admin:
        admin.add_project()
        admin.add_invoice_item()
        for n, text in enumerate(HOSTILE):
            admin.add(MILESTONE, date=f"2026-{n % 12 + 1:02d}-{n // 12 + 1:02d}", name=text,
                      fee=100 + n, typeId="custom")  # fmt: skip
    code, text = generate(directory)
    assert code == 0, text
    fragment = yaml.safe_load((directory / "cloud-infrastructure-services.yaml").read_text())
    milestones = fragment["projects"]["cloud-infrastructure-services"]["milestones"]
    assert all(isinstance(key, str) for key in milestones)
    planned = sandboxed("plan", directory, "--detailed-exitcode")
    assert planned.code == 0, planned.text


@pytest.mark.parametrize(
    ("currency", "fees", "written"),
    [
        ("JPY", [1000, 0, -500], ["amount: 1000\n", "amount: 0\n", "amount: -500\n"]),
        ("KWD", [Decimal("1.234"), Decimal("0"), Decimal("-0.001")],
         ["amount: 1.234\n", "amount: 0.000\n", "amount: -0.001\n"]),
    ],
)  # fmt: skip
def test_amounts_are_written_in_the_currency_s_own_digits(
    directory: Path, currency: str, fees: list[Any], written: list[str]
) -> None:
    with plan_sandbox(directory) as admin:
        admin.add_invoice_item()
        admin._call("POST", "/projects", {"id": ALPHA, "name": "Alpha",
                    "billingTypeId": "fixed_recurring", "currency": currency})  # fmt: skip
        for month, fee in enumerate(fees, start=1):
            admin.add(MILESTONE, projectId=ALPHA, date=f"2026-0{month}-15",
                      name=f"Fee {month}", fee=fee, typeId="custom")  # fmt: skip
    code, text = generate(directory)
    assert code == 0, text
    fragment = (directory / "alpha.yaml").read_text()
    assert all(line in fragment for line in written), fragment
    planned = sandboxed("plan", directory, "--detailed-exitcode")
    assert planned.code == 0, planned.text


def test_a_product_jpy_cannot_bill_is_left_out_with_its_reason(directory: Path) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"), currency="JPY")
    with plan_sandbox(directory) as admin:
        admin.add(PRODUCT_ITEM, projectId=ALPHA, date="2026-03-04", description="Seats",
                  quantity=45, rate=Decimal("112.875"))  # fmt: skip
    code, text = generate(directory)
    assert code == 0, text
    assert "more decimals than JPY has (0)" in text


# ---- the README, as a new user follows it -------------------------------------------------------


def test_the_readme_counts_the_demo_portfolio_s_projects_as_seeded(tmp_path: Path) -> None:
    made = tmp_path / "onboarding"
    made.mkdir()
    (made / "providers.yaml").write_text((ROOT / "plans/onboarding/providers.yaml").read_text())
    seeded = billplan("sandbox", "seed-portfolio", made)
    number = re.search(r"^(\d+) projects, made by hand", seeded.out, re.M)
    assert number is not None, seeded.out
    readme = (ROOT / "README.md").read_text()
    assert f"`seed-portfolio` makes {number.group(1)} projects" in readme


def test_the_state_written_holds_one_entry_per_object(directory: Path) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"), (BETA, "Beta"))
    assert generate(directory)[0] == 0
    entries = json.loads(state_path(directory).read_text())["entries"]
    assert len({e["remote_id"] for e in entries}) == len(entries) == 2


def test_overwrite_on_an_unchanged_vendor_writes_the_same_fragments_again(
    directory: Path,
) -> None:
    ruddr_projects(directory, (ALPHA, "Alpha"), (BETA, "Beta"))
    assert generate(directory)[0] == 0
    first = files_of(directory)
    entries = json.loads(state_path(directory).read_text())["entries"]
    code, text = generate(directory, "--overwrite")
    assert code == 0, text
    assert files_of(directory) == first
    assert json.loads(state_path(directory).read_text())["entries"] == entries
