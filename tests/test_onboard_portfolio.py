"""The onboarding demo a new user runs (README: Onboard what a vendor already holds): the sandbox
of plans/onboarding seeded with a firm's existing schedules, made by hand at every vendor its
providers block connects to, then `billplan generate --all` writes a fragment per project and
state for every object in one command, and `billplan plan` finds nothing to change.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import AS_OF_TEXT, billplan, sandboxed, state_file

from compiler.onboard.write import key_of
from compiler.sandbox.portfolio import OBJECTS, portfolio

ONBOARDING = Path(__file__).parent.parent / "plans" / "onboarding"
# The vendors plans/onboarding/providers.yaml connects to: the demo seeds and onboards those.
CONNECTED = [
    c["type"]
    for c in yaml.safe_load((ONBOARDING / "providers.yaml").read_text())["providers"].values()
]


def _copy(tmp: Path) -> Path:
    directory = tmp / "onboarding"
    directory.mkdir()
    shutil.copyfile(ONBOARDING / "providers.yaml", directory / "providers.yaml")
    return directory


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """plans/onboarding's providers block, its sandbox seeded with the portfolio, then
    `generate --all` over it: the directory and what generate printed."""
    directory = _copy(tmp_path_factory.mktemp("portfolio"))
    seeded = billplan("sandbox", "seed-portfolio", directory)
    assert seeded.code == 0, seeded.text
    run = billplan("generate", directory, "--all", "--sandbox", "--as-of", AS_OF_TEXT)
    assert run.code == 0, run.text
    return directory, run.out


def test_seeding_says_what_it_made_and_the_command_that_onboards_it(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    run = billplan("sandbox", "seed-portfolio", directory)
    assert run.code == 0, run.text
    assert "the sandbox only" in run.out
    assert "Ruddr: Northwind Cloud Operations: monthly retainer from a mid-January stub" in run.out
    assert f"{len(portfolio(CONNECTED))} projects" in run.out
    assert f"billplan generate {directory} --all --sandbox" in run.out


def test_the_portfolio_has_about_twenty_projects_across_the_vendors() -> None:
    vendors = [project.vendor for project in portfolio()]
    assert len(vendors) >= 20
    assert set(vendors) == {"ruddr", "kantata", "wethod", "coperniq"}


def test_generate_all_writes_a_fragment_for_every_project_at_every_connection(
    onboarded: tuple[Path, str],
) -> None:
    directory, _ = onboarded
    written = {p.stem for p in directory.glob("*.yaml")} - {"providers"}
    by_name = {key_of(p.name, set(), "") for p in portfolio(CONNECTED)}
    # Wethod's project list gives no names: its projects are keyed by id.
    named = {key for key in written if not key.startswith("project-")}
    assert named == by_name - {key_of(p.name, set(), "") for p in portfolio(["wethod"])}
    assert len(written) == len(portfolio(CONNECTED))
    for fragment in directory.glob("*.yaml"):
        first = fragment.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../schemas/billing-plan.schema.json"


def test_generate_all_records_every_object_in_state(onboarded: tuple[Path, str]) -> None:
    directory, out = onboarded
    entries = json.loads(state_file(directory).read_text())["entries"]
    objects = sum(1 for p in portfolio(CONNECTED) for m in p.made if m.collection in OBJECTS)
    assert len(entries) == objects
    assert all(entry["remote_id"] for entry in entries)
    assert f"Recorded {objects} state entries" in out


def test_plan_on_the_generated_directory_shows_no_changes(onboarded: tuple[Path, str]) -> None:
    directory, _ = onboarded
    planned = sandboxed("plan", directory, "--detailed-exitcode")
    assert planned.code == 0, planned.text
    assert "No changes" in planned.out


def test_the_report_names_the_locked_items(onboarded: tuple[Path, str]) -> None:
    _, out = onboarded
    assert (
        "3 locked items: northwind-cloud-operations/recurring/retainer/2026-01, "
        "northwind-cloud-operations/recurring/retainer/2026-02, "
        "northwind-cloud-operations/recurring/retainer/2026-03"
    ) in out
    assert "1 locked item: oakfield-community-solar/milestones/monitoring-april-2026" in out


def test_the_report_names_what_stayed_single(onboarded: tuple[Path, str]) -> None:
    _, out = onboarded
    # One-off milestones, a credit and a licence line fit no run and no split.
    assert (
        "4 single items: bluefin-data-migration/milestones/credit-delayed-cut-over, "
        "bluefin-data-migration/milestones/data-migration, "
        "bluefin-data-migration/milestones/discovery-workshop, "
        "bluefin-data-migration/products/migration-tooling-licence"
    ) in out


def test_a_retainer_with_a_stub_month_becomes_one_recurring_charge(
    onboarded: tuple[Path, str],
) -> None:
    directory, out = onboarded
    assert "12 items became 1 recurring charge" in out
    written = (directory / "northwind-cloud-operations.yaml").read_text(encoding="utf-8")
    assert "every: month" in written and "start: 2026-01-16" in written


def test_percentage_milestones_become_a_split(onboarded: tuple[Path, str]) -> None:
    directory, out = onboarded
    assert "4 milestones became 1 split" in out
    written = (directory / "harbor-point-erp-rollout.yaml").read_text(encoding="utf-8")
    assert "total: 180000.00" in written and "share: 40%" in written


def _charges(directory: Path, key: str, section: str) -> dict[str, Any]:
    fragment = yaml.safe_load((directory / f"{key}.yaml").read_text(encoding="utf-8"))
    return fragment["projects"][key][section]


def test_a_fee_with_one_month_edited_by_hand_is_one_charge_and_that_month(
    onboarded: tuple[Path, str],
) -> None:
    # Atlas: 10000 a month rising 3% in 2027, April's line edited by hand "(incl. DR test)".
    directory, out = onboarded
    recurring = _charges(directory, "atlas-managed-services", "recurring")
    assert list(recurring) == ["managed-services", "managed-services-april-2026-incl-dr-test"]
    service = recurring["managed-services"]
    assert (service["start"], service["end"]) == (date(2026, 1, 1), date(2027, 6, 30))
    assert service["pauses"] == [{"from": date(2026, 4, 1), "to": date(2026, 4, 30)}]
    assert service["escalate"] == {"by": "3%", "every": "year", "from": date(2027, 1, 1)}
    april = recurring["managed-services-april-2026-incl-dr-test"]
    assert (april["start"], april["end"]) == (date(2026, 4, 1), date(2026, 4, 30))
    assert "18 items became 2 recurring charges" in out


def test_where_kinds_are_not_kept_the_month_edited_by_hand_is_a_milestone(
    onboarded: tuple[Path, str],
) -> None:
    # Quarry (Wethod): September to March, 4200 from January, October's line edited by hand.
    directory, _ = onboarded
    [service] = _charges(directory, "project-8105", "recurring").values()
    assert (service["start"], service["end"]) == (date(2026, 9, 1), date(2027, 3, 31))
    assert service["pauses"] == [{"from": date(2026, 10, 1), "to": date(2026, 10, 31)}]
    [october] = _charges(directory, "project-8105", "milestones").values()
    assert october["description"] == "Event support October 2026 - trade fair week"


def test_no_demo_fragment_writes_a_stub_that_is_a_whole_month_in_disguise(
    onboarded: tuple[Path, str],
) -> None:
    directory, _ = onboarded
    for fragment in directory.glob("*.yaml"):
        text = fragment.read_text(encoding="utf-8")
        assert "is_stub" not in text and "prorate: none" not in text, fragment.name


def test_two_workshops_of_one_name_are_keyed_by_their_months(onboarded: tuple[Path, str]) -> None:
    directory, _ = onboarded
    products = _charges(directory, "kestrel-board-advisory", "products")
    assert list(products) == ["board-workshop-days-2026-03", "board-workshop-days-2026-09"]


def test_a_quarterly_licence_is_keyed_without_the_quarter_s_letter(
    onboarded: tuple[Path, str],
) -> None:
    directory, _ = onboarded
    assert list(_charges(directory, "granite-insurance-licences", "recurring")) == ["licence"]


def test_seeding_a_seeded_sandbox_again_is_refused(onboarded: tuple[Path, str]) -> None:
    directory, _ = onboarded
    run = billplan("sandbox", "seed-portfolio", directory)
    assert run.code == 1
    assert "already holds Northwind Cloud Operations" in run.text and ".billplan/" in run.text


def test_seeding_a_directory_without_connections_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text("version: 1\n", encoding="utf-8")
    run = billplan("sandbox", "seed-portfolio", tmp_path)
    assert run.code == 1
    assert "connects to none of ruddr, kantata, wethod, coperniq" in run.text
    assert not (tmp_path / ".billplan").exists()


def test_a_kantata_connection_seeds_its_workspaces_too(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text(
        "version: 1\nproviders:\n  kantata: {type: kantata}\n", encoding="utf-8"
    )
    run = billplan("sandbox", "seed-portfolio", tmp_path)
    assert run.code == 0, run.text
    assert "Kantata: Summit Logistics integration" in run.out
    assert "on completion" in run.out


def test_one_connection_refused_writes_nothing_for_the_others(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    assert billplan("sandbox", "seed-portfolio", directory).code == 0
    # The last connection read (Coperniq) shows a project the plan already has, written in a
    # fragment among another project, which --overwrite never replaces: Ruddr's and Wethod's
    # fragments, proven by then, are not written either.
    mine = (
        "version: 1\nprojects:\n  mine: {provider: coperniq, project_id: 5205}\n"
        "  other: {provider: coperniq, project_id: 9999}\n"
    )
    (directory / "mine.yaml").write_text(mine, encoding="utf-8")
    run = billplan(
        "generate", directory, "--all", "--overwrite", "--sandbox", "--as-of", AS_OF_TEXT
    )
    assert run.code == 1
    assert "--overwrite replaces only a fragment holding the project alone" in run.text
    assert sorted(p.name for p in directory.glob("*.yaml")) == ["mine.yaml", "providers.yaml"]
    assert not state_file(directory).exists()


def test_wethod_projects_are_seeded_in_the_connection_s_company(tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text(
        "version: 1\nproviders:\n  wethod: {type: wethod, company: northwind}\n"
        "defaults: {currency: EUR}\n",
        encoding="utf-8",
    )
    assert billplan("sandbox", "seed-portfolio", tmp_path).code == 0
    run = billplan("generate", tmp_path, "--all", "--sandbox", "--as-of", AS_OF_TEXT)
    assert run.code == 0, run.text
    assert len(list(tmp_path.glob("project-81*.yaml"))) == len(portfolio(["wethod"]))
    assert sandboxed("plan", tmp_path, "--detailed-exitcode").code == 0


def test_the_generated_yaml_repeats_a_value_instead_of_aliasing_it() -> None:
    # A recurring charge whose first step starts on the charge's start writes the date twice:
    # as a person would, never as a YAML anchor and alias.
    from datetime import date

    from compiler.onboard.write import _Dumper

    day = date(2026, 5, 1)
    text = yaml.dump({"start": day, "amounts": [{"from": day}]}, Dumper=_Dumper)

    assert "&" not in text and "*" not in text
    assert text.count("2026-05-01") == 2
