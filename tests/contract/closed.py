"""Closing a spec's objects: after `close_objects(document)`, an object may hold only the fields
its schema names, in requests and responses alike.

OpenAPI lets an object carry fields its schema does not name. For a contract test that is too
loose in both directions: a field billplan sends that the vendor does not know is silently
ignored (billplan thinks it set something it did not), and a field an emulator invents is one a
provider can come to rely on (Kantata's `invoiced`, say).

openapi-core's own "forbid" policy adds `additionalProperties: false` to every schema it meets,
which refuses a valid object assembled with `allOf` (each part rejects the other parts' fields).
This instead marks each place a schema is *used* (a body, a property, a list item, a map value)
with JSON Schema 2020-12's `unevaluatedProperties: false`, which sees through `$ref` and
`allOf`/`anyOf`/`oneOf`; the parts of a composition are left open. A free-form object (no
`properties`) stays free-form.

JSON Schema counts a field as evaluated only by a part that passes, so one wrong field in an
`allOf` part makes all of that part's fields "unevaluated". `unexpected_fields` tells the
fields no part names from those only caught up in another error."""

from __future__ import annotations

from typing import Any

COMPOSITIONS = ("allOf", "anyOf", "oneOf")
_OPEN_KEYWORDS = ("additionalProperties", "unevaluatedProperties")


def unexpected_fields(
    instance: dict[str, Any], schema: dict[str, Any], document: dict[str, Any]
) -> list[str]:
    """The fields of `instance` that no part of `schema` names."""
    named = _Closer(document).named_fields(schema)
    return [name for name in instance if name not in named]


def close_objects(document: dict[str, Any]) -> None:
    closer = _Closer(document)
    for schema in document.get("components", {}).get("schemas", {}).values():
        # A component is closed where it is used: it may also be one part of an allOf.
        closer.close(schema, used_here=False)
    closer.close_uses(document, in_components=False)


class _Closer:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[int] = set()

    def close_uses(self, node: Any, *, in_components: bool) -> None:
        """Every `schema:` of a parameter, header, body or response is a place of use."""
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "schema" and isinstance(value, dict):
                    self.close(value, used_here=True)
                elif not (key == "schemas" and in_components):  # components: done already
                    self.close_uses(value, in_components=key == "components")
        elif isinstance(node, list):
            for item in node:
                self.close_uses(item, in_components=False)

    def close(self, schema: dict[str, Any], *, used_here: bool) -> None:
        if id(schema) in self.seen and not used_here:
            return
        self.seen.add(id(schema))
        for child in (schema.get("properties") or {}).values():
            self._use(child)
        for key in ("items", "additionalProperties"):
            self._use(schema.get(key))
        for child in schema.get("prefixItems") or ():
            self._use(child)
        for composition in COMPOSITIONS:
            for part in schema.get(composition) or ():
                if isinstance(part, dict):
                    self.close(part, used_here=False)
        left_open = any(keyword in schema for keyword in _OPEN_KEYWORDS)
        if used_here and not left_open and self.names_fields(schema):
            if "$ref" in schema:
                # openapi-core resolves a body's `$ref` before validating and drops what stands
                # beside it; inside an allOf it stays.
                schema.setdefault("allOf", []).append({"$ref": schema.pop("$ref")})
            schema["unevaluatedProperties"] = False

    def _use(self, child: Any) -> None:
        if isinstance(child, dict):
            self.close(child, used_here=True)

    def names_fields(self, schema: dict[str, Any], depth: int = 0) -> bool:
        """Whether the schema describes an object by the fields it names (itself, through a
        reference, or in a part of a composition), rather than a free-form object or a
        scalar."""
        if "properties" in schema:
            return True
        if depth > 20:  # a reference cycle: no fields found along it
            return False
        parts = [self.resolve(schema["$ref"])] if "$ref" in schema else []
        parts += [p for c in COMPOSITIONS for p in schema.get(c) or () if isinstance(p, dict)]
        return any(self.names_fields(part, depth + 1) for part in parts)

    def named_fields(self, schema: dict[str, Any], depth: int = 0) -> set[str]:
        names = set(schema.get("properties") or ())
        if depth > 20:
            return names
        parts = [self.resolve(schema["$ref"])] if "$ref" in schema else []
        parts += [p for c in COMPOSITIONS for p in schema.get(c) or () if isinstance(p, dict)]
        for part in parts:
            names |= self.named_fields(part, depth + 1)
        return names

    def resolve(self, reference: str) -> dict[str, Any]:
        target: Any = self.document
        for part in reference.removeprefix("#/").split("/"):
            target = target[part]
        return target  # type: ignore[no-any-return]
