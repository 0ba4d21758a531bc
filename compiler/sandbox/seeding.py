"""What an emulator declares for the sandbox's bootstrap (bootstrap.py), as data: the objects a
plan's items refer to that the sandbox creates when it lacks them (`Objects`), any step data
cannot say (a plain function of the `Seeding`), and how a person locks an object of each of
billplan's types through the admin surface (`Lock`). Each emulator module ends with its
`Bootstrap`; bootstrap.py runs them for whichever vendors a plan uses. Nothing here knows a
vendor.

    RuddrEmulator.bootstrap = Bootstrap(
        title="Ruddr",
        seeds=(Objects("invoice-items", "invoice item", body=..., key=...),),
        locks={"ruddr_invoice_milestone": Lock("project-invoice-milestones/{id}/invoice")},
    )
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from compiler import jsonio
from compiler.model import Item

__all__ = [
    "Body",
    "Bootstrap",
    "Item",
    "Lock",
    "Objects",
    "SeedError",
    "SeedStep",
    "Seeding",
    "project_id",
]

Body = dict[str, Any]


class SeedError(RuntimeError):
    """The sandbox cannot be prepared for this plan; the message says why and what to do."""


@dataclass(frozen=True)
class Seeding:
    """One vendor's part of a plan, as the bootstrap sees it, and that vendor's admin surface
    in the sandbox being prepared."""

    client: httpx.Client  # reaches the whole sandbox app
    vendor: str  # the plan's provider type
    title: str  # the vendor as a note names it, e.g. "Ruddr"
    admin: str  # the emulator's admin root, e.g. "/ruddr/_sandbox"
    token: str  # the sandbox's token, which billplan's clients send
    items: Sequence[Item]  # the plan's items for this vendor
    projects: Mapping[str, Mapping[str, Any]]  # the plan's projects, by key
    providers: Mapping[str, Mapping[str, Any]]  # the plan's provider connections, by name

    def project(self, item: Item) -> Mapping[str, Any]:
        """The plan's project the item belongs to."""
        return self.projects.get(item.project, {})

    def project_name(self, item: Item) -> str:
        return str(self.project(item).get("name") or item.project)

    def connection(self, item: Item) -> Mapping[str, Any]:
        """The plan's provider connection the item goes through."""
        return self.providers[item.provider]

    def read(self, path: str) -> Any:
        """GET a path below the admin root."""
        response = self.client.get(f"{self.admin}/{path}")
        response.raise_for_status()
        return response.json()

    def existing(self, collection: str) -> set[str]:
        """The ids of the collection's objects the sandbox holds."""
        return {str(row["id"]) for row in self.read(collection)}

    def put(self, path: str, body: Body) -> None:
        response = self.client.put(f"{self.admin}/{path}", json=body)
        response.raise_for_status()

    def add(self, collection: str, body: Body) -> None:
        """Create one object; a refusal is the plan's error, as the real vendor's would be."""
        content = jsonio.dumps(body)  # money stays exact
        response = self.client.post(
            f"{self.admin}/{collection}",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        if response.status_code < 400:
            return
        try:
            reason = response.json().get("error") or response.text
        except (ValueError, AttributeError):
            reason = response.text
        named = body.get("name") or body.get("id") or ""
        raise SeedError(
            f"the {self.vendor} sandbox cannot create {named!r} ({collection}) for this plan: "
            f"{reason}; correct the plan (the real vendor would refuse it too)"
        )


# One step of a vendor's seeding: it creates what it must and returns a note for each object.
SeedStep = Callable[[Seeding], list[str]]


def project_id(item: Item) -> str:
    """The id of the vendor's project (workspace, record) an item belongs to."""
    return str(item.project_id)


@dataclass(frozen=True)
class Objects:
    """Objects of one admin collection that the plan's items refer to: one for each distinct
    `key` the items give (None: the item needs none; by default the item's project), created
    when the sandbox has no object with that id. A step of a vendor's seeding, like any
    `SeedStep`."""

    collection: str  # below the emulator's admin root, e.g. "projects"
    noun: str  # one object in a note, e.g. "invoice item"
    body: Callable[[str, list[Item], Seeding], Body]  # (id, the items needing it, plan)
    note: str = "{id}"  # the rest of the note, formatted with the body: "{id} ({name})"
    key: Callable[[Item], str | None] = project_id  # the id of the object an item needs

    def __call__(self, seeding: Seeding) -> list[str]:
        wanted: dict[str, list[Item]] = defaultdict(list)
        for item in seeding.items:
            key = self.key(item)
            if key is not None:
                wanted[key].append(item)
        existing = seeding.existing(self.collection)
        notes: list[str] = []
        for key, users in sorted(wanted.items()):
            if key in existing:
                continue
            body = self.body(key, users, seeding)
            seeding.add(self.collection, body)
            notes.append(f"sandbox: created {seeding.title} {self.noun} {self.note.format(**body)}")
        return notes


@dataclass(frozen=True)
class Lock:
    """How a person locks an object (invoices it, sends it): a POST below the emulator's
    admin root, `{id}` standing for the object's id."""

    path: str
    body: Body | None = None


@dataclass(frozen=True)
class Bootstrap:
    """An emulator's part in the sandbox's bootstrap: its seeding steps, run in order for a
    plan that uses the vendor, and its lock for each of billplan's types it serves."""

    title: str  # the vendor as a note names it
    seeds: tuple[SeedStep, ...] = ()
    locks: Mapping[str, Lock] = field(default_factory=dict)
