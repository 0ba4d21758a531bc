"""The plan schema file itself: well-formed, documented for editors, and strict where it must be.

billplan's loader keeps dates as strings and numbers as int or Decimal, so the plans below are
written the same way. Rules the schema can state (end vs count, amount vs amounts, one price
per milestone, share or weight per split part, weights above 0) are stated there so that an
editor flags them (issue 19); rules across several values (shares summing to 100%, share vs
weight across parts, names that exist) are left to billplan and pinned here as *accepted*.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from compiler.schema_check import plan_validator

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "billing-plan.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
SCHEMA_ID = "https://billplan.dev/schemas/billing-plan.schema.json"
REGISTRY: Registry = Registry().with_resource(SCHEMA_ID, Resource.from_contents(SCHEMA))

SETTINGS_KEYS = {
    "currency",
    "rounding",
    "holidays",
    "horizon",
    "adjust",
    "ruddr",
    "wethod",
    "kantata",
    "coperniq",
    # issue 17's guardrails, written like settings: the nearest of charge, template,
    # project and defaults wins.
    "protect",
    "ignore",
}
KEY_PATTERN = "^[a-z0-9][a-z0-9_-]*$"

# Keywords whose value is one subschema, a map of subschemas, or a list of subschemas.
ONE_SCHEMA = ("items", "additionalProperties", "propertyNames", "not", "if", "then", "else")
SCHEMA_MAPS = ("properties", "patternProperties", "$defs")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def refusal(schema: dict[str, Any]) -> bool:
    """A rule's `then` that refuses keys (`{properties: {count: false}, errorMessage: ...}`):
    not an object to fill in, so it needs no descriptions and no additionalProperties."""
    props = schema.get("properties")
    return bool(props) and all(p is False for p in props.values()) and "errorMessage" in schema


def subschemas(node: Any, pointer: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (sub)schema in the file with its JSON pointer, keyword-aware (not every dict)."""
    if not isinstance(node, dict):
        return  # boolean schemas
    yield pointer, node
    for keyword in ONE_SCHEMA:
        if keyword == "if":
            continue  # a condition to test, not a shape to fill in
        if keyword in node:
            yield from subschemas(node[keyword], f"{pointer}/{keyword}")
    for keyword in SCHEMA_MAPS:
        for name, child in node.get(keyword, {}).items():
            yield from subschemas(child, f"{pointer}/{keyword}/{name}")
    for keyword in SCHEMA_LISTS:
        for index, child in enumerate(node.get(keyword, [])):
            yield from subschemas(child, f"{pointer}/{keyword}/{index}")


def validator_for(pointer: str = "") -> Draft202012Validator:
    """A validator for the whole schema, or for one $defs entry the way the code uses it."""
    schema = {"$ref": f"{SCHEMA_ID}#{pointer}"} if pointer else SCHEMA
    return Draft202012Validator(schema, registry=REGISTRY)


def errors_of(instance: Any, pointer: str = "") -> list[ValidationError]:
    return list(validator_for(pointer).iter_errors(instance))


def where(errors: list[ValidationError]) -> list[tuple[list[str | int], str]]:
    return [(list(e.absolute_path), e.validator) for e in errors]


def language_guide_example() -> dict[str, Any]:
    """The plan at the top of PLAN-LANGUAGE.md, as the loader hands it over."""
    return {
        "version": 1,
        "providers": {"ruddr": {"type": "ruddr"}},
        "state": {"backend": "local"},
        "vars": {"pm": "Dana Ortiz"},
        "defaults": {
            "currency": "USD",
            "rounding": "half_up",
            "ruddr": {"invoice_item": "aba04832-216c-463e-8998-c520948f707c"},
        },
        "templates": {
            "monthly-retainer": {
                "every": "month",
                "bill": "in_advance",
                "description": "Retainer {{ period.start | month_name }} {{ period.start.year }}",
            }
        },
        "projects": {
            "cloud-infra": {
                "provider": "ruddr",
                "project_id": "d077258e-2158-4f34-aabd-97e971d0c18d",
                "name": "Cloud Infrastructure Services",
                "cap": 300000,
                "recurring": {
                    "retainer": {
                        "use": "monthly-retainer",
                        "amount": 15000,
                        "start": "2026-01-01",
                        "end": "2026-12-31",
                        "escalate": {"by": "3%", "every": "year"},
                    }
                },
                "milestones": {
                    "kickoff": {"description": "Kickoff", "date": "2026-01-15", "amount": 10000},
                    "delivery": {
                        "split": {
                            "total": 90000,
                            "parts": {
                                "design": {
                                    "description": "Design sign-off",
                                    "date": "2026-03-01",
                                    "share": "30%",
                                },
                                "build": {
                                    "description": "Build complete",
                                    "date": "2026-05-01",
                                    "share": "40%",
                                },
                                "launch": {
                                    "description": "Go-live",
                                    "date": "2026-07-01",
                                    "share": "30%",
                                },
                            },
                        }
                    },
                },
                "products": {
                    "crm-licenses": {
                        "description": "Premium CRM licenses",
                        "quantity": 10,
                        "rate": 150,
                        "date": "2026-06-04",
                    }
                },
            }
        },
    }


def every_key_plan() -> dict[str, Any]:
    """A plan that uses every key the language has at least once (but `base_url`, which is
    refused)."""
    return {
        "version": 1,
        "providers": {
            "ruddr": {"type": "ruddr", "token_env": "RUDDR_API_TOKEN_EU"},
            "wethod": {"type": "wethod", "company": "acme", "token_env": "WETHOD_API_TOKEN"},
            "kantata": {"type": "kantata"},
            "coperniq": {"type": "coperniq"},
        },
        "state": {
            "backend": "postgres",
            "path": ".billplan/state.json",
            "dsn_env": "BILLPLAN_PG_DSN",
            "name": "acme-billing",
        },
        "vars": {"pm": "Dana Ortiz", "Team_2": ["a", "b"], "_meta": {"nested": True}},
        "defaults": {
            "currency": "EUR",
            "rounding": "half_even",
            "holidays": ["2026-12-25", "2026-12-26"],
            "horizon": "12 months",
            "ruddr": {"invoice_item": "aba04832-216c-463e-8998-c520948f707c"},
            "wethod": {
                "vat_rate_id": 3,
                "payment_term_id": 2,
                "budget_area_uid": "ba-17",
                "purchase_order": "PO-4471",
                "exchange_rate": Decimal("1.0850"),
            },
            "kantata": {},
            "coperniq": {"group_by": "date", "due_in_days": 30, "status": "DRAFT"},
        },
        "templates": {
            "everything": {
                "description": "{{ charge.key }}",
                "every": "quarter",
                "align": "start",
                "bill": "in_arrears",
                "day": "last_business_day",
                "start": "2026-01-01",
                "end": "2026-12-31",
                "count": 4,
                "prorate": "none",
                "amount": "0.10",
                "amounts": [{"from": "2026-01-01", "amount": 1}],
                "escalate": {"by": "-2.5%", "every": "6 months", "from": "2026-07-01"},
                "date": "2026-02-01",
                "on_completion": {"task": 88123},
                "quantity": Decimal("2.5"),
                "rate": "1250.125",
                "percent": "20%",
                "split": {"parts": {"only": {"weight": 1}}},
                "horizon": "year",
                "currency": "USD",
                "kantata": {},
            }
        },
        "projects": {
            "wethod-1": {
                "provider": "wethod",
                "project_id": 4411,
                "contract_value": 250000,
                "currency": "GBP",
                "holidays": ["2026-08-31"],
                "recurring": {
                    "support": {
                        "description": "Support {{ period.label }}",
                        "every": "2 weeks",
                        "start": "2026-01-05",
                        "count": 26,
                        "prorate": "skip",
                        "amounts": [
                            {"from": "2026-01-05", "amount": 3000},
                            {"from": "2026-07-06", "amount": Decimal("3500.50")},
                        ],
                        "wethod": {"purchase_order": "PO-9"},
                    },
                    "from-template": {"use": "everything"},
                },
                "milestones": {
                    "signoff": {"description": "Sign-off", "date": "2026-03-01", "percent": "20%"},
                    "licence": {
                        "description": "Setup",
                        "date": "2026-02-01",
                        "quantity": 4,
                        "rate": 1250,
                        "rounding": "half_up",
                    },
                    "phases": {
                        "description": "Phase",
                        "split": {
                            "parts": {
                                "one": {"date": "2026-03-01", "weight": 1},
                                "two": {"on_completion": {"task": "88124"}, "weight": "2.5"},
                            }
                        },
                    },
                },
                "products": {
                    "seats": {
                        "description": "Seats",
                        "quantity": 10,
                        "rate": 150,
                        "every": "month",
                        "align": "calendar",
                        "bill": "in_advance",
                        "day": 15,
                        "start": "2026-01-01",
                        "end": "2026-12-31",
                        "horizon": "90 days",
                    }
                },
            },
            "kantata_2": {
                "provider": "kantata",
                "project_id": "77120",
                "milestones": {
                    "launch": {
                        "description": "Go-live",
                        "on_completion": {"task": 88123},
                        "amount": -5000,
                    }
                },
            },
        },
    }


# --- the file -------------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == SCHEMA_ID
    assert SCHEMA["title"].strip()
    assert SCHEMA["description"].strip()


def test_the_schema_is_also_valid_for_editors_that_check_it_as_draft_07() -> None:
    # yaml-language-server checks a schema against the draft-07 meta-schema before using it.
    Draft7Validator.check_schema(SCHEMA)


def test_the_top_level_has_the_fixed_keys() -> None:
    assert set(SCHEMA["properties"]) == {
        "version",
        "providers",
        "state",
        "vars",
        "defaults",
        "templates",
        "projects",
        "moved",
        "removed",  # issue 17: stop managing addresses without deleting them
        "policy",
    }
    # billplan requires version, providers and projects after merging a plan's fragments;
    # the schema leaves them optional so that an editor accepts each fragment on its own.
    assert "required" not in SCHEMA
    assert SCHEMA["additionalProperties"] is False


def test_every_ref_resolves() -> None:
    resolver = REGISTRY.resolver(base_uri=SCHEMA_ID)
    refs = [(p, s["$ref"]) for p, s in subschemas(SCHEMA) if "$ref" in s]
    assert refs
    for pointer, ref in refs:
        assert resolver.lookup(ref).contents, f"{pointer}: {ref} does not resolve"


def test_every_property_at_every_level_has_a_description() -> None:
    missing = [
        f"{pointer}/properties/{name}"
        for pointer, schema in subschemas(SCHEMA)
        for name, prop in schema.get("properties", {}).items()
        if not refusal(schema)
        and not (isinstance(prop, dict) and str(prop.get("description", "")).strip())
    ]
    assert missing == []


def test_every_definition_has_a_description() -> None:
    missing = [
        name for name, d in SCHEMA["$defs"].items() if not str(d.get("description", "")).strip()
    ]
    assert missing == []


def test_every_pattern_has_a_human_hint() -> None:
    # patternErrorMessage: what yaml-language-server shows instead of the raw regex (issue 19).
    patterns = [(p, s) for p, s in subschemas(SCHEMA) if "pattern" in s]
    assert len(patterns) >= 10
    missing = [p for p, s in patterns if not str(s.get("patternErrorMessage", "")).strip()]
    assert missing == []


def test_every_object_with_named_keys_rejects_unknown_keys() -> None:
    open_objects = [
        pointer
        for pointer, schema in subschemas(SCHEMA)
        if "properties" in schema
        and not refusal(schema)
        and schema.get("additionalProperties") is not False
        and schema.get("unevaluatedProperties") is not False
    ]
    assert open_objects == []


@pytest.mark.parametrize(
    "pointer",
    [
        "/$defs/settings",
        "/$defs/project",
        "/$defs/recurringCharge",
        "/$defs/milestone",
        "/$defs/product",
        "/$defs/template",
    ],
)
def test_settings_are_accepted_wherever_settings_apply(pointer: str) -> None:
    resolved = REGISTRY.resolver(base_uri=SCHEMA_ID).lookup(f"#{pointer}").contents
    assert set(resolved["properties"]) >= SETTINGS_KEYS


def test_defaults_are_the_settings() -> None:
    assert SCHEMA["$defs"]["defaults"]["$ref"] == "#/$defs/settings"
    assert set(SCHEMA["$defs"]["settings"]["properties"]) == SETTINGS_KEYS


def test_a_template_accepts_every_charge_key_but_use_and_requires_none() -> None:
    defs = SCHEMA["$defs"]
    charge_keys = set().union(
        *(defs[kind]["properties"] for kind in ("recurringCharge", "milestone", "product"))
    )
    assert set(defs["template"]["properties"]) == charge_keys - {"use"}
    assert "required" not in defs["template"]
    assert "if" not in defs["template"]


@pytest.mark.parametrize(
    "location",
    [
        ("properties", "providers"),
        ("properties", "templates"),
        ("properties", "projects"),
        ("$defs", "project", "properties", "recurring"),
        ("$defs", "project", "properties", "milestones"),
        ("$defs", "project", "properties", "products"),
        ("$defs", "split", "properties", "parts"),
    ],
)
def test_names_of_projects_templates_charges_parts_and_providers_are_lowercase_keys(
    location: tuple[str, ...],
) -> None:
    node: Any = SCHEMA
    for part in location:
        node = node[part]
    assert node["propertyNames"] == {"$ref": "#/$defs/key"}
    assert SCHEMA["$defs"]["key"]["pattern"] == KEY_PATTERN


# --- valid plans ------------------------------------------------------------------------------


def test_the_language_guide_example_is_valid() -> None:
    assert where(errors_of(language_guide_example())) == []


def test_a_plan_using_every_key_is_valid() -> None:
    assert where(errors_of(every_key_plan())) == []


def test_the_schema_states_the_mutual_exclusions_so_that_editors_flag_them() -> None:
    # Issue 19 (this test pinned the opposite before): each is a key refused by `false` with
    # the rule's errorMessage, not a oneOf wall.
    plan = language_guide_example()
    project = plan["projects"]["cloud-infra"]
    project["recurring"]["retainer"].update(count=12, amounts=[{"from": "2026-01-01", "amount": 1}])
    project["milestones"]["kickoff"].update(quantity=1, rate=1, percent="5%")
    project["milestones"]["delivery"]["split"]["parts"]["design"]["weight"] = 1
    assert [e.validator for e in errors_of(plan)] == [None] * 6  # a `false` schema each
    # billplan's validator (as yaml-language-server does) names the refused key and the rule.
    refused = sorted(
        ("/".join(map(str, e.absolute_path)).removeprefix("projects/cloud-infra/"), e.message)
        for e in plan_validator().iter_errors(plan)
    )
    many = (
        "A milestone needs exactly one of `amount`, `quantity` with `rate`, `percent` or "
        "`split`; keep one of them."
    )
    assert refused == [
        ("milestones/delivery/split/parts/design/weight",
         "Each split part needs exactly one of `share` or `weight` (both given)."),
        ("milestones/kickoff/percent", many),
        ("milestones/kickoff/percent", many),
        ("milestones/kickoff/quantity", many),
        ("recurring/retainer/amounts",
         "A recurring charge needs exactly one of `amount` or `amounts` (both given); keep "
         "`amount` for one price or `amounts` for price steps."),
        ("recurring/retainer/count", "Give either `end` or `count`, not both."),
    ]  # fmt: skip


def test_rules_across_several_values_are_left_to_billplan() -> None:
    plan = language_guide_example()
    parts = plan["projects"]["cloud-infra"]["milestones"]["delivery"]["split"]["parts"]
    parts["design"]["share"] = "31%"  # shares summing to 101%
    parts["build"] = {**parts["build"], "weight": 2}
    del parts["build"]["share"]  # share on some parts, weight on others
    plan["projects"]["cloud-infra"]["recurring"]["retainer"]["use"] = "no-such-template"
    assert where(errors_of(plan)) == []


@pytest.mark.parametrize("amount", [15000, -250, 0, Decimal("1234.50"), "0.10", "-3", "15000"])
def test_money_is_an_exact_number_or_a_quoted_decimal(amount: Any) -> None:
    assert where(errors_of(amount, "/$defs/money")) == []


@pytest.mark.parametrize("amount", ["1,000", "$5", "1e3", "12.", ".5", "", True, None, [1]])
def test_money_rejects_other_forms(amount: Any) -> None:
    assert errors_of(amount, "/$defs/money")


@pytest.mark.parametrize(
    ("definition", "good", "bad"),
    [
        ("every", ["week", "2 weeks", "1 week", "month", "6 months", "quarter", "year"],
         ["monthly", "0 months", "2 quarters", "3months", "Month", "2 years", "2 week"]),
        ("duration", ["12 months", "90 days", "1 year", "year", "2 weeks", "day"],
         ["12", "0 months", "12 month ", "a year", "2 month", "days", "quarter"]),
        ("date", ["2026-01-31", "2026-02-30"], ["2026-1-5", "31/01/2026", "2026-01-31T00:00"]),
        ("percent", ["30%", "12.5%", "100%"], ["30", "-3%", "30 %", "0.3"]),
        ("signedPercent", ["3%", "-2.5%"], ["+3%", "3", "%"]),
        ("currency", ["USD", "JPY"], ["usd", "US", "EURO"]),
        ("day", [1, 31, "last", "first_business_day", "last_business_day"],
         [0, 32, "15", "first", Decimal("1.5")]),
        ("provider/properties/token_env",
         ["RUDDR_API_TOKEN", "RUDDR_API_TOKEN_EU", "KANTATA_API_TOKEN_2", "COPERNIQ_API_KEY_A_B"],
         ["GITHUB_TOKEN", "BILLPLAN_PG_DSN", "RUDDR_API_TOKENX", "RUDDR_API_TOKEN_",
          "RUDDR_API_TOKEN__EU", "ruddr_api_token", "X_RUDDR_API_TOKEN", "AWS_SECRET_ACCESS_KEY"]),
        ("state/properties/dsn_env", ["BILLPLAN_PG_DSN", "BILLPLAN_PG_DSN_ACME"],
         ["DATABASE_URL", "ACME_PG_DSN", "BILLPLAN_PG_DSNX", "RUDDR_API_TOKEN", "PGPASSWORD"]),
        ("key", ["cloud-infra", "q1_licences", "2026"], ["Cloud", "-x", "_x", "a b", "a.b"]),
        ("varName", ["pm", "Team_2", "_meta"], ["2pm", "account-manager", "a b"]),
    ],
)  # fmt: skip
def test_value_forms(definition: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert where(errors_of(value, f"/$defs/{definition}")) == [], value
    for value in bad:
        assert errors_of(value, f"/$defs/{definition}"), value


# --- invalid plans fail where a reader would look -------------------------------------------


def test_an_unknown_key_on_a_project_is_rejected_at_the_project() -> None:
    plan = language_guide_example()
    plan["projects"]["cloud-infra"]["colour"] = "blue"
    errors = errors_of(plan)
    assert where(errors) == [(["projects", "cloud-infra"], "additionalProperties")]
    assert "'colour'" in errors[0].message


def test_a_bad_every_is_rejected_at_the_key_with_a_hint() -> None:
    plan = language_guide_example()
    plan["templates"]["monthly-retainer"]["every"] = "monthly"
    errors = errors_of(plan)
    assert where(errors) == [(["templates", "monthly-retainer", "every"], "pattern")]
    assert errors[0].schema["patternErrorMessage"].startswith("Expected a period such as month")


def test_a_date_in_another_form_is_rejected_at_the_key_with_a_hint() -> None:
    plan = language_guide_example()
    plan["projects"]["cloud-infra"]["milestones"]["kickoff"]["date"] = "15/01/2026"
    errors = errors_of(plan)
    path = ["projects", "cloud-infra", "milestones", "kickoff", "date"]
    assert where(errors) == [(path, "pattern")]
    assert errors[0].schema["patternErrorMessage"] == "Expected a date such as 2026-01-31."
    assert list(best_match(errors).absolute_path) == path


def test_a_charge_without_use_must_say_when_it_starts() -> None:
    plan = language_guide_example()
    plan["projects"]["cloud-infra"]["recurring"]["hosting"] = {
        "description": "Hosting",
        "every": "month",
        "amount": 500,
    }
    errors = errors_of(plan)
    assert where(errors) == [(["projects", "cloud-infra", "recurring", "hosting"], "required")]
    assert errors[0].message == "'start' is a required property"


def test_a_charge_with_use_may_leave_required_keys_to_its_template() -> None:
    plan = language_guide_example()
    del plan["projects"]["cloud-infra"]["recurring"]["retainer"]["start"]
    assert where(errors_of(plan)) == []


@pytest.mark.parametrize(
    ("kind", "charge", "missing"),
    [
        ("milestone", {"date": "2026-01-15", "amount": 1}, "description"),
        ("product", {"description": "Seats", "rate": 150, "date": "2026-06-04"}, "quantity"),
    ],
)
def test_milestones_and_products_without_use_need_their_own_keys(
    kind: str, charge: dict[str, Any], missing: str
) -> None:
    errors = errors_of(charge, f"/$defs/{kind}")
    assert [e.message for e in errors] == [f"'{missing}' is a required property"]
    assert where(errors_of({**charge, "use": "t"}, f"/$defs/{kind}")) == []


def test_a_split_milestone_may_leave_descriptions_to_its_parts() -> None:
    # As in the language guide's `delivery` milestone; a milestone with neither is an error.
    part = {"description": "A", "date": "2026-01-01", "share": "100%"}
    split = {"total": 100, "parts": {"a": part}}
    assert where(errors_of({"split": split}, "/$defs/milestone")) == []
    errors = errors_of({"date": "2026-01-15", "amount": 1}, "/$defs/milestone")
    assert [e.message for e in errors] == ["'description' is a required property"]


def test_a_day_in_another_form_is_rejected_with_a_hint() -> None:
    errors = errors_of("15th", "/$defs/day")
    assert where(errors) == [([], "anyOf")]
    assert "last_business_day" in errors[0].schema["x-hint"]


def test_a_merged_charge_without_use_is_checked_for_the_required_keys() -> None:
    # The compiler merges the template under the charge, drops `use` and validates again.
    plan = language_guide_example()
    template = plan["templates"]["monthly-retainer"]
    charge = copy.deepcopy(plan["projects"]["cloud-infra"]["recurring"]["retainer"])
    del charge["start"]
    merged = {**template, **charge}
    del merged["use"]

    errors = errors_of(merged, "/$defs/recurringCharge")
    assert where(errors) == [([], "required")]
    assert errors[0].message == "'start' is a required property"

    merged["start"] = "2026-01-01"
    assert where(errors_of(merged, "/$defs/recurringCharge")) == []


def test_a_project_key_in_the_wrong_form_is_rejected_with_a_hint() -> None:
    plan = language_guide_example()
    plan["projects"]["Cloud Infra"] = plan["projects"].pop("cloud-infra")
    errors = errors_of(plan)
    assert where(errors) == [(["projects"], "pattern")]
    assert "lowercase" in errors[0].schema["patternErrorMessage"]


@pytest.mark.parametrize(
    ("change", "path", "keyword"),
    [
        (lambda p: p.update(version=2), ["version"], "const"),
        (lambda p: p["providers"]["ruddr"].update(type="xero"), ["providers", "ruddr", "type"],
         "enum"),
        (lambda p: p["providers"]["ruddr"].pop("type"), ["providers", "ruddr"], "required"),
        (lambda p: p["providers"]["ruddr"].update(token_env="my token"),
         ["providers", "ruddr", "token_env"], "pattern"),
        (lambda p: p["state"].update(backend="s3"), ["state", "backend"], "enum"),
        (lambda p: p["defaults"]["ruddr"].update(invoice_itme="x"), ["defaults", "ruddr"],
         "additionalProperties"),
        (lambda p: p["defaults"].update(kantata={"x": 1}), ["defaults", "kantata"],
         "additionalProperties"),
        (lambda p: p["projects"]["cloud-infra"].pop("project_id"), ["projects", "cloud-infra"],
         "required"),
        (lambda p: p["projects"]["cloud-infra"]["recurring"]["retainer"].update(count=0, end=None)
         or p["projects"]["cloud-infra"]["recurring"]["retainer"].pop("end"),
         ["projects", "cloud-infra", "recurring", "retainer", "count"], "minimum"),
        (lambda p: p["projects"]["cloud-infra"]["milestones"]["delivery"]["split"].update(
            parts={}), ["projects", "cloud-infra", "milestones", "delivery", "split", "parts"],
         "minProperties"),
        (lambda p: p["vars"].update({"2pm": 1}), ["vars"], "pattern"),
    ],
)  # fmt: skip
def test_other_mistakes_are_reported_at_the_offending_key(
    change: Any, path: list[str], keyword: str
) -> None:
    plan = language_guide_example()
    change(plan)
    assert where(errors_of(plan)) == [(path, keyword)]
