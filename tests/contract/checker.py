"""The contract checker: one logged sandbox exchange (compiler/sandbox/exchanges.py) in, the
ways it breaks the vendor's published contract out, each a `Violation` naming the vendor, the
operation, the side (request or response), the field and what was wrong.

openapi-core does the validating; this module finds the spec file for an exchange, adapts the
logged exchange to openapi-core's request and response protocols, and puts its errors in words.

Which exchanges are checked, and how:
- the request, when billplan sent it (User-Agent `billplan/...`) in full: emulator tests send
  broken requests on purpose, and what they send is not billplan's to answer for; a billplan
  killed while sending (the reliability tests do) sent half a body. A query parameter the
  operation does not declare is a violation too: the vendor would ignore the filter.
- the response, always, against the operation the request names. An answer a test made up
  with an armed fault (`fault_status`) is checked only when the operation declares its status:
  an outage the test invents need not be one the vendor documents.
- a request to an operation the spec does not have is a violation when billplan sent it, and
  is otherwise left alone (an emulator test probing a 404 or 405).
- in both directions, an object may hold only the fields its schema names
  (openapi-core's `additional_properties_default_policy="forbid"`): a field billplan sends
  that the vendor does not know is ignored by it, and a field an emulator invents is one a
  provider could come to rely on.

Speed: each spec is parsed once per process, without openapi-core's spec validation (a test of
its own covers that); operation lookups, format checkers and validator classes are reused, and
an exchange whose request (or response) was already seen verbatim gets the earlier verdict."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from copy import deepcopy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.datatypes import PathOperationServer
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequestBodyError,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.response.exceptions import (
    DataValidationError,
    HeaderValidationError,
    MissingData,
)
from openapi_core.validation.schemas import oas31_schema_validators_factory
from openapi_core.validation.schemas.factories import DialectSchemaValidatorsFactory
from openapi_core.validation.schemas.validators import SchemaValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from .closed import close_objects, unexpected_fields
from .contracts import CONTRACTS, HTTP_METHODS, SPECS, Contract

try:
    from yaml import CSafeLoader as SpecLoader
except ImportError:  # pragma: no cover - without libyaml: slower, same result
    from yaml import SafeLoader as SpecLoader  # type: ignore[assignment]

BILLPLAN_AGENT = "billplan/"
REQUEST, RESPONSE = "request", "response"
# Request headers that differ between otherwise identical requests and that no spec checks.
_UNCHECKED_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding"})
_CACHE_LIMIT = 20_000  # verdicts kept per side; the cache starts again when full


@dataclass(frozen=True)
class Exchange:
    """One line of the sandbox's exchange log."""

    vendor: str
    method: str
    path: str  # below the vendor's API root, as the spec writes it
    query: tuple[tuple[str, str], ...] = ()
    request_headers: tuple[tuple[str, str], ...] = ()
    request_body: str = ""
    status: int | None = None  # None: the answer never arrived (a dropped connection)
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: str | None = None
    fault_status: int | None = None
    under_api_root: bool = True
    request_complete: bool = True  # False: the client died before its body was all sent

    @classmethod
    def from_json(cls, line: str | Mapping[str, Any]) -> Exchange:
        entry = json.loads(line) if isinstance(line, str) else line
        return cls(
            vendor=entry["vendor"],
            method=entry["method"].upper(),
            path=entry["path"],
            query=tuple((k, v) for k, v in entry.get("query", [])),
            request_headers=tuple((k.lower(), v) for k, v in entry.get("request_headers", [])),
            request_body=entry.get("request_body") or "",
            status=entry.get("status"),
            response_headers=tuple((k.lower(), v) for k, v in entry.get("response_headers", [])),
            response_body=entry.get("response_body"),
            fault_status=entry.get("fault_status"),
            under_api_root=entry.get("under_api_root", True),
            request_complete=entry.get("request_complete", True),
        )

    def header(self, name: str, side: str = REQUEST) -> str | None:
        headers = self.request_headers if side == REQUEST else self.response_headers
        return next((value for key, value in headers if key == name.lower()), None)

    @property
    def from_billplan(self) -> bool:
        return (self.header("user-agent") or "").startswith(BILLPLAN_AGENT)


@dataclass(frozen=True, order=True)
class Violation:
    vendor: str
    operation: str  # the spec's operationId, or "METHOD /path" when the spec has none
    side: str  # request | response
    field: str  # a JSON path into the body ($.lineItems[0].quantity), "query limit", "status"
    message: str

    def __str__(self) -> str:
        return f"{self.vendor} {self.operation} {self.side} {self.field}: {self.message}"

    @property
    def kind(self) -> tuple[str, str, str, str, str]:
        """The violation with list positions and map keys left out of its field
        (`$.lineItems[*].quantity`), so that one mistake made on many objects counts once."""
        field = re.sub(r"\[(\d+|\"[^\"]*\")\]", "[*]", self.field)
        return (self.vendor, self.operation, self.side, field, self.message)


@dataclass(frozen=True)
class Verdict:
    """What checking one exchange found: the operation it matched (None when the spec has no
    such operation), whether its response was held to the contract, and the violations."""

    vendor: str
    operation: str | None
    status: int | None
    response_checked: bool
    violations: tuple[Violation, ...]


# ---- openapi-core's request and response protocols, over a logged exchange ------------------


class _Request:
    def __init__(self, exchange: Exchange, server: str) -> None:
        url = urlsplit(server.rstrip("/") + exchange.path)
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = exchange.method.lower()
        self.body = exchange.request_body.encode("utf-8") or None
        self.content_type = exchange.header("content-type") or ""
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(exchange.query)),
            header=Headers(list(exchange.request_headers)),
            cookie=ImmutableMultiDict(),
            path={},
        )


class _Response:
    def __init__(self, exchange: Exchange) -> None:
        self.status_code = exchange.status
        self.data = (exchange.response_body or "").encode("utf-8") or None
        self.headers = Headers(list(exchange.response_headers))
        self.content_type = exchange.header("content-type", RESPONSE) or ""


# ---- openapi-core, made to reuse what it builds ----------------------------------------------


class _RememberingPathFinder(APICallPathFinder):
    """openapi-core finds the operation again for each side of each exchange, by trying every
    path template of the spec (86 of them in Coperniq's); the same URLs come back all the time."""

    def __init__(self, spec: SchemaPath, base_url: str | None = None) -> None:
        super().__init__(spec, base_url)
        self._found: dict[tuple[str, str], PathOperationServer | PathError] = {}

    def find(self, method: str, name: str) -> PathOperationServer:
        key = (method, name)
        if key not in self._found:
            if len(self._found) > _CACHE_LIMIT:
                self._found.clear()
            try:
                self._found[key] = super().find(method, name)
            except PathError as missing:
                self._found[key] = missing
        found = self._found[key]
        if isinstance(found, PathError):
            raise found
        return found


class _ReusingValidatorsFactory(DialectSchemaValidatorsFactory):
    """openapi-core deep-copies the format checker, and builds a new validator class for the
    forbid policy, for every schema it validates against; both are the same every time."""

    def __init__(self) -> None:
        base = oas31_schema_validators_factory
        super().__init__(
            base.schema_validator_cls, base.default_jsonschema_dialect_id, base.format_checker
        )
        self._checker = super().get_format_checker()
        self._classes: dict[tuple[type[Validator], bool, bool], type[Validator]] = {}

    def get_format_checker(self, format_validators: Any = None, extra: Any = None) -> Any:
        if format_validators is None and extra is None:
            return self._checker
        return super().get_format_checker(format_validators, extra)

    def create(
        self,
        spec: SchemaPath,
        schema: SchemaPath,
        format_validators: Any = None,
        extra_format_validators: Any = None,
        forbid_unspecified_additional_properties: bool = False,
        enforce_properties_required: bool = False,
    ) -> SchemaValidator:
        base = self.get_validator_cls(spec, schema)
        key = (base, forbid_unspecified_additional_properties, enforce_properties_required)
        if key not in self._classes:
            built = super().create(
                spec,
                schema,
                format_validators,
                extra_format_validators,
                forbid_unspecified_additional_properties,
                enforce_properties_required,
            )
            self._classes[key] = type(built.validator)
            return built
        with schema.resolve() as resolved:
            validator = self._classes[key](
                resolved.contents,
                _resolver=resolved.resolver,
                format_checker=self.get_format_checker(format_validators, extra_format_validators),
            )
        return SchemaValidator(schema, validator)


# ---- specs ------------------------------------------------------------------------------------


class VendorSpec:
    """One spec file of a vendor, parsed and patched by the vendor's quirks."""

    def __init__(self, contract: Contract, path: Path) -> None:
        self.contract = contract
        self.file = path.name
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=SpecLoader)
        for quirk in contract.quirks:
            quirk.patch(document)
        close_objects(document)
        self.document: dict[str, Any] = document
        self.server: str = document["servers"][0]["url"]
        finder: _RememberingPathFinder | None = None

        def shared_finder(spec: SchemaPath, base_url: str | None = None) -> APICallPathFinder:
            nonlocal finder
            if finder is None:
                finder = _RememberingPathFinder(spec, base_url)
            return finder

        config = Config(
            spec_validator_cls=None,
            path_finder_cls=shared_finder,  # type: ignore[arg-type]
            schema_validators_factory=_ReusingValidatorsFactory(),
        )
        self.openapi = OpenAPI.from_dict(deepcopy(document), config=config)
        self.finder = shared_finder(self.openapi.spec)

    @cached_property
    def segments(self) -> frozenset[str]:
        """The first path segments this file serves (`billing_milestones`)."""
        return frozenset(_first_segment(path) for path in self.document.get("paths", {}))

    @cached_property
    def operation_ids(self) -> frozenset[str]:
        return frozenset(
            operation["operationId"]
            for item in self.document.get("paths", {}).values()
            for method, operation in item.items()
            if method in HTTP_METHODS and "operationId" in operation
        )

    @cached_property
    def response_header_names(self) -> frozenset[str]:
        """Every response header the spec declares anywhere (the only ones checked)."""
        names: set[str] = set()
        responses = [
            response
            for item in self.document.get("paths", {}).values()
            for method, operation in item.items()
            if method in HTTP_METHODS
            for response in operation.get("responses", {}).values()
        ]
        responses += self.document.get("components", {}).get("responses", {}).values()
        for response in responses:
            names.update(name.lower() for name in response.get("headers", {}))
        return frozenset(names)

    def operation(self, exchange: Exchange) -> dict[str, Any] | None:
        """The operation (its spec object) that an exchange's method and path name."""
        url = self.server.rstrip("/") + exchange.path
        try:
            found = self.finder.find(exchange.method.lower(), url)
        except PathError:
            return None
        return found.operation.read_value()  # type: ignore[no-any-return]

    def query_names(self, operation: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(
            parameter["name"]
            for parameter in map(self.resolve, operation.get("parameters", []))
            if parameter.get("in") == "query"
        )

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node


def _first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


class ContractChecker:
    """Checks exchanges against the vendors' contracts; each spec is parsed on first use."""

    def __init__(self, contracts: Mapping[str, Contract] = CONTRACTS, specs: Path = SPECS) -> None:
        self.contracts = contracts
        self.specs_dir = specs
        self._specs: dict[str, tuple[VendorSpec, ...]] = {}
        self._requests: dict[tuple[Any, ...], list[Violation]] = {}
        self._responses: dict[tuple[Any, ...], list[Violation]] = {}

    def specs(self, vendor: str) -> tuple[VendorSpec, ...]:
        if vendor not in self._specs:
            contract = self.contracts[vendor]
            self._specs[vendor] = tuple(
                VendorSpec(contract, self.specs_dir / name) for name in contract.files
            )
        return self._specs[vendor]

    def spec_for(self, vendor: str, path: str) -> VendorSpec | None:
        """The file that holds `path` (Kantata's contract is five files, one per resource)."""
        specs = self.specs(vendor)
        if len(specs) == 1:
            return specs[0]
        segment = _first_segment(path)
        return next((spec for spec in specs if segment in spec.segments), None)

    def check(self, exchange: Exchange) -> Verdict:
        contract = self.contracts.get(exchange.vendor)
        if contract is None:
            return Verdict(exchange.vendor, None, exchange.status, False, ())
        spec = self.spec_for(exchange.vendor, exchange.path) if exchange.under_api_root else None
        operation = spec.operation(exchange) if spec is not None else None
        if spec is None or operation is None:
            return self._unknown(contract, exchange)
        name = str(operation.get("operationId") or f"{exchange.method} {exchange.path}")
        found: list[Violation] = []
        request = _Request(exchange, spec.server)
        if exchange.from_billplan and exchange.request_complete:
            found += self._request_violations(spec, operation, name, exchange, request)
        checked = exchange.status is not None and (
            exchange.fault_status is None or _declares(operation, exchange.status)
        )
        if checked:
            found += self._response_violations(spec, operation, name, exchange, request)
        return Verdict(exchange.vendor, name, exchange.status, checked, tuple(sorted(set(found))))

    def _unknown(self, contract: Contract, exchange: Exchange) -> Verdict:
        violations: tuple[Violation, ...] = ()
        if exchange.from_billplan:
            where = f"{exchange.method} {exchange.path}"
            message = f"{where} is not in {contract.title}'s published contract"
            violations = (Violation(exchange.vendor, where, REQUEST, "path", message),)
        return Verdict(exchange.vendor, None, exchange.status, False, violations)

    # ---- the two sides --------------------------------------------------------------------

    def _request_violations(
        self,
        spec: VendorSpec,
        operation: Mapping[str, Any],
        name: str,
        exchange: Exchange,
        request: _Request,
    ) -> list[Violation]:
        headers = tuple(h for h in exchange.request_headers if h[0] not in _UNCHECKED_HEADERS)
        key = (spec.file, name, exchange.path, exchange.query, headers, exchange.request_body)
        if key in self._requests:
            return self._requests[key]

        def violation(field: str, message: str) -> Violation:
            return Violation(exchange.vendor, name, REQUEST, field, message)

        found = []
        for error in spec.openapi.request_validator.iter_errors(request):
            found += [violation(f, m) for f, m in _request_problems(error, exchange, spec)]
        # OpenAPI lets a request carry parameters the operation does not name, but the vendor
        # ignores them: a filter billplan thinks it applies would silently not be.
        known = spec.query_names(operation)
        for parameter in dict(exchange.query):
            if parameter not in known:
                takes = ", ".join(sorted(known)) or "none"
                found.append(
                    violation(
                        f"query {parameter}",
                        f"not a parameter of this operation (the vendor ignores it); it takes: "
                        f"{takes}",
                    )
                )
        return _remember(self._requests, key, found)

    def _response_violations(
        self,
        spec: VendorSpec,
        operation: Mapping[str, Any],
        name: str,
        exchange: Exchange,
        request: _Request,
    ) -> list[Violation]:
        headers = tuple(h for h in exchange.response_headers if h[0] in spec.response_header_names)
        content_type = exchange.header("content-type", RESPONSE)
        key = (spec.file, name, exchange.status, content_type, headers, exchange.response_body)
        if key in self._responses:
            return self._responses[key]
        found = []
        response = _Response(exchange)
        for error in spec.openapi.response_validator.iter_errors(request, response):
            for field, message in _response_problems(error, operation, exchange, spec):
                found.append(Violation(exchange.vendor, name, RESPONSE, field, message))
        return _remember(self._responses, key, found)


def _remember(
    cache: dict[tuple[Any, ...], list[Violation]], key: tuple[Any, ...], found: list[Violation]
) -> list[Violation]:
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    cache[key] = found
    return found


def _declares(operation: Mapping[str, Any], status: int) -> bool:
    responses = operation.get("responses", {})
    return any(code in responses for code in (str(status), f"{str(status)[0]}XX", "default"))


# ---- openapi-core's errors, in words ----------------------------------------------------------


def _request_problems(
    error: Exception, exchange: Exchange, spec: VendorSpec
) -> Iterator[tuple[str, str]]:
    if isinstance(error, SecurityValidationError):
        yield "header Authorization", f"no credentials the contract accepts ({_cause(error)})"
    elif isinstance(error, ParameterValidationError):
        field = f"{error.location} {error.name}"
        schema_errors = list(getattr(error.__cause__, "schema_errors", ()))
        if schema_errors:
            for schema_error in schema_errors:
                yield field, _schema_message(schema_error)
        elif error.__cause__ is not None:
            yield field, f"{error} ({_cause(error)})"
        else:
            yield field, str(error)
    elif isinstance(error, MissingRequestBodyError):
        yield "$", "no body; the operation requires one"
    elif isinstance(error, RequestBodyValidationError):
        yield from _body_problems(error, exchange.header("content-type"), spec)
    else:
        yield "request", f"{type(error).__name__}: {error}"


def _response_problems(
    error: Exception, operation: Mapping[str, Any], exchange: Exchange, spec: VendorSpec
) -> Iterator[tuple[str, str]]:
    if isinstance(error, ResponseNotFound):
        declared = ", ".join(sorted(operation.get("responses", {})))
        yield "status", f"{exchange.status} is not a status this operation answers ({declared})"
    elif isinstance(error, MissingData):
        yield "$", "no body, where the contract describes one for this status"
    elif isinstance(error, DataValidationError):
        yield from _body_problems(error, exchange.header("content-type", RESPONSE), spec)
    elif isinstance(error, HeaderValidationError):
        yield f"header {error.name}", str(error)
    else:
        yield "response", f"{type(error).__name__}: {error}"


def _body_problems(
    error: Exception, content_type: str | None, spec: VendorSpec
) -> Iterator[tuple[str, str]]:
    cause = error.__cause__
    if isinstance(cause, MediaTypeNotFound):
        given = ", ".join(cause.availableMimetypes)
        yield "header Content-Type", f"{content_type or 'none'}, where the contract gives {given}"
        return
    schema_errors = list(getattr(cause, "schema_errors", ()))
    if not schema_errors:
        yield "$", _cause(error) or str(error)
        return
    for schema_error in schema_errors:
        yield from _schema_problems(schema_error, spec)


def _schema_problems(error: SchemaError, spec: VendorSpec) -> Iterator[tuple[str, str]]:
    """One problem per missing or unexpected field, so that each names its own."""
    where = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance:
                yield _json_path([*where, name]), "required, missing"
    elif error.validator == "unevaluatedProperties" and isinstance(error.instance, dict):
        assert isinstance(error.schema, dict)
        for name in unexpected_fields(error.instance, error.schema, spec.document):
            yield _json_path([*where, name]), "not a field of this object in the contract"
    else:
        yield _json_path(where), _schema_message(error)


def _schema_message(error: SchemaError) -> str:
    """What was wrong, without jsonschema's copy of the whole offending value."""
    if error.validator == "type":
        return f"{_json_type(error.instance)}, where the contract says {_expected(error)}"
    if error.validator == "enum":
        return f"{_value(error.instance)} is not one of {_value(error.validator_value)}"
    if error.validator == "format":
        return f"{_value(error.instance)} is not a {error.validator_value}"
    if error.context:
        # oneOf/anyOf: name the closest branch's complaint, not just "no branch matched".
        closest = best_match(error.context)
        if closest is not None:
            where = _json_path([*error.absolute_path, *closest.relative_path])
            closest_problem = _schema_message(closest)
            return f"matches none of the allowed shapes (closest: {where}: {closest_problem})"
    return _short(error.message)


def _expected(error: SchemaError) -> str:
    kinds = error.validator_value
    return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {_value(value)}"
    return "an array" if isinstance(value, list) else "an object"


def _value(value: Any) -> str:
    return _short(json.dumps(value, default=str), 60)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_path(parts: Iterable[Any]) -> str:
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            text += f".{part}"
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _cause(error: BaseException) -> str:
    return "" if error.__cause__ is None else str(error.__cause__)
