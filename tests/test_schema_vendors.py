"""The plan schema's vendor sections are generated from the provider classes.

A vendor's options, connection keys, token variable and rate limit are declared once, on its
provider class; `python -m compiler.schema_vendors --write` writes them into
schemas/billing-plan.schema.json, and the checked-in file must be what it writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator

from compiler import schema_vendors
from compiler.providers import PROVIDERS, Provider
from compiler.providers.declare import Capabilities, Connection, PlanOptions
from compiler.schema_vendors import DeclarationError, generate, regenerated

CHECKED_IN = schema_vendors.SCHEMA_PATH.read_text(encoding="utf-8")
SCHEMA: dict[str, Any] = json.loads(CHECKED_IN)
OPTION_BLOCKS = ("project", "recurringCharge", "milestone", "product", "template", "settings")


class Acme(Provider):
    """A fifth vendor, declared only here."""

    vendor = "acme"
    title = "Acme PSA"
    plan_options = PlanOptions(
        keys={"ledger": {"description": "The Acme ledger code, e.g. 4000.", "type": "integer"}}
    )
    capabilities = Capabilities(bills_on_completion=True)
    connection = Connection(
        summary="Acme PSA (invoices).",
        keys={"region": {"description": "Acme only: eu or us.", "enum": ["eu", "us"]}},
        required=("region",),
    )
    default_base_url = "https://api.acme.test"
    default_token_env = "ACME_API_KEY"
    types: ClassVar[Mapping[str, Any]] = {}
    rate_limit = 2.5


WITH_ACME = {**PROVIDERS, "acme": Acme}


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def acme_plan(**connection: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "providers": {"acme": {"type": "acme", **connection}},
        "defaults": {"acme": {"ledger": 4000}},
        "projects": {
            "site": {
                "provider": "acme",
                "project_id": 7,
                "acme": {"ledger": 4100},
                "milestones": {"go-live": {"description": "Go-live", "amount": 100, "acme": {}}},
            }
        },
    }


def test_the_checked_in_schema_is_what_the_registry_generates() -> None:
    fresh = regenerated(CHECKED_IN)
    assert fresh == CHECKED_IN, (
        f"schemas/billing-plan.schema.json is stale: run `{schema_vendors.WRITE_COMMAND}` and "
        f"commit it\n{schema_vendors.stale_diff(CHECKED_IN, fresh)}"
    )


def test_regenerating_the_schema_twice_gives_the_same_file() -> None:
    once = regenerated(CHECKED_IN)
    assert regenerated(once) == once


def test_each_vendors_options_definition_is_its_declared_options() -> None:
    for vendor, provider in PROVIDERS.items():
        definition = SCHEMA["$defs"][f"{vendor}Options"]
        assert definition["properties"] == provider.plan_options.keys
        assert definition["additionalProperties"] is False


def test_a_fifth_vendor_is_a_connection_type_with_its_token_variable_and_rate_limit() -> None:
    provider = generate(SCHEMA, WITH_ACME)["$defs"]["provider"]["properties"]
    assert provider["type"]["enum"] == [*PROVIDERS, "acme"]
    assert provider["type"]["enumDescriptions"][-1] == "Acme PSA (invoices)."
    assert provider["type"]["description"].endswith("wethod, coperniq or acme.")
    assert "COPERNIQ_API_KEY or ACME_API_KEY" in provider["token_env"]["description"]
    assert "COPERNIQ_API_KEY or ACME_API_KEY" in provider["token_env"]["patternErrorMessage"]
    assert "Coperniq 100, Acme PSA 2.5)" in provider["max_rps"]["description"]


def test_a_fifth_vendor_gets_an_options_block_everywhere_settings_are_written() -> None:
    defs = generate(SCHEMA, WITH_ACME)["$defs"]
    assert defs["acmeOptions"]["properties"] == Acme.plan_options.keys
    for block in OPTION_BLOCKS:
        option = defs[block]["properties"]["acme"]
        assert option["$ref"] == "#/$defs/acmeOptions"
        assert option["description"].startswith("Acme PSA options: ledger. ")
    assert (
        "the provider options ruddr, kantata, wethod, coperniq, acme."
        in (defs["settings"]["description"])
    )
    assert (
        "Kantata OX or Acme PSA only."
        in defs["milestone"]["properties"]["on_completion"]["description"]
    )


def test_a_plan_for_a_fifth_vendor_is_valid_against_the_generated_schema() -> None:
    plan = acme_plan(region="eu", token_env="ACME_API_KEY_EU")
    assert list(validator(SCHEMA).iter_errors(plan))
    assert list(validator(generate(SCHEMA, WITH_ACME)).iter_errors(plan)) == []


def test_a_fifth_vendors_options_are_closed_and_typed() -> None:
    schema = generate(SCHEMA, WITH_ACME)
    plan = acme_plan(region="eu")
    plan["projects"]["site"]["acme"] = {"ledger": "4100", "journal": 1}
    errors = {(tuple(e.absolute_path), e.validator) for e in validator(schema).iter_errors(plan)}
    assert errors == {
        (("projects", "site", "acme", "ledger"), "type"),
        (("projects", "site", "acme"), "additionalProperties"),
    }


def test_every_vendor_that_requires_connection_keys_gets_its_own_condition() -> None:
    schema = generate(SCHEMA, WITH_ACME)
    conditions = schema["$defs"]["provider"]["allOf"]
    assert [c["if"]["properties"]["type"]["const"] for c in conditions] == ["wethod", "acme"]
    missing_region = acme_plan()
    missing_company = {"version": 1, "providers": {"w": {"type": "wethod"}}}
    for plan, key in ((missing_region, "region"), (missing_company, "company")):
        (error,) = validator(schema).iter_errors(plan)
        assert error.validator == "required" and key in error.message


def test_one_vendor_requiring_connection_keys_is_a_plain_if_then() -> None:
    provider = SCHEMA["$defs"]["provider"]
    assert "allOf" not in provider
    assert provider["if"]["properties"]["type"] == {"const": "wethod"}
    assert provider["then"] == {"required": ["company"]}


def test_a_vendor_left_out_of_the_registry_leaves_no_trace_in_the_schema() -> None:
    without = {vendor: p for vendor, p in PROVIDERS.items() if vendor != "coperniq"}
    text = json.dumps(generate(SCHEMA, without))
    assert "coperniq" not in text.lower()


def test_the_connection_key_of_a_vendor_left_out_goes_with_it() -> None:
    without = {vendor: p for vendor, p in PROVIDERS.items() if vendor != "wethod"}
    provider = generate(SCHEMA, without)["$defs"]["provider"]
    assert "company" not in provider["properties"]
    assert "if" not in provider and "then" not in provider


def test_a_grouping_option_the_vendor_does_not_declare_is_refused() -> None:
    class Lumped(Acme):
        capabilities = Capabilities(grouping="group_by")

    with pytest.raises(DeclarationError, match="groups by the option 'group_by'"):
        generate(SCHEMA, {**PROVIDERS, "acme": Lumped})


def test_two_vendors_declaring_one_connection_key_differently_are_refused() -> None:
    class Other(Acme):
        vendor = "other"
        connection = Connection(summary="Other.", keys={"region": {"type": "string"}})

    with pytest.raises(DeclarationError, match="declare the connection key 'region' differently"):
        generate(SCHEMA, {**WITH_ACME, "other": Other})


def test_the_check_command_says_which_command_rewrites_a_stale_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "billing-plan.schema.json"
    stale.write_text(CHECKED_IN.replace("Ruddr options,", "Ruddr's options,"), encoding="utf-8")
    monkeypatch.setattr(schema_vendors, "SCHEMA_PATH", stale)
    assert schema_vendors.main(["--check"]) == 1
    captured = capsys.readouterr()
    assert "run `python -m compiler.schema_vendors --write` and commit it" in captured.err
    assert "Ruddr's options," in captured.out
    assert schema_vendors.main(["--write"]) == 0
    assert stale.read_text(encoding="utf-8") == CHECKED_IN
    assert schema_vendors.main([]) == 0


def test_a_vendor_named_like_a_plan_key_is_refused() -> None:
    class Currency(Acme):
        vendor = "currency"

    with pytest.raises(DeclarationError, match="'currency' is already a key of \\$defs/project"):
        generate(SCHEMA, {**PROVIDERS, "currency": Currency})


def test_a_vendor_that_does_not_declare_its_connection_is_told_how() -> None:
    class Bare(Provider):
        vendor = "bare"
        title = "Bare"
        default_token_env = "BARE_TOKEN"
        rate_limit = 1

    with pytest.raises(DeclarationError, match="declare `connection = Connection"):
        generate(SCHEMA, {**PROVIDERS, "bare": Bare})
