"""`billplan import ADDRESS REMOTE_ID`: take ownership of an object someone made by hand.

The object is read by its id (not looked for in a list), so that every refusal can say what
the id really is: not found at all, an object of another kind than the address compiles to,
an object in another project than the address's (both projects named), or one billplan
already owns or has tagged for another address. After import the next plan shows any
difference between the object and the plan as an update.

Import is also how a person confirms that an object the plan shows `unconfirmed` is what a
create whose answer was lost made: the address's pending entry becomes that object's.
"""

from __future__ import annotations

from compiler import adjust
from compiler.model import Observed, Resource
from compiler.providers import Provider, ProviderError
from compiler.render.safe import hidden
from compiler.state import Entry
from compiler.workspace import Workspace, WorkspaceError

# Answers that mean "no such object" from a read by id: not found, or an id of the wrong form.
_NOT_FOUND = frozenset({400, 404, 422})
# An id is read as one segment of a URL path: these would end it or change its meaning.
_URL_DELIMITERS = frozenset("/?#%\\")


def id_problem(remote_id: str) -> str | None:
    """Why remote_id cannot be an id a vendor gave (None if it can): a person typed or pasted
    it, for `import` or `state reject`."""
    if not remote_id or any(
        hidden(char) or char.isspace() or char in _URL_DELIMITERS for char in remote_id
    ):
        return (
            f"{remote_id!r} is not an id a vendor gives: an id is one word of visible "
            "characters, without spaces or / ? # % \\"
        )
    return None


def adopt(workspace: Workspace, address: str, remote_id: str) -> str:
    if problem := id_problem(remote_id):
        raise WorkspaceError(f"{problem}; nothing was imported. Check the id")
    resource = next((r for r in workspace.resources if r.address == address), None)
    state = workspace.backend.read()
    if resource is None and adjust.is_line(address) and address in state.entries:
        # An adjusting line is planned from what the vendors hold, not from the plan alone:
        # one whose create was lost is in state, sent as state remembers it.
        resource = adjust.as_written(state.entries[address])
    if resource is None:
        raise WorkspaceError(
            f"{address} is not an address of this plan; `billplan render` lists them"
        )
    current = state.entries.get(address)
    if current is not None and current.remote_id is not None:
        raise WorkspaceError(f"{address} already owns {current.remote_id}; nothing was imported")
    owner = next(
        (e for e in state.entries.values() if e.remote_id == remote_id and e.type == resource.type),
        None,
    )
    if owner is not None:
        raise WorkspaceError(
            f"{remote_id} is already owned by {owner.address}; nothing was imported"
        )
    provider = workspace.providers[resource.provider]
    found = _read(workspace, provider, resource.type, remote_id)
    if found is None:
        raise WorkspaceError(_missing(workspace, provider, resource, remote_id))
    if str(found.project_id) != str(resource.project_id):
        key = workspace.project_keys.get((resource.provider, str(found.project_id)))
        where = f"the plan's project {key}" if key else "a project this plan does not bill"
        raise WorkspaceError(
            f"{remote_id} belongs to {provider.title} project {found.project_id} ({where}), "
            f"but {address} is in project {resource.project} ({provider.title} project "
            f"{resource.project_id}); nothing was imported. Import it at an address of its "
            "own project"
        )
    if found.owner is not None and found.owner != address:
        raise WorkspaceError(
            f"{remote_id} is tagged as billplan's {found.owner}, perhaps by another plan or "
            "state; nothing was imported. Import it as that address, or remove the tag in "
            f"{provider.title} first"
        )
    state.entries[address] = Entry.at(
        resource,
        remote_id,
        found.attributes,
        currency=resource.currency,
        date=found.date,
        amount=found.amount,
    )
    workspace.backend.write(state)
    settled = (
        " The create whose answer was lost is settled: billplan will not create it again."
        if current is not None
        else ""
    )
    return f"Imported {remote_id} as {address}; run `billplan plan` to see how it differs.{settled}"


def _read(
    workspace: Workspace, provider: Provider, type_name: str, remote_id: str
) -> Observed | None:
    """The object by id, wherever it is; None if the vendor has no such object of this type."""
    try:
        found = provider.recheck(type_name, [remote_id], workspace.planned()[provider.name])
    except ProviderError as exc:
        if exc.status in _NOT_FOUND:
            return None
        raise
    return next((o for o in found if o.remote_id == remote_id and o.type == type_name), None)


def _missing(workspace: Workspace, provider: Provider, resource: Resource, remote_id: str) -> str:
    for other in sorted(provider.types):
        if other != resource.type and _read(workspace, provider, other, remote_id) is not None:
            return (
                f"{remote_id} is a {other}, but {resource.address} is a {resource.type}; "
                "nothing was imported. Import it at an address of that kind"
            )
    return (
        f"{provider.title} has no {resource.type} {remote_id} (provider {resource.provider}); "
        "nothing was imported. Check the id"
    )
