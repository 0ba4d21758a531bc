"""`billplan import ADDRESS REMOTE_ID`: take ownership of an object someone made by hand.

The object must be in the project the address belongs to and of the type the address
compiles to, and must not already be owned. After import the next plan shows any
difference between it and the plan as an update.
"""

from __future__ import annotations

from compiler.state import Entry
from compiler.workspace import Workspace, WorkspaceError


def adopt(workspace: Workspace, address: str, remote_id: str) -> str:
    resource = next((r for r in workspace.resources if r.address == address), None)
    if resource is None:
        raise WorkspaceError(
            f"{address} is not an address of this plan; `billplan render` lists them"
        )
    state = workspace.backend.read()
    current = state.entries.get(address)
    if current is not None and current.remote_id is not None:
        raise WorkspaceError(f"{address} already owns {current.remote_id}; nothing was imported")
    if current is not None:
        raise WorkspaceError(
            f"a create of {address} was sent and its outcome is unknown; run `billplan plan` "
            "first (it finds the object if it landed), then import if it did not"
        )
    owner = state.by_remote_id().get(remote_id)
    if owner is not None:
        raise WorkspaceError(f"{remote_id} is already owned by {owner.address}")
    provider = workspace.providers[resource.provider]
    found = next(
        (
            o
            for o in provider.list([resource.project_id])
            if o.remote_id == remote_id and o.type == resource.type
        ),
        None,
    )
    if found is None:
        raise WorkspaceError(
            f"no {resource.type} {remote_id} in project {resource.project_id}; "
            "check the id and that it belongs to this address's project"
        )
    state.entries[address] = Entry(
        address=address,
        provider=resource.provider,
        type=resource.type,
        project=resource.project,
        project_id=resource.project_id,
        remote_id=remote_id,
        attributes=dict(found.attributes),
        currency=resource.currency,
        date=found.date,
        amount=found.amount,
    )
    workspace.backend.write(state)
    return f"Imported {remote_id} as {address}; run `billplan plan` to see how it differs."
