"""The plan fragments onboarding writes: a project's key, its file, and its YAML text.

A key is read from the project's name (`Meridian Dental - Managed IT` → `meridian-dental-
managed-it`), unique among the plan's keys; the same project keeps the key it already has.
The text is plain YAML a person would write: the editor's modeline first, then `version`, the
project block (provider, project_id, name, currency) and its charges in section order. Money
is written with its exact digits (never through a float) and dates as ISO dates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import yaml

from compiler.load import reads_as_text

# The order a person reads a project in, and the order of the plan's sections.
SECTIONS = ("recurring", "milestones", "products")
# A key is at most this long: it is part of every address, and of a file name.
MAX_KEY = 48
_NOT_KEY = re.compile(r"[^a-z0-9]+")


def key_of(name: str, taken: Collection[str], fallback: str) -> str:
    """A plan key read from name (letters and digits, words joined by `-`), unlike every key
    in taken: a second `acme` is `acme-2`. fallback when name has no letter or digit."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = _NOT_KEY.sub("-", ascii_name.lower()).strip("-")[:MAX_KEY].strip("-") or fallback
    key, number = base, 1
    while key in taken:
        number += 1
        key = f"{base}-{number}"
    return key


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order given, exact decimals and ISO dates, and every value
    written out where it stands: a person writes a date twice, never `&id001` / `*id001`."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    # billplan reads a number with a fraction as a Decimal from its text: written as its
    # digits, it reads back exactly. `1E+2` would read as text, so it is spelled out.
    text = format(value, "f")
    tag = "tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int"
    return dumper.represent_scalar(tag, text)


def _date(dumper: yaml.SafeDumper, value: date) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat())


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # The dumper quotes what YAML 1.1 would not read as text; billplan reads YAML 1.2's core
    # schema, where `1e3`, `0x10` and `0o17` are numbers too: those are quoted as well.
    if not reads_as_text(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(Decimal, _decimal)
_Dumper.add_representer(date, _date)


def fragment(
    modeline: str,
    key: str,
    project: Mapping[str, Any],
    charges: Iterable[tuple[str, str, Mapping[str, Any]]],
    comment: Iterable[str] = (),
) -> str:
    """One project's fragment: the modeline, comment lines, `version: 1` and the project with
    project (its block's own keys) and charges ((section, key, body), in that order)."""
    block: dict[str, Any] = dict(project)
    by_section: dict[str, dict[str, Any]] = {}
    for section, charge, body in charges:
        by_section.setdefault(section, {})[charge] = plain(body)
    for section in SECTIONS:
        if section in by_section:
            block[section] = by_section[section]
    body = yaml.dump(
        {"version": 1, "projects": {key: block}},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        # A description folded over two lines reads back the same but not as a person
        # wrote it: one line each, however long.
        width=2**16,
    )
    notes = "".join(f"# {line}\n".replace("# \n", "#\n") for line in comment)
    return f"{modeline}\n{notes}{body}"


def plain(value: Any) -> Any:
    """value with every mapping a dict and every sequence a list: what the dumper writes."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
