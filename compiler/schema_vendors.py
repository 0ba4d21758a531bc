"""The plan schema's vendor sections, generated from the provider registry.

schemas/billing-plan.schema.json is written by hand except for what each vendor declares on
its provider class (`compiler.providers.declare`). This module owns those parts and rewrites
them from `compiler.providers.PROVIDERS`, leaving every other word of the file as it is:

- the top description's list of vendors;
- `$defs/provider`: the `type` enum with its descriptions, the `token_env` variables (text,
  pattern and its message), the vendors' rate limits in the `max_rps` text, the keys only some
  vendors' connections take (every key but COMMON_CONNECTION_KEYS), and the conditions that
  require them (`if`/`then`, or `allOf` of them when several vendors require keys);
- one `<vendor>Options` definition per vendor (every `$defs` entry named `...Options`);
- the options property of each vendor in every block that takes settings (OPTION_SCOPES),
  each property whose `$ref` is an options definition, placed after the block's own keys;
- the list of settings in the `settings` and `defaults` descriptions;
- the vendors that bill on a task's completion in the `on_completion` texts.

After changing a provider's declarations, regenerate the file and commit it:

    python -m compiler.schema_vendors --write

`--check` (the default) exits 1 when the checked-in file is stale; tests/test_schema_vendors.py
fails then too. The output is `json.dumps` with an indent of 2, so the file's formatting is
the generator's as well.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.providers.declare import Connection
from compiler.schema_check import SCHEMA_NAME

if TYPE_CHECKING:
    from compiler.providers import Provider

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME
WRITE_COMMAND = "python -m compiler.schema_vendors --write"

# The keys every connection takes whatever its vendor; the provider base reads them. Any other
# key of `$defs/provider` belongs to a vendor and is regenerated from its declaration.
COMMON_CONNECTION_KEYS = ("type", "base_url", "token_env", "timeout", "max_rps")
# Every block that takes settings, with the sentence saying how far its options reach.
CHARGE_SCOPE = "For this charge only; overrides the project and defaults."
OPTION_SCOPES: Mapping[str, str] = {
    "project": "Applies to this project's charges that do not set their own; overrides defaults.",
    "recurringCharge": CHARGE_SCOPE,
    "milestone": CHARGE_SCOPE,
    "product": CHARGE_SCOPE,
    "template": "Passed to every charge using this template that does not set its own.",
    "settings": "Applies to every project and charge that does not set its own.",
}
# The blocks whose `on_completion` key says which vendors bill on a task's completion.
ON_COMPLETION_BLOCKS = ("milestone", "template")
OPTIONS_SUFFIX = "Options"
OPTIONS_REF = re.compile(r"^#/\$defs/.+" + OPTIONS_SUFFIX + "$")

DESCRIPTION = (
    "A billing plan: providers (connections to {titles}), projects and the charges to bill on "
    "them. billplan compiles it into invoice lines. See PLAN-LANGUAGE.md."
)
TYPE_DESCRIPTION = "Which tool this connection talks to: {vendors}."
TOKEN_ENV_DESCRIPTION = (
    "Environment variable holding the API token: the vendor's own (the default: {variables}), "
    "or it followed by _ and a suffix for a second account, e.g. {example}. No other variable "
    "can be named, so that a plan edit cannot send another secret."
)
# What yaml-language-server shows for a token_env that does not match, and billplan says too.
TOKEN_ENV_PATTERN_MESSAGE = (
    "Expected the vendor's token variable ({variables}), or it followed by _ and a suffix such "
    "as {example}."
)
MAX_RPS_DESCRIPTION = (
    "Most requests a second billplan sends to this connection, e.g. 5. Default: the vendor's "
    "limit ({limits}); lower it when other tools share the account. At least 1: slower, a plan "
    "of a few hundred changes takes hours to apply."
)
SETTINGS_DESCRIPTION = (
    "Settings that can be given in defaults, on a project or on a charge (the nearest wins): "
    "{settings} and the provider options {vendors}. A provider option block the project's "
    "provider does not use is an error."
)
ON_COMPLETION_DEF_DESCRIPTION = (
    "Bill when a task is completed in the vendor's tool instead of on a date, e.g. {{task: "
    "88123}}. Only for providers that support it ({titles})."
)
ON_COMPLETION_DESCRIPTION = (
    "Bill when a task is completed instead of on a date, e.g. {{task: 88123}}. {titles} only."
)

Schema = dict[str, Any]


class DeclarationError(ValueError):
    """The vendors' declarations cannot make one schema (two vendors disagree, say)."""


def generate(schema: Mapping[str, Any], providers: Mapping[str, type[Provider]]) -> Schema:
    """`schema` with its vendor sections rewritten from `providers` (vendor -> class); the
    rest is kept as it is, key order included."""
    vendors = _declared(providers)
    result: Schema = json.loads(json.dumps(schema))  # a deep copy with fresh dicts
    result["description"] = DESCRIPTION.format(titles=", ".join(p.title for p in vendors))
    defs: Schema = result["$defs"]
    defs["provider"] = _connection(defs["provider"], vendors)
    result["$defs"] = defs = _replace_entries(
        defs, lambda name: name.endswith(OPTIONS_SUFFIX), _options_definitions(vendors)
    )
    for block, scope in OPTION_SCOPES.items():
        defs[block]["properties"] = _with_options(block, defs[block]["properties"], vendors, scope)
    names = _names(vendors)
    settings = [key for key in defs["settings"]["properties"] if key not in names]
    for name in ("settings", "defaults"):
        defs[name]["description"] = SETTINGS_DESCRIPTION.format(
            settings=", ".join(settings), vendors=", ".join(names)
        )
    billers = _either([p.title for p in vendors if p.capabilities.bills_on_completion])
    defs["onCompletion"]["description"] = ON_COMPLETION_DEF_DESCRIPTION.format(titles=billers)
    for block in ON_COMPLETION_BLOCKS:
        on_completion = defs[block]["properties"]["on_completion"]
        on_completion["description"] = ON_COMPLETION_DESCRIPTION.format(titles=billers)
    return result


def render(schema: Mapping[str, Any]) -> str:
    """The schema file's text: what `generate` gives, as it is checked in."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def regenerated(text: str, providers: Mapping[str, type[Provider]] | None = None) -> str:
    """The schema file's text `text` with its vendor sections regenerated (from the registry
    unless `providers` is given)."""
    if providers is None:
        from compiler.providers import PROVIDERS

        providers = PROVIDERS
    return render(generate(json.loads(text), providers))


def stale_diff(checked_in: str, fresh: str, *, limit: int = 40) -> str:
    """The first `limit` lines of a diff from the checked-in schema to the regenerated one."""
    lines = list(
        difflib.unified_diff(
            checked_in.splitlines(),
            fresh.splitlines(),
            f"checked in: schemas/{SCHEMA_NAME}",
            "generated from compiler.providers.PROVIDERS",
            lineterm="",
        )
    )
    more = f"\n... ({len(lines) - limit} more lines)" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m compiler.schema_vendors",
        description=f"Regenerate the vendor sections of schemas/{SCHEMA_NAME} from the "
        "provider registry.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the schema file")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if the schema file is stale (the default)"
    )
    args = parser.parse_args(argv)
    if not SCHEMA_PATH.is_file():
        print(
            f"schema_vendors: {SCHEMA_PATH} not found; run it in billplan's source tree "
            "(an editable install), where the schema is checked in",
            file=sys.stderr,
        )
        return 1
    checked_in = SCHEMA_PATH.read_text(encoding="utf-8")
    try:
        fresh = regenerated(checked_in)
    except DeclarationError as problem:
        print(f"schema_vendors: {problem}", file=sys.stderr)
        return 1
    if fresh == checked_in:
        print(f"schemas/{SCHEMA_NAME} is up to date")
        return 0
    if args.write:
        SCHEMA_PATH.write_text(fresh, encoding="utf-8")
        print(f"wrote schemas/{SCHEMA_NAME}")
        return 0
    print(stale_diff(checked_in, fresh))
    print(f"schemas/{SCHEMA_NAME} is stale: run `{WRITE_COMMAND}` and commit it", file=sys.stderr)
    return 1


# -- the parts ------------------------------------------------------------------------------


def _declared(providers: Mapping[str, type[Provider]]) -> list[type[Provider]]:
    """The registry's classes, once their declarations are checked against each other."""
    if not providers:
        raise DeclarationError("no vendors: the registry is empty")
    for vendor, p in providers.items():
        if vendor != p.vendor:
            raise DeclarationError(f"{p.__name__} is registered as {vendor!r}, not {p.vendor!r}")
        if not isinstance(getattr(p, "connection", None), Connection):
            raise DeclarationError(
                f"{p.__name__} does not say what a connection to it is: declare "
                '`connection = Connection(summary="TITLE (what it bills).")` under its title'
            )
        grouping = p.capabilities.grouping
        if grouping is not None and grouping not in p.plan_options.keys:
            raise DeclarationError(
                f"{p.__name__} groups by the option {grouping!r}, which its plan_options do "
                "not declare"
            )
    return list(providers.values())


def _options_definitions(vendors: Sequence[type[Provider]]) -> Schema:
    """One `<vendor>Options` definition per vendor: a closed object of its declared keys."""
    return {
        _options_def(p.vendor): {
            "description": p.plan_options.described(p.title),
            "type": "object",
            "additionalProperties": False,
            "properties": dict(p.plan_options.keys),
        }
        for p in vendors
    }


def _with_options(
    block: str, properties: Mapping[str, Any], vendors: Sequence[type[Provider]], scope: str
) -> Schema:
    """A block's own keys, then each vendor's options, described with how far they reach."""
    result = {
        key: value
        for key, value in properties.items()
        if not OPTIONS_REF.match(str(value.get("$ref", "")))
    }
    for p in vendors:
        if p.vendor in result:
            raise DeclarationError(
                f"the vendor name {p.vendor!r} is already a key of $defs/{block}: "
                "a plan could not tell its options from that key"
            )
        result[p.vendor] = {
            "$ref": f"#/$defs/{_options_def(p.vendor)}",
            "description": f"{p.plan_options.summarised(p.title)} {scope}",
        }
    return result


def _connection(provider: Mapping[str, Any], vendors: Sequence[type[Provider]]) -> Schema:
    """`$defs/provider` with its vendor parts rewritten."""
    properties: Mapping[str, Any] = provider["properties"]
    missing = [key for key in COMMON_CONNECTION_KEYS if key not in properties]
    if missing:
        raise DeclarationError(f"$defs/provider has none of {missing}: restore them by hand")
    own = _connection_keys(vendors)
    tokens = [p.default_token_env for p in vendors]
    rebuilt: Schema = {}
    for key, value in properties.items():
        if key not in COMMON_CONNECTION_KEYS:
            continue  # a vendor's key: written again below, from its declaration
        value = dict(value)
        if key == "type":
            value["description"] = TYPE_DESCRIPTION.format(vendors=_either(_names(vendors)))
            value["enum"] = _names(vendors)
            value["enumDescriptions"] = [p.connection.summary for p in vendors]
        elif key == "token_env":
            variables = _either(tokens)
            example = f"{tokens[0]}_EU"
            value["description"] = TOKEN_ENV_DESCRIPTION.format(
                variables=variables, example=example
            )
            value["pattern"] = f"^({'|'.join(map(re.escape, tokens))})(_[A-Z0-9]+)*$"
            value.pop("x-hint", None)
            value["patternErrorMessage"] = TOKEN_ENV_PATTERN_MESSAGE.format(
                variables=variables, example=example
            )
        elif key == "max_rps":
            limits = ", ".join(f"{p.title} {p.rate_words or f'{p.rate_limit:g}'}" for p in vendors)
            value["description"] = MAX_RPS_DESCRIPTION.format(limits=limits)
        rebuilt[key] = value
        if key == "token_env":
            rebuilt.update(own)
    conditions = [
        {
            "if": {"properties": {"type": {"const": p.vendor}}, "required": ["type"]},
            "then": {"required": list(p.connection.required)},
        }
        for p in vendors
        if p.connection.required
    ]
    generated: Schema = {}
    if len(conditions) == 1:
        generated = dict(conditions[0])
    elif conditions:
        generated = {"allOf": conditions}
    result: Schema = {}
    for key, value in provider.items():
        if key in ("if", "then", "allOf"):
            continue  # the vendors' conditions: written again before the properties
        if key == "properties":
            result.update(generated)
            value = rebuilt
        result[key] = value
    return result


def _connection_keys(vendors: Sequence[type[Provider]]) -> Schema:
    """The keys some vendor's connections take, each declared once (or alike by several)."""
    keys: Schema = {}
    owner: dict[str, str] = {}
    for p in vendors:
        for key, schema in p.connection.keys.items():
            if key in COMMON_CONNECTION_KEYS:
                raise DeclarationError(
                    f"{p.__name__} declares the connection key {key!r}, which every "
                    "connection takes already"
                )
            if key in keys and keys[key] != dict(schema):
                raise DeclarationError(
                    f"{p.__name__} and {owner[key]} declare the connection key {key!r} "
                    "differently; one schema must fit both"
                )
            keys.setdefault(key, dict(schema))
            owner.setdefault(key, p.__name__)
    return keys


def _replace_entries(
    entries: Mapping[str, Any], owned: Callable[[str], bool], fresh: Mapping[str, Any]
) -> Schema:
    """`entries` without those whose name `owned` picks, and with `fresh` in the place of the
    first of them (or last when there was none)."""
    result: Schema = {}
    placed = False
    for name, value in entries.items():
        if not owned(name):
            result[name] = value
        elif not placed:
            result.update(fresh)
            placed = True
    if not placed:
        result.update(fresh)
    return result


def _options_def(vendor: str) -> str:
    return f"{vendor}{OPTIONS_SUFFIX}"


def _names(vendors: Iterable[type[Provider]]) -> list[str]:
    return [p.vendor for p in vendors]


def _either(words: Sequence[str]) -> str:
    """'a', 'a or b', 'a, b or c'; 'none yet' for no words."""
    if not words:
        return "none yet"
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} or {words[-1]}"


if __name__ == "__main__":
    raise SystemExit(main())
