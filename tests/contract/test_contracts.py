"""The contract data itself: the specs are valid OpenAPI, every operation billplan uses is in
its vendor's spec, every quirk names something that exists, and billplan's providers call
nothing the mapping leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from reliability.faults import VENDORS, attempt, plan_text, write

from compiler.sandbox import EXCHANGE_LOG_ENV

from .checker import ContractChecker, Exchange
from .contracts import CONTRACTS, KANTATA_NULLS, SPECS

SPEC_FILES = sorted(name for contract in CONTRACTS.values() for name in contract.files)


@pytest.fixture(scope="module")
def checker() -> ContractChecker:
    return ContractChecker()


@pytest.mark.parametrize("name", SPEC_FILES)
def test_each_stored_spec_is_valid_openapi_3_1(name: str) -> None:
    document = yaml.load((SPECS / name).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    # The Kantata files say 3.2.0; the contract pack checked them with the 3.1 rules.
    document["openapi"] = "3.1.0"

    validate(document, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize("vendor", sorted(CONTRACTS))
def test_every_operation_billplan_uses_is_in_the_vendor_s_spec(
    checker: ContractChecker, vendor: str
) -> None:
    in_spec = set().union(*(spec.operation_ids for spec in checker.specs(vendor)))

    assert set(CONTRACTS[vendor].used) - in_spec == set()


def test_every_field_kantata_may_answer_null_is_in_its_spec(checker: ContractChecker) -> None:
    specs = checker.specs("kantata")
    for schema, fields in KANTATA_NULLS:
        holders = [s for s in specs if schema in s.document["components"]["schemas"]]
        assert holders, f"no Kantata file has the schema {schema}"
        for spec in holders:
            properties = spec.document["components"]["schemas"][schema]["properties"]
            for name in fields:
                assert "null" in properties[name]["type"], f"{spec.file}: {schema}.{name}"


def test_billplan_s_providers_call_only_operations_the_mapping_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checker: ContractChecker
) -> None:
    """Every vendor through a first apply, an apply that updates, creates and deletes, and a
    plan with nothing to do; each operation billplan sent must be one it declares it uses."""
    log = tmp_path / "exchanges.jsonl"
    monkeypatch.setenv(EXCHANGE_LOG_ENV, str(log))
    directory = tmp_path / "billing"
    for version in (0, 1, 2):
        attempt(write(directory, plan_text(None, version=version)))
    attempt(directory, apply=False)

    called: dict[str, set[str]] = {vendor: set() for vendor in VENDORS}
    for line in log.read_text(encoding="utf-8").splitlines():
        exchange = Exchange.from_json(line)
        if exchange.from_billplan:
            verdict = checker.check(exchange)
            called[exchange.vendor].add(verdict.operation or f"{exchange.method} {exchange.path}")

    unlisted = {
        vendor: sorted(operations - set(CONTRACTS[vendor].used))
        for vendor, operations in called.items()
    }
    assert all(called.values()), json.dumps({v: sorted(o) for v, o in called.items()})
    assert unlisted == {vendor: [] for vendor in VENDORS}
