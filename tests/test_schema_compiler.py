"""The compiled schema check (compiler/schema_compiler.py) says valid exactly when jsonschema
does, for the keywords whose compiled form calls what it refers to directly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from compiler.schema_compiler import compile_schema

# A tree refers to itself; a leaf is referred to from two places; a node has required keys,
# known properties and a rule for the others.
SCHEMA: dict[str, Any] = {
    "$ref": "#/$defs/tree",
    "$defs": {
        "leaf": {"type": "number", "minimum": 0},
        "tree": {
            "type": "object",
            "required": ["name", "size"],
            "properties": {
                "name": {"type": "string"},
                "size": {"$ref": "#/$defs/leaf"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
            },
            "additionalProperties": {"$ref": "#/$defs/leaf"},
        },
    },
}

INSTANCES = [
    {"name": "root", "size": 1},
    {"name": "root", "size": Decimal("1.5"), "extra": 2},
    {"name": "root", "size": 1, "extra": -2},
    {"name": "root", "size": 1, "extra": True},
    {"name": "root", "size": 1, "extra": "x"},
    {"name": "root"},
    {"size": 1},
    {"name": "root", "size": -1},
    {"name": "root", "size": 1, "children": [{"name": "a", "size": 2}]},
    {"name": "root", "size": 1, "children": [{"name": "a", "size": 2, "children": [{}]}]},
    {"name": "root", "size": 1, "children": [{"name": "a", "size": 2, "odd": -1}]},
    {"name": 3, "size": 1},
    [],
]


@pytest.mark.parametrize("instance", INSTANCES)
def test_a_compiled_schema_with_recursive_and_shared_refs_agrees_with_jsonschema(
    instance: Any,
) -> None:
    compiled = compile_schema(SCHEMA)
    assert compiled is not None
    assert compiled(instance) == Draft202012Validator(SCHEMA).is_valid(instance)
