"""Fuzzing the vendor emulators with schemathesis: requests the suite never sends, generated from
each vendor's published spec, sent to the sandbox app in process (issue 13).

For each operation billplan uses (contracts.py `used`), requests come from the spec as the
contract layer reads it (the vendor's quirks applied, objects closed: checker.VendorSpec) in two
passes, each a test:
- the boundaries: schemathesis's coverage cases, every parameter and field at its limits, left
  out, of the wrong type (deterministic by construction);
- the fuzz: EXAMPLES random cases, valid and broken, from a fixed seed.
Each request carries the sandbox's credentials and, three times in four per field, the id of an
object seeded before it (fuzz_targets.py), so that id routes and references reach objects that
exist. Each answer is held to:
- no 5xx: the vendor documents 500s, but an emulator that answers one has a bug;
- the contract, by the checker every other test's exchanges go through (checker.py): a status
  the operation declares, and a body its schema allows, with the same quirks and the same rule
  for a broken path parameter (such a request names no operation: only the 5xx check applies).

A failure is reported as found, unshrunk: shrinking replays cases for as long as it likes.
docs/contracts.md says how long it takes and what it found."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
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
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation

from compiler.sandbox import DEFAULT_ROOT, EXCHANGE_LOG_ENV, base_url, build_sandbox

from .checker import ContractChecker, Exchange
from .contracts import CONTRACTS
from .fuzz_targets import RUDDR_FIXED, TARGETS, Json, Known, Target

# Random cases per operation, valid and broken together, and the seed they are drawn from. Raise
# the first, or change the second, for a deeper look: BILLPLAN_FUZZ_EXAMPLES=1000 finds in
# minutes what the default would take many runs to.
EXAMPLES = int(os.environ.get("BILLPLAN_FUZZ_EXAMPLES", "60"))
SEED = int(os.environ.get("BILLPLAN_FUZZ_SEED", "13"))  # issue 13

OPERATIONS = [
    pytest.param(vendor, operation, id=f"{vendor}-{operation}")
    for vendor, contract in CONTRACTS.items()
    for operation in contract.used
]

# A seeded value for a field, or None to keep the generated one.
Pick = Callable[[str, tuple[Json, ...]], Json | None]


class Specs:
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
def specs() -> Specs:
    return Specs()


@pytest.fixture(autouse=True)
def unlogged(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check each of their exchanges themselves; in the session's exchange log they
    would be checked twice and counted in the suite's coverage table, which says what the suite's
    own requests reach."""
    monkeypatch.delenv(EXCHANGE_LOG_ENV, raising=False)


@pytest.mark.parametrize(("vendor", "operation_id"), OPERATIONS)
def test_the_emulator_answers_each_boundary_case_as_the_vendor_spec_says(
    specs: Specs, vendor: str, operation_id: str
) -> None:
    operation = specs.operation(vendor, operation_id)
    cases = operation.schema.iter_coverage_cases(
        operation,
        generation_modes=list(GenerationMode),
        generation_config=operation.schema.config.generation_for(operation=operation),
    )
    with Emulator(specs.checker, TARGETS[vendor], operation).running() as emulator:
        for number, case in enumerate(cases):
            emulator.exchange(case, rolled(random.Random(f"{SEED}:{number}")))


@pytest.mark.parametrize(("vendor", "operation_id"), OPERATIONS)
def test_the_emulator_answers_random_requests_as_the_vendor_spec_says(
    specs: Specs, vendor: str, operation_id: str
) -> None:
    operation = specs.operation(vendor, operation_id)
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    with Emulator(specs.checker, TARGETS[vendor], operation).running() as emulator:

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            database=None,
            deadline=None,
            phases=(Phase.explicit, Phase.generate),  # no shrinking: the time stays bounded
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, data=st.data())
        def exchange(case: schemathesis.Case, data: st.DataObject) -> None:
            emulator.exchange(case, drawn(data))

        exchange()


# The checks are live: an answer that breaks one fails the case.


@pytest.mark.parametrize(
    ("status", "failure"),
    [(503, "Server error"), (418, "418 is not a status this operation answers")],
)
def test_a_case_fails_on_a_5xx_or_an_undeclared_status(
    specs: Specs, status: int, failure: str
) -> None:
    operation = specs.operation("ruddr", "getProject")
    with Emulator(specs.checker, TARGETS["ruddr"], operation).running() as emulator:
        fault = {"method": "GET", "path": "/api/workspace/projects", "status": status}
        assert emulator.seeded().post("/ruddr/_sandbox/faults", json=fault).status_code == 201
        with pytest.raises(FailureGroup, match=failure):
            emulator.exchange(operation.Case(path_parameters={"id": RUDDR_FIXED}), kept)


# ---- the pieces -------------------------------------------------------------------------------


@dataclass
class Emulator:
    """One vendor's emulator in a sandbox of its own, fuzzed at one operation."""

    checker: ContractChecker
    target: Target
    operation: APIOperation
    client: httpx.Client | None = None
    # Whether the seeded objects may have changed since they were seeded: after a write the
    # emulator accepted, or one that never got its answer. Seeding again only then keeps every
    # case meeting the same objects, at a fraction of the cost of seeding before each.
    changed: bool = True

    @contextmanager
    def running(self) -> Iterator[Emulator]:
        with (
            build_sandbox() as sandbox,
            httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client,
        ):
            self.client = client
            yield self

    def seeded(self) -> httpx.Client:
        """The sandbox's client, its emulator holding the seeded objects as seeded."""
        assert self.client is not None, "use Emulator.running()"
        if self.changed:
            self.target.seed(self.client)
            self.changed = False
        return self.client

    def exchange(self, case: schemathesis.Case, pick: Pick) -> None:
        client = self.seeded()
        with_seeded_ids(case, self.target.known_at(self.operation.path), pick)
        case.headers = {**(case.headers or {}), **self.target.headers}
        self.changed = True  # until the answer says otherwise
        response = send(client, case, base_url(self.target.vendor))
        self.changed = case.method.upper() != "GET" and response.status_code < 400
        case.validate_response(response, checks=[not_a_server_error, self.contract(response)])

    def contract(self, response: httpx.Response) -> Callable[..., None]:
        """A schemathesis check: the exchange against the vendor's contract, by the contract
        layer's checker."""

        def vendor_contract(ctx: Any, _response: Any, case: schemathesis.Case) -> None:
            verdict = self.checker.check(exchange_of(self.target.vendor, response))
            if verdict.violations:
                raise AssertionError("\n".join(map(str, verdict.violations)))

        return vendor_contract


def drawn(data: st.DataObject) -> Pick:
    """Seeded ids chosen by hypothesis, so that they are part of the case it reports."""

    def pick(name: str, seeded: tuple[Json, ...]) -> Json | None:
        if data.draw(st.integers(0, 3), label=f"{name}: 0 keeps the generated one") == 0:
            return None
        return data.draw(st.sampled_from(seeded), label=name)

    return pick


def kept(name: str, seeded: tuple[Json, ...]) -> Json | None:
    return None


def rolled(dice: random.Random) -> Pick:
    def pick(name: str, seeded: tuple[Json, ...]) -> Json | None:
        return None if dice.randrange(4) == 0 else dice.choice(seeded)

    return pick


def with_seeded_ids(case: schemathesis.Case, known: Known, pick: Pick) -> None:
    """Put seeded ids in place of generated ones wherever `pick` says, in path and query
    parameters and at any depth of the body."""

    def choose(name: str, generated: Any) -> Any:
        if name not in known or isinstance(generated, dict | list):
            return generated
        seeded = pick(name, known[name])
        if seeded is None:
            return generated
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
    """The case as schemathesis serialises it for its own transport (requests, a dependency of
    schemathesis, does the encoding), sent through the sandbox's in-process transport."""
    kwargs = case.as_transport_kwargs(base_url=root)
    prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in _REQUEST_FIELDS})
    encoded = prepared.prepare()
    body = encoded.body
    request = client.build_request(
        str(encoded.method),
        str(encoded.url),
        headers=dict(encoded.headers),
        content=body.encode("utf-8") if isinstance(body, str) else body,
    )
    started = time.perf_counter()
    response = client.send(request)
    # schemathesis reads `elapsed`, which httpx sets only for a response read from a stream
    response.elapsed = timedelta(seconds=time.perf_counter() - started)
    return response


_REQUEST_FIELDS = frozenset(
    {"method", "url", "headers", "params", "data", "json", "files", "cookies", "auth"}
)


def exchange_of(vendor: str, response: httpx.Response) -> Exchange:
    """The exchange as the sandbox's exchange log would have written it."""
    request = response.request
    return Exchange(
        vendor=vendor,
        method=request.method,
        path=request.url.path.removeprefix(urlsplit(base_url(vendor)).path),
        query=tuple(request.url.params.multi_items()),
        request_headers=_lowered(request.headers),
        request_body=request.content.decode("utf-8", "replace"),
        status=response.status_code,
        response_headers=_lowered(response.headers),
        response_body=response.text,
    )


def _lowered(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), value) for name, value in headers.multi_items())
