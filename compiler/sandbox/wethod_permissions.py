"""Which Wethod permission each invoice operation needs, and the 403 a token without it meets.

From the vendor's spec (`api/specs/wethod.openapi.yml`, each operation's `x-permissions`): an
operation names a pair of keys, the first for projects where the token's user is PM or Account
("own"), the `_other` key for every other project; deleting a sent or paid invoice also needs
`invoices.edit_sent` (deleteInvoice), and setting one paid needs only that key (setPaidInvoice).
The spec marks as assumed, and so does this module: the view keys for getInvoice, the edit keys
(and edit_sent for a sent or paid invoice) for updateInvoice, the edit keys for sendInvoice.

Assumed here: "own" is judged by the project's PM and Account fields against the token's user,
never by who created the invoice; moving an invoice to another project needs the edit key for
both projects; a list needs the view key for every project it covers (those its `project_id`
filter selects, every project of the company without one), so a missing key is a 403 and never
a silently shorter list; a token with neither key of a pair is refused before its body or query
is read. The 403 message names each missing key (its wording is ours).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .kit.errors import ApiError
from .kit.wire import Json

VIEW = "invoices.view"
VIEW_OTHER = "invoices.view_other"
CREATE = "invoices.create"
CREATE_OTHER = "invoices.create_other"
EDIT = "invoices.edit"
EDIT_OTHER = "invoices.edit_other"
DELETE = "invoices.delete"
DELETE_OTHER = "invoices.delete_other"
EDIT_SENT = "invoices.edit_sent"
PERMISSIONS = (
    VIEW, VIEW_OTHER, CREATE, CREATE_OTHER, EDIT, EDIT_OTHER, DELETE, DELETE_OTHER, EDIT_SENT
)  # fmt: skip

# A finance user running billplan: everything plan and apply use, but not invoices.edit_sent,
# which billplan never needs (it leaves sent and paid invoices alone). Without it, Wethod itself
# refuses to delete or change an invoice someone sent between billplan's plan and its apply.
FINANCE = (VIEW, VIEW_OTHER, CREATE, CREATE_OTHER, EDIT, EDIT_OTHER, DELETE, DELETE_OTHER)

ROLES = ("pm", "account")  # the project roles that make a project the user's own
LOCKED_STATUSES = ("sent", "paid")
EVERY_STATUS = ("draft", "sent", "paid")


@dataclass(frozen=True)
class Keys:
    """One operation's pair: `own` on projects where the user is PM or Account, `other` on the
    rest."""

    own: str
    other: str

    def for_project(self, project: Mapping[str, Json], user: str) -> str:
        return self.own if is_own(project, user) else self.other


@dataclass(frozen=True)
class Access:
    """What one operation (the spec's operationId) needs: a pair of keys by the user's role on
    the project, and `invoices.edit_sent` when the invoice is in one of `sent_key_for`."""

    operation: str
    doing: str  # for messages: "Deleting"
    keys: Keys | None
    sent_key_for: tuple[str, ...] = ()


LIST = Access("listInvoices", "Listing invoices", Keys(VIEW, VIEW_OTHER))
GET = Access("getInvoice", "Reading", Keys(VIEW, VIEW_OTHER))  # assumed in the spec
CREATE_INVOICE = Access("createInvoice", "Creating invoices", Keys(CREATE, CREATE_OTHER))
UPDATE = Access("updateInvoice", "Editing", Keys(EDIT, EDIT_OTHER), LOCKED_STATUSES)  # assumed
DELETE_INVOICE = Access("deleteInvoice", "Deleting", Keys(DELETE, DELETE_OTHER), LOCKED_STATUSES)
SEND = Access("sendInvoice", "Sending", Keys(EDIT, EDIT_OTHER))  # assumed in the spec
SET_PAID = Access("setPaidInvoice", "Setting paid", None, EVERY_STATUS)


def is_own(project: Mapping[str, Json], user: str) -> bool:
    return any(project.get(role) == user for role in ROLES)


def where(own: bool) -> str:
    return "where you are PM or Account" if own else "where you are neither PM nor Account"


def require_either(permissions: Iterable[str], access: Access) -> None:
    """403 for a token holding neither key of the operation's pair, whatever the project."""
    assert access.keys is not None
    held = set(permissions)
    if access.keys.own not in held and access.keys.other not in held:
        raise ApiError(403, f"{access.doing} requires {access.keys.own} or {access.keys.other}.")


def require_for_invoice(
    permissions: Iterable[str],
    user: str,
    access: Access,
    invoice: Mapping[str, Json],
    projects: Iterable[Mapping[str, Json]],
) -> None:
    """403 naming every key the operation on `invoice` needs and the token lacks: the pair's
    key for each project involved (the invoice's, and the one it moves to), then edit_sent."""
    held = set(permissions)
    problems: list[str] = []
    if access.keys is not None:
        for project in projects:
            key = access.keys.for_project(project, user)
            if key not in held:
                problems.append(
                    f"{access.doing} invoice {invoice['id']} of project {project['id']}, "
                    f"{where(is_own(project, user))}, requires {key}."
                )
    if invoice["status"] in access.sent_key_for and EDIT_SENT not in held:
        problems.append(
            f"{access.doing} invoice {invoice['id']}, which is {invoice['status']}, "
            f"requires {EDIT_SENT}."
        )
    if problems:
        raise ApiError(403, " ".join(dict.fromkeys(problems)))


def require_for_projects(
    permissions: Iterable[str], user: str, access: Access, projects: Iterable[Mapping[str, Json]]
) -> None:
    """403 naming each key of the pair the token lacks for some of `projects`, and which."""
    assert access.keys is not None
    held = set(permissions)
    lacking: dict[bool, list[str]] = {}
    for project in projects:
        own = is_own(project, user)
        if (access.keys.own if own else access.keys.other) not in held:
            lacking.setdefault(own, []).append(str(project["id"]))
    problems = [
        f"{access.doing} of project{'s' if len(ids) > 1 else ''} {', '.join(ids)}, "
        f"{where(own)}, requires {access.keys.own if own else access.keys.other}."
        for own, ids in sorted(lacking.items(), reverse=True)
    ]
    if problems:
        raise ApiError(403, " ".join(problems))
