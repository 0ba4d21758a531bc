"""The sandbox's registry of emulators (compiler.sandbox.EMULATORS): each emulator declares the
vendor it emulates, and a vendor with none is a clear error wherever it surfaces (the sandbox's
URLs, its bootstrap, `--sandbox`, a served sandbox, `sandbox serve --seed`), naming the vendor,
the emulators there are and what to do; never a KeyError's traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import AS_OF, MILESTONE, billplan, sandboxed, write_plan

from compiler import sandbox as sandbox_package
from compiler.providers import PROVIDERS
from compiler.sandbox import EMULATORS, NoEmulatorError, base_url, build_sandbox
from compiler.sandbox.bootstrap import mark_invoiced, prepare
from compiler.sandbox.ruddr import RuddrEmulator
from compiler.validate import check

# What every missing-emulator message says, for a plan whose Ruddr connection has none.
NO_RUDDR = "the sandbox has no emulator for the provider type 'ruddr'"
OTHERS = "(it emulates wethod, kantata, coperniq)"
WAY_OUT = "without --sandbox or a sandbox URL, or add an emulator for ruddr"


@pytest.fixture
def no_ruddr_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sandbox as it would be for a vendor billplan plans but nobody emulated yet."""
    others = tuple(emulator for emulator in EMULATORS if emulator is not RuddrEmulator)
    monkeypatch.setattr(sandbox_package, "EMULATORS", others)
    yield


def test_every_vendor_billplan_plans_has_exactly_one_emulator() -> None:
    vendors = [emulator.vendor for emulator in EMULATORS]

    assert sorted(vendors) == sorted(PROVIDERS)


def test_each_emulator_is_mounted_under_a_name_of_its_own() -> None:
    names = [emulator.name for emulator in EMULATORS]

    assert len(set(names)) == len(names)


def test_a_vendor_without_an_emulator_has_no_base_url_and_the_error_says_what_to_do() -> None:
    with pytest.raises(NoEmulatorError) as raised:
        base_url("harvest")

    message = str(raised.value)
    assert "no emulator for the provider type 'harvest'" in message
    assert "(it emulates ruddr, wethod, kantata, coperniq)" in message
    assert "against harvest itself, without --sandbox or a sandbox URL" in message
    assert "list it in compiler.sandbox.EMULATORS" in message


def test_a_running_sandbox_asked_for_a_vendor_it_does_not_emulate_names_the_ones_it_does() -> None:
    with build_sandbox() as sandbox, pytest.raises(NoEmulatorError, match="'harvest'") as raised:
        sandbox.emulators["harvest"]

    assert "(it emulates ruddr, wethod, kantata, coperniq)" in str(raised.value)


def test_preparing_a_plan_whose_vendor_has_no_emulator_says_which_before_creating_anything(
    tmp_path: Path, no_ruddr_emulator: None
) -> None:
    checked = check(write_plan(tmp_path / "billing") / "plan.yaml", AS_OF)
    assert checked.document is not None

    with build_sandbox() as sandbox, pytest.raises(NoEmulatorError) as raised:
        prepare(sandbox, checked.items, checked.document.root["projects"], {})

    assert NO_RUDDR in str(raised.value)
    assert OTHERS in str(raised.value)


def test_a_sandbox_plan_whose_provider_has_no_emulator_fails_with_the_reason(
    tmp_path: Path, no_ruddr_emulator: None
) -> None:
    run = sandboxed("plan", write_plan(tmp_path / "billing"))

    assert run.code == 1
    assert NO_RUDDR in run.errors
    assert OTHERS in run.errors
    assert WAY_OUT in run.errors
    assert "Traceback" not in run.text


def test_a_plan_against_a_served_sandbox_without_the_providers_emulator_fails_with_the_reason(
    tmp_path: Path, no_ruddr_emulator: None
) -> None:
    # Nothing listens there: the error comes before any request.
    run = billplan("plan", write_plan(tmp_path / "billing"), "--sandbox-url", "http://127.0.0.1:9")

    assert run.code == 1
    assert NO_RUDDR in run.errors
    assert WAY_OUT in run.errors


def test_serving_a_sandbox_seeded_from_a_plan_whose_provider_has_no_emulator_serves_nothing(
    tmp_path: Path, no_ruddr_emulator: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sandbox was served for a plan it cannot seed")

    monkeypatch.setattr("uvicorn.run", serve)
    directory = write_plan(tmp_path / "billing")

    run = billplan(
        "sandbox", "serve", "--db", tmp_path / "sandbox.sqlite", "--seed", directory / "plan.yaml"
    )

    assert run.code == 1
    assert NO_RUDDR in run.errors
    assert WAY_OUT in run.errors


def test_invoicing_a_type_no_emulator_locks_names_the_types_the_sandbox_can_invoice(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError) as raised:
        mark_invoiced(tmp_path, "harvest_invoice", "1")

    assert "the sandbox cannot invoice a harvest_invoice" in str(raised.value)
    assert MILESTONE in str(raised.value)
