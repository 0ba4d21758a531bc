"""Fuzzing the vendor emulators with schemathesis: requests the suite never sends, generated from
each vendor's published spec, sent to the sandbox app in process (issue 13).

For each operation billplan uses (contracts.py `used`), one test draws requests from the spec as
the contract layer reads it (the vendor's quirks applied, objects closed: checker.VendorSpec),
valid ones and broken ones. Each carries the sandbox's credentials and, three times in four per
field, the id of an object seeded before it (fuzz_targets.py), and each answer is held to:
- no 5xx: the vendor documents 500s, but an emulator that answers one has a bug;
- the contract, by the checker every other test's exchanges go through (checker.py): a status
  the operation declares, and a body its schema allows, with the same quirks and the same rule
  for a broken path parameter (such a request names no operation: only the 5xx check applies).

Deterministic (a fixed seed, no example database, no shrinking) and bounded: EXAMPLES cases an
operation. docs/contracts.md says how long it takes and what it found."""

from __future__ import annotations

import os
import time
from copy import deepcopy
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation

from compiler.sandbox import DEFAULT_ROOT, EXCHANGE_LOG_ENV, base_url, build_sandbox

from .checker import ContractChecker, Exchange
from .contracts import CONTRACTS
from .fuzz_targets import TARGETS, Known

# Cases per operation, valid and broken together, and the seed they are drawn from. Raise the
# first, or change the second, for a deeper look: BILLPLAN_FUZZ_EXAMPLES=2000 finds in minutes
# what the default would take many runs to.
EXAMPLES = int(os.environ.get("BILLPLAN_FUZZ_EXAMPLES", "60"))
SEED = int(os.environ.get("BILLPLAN_FUZZ_SEED", "13"))  # issue 13

OPERATIONS = [
    pytest.param(vendor, operation, id=f"{vendor}-{operation}")
    for vendor, contract in CONTRACTS.items()
    for operation in contract.used
]


class Fuzzing:
    """The specs as schemathesis reads them, loaded once per module, and one contract checker."""

    def __init__(self) -> None:
        self.checker = ContractChecker()
        self._operations: dict[tuple[str, str], APIOperation] = {}
        self._loaded: set[str] = set()

    def operation(self, vendor: str, operation_id: str) -> APIOperation:
        if vendor not in self._loaded:
            for spec in self.checker.specs(vendor):  # Kantata's five files
                schema = schemathesis.openapi.from_dict(deepcopy(spec.document))
                for result in schema.get_all_operations():
                    found = result.ok()
                    if found is not None:
                        name = str(found.definition.raw.get("operationId"))
                        self._operations[(vendor, name)] = found
            self._loaded.add(vendor)
        return self._operations[(vendor, operation_id)]


@pytest.fixture(scope="module")
def fuzzing() -> Fuzzing:
    return Fuzzing()


@pytest.fixture
def unlogged(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test checks each of its exchanges itself; in the session's exchange log they would
    be checked twice and counted in the suite's coverage table, which says what the suite's own
    requests reach."""
    monkeypatch.delenv(EXCHANGE_LOG_ENV, raising=False)


@pytest.mark.usefixtures("unlogged")
@pytest.mark.parametrize(("vendor", "operation_id"), OPERATIONS)
def test_the_emulator_answers_generated_requests_as_the_vendor_spec_says(
    fuzzing: Fuzzing, vendor: str, operation_id: str
) -> None:
    target = TARGETS[vendor]
    operation = fuzzing.operation(vendor, operation_id)
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    root = base_url(vendor)
    with (
        build_sandbox() as sandbox,
        httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client,
    ):

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            database=None,
            deadline=None,
            # A failure is reported as found: shrinking replays cases against a live emulator
            # for as long as it likes, and the time must stay bounded.
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, data=st.data())
        def exchange(case: schemathesis.Case, data: st.DataObject) -> None:
            target.seed(client)
            with_seeded_ids(case, target.known_at(operation.path), data)
            case.headers = {**(case.headers or {}), **target.headers}
            response = send(client, case, root)
            case.validate_response(
                response,
                checks=[not_a_server_error, conforms(fuzzing.checker, vendor, response)],
            )

        exchange()


# ---- the pieces -------------------------------------------------------------------------------


def with_seeded_ids(case: schemathesis.Case, known: Known, data: st.DataObject) -> None:
    """Put seeded ids in place of generated ones, each field on its own draw, so that id routes
    and references reach objects that exist as well as ones that do not."""

    def choose(name: str, generated: Any) -> Any:
        if name not in known or isinstance(generated, dict | list):
            return generated
        if data.draw(st.integers(0, 3), label=f"{name}: 0 keeps the generated one") == 0:
            return generated
        seeded = data.draw(st.sampled_from(known[name]), label=name)
        return str(seeded) if isinstance(generated, str) else seeded

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(choose(key, value)) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    for container in (case.path_parameters, case.query):
        if container:
            for name, value in list(container.items()):
                container[name] = choose(name, value)
    if isinstance(case.body, dict | list):
        case.body = walk(case.body)


def send(client: httpx.Client, case: schemathesis.Case, root: str) -> httpx.Response:
    """The case as schemathesis serialises it (requests does the encoding), through the
    sandbox's in-process transport."""
    kwargs = case.as_transport_kwargs(base_url=root)
    prepared = requests.Request(
        **{k: v for k, v in kwargs.items() if k in _REQUEST_FIELDS}
    ).prepare()
    body = prepared.body
    content = body.encode("utf-8") if isinstance(body, str) else body
    request = client.build_request(
        str(prepared.method), str(prepared.url), headers=dict(prepared.headers), content=content
    )
    started = time.perf_counter()
    response = client.send(request)
    # schemathesis reads `elapsed`, which httpx sets only for a response read from a stream
    response.elapsed = timedelta(seconds=time.perf_counter() - started)
    return response


_REQUEST_FIELDS = frozenset({"method", "url", "headers", "params", "data", "json", "files",
                             "cookies", "auth"})  # fmt: skip


def conforms(checker: ContractChecker, vendor: str, response: httpx.Response) -> Any:
    """A schemathesis check: the exchange against the vendor's contract, by the contract
    layer's checker."""

    def contract(ctx: Any, _response: Any, case: schemathesis.Case) -> None:
        verdict = checker.check(exchange_of(vendor, response))
        if verdict.violations:
            raise AssertionError("\n".join(f"{violation}" for violation in verdict.violations))

    contract.__name__ = "vendor_contract"
    return contract


def exchange_of(vendor: str, response: httpx.Response) -> Exchange:
    request = response.request
    root = urlsplit(base_url(vendor)).path
    return Exchange(
        vendor=vendor,
        method=request.method,
        path=request.url.path.removeprefix(root),
        query=tuple(request.url.params.multi_items()),
        request_headers=_lowered(request.headers),
        request_body=request.content.decode("utf-8", "replace"),
        status=response.status_code,
        response_headers=_lowered(response.headers),
        response_body=response.text,
    )


def _lowered(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), value) for name, value in headers.multi_items())
