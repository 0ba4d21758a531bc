"""Each vendor's published contract, as data: which spec files hold it, and every place where a
file cannot be read literally and what the contract layer does about it (a "quirk"). The
checker (checker.py) applies these and nothing else; a quirk not listed here is not handled.

The spec files are byte copies of the vendor contract pack (specs/PROVENANCE.md). Quirks patch
the parsed copy at load time, never the file, and each says why, citing the pack."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parent / "specs"

Spec = dict[str, Any]
Patch = Callable[[Spec], None]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Quirk:
    """One documented departure from reading a spec file literally."""

    why: str
    patch: Patch


@dataclass(frozen=True)
class Contract:
    """A vendor's contract: its spec files (routed by the first path segment when there are
    several) and the quirks applied to each after parsing."""

    vendor: str
    title: str
    files: tuple[str, ...]
    quirks: tuple[Quirk, ...] = ()
    # The operations billplan's providers call: fewer than the vendor's table in
    # specs/PROVENANCE.md, which also lists what billplan might call (Kantata's external
    # references and stories: billplan tags through the milestone's own create body and filters;
    # invoices: side-loaded with `include=invoices`). The coverage table lists each, a test
    # checks every one is in the spec, and another that billplan calls no other.
    used: tuple[str, ...] = field(default=())


# ---- patches shared by several quirks -----------------------------------------------------------


def operations(spec: Spec) -> Iterator[dict[str, Any]]:
    for item in spec.get("paths", {}).values():
        for method in HTTP_METHODS:
            if isinstance(item.get(method), dict):
                yield item[method]


def answered_by_every_operation(statuses: Mapping[str, dict[str, Any]]) -> Patch:
    """Add responses the vendor documents for all its operations to each operation that does
    not declare that status itself."""

    def patch(spec: Spec) -> None:
        for operation in operations(spec):
            responses = operation.setdefault("responses", {})
            for status, response in statuses.items():
                responses.setdefault(status, response)

    return patch


def nullable(fields: tuple[tuple[str, tuple[str, ...]], ...]) -> Patch:
    """Let each (component schema, its properties) be null as well as the declared type, in
    each file that has the component (Kantata's files repeat the shared ones)."""

    def patch(spec: Spec) -> None:
        schemas = spec.get("components", {}).get("schemas", {})
        for schema, properties in fields:
            if schema not in schemas:
                continue
            declared = schemas[schema]["properties"]
            for name in properties:
                kind = declared[name]["type"]
                kinds = kind if isinstance(kind, list) else [kind]
                declared[name]["type"] = kinds if "null" in kinds else [*kinds, "null"]

    return patch


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema_ref}}}


# ---- Kantata OX ---------------------------------------------------------------------------------


def _openapi_3_1(spec: Spec) -> None:
    spec["openapi"] = "3.1.0"


def _kantata_bearer(spec: Spec) -> None:
    spec["components"]["securitySchemes"]["BearerToken"] = {"type": "http", "scheme": "bearer"}
    spec["security"] = [{"BearerToken": []}]


KANTATA_ERRORS = {"$ref": "#/components/schemas/Errors"}


def _kantata_ids(spec: Spec) -> None:
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        if name not in ("Error", "Errors") and "properties" in schema:
            schema["properties"].setdefault("id", {"type": "string"})


def _kantata_error_field(spec: Spec) -> None:
    error = spec["components"]["schemas"]["Error"]["properties"]
    error.setdefault("field", {"type": "string"})


# Fields Kantata answers null, which the Swagger 2.0 source could not mark nullable. Each is
# documented as possibly absent: optional when the object is created (so null until set), or
# said to be null in its own description. Nothing else may be null.
KANTATA_NULLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # invoice_id: "invoiced shows as a non-null invoice_id" (PROVENANCE.md, Kantata facts).
    # story_id: required only for upon_completion milestones; date_to_invoice: optional on
    # create (required fields are title, amount_in_cents, workspace_id).
    ("BillingMilestone", ("invoice_id", "story_id", "date_to_invoice")),
    # Only service_name, service_model and service_model_ref are required to tag an object;
    # the message is "optional" in its own description.
    ("ExternalReference", ("external_link", "external_message", "external_status")),
    # "If the workspace is not using a custom task status set, this is `null`."
    ("Story", ("custom_task_status_id",)),
)


KANTATA = Contract(
    vendor="kantata",
    title="Kantata OX",
    files=(
        "kantata-billing-milestones.openapi.yml",
        "kantata-external-references.openapi.yml",
        "kantata-stories.openapi.yml",
        "kantata-workspaces.openapi.yml",
        "kantata-invoices.openapi.yml",
    ),
    quirks=(
        Quirk(
            "The files declare `openapi: 3.2.0` but are Swagger 2.0 converted (PROVENANCE.md); "
            "they were checked with the 3.1 rules, and are read as 3.1 here.",
            _openapi_3_1,
        ),
        Quirk(
            "Swagger 2.0 cannot say `http: bearer`, so the converter wrote an apiKey header "
            "named `Bearer`, and no operation requires it. Kantata takes "
            "`Authorization: Bearer <token>` on every call (PROVENANCE.md, Kantata).",
            _kantata_bearer,
        ),
        Quirk(
            "The object schemas leave out `id`, which every object has: `results[].id` "
            "points at it, and ids are strings in responses (PROVENANCE.md, Kantata).",
            _kantata_ids,
        ),
        Quirk(
            "The Error schema leaves out `field`, which validation errors carry "
            "(kantata.errors.yml, envelope.fields).",
            _kantata_error_field,
        ),
        Quirk(
            "429 (too many requests) and 504 (3-minute timeout) are documented for every call "
            "but declared on none (kantata.errors.yml, undeclared_but_documented); both carry "
            "the shared Errors body.",
            answered_by_every_operation(
                {
                    "429": _json(KANTATA_ERRORS, "Too Many Requests (kantata.errors.yml)"),
                    "504": _json(KANTATA_ERRORS, "Request timeout (kantata.errors.yml)"),
                }
            ),
        ),
        Quirk(
            "Swagger 2.0 has no nullable: the fields Kantata documents as possibly null may be "
            "null (KANTATA_NULLS lists each and why); no other field may.",
            nullable(KANTATA_NULLS),
        ),
    ),
    used=(
        "CreateBillingMilestone",
        "GetBillingMilestones",
        "GetBillingMilestone",
        "UpdateBillingMilestone",
        "DeleteBillingMilestone",
        "GetWorkspaces",
    ),
)


# ---- Coperniq -----------------------------------------------------------------------------------

# coperniq.errors.yml: `{message, code, field?}`, field on 400s only.
COPERNIQ_ERROR = {
    "type": "object",
    "required": ["message", "code"],
    "properties": {
        "message": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string"},
    },
}

COPERNIQ = Contract(
    vendor="coperniq",
    title="Coperniq",
    files=("coperniq.openapi.yml",),
    quirks=(
        Quirk(
            "Invoice operations declare only 400/401/404, but the vendor documents 403 (key "
            "without access), 429 (per-key limits, coperniq.rate-limits.yml), 500 and 502 for "
            "its API as a whole (coperniq.errors.yml), in the common error envelope.",
            answered_by_every_operation(
                {
                    "403": _json(COPERNIQ_ERROR, "Forbidden (coperniq.errors.yml)"),
                    "429": _json(COPERNIQ_ERROR, "Too Many Requests (coperniq.rate-limits.yml)"),
                    "500": _json(COPERNIQ_ERROR, "Internal Server Error (coperniq.errors.yml)"),
                    "502": _json(COPERNIQ_ERROR, "Bad Gateway (coperniq.errors.yml)"),
                }
            ),
        ),
    ),
    used=(
        "create-invoice",
        "get-invoice",
        "update-invoice",
        "delete-invoice",
        "get-project-invoices",
        "list-catalog-items",
        "list-projects",  # onboarding: every project the key can see
    ),
)


# ---- Ruddr --------------------------------------------------------------------------------------


def _ruddr_response(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{name}"}


RUDDR = Contract(
    vendor="ruddr",
    title="Ruddr",
    files=("ruddr.openapi.yml",),
    quirks=(
        Quirk(
            "The guides say every call may answer 401 (bad key), 423 (API access disabled for "
            "the workspace), 429 (workspace rate limit) and 500; the hand-written file declares "
            "them operation by operation and leaves some out. The file's own shared responses "
            "are used.",
            answered_by_every_operation(
                {
                    "401": _ruddr_response("Unauthorized"),
                    "423": _ruddr_response("Locked"),
                    "429": _ruddr_response("TooManyRequests"),
                    "500": _ruddr_response("ServerError"),
                }
            ),
        ),
    ),
    used=(
        "createProjectInvoiceMilestone",
        "listProjectInvoiceMilestones",
        "getProjectInvoiceMilestone",
        "updateProjectInvoiceMilestone",
        "deleteProjectInvoiceMilestone",
        "createProjectProductItem",
        "listProjectProductItems",
        "getProjectProductItem",
        "updateProjectProductItem",
        "deleteProjectProductItem",
        "getProject",
        "getInvoiceItem",
        # onboarding: every project the key can see; a plan: its projects, a page for many
        "listProjects",
    ),
)


# ---- Wethod -------------------------------------------------------------------------------------

WETHOD = Contract(
    vendor="wethod",
    title="Wethod",
    files=("wethod.openapi.yml",),
    used=(
        "createInvoice",
        "listInvoices",
        "getInvoice",
        "updateInvoice",
        "deleteInvoice",
    ),
)


CONTRACTS: Mapping[str, Contract] = {c.vendor: c for c in (RUDDR, KANTATA, WETHOD, COPERNIQ)}
