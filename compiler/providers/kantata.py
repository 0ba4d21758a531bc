"""Kantata OX: every occurrence becomes a billing milestone in the project's workspace.

The contract is `kantata-billing-milestones.openapi.yml` (and the workspaces spec for
GetWorkspaces). Money is `amount_in_cents`, an integer in the currency's minor units; ids are
integers in requests and strings in responses; nothing is ever sent as null. Creates go 100 to
a request. Every milestone billplan creates carries an external reference (service `billplan`,
model `billing_milestone`, ref = the item's address, and the message `billplan state
LINEAGE`, naming the state that made it): that is how billplan recognises what it owns, and
adopts with certainty a milestone whose create response was lost. A milestone whose reference
names another state's lineage belongs to that state: this one never adopts, updates or deletes
it (its owner reads `ADDRESS#LINEAGE`, which no address equals). One without a lineage was
made by a billplan from before lineages, and counts as this state's, as it always did.

The odd part is the response envelope: `results` gives the order, the objects are indexed by
id under their type's key, and associations are side-loaded under their own keys. A milestone
on an invoice (`invoice_id`, `invoice_ids`) is locked: Kantata refuses to change it. Before any
write, the planned workspaces are read once: one that is missing (unknown, archived, not
visible to the token's user) or bills in another currency stops the plan. A 429 carries no
Retry-After (none is documented): the base class backs off on its own.

Onboarding lists the workspaces the token's user can see with GetWorkspaces (its own page of
workspaces, `results` in order), each with its currency where the user may see it, and reads a
milestone back as a milestone: on a date, or on completion of its task (upon_completion), its
amount converted from minor units in the project's currency.

Assumed: the rate limit (Kantata publishes no numbers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from compiler.model import Item, Observed, Resource
from compiler.onboard.found import Found
from compiler.ownership import foreign_owner
from compiler.providers.base import (
    Bodies,
    OutcomeUnknown,
    Planned,
    Provider,
    ProviderError,
)
from compiler.providers.declare import Capabilities, Connection
from compiler.providers.traits import (
    AllProjects,
    MinorUnits,
    PageNumber,
    ProjectList,
    WhenNamed,
)
from compiler.providers.values import integer_id, moment

if TYPE_CHECKING:
    import httpx

MILESTONE = "kantata_billing_milestone"
SERVICE_NAME = "billplan"
SERVICE_MODEL = "billing_milestone"
# The external reference's message names the state whose lineage made the milestone. It is
# set when billplan writes the reference and never compared: a milestone tagged before
# lineages existed is not rewritten for it.
LINEAGE_MESSAGE = "billplan state "
INCLUDE = "external_references,invoices"
INT32 = range(-(2**31), 2**31)  # amount_in_cents is `format: int32`
# kantata.errors.yml: Kantata authorises by in-product roles and project participation, never
# by OAuth scopes, so the fix for a 403 is in Kantata, not in the token.
FORBIDDEN_HINT = (
    "Kantata grants access by the user's role and project participation, not by token scopes: "
    "add the token's user to the workspace (with a role that can see its billing), or use a "
    "token of a user who is in it; a token with other scopes will not help"
)
# A batch create's problems are prefixed with the item's position: `billing_milestones[2]: `.
POSITION = re.compile(r"billing_milestones\[(\d+)\]")


class Kantata(Provider):
    vendor = "kantata"
    title = "Kantata OX"
    capabilities = Capabilities(bills_on_completion=True)
    connection = Connection(summary="Kantata OX, formerly Mavenlink (billing milestones).")
    default_base_url = "https://api.mavenlink.com/api/v1"
    default_token_env = "KANTATA_API_TOKEN"
    rate_limit = 10  # requests a second [assumed: Kantata publishes no numbers]
    # No burst: Kantata documents 429s for "too many requests in a short window", of a size
    # it does not give (kantata.errors.yml), so requests are spaced from the first.
    rate_burst = 1
    types: ClassVar[Mapping[str, str]] = {MILESTONE: "/billing_milestones"}
    fixed_fields = frozenset({"workspace_id"})
    paging = PageNumber(number="page", size="per_page", rows=None, count="meta.page_count")
    scope = AllProjects(param="workspace_ids")
    project_list = ProjectList("/workspaces", paging, name="title", currency="currency")
    list_params: ClassVar[Mapping[str, Any]] = {"include": INCLUDE, "order": "created_at:asc"}
    # Kantata refuses to change or delete an invoiced milestone, and a milestone has no
    # `invoiced` field: it is invoiced when it names an invoice, by `invoice_id` or (with
    # `include=invoices`) `invoice_ids`. Any invoice counts, a draft or a cancelled one too:
    # the spec does not say that either frees it, and a milestone wrongly shown locked is only
    # left alone, where one wrongly shown free would fail its write.
    lock = WhenNamed(ids=("invoice_id",), lists=("invoice_ids",))
    money = MinorUnits("amount_in_cents")
    project_field, date_field = "workspace_id", "date_to_invoice"
    text_fields = frozenset({"title"})
    update_method = "PUT"
    write_params: ClassVar[Mapping[str, Any]] = {"include": INCLUDE}
    project_noun = "Kantata workspace"
    page_size = 200  # the documented maximum per_page
    batch_size = 100  # the documented maximum per create request
    # The lineage of the state this run plans against (compiler.ownership sets it); "" when
    # not known, and then every billplan reference counts as this state's.
    lineage = ""

    # A milestone is an amount on a date or a task whatever charge made it: compile_one
    # writes no kind.
    reads_kinds_back = False

    def compile_one(self, item: Item, workspace: str | int) -> Resource | str:
        cents = self.money.wire(item.amount, item.currency)
        if cents not in INT32:
            return (
                f"Kantata amounts are 32-bit integers of minor units ({INT32.start} to "
                f"{INT32.stop - 1}); {item.amount} {item.currency} is {cents}: split "
                "the charge into smaller ones"
            )
        body: dict[str, Any] = {
            "title": item.description,
            "amount_in_cents": cents,
            "workspace_id": workspace,
        }
        if item.task is not None:
            story = integer_id(item.task)
            if story is None:
                return f"Kantata task (story) ids are integers; got {item.task!r}"
            body["billing_type"] = "upon_completion"
            body["story_id"] = story
        else:
            # Never null: the spec types story_id an integer and date_to_invoice a date, on
            # create and update alike. A story or date left from the other billing type is
            # left in place; `observe` reads only the field the billing type uses.
            body["billing_type"] = "fixed_date"
            if item.date is not None:
                body["date_to_invoice"] = item.date.isoformat()
        body["external_reference"] = {
            "service_name": SERVICE_NAME,
            "service_model": SERVICE_MODEL,
            "service_model_ref": item.address,
        }
        tags = frozenset({"external_reference"})
        private = {"lineage": self.lineage} if self.lineage else {}
        return Resource.of(item, MILESTONE, workspace, body, tags=tags, private=private)

    def list(
        self, project_ids: Sequence[str | int], planned: Sequence[Resource] = ()
    ) -> list[Observed]:
        found = super().list(project_ids, planned)
        wanted = Planned.of(planned)
        self._check_workspaces([str(p) for p in project_ids if str(p) in wanted.projects], wanted)
        return found

    def _check_workspaces(self, planned: Sequence[str], wanted: Planned) -> None:
        """Before any write, one read per 200 planned workspaces (GetWorkspaces, `only`): every
        one that Kantata does not show, and every one billed in another currency, named at
        once. Kantata leaves out archived projects and projects the user may not see."""
        shown: dict[str, Any] = {}
        for start in range(0, len(planned), self.page_size):  # a page holds them all
            chunk = planned[start : start + self.page_size]
            params = {"only": ",".join(chunk), "per_page": self.page_size}
            envelope = self.json(self.request("GET", "/workspaces", params=params))
            shown.update(envelope.get("workspaces") or {})
        problems = []
        for workspace in planned:
            held = shown.get(workspace)
            if held is None:
                problems.append(
                    f"Kantata workspace {workspace} was not found: it does not exist, is "
                    "archived, or the token's user cannot see it. Check the project's "
                    "`project_id`, unarchive the project, or add the user to it"
                )
            elif (currency := held.get("currency")) and currency != wanted.currency(workspace):
                # `currency` is hidden from users without financial access: then the check
                # falls to the currency of the milestones already there (rows).
                problems.append(_currency_problem(workspace, currency, wanted.currency(workspace)))
        if problems:
            raise ProviderError(
                f"{self.title} would refuse this plan; nothing was written:\n  - "
                + "\n  - ".join(problems)
            )

    def create(self, type_name: str, bodies: Bodies, private: Bodies = ()) -> list[Observed]:
        try:
            response = self.request(
                "POST",
                self.types[type_name],
                params=self.write_params,
                body={"billing_milestones": _tagged(bodies, private)},
                retry_on_failure=False,
            )
        except ProviderError as exc:
            message, positions = _name_positions(str(exc), bodies)
            raise type(exc)(message, status=exc.status, refused=positions) from exc
        made = {obs.owner: obs for obs in self._observe_all(self.json(response))}
        # Results come back in Kantata's sort order; pair them with the request by the
        # address each milestone is tagged with, never by position.
        wanted = [b["external_reference"]["service_model_ref"] for b in bodies]
        if set(made) != set(wanted):
            raise OutcomeUnknown(
                f"Kantata OX answered a create of {len(bodies)} milestones with {len(made)} "
                "that do not match what was sent; the next plan will reconcile them by "
                "external reference"
            )
        return [made[address] for address in wanted]

    def update_body(
        self, type_name: str, changes: Mapping[str, Any], private: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"billing_milestone": _with_lineage(changes, private)}

    def read_one(self, type_name: str, payload: Any) -> Observed:
        (observed,) = self._observe_all(payload)
        return observed

    def recheck(
        self, type_name: str, remote_ids: Sequence[str], planned: Sequence[Resource] = ()
    ) -> list[Observed]:
        # One filtered read for all of them (`only`), never one GET per milestone.
        wanted = Planned.of(planned)
        found: list[Observed] = []
        for start in range(0, len(remote_ids), self.page_size):
            chunk = remote_ids[start : start + self.page_size]
            params = {"only": ",".join(chunk), "include": INCLUDE, "per_page": self.page_size}
            envelope = self.json(self.request("GET", self.types[type_name], params=params))
            found += [self.in_plan_terms(obs, wanted) for obs in self._observe_all(envelope)]
        return found

    def rows(self, page: Any, path: str, planned: Planned) -> list[Any]:
        """amount_in_cents is in the workspace's currency: a plan in another currency would have
        every amount read in the wrong one, silently. Refuse to plan it."""
        for obj in (page.get("billing_milestones") or {}).values():
            workspace = str(obj.get("workspace_id"))
            held, wanted = obj.get("currency"), planned.currency(workspace)
            if held and wanted and held != wanted:
                raise ProviderError(_currency_problem(workspace, held, wanted))
        return _unpack(page)

    def project_rows(self, page: Any, path: str) -> list[Any]:
        """GetWorkspaces' envelope: the workspaces in `results` order."""
        workspaces = page.get("workspaces") or {}
        results = page.get("results") or []
        return [workspaces[str(e["id"])] for e in results if e.get("key") == "workspaces"]

    def read_back(self, observed: Observed, currency: str) -> Found | str:
        attributes = observed.attributes
        description = str(attributes.get("title") or "")
        if attributes.get("billing_type") == "upon_completion":
            story = attributes.get("story_id")
            if story is None:
                return "a Kantata milestone billed on completion of no task"
            return self.found_as(observed, currency, "milestone", description, task=story)
        if attributes.get("billing_type") != "fixed_date":
            return f"a Kantata milestone billed {attributes.get('billing_type')!r}"
        if observed.date is None:
            return "a Kantata milestone without a date to invoice: a plan's milestone needs one"
        return self.found_as(observed, currency, "milestone", description)

    def _observe_all(self, envelope: Mapping[str, Any]) -> list[Observed]:
        return [self.observe(MILESTONE, obj) for obj in _unpack(envelope)]

    def observe(self, type_name: str, obj: Mapping[str, Any]) -> Observed:
        """A milestone as _unpack joins it: with its `external_references`."""
        workspace = obj.get("workspace_id")
        attributes: dict[str, Any] = {
            "title": obj.get("title"),
            "amount_in_cents": int(obj.get("amount_in_cents") or 0),
            "workspace_id": integer_id(workspace),
            "billing_type": obj.get("billing_type") or "fixed_date",
        }
        if attributes["billing_type"] == "upon_completion":
            attributes["story_id"] = integer_id(obj.get("story_id"))
        else:
            attributes["date_to_invoice"] = obj.get("date_to_invoice")
        refs = obj.get("external_references") or []
        ours = next((r for r in refs if r.get("service_name") == SERVICE_NAME), None)
        if ours is not None:
            attributes["external_reference"] = {
                "service_name": ours.get("service_name"),
                "service_model": ours.get("service_model"),
                "service_model_ref": ours.get("service_model_ref"),
            }
        # A milestone billed on completion has no invoice date (date_to_invoice is left out
        # above), whatever date it still holds. Its amount is in its own currency here;
        # in_plan_terms reads it in the plan's.
        owner = ours.get("service_model_ref") if ours is not None else None
        lineage = _lineage_of(ours)
        if owner is not None and lineage and self.lineage and lineage != self.lineage:
            # Another state's: its owner is never an address, and its reference never equals
            # one this state sent, so no pending create of this state takes it as its own.
            owner = foreign_owner(owner, lineage)
            attributes["external_reference"] = {
                **attributes["external_reference"],
                "service_model_ref": owner,
            }
        currency = str(obj.get("currency") or "USD")
        created = moment(obj.get("created_at"))
        return self.observed(
            type_name, obj, attributes, currency=currency, owner=owner, created=created
        )

    def describe_error(self, payload: Mapping[str, Any], response: httpx.Response) -> str:
        words = self._vendor_words(payload, response)
        if response.status_code == 403:
            return words.rstrip(".") + ". " + FORBIDDEN_HINT
        return words

    def _vendor_words(self, payload: Mapping[str, Any], response: httpx.Response) -> str:
        """The `errors` list in words: `field: message` for validation errors."""
        errors = payload.get("errors")
        if not errors:
            return response.reason_phrase
        parts = []
        for error in errors:
            message = str(error.get("message", ""))
            field = error.get("field")
            # Keep a batch item's position first, so that create can name the item's address.
            position = re.match(rf"({POSITION.pattern}): ", message)
            where = position.group(1) + ": " if position else ""
            message = message[position.end() :] if position else message
            parts.append(f"{where}{field}: {message}" if field else where + message)
        return "; ".join(parts)


def _tagged(bodies: Bodies, private: Bodies) -> list[dict[str, Any]]:
    """The bodies of a batch create, each tagged with its state's lineage (from its private
    part; none when the caller gave none)."""
    each = list(private) if len(private) == len(bodies) else [{} for _ in bodies]
    return [_with_lineage(b, p) for b, p in zip(bodies, each, strict=True)]


def _with_lineage(body: Mapping[str, Any], private: Mapping[str, Any]) -> dict[str, Any]:
    """body, its external reference (if it sets one) naming the state that writes it."""
    out = dict(body)
    reference, lineage = out.get("external_reference"), private.get("lineage")
    if isinstance(reference, Mapping) and lineage:
        out["external_reference"] = {**reference, "external_message": LINEAGE_MESSAGE + lineage}
    return out


def _lineage_of(reference: Mapping[str, Any] | None) -> str | None:
    """The lineage a billplan reference names, or None (made before lineages)."""
    message = (reference or {}).get("external_message")
    if isinstance(message, str) and message.startswith(LINEAGE_MESSAGE):
        return message[len(LINEAGE_MESSAGE) :].strip() or None
    return None


def _name_positions(
    message: str, bodies: Sequence[Mapping[str, Any]]
) -> tuple[str, frozenset[int]]:
    """A batch refusal names items by position; name them by the address they were sent for,
    say that the whole batch was refused (Kantata creates all of a batch or none), and return
    the positions named."""
    positions: set[int] = set()

    def address(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(bodies):
            return match.group(0)
        positions.add(index)
        reference = bodies[index].get("external_reference") or {}
        return str(reference.get("service_model_ref") or match.group(0))

    named = POSITION.sub(address, message)
    if named != message and len(bodies) > 1:
        named += (
            f" (Kantata refused the whole batch of {len(bodies)}: none of it was created; "
            "billplan sends the others again without the refused items)"
        )
    return named, frozenset(positions)


def _currency_problem(workspace: str, held: str, planned: str) -> str:
    return (
        f"Kantata workspace {workspace} bills in {held}, but the plan gives its project "
        f"{planned}: Kantata would read every amount as {held}. Set the project's currency to "
        f"{held}, or bill it from a {planned} workspace."
    )


def _unpack(envelope: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Milestones in `results` order, each joined with its side-loaded external references
    (under `external_references`)."""
    milestones = envelope.get("billing_milestones") or {}
    references = envelope.get("external_references") or {}
    out = []
    for entry in envelope.get("results") or []:
        if entry.get("key") != "billing_milestones":
            continue
        obj = milestones[str(entry["id"])]
        refs = [references[str(i)] for i in obj.get("external_reference_ids") or []]
        out.append({**obj, "external_references": refs})
    return out
