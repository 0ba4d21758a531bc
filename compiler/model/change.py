"""The change model: what a plan says apply will do, object by object, and what that does to
the billing schedule.

A Change is one object's change. Its `action` is what apply does; its `reason` is why, for the
reader; `detail` says it in a sentence. The two stay apart: an object edited outside billplan
is an update (action) because of drift (reason), an invoiced object the plan would change is a
no-op because it is locked. `label` joins them back into the one word a reviewer reads (and
the saved plan's `action` key holds): the action, or `drift` / `locked` / `unconfirmed`.

A Plan is every change plus the remote objects billplan leaves alone (Unmanaged). Its `mode`
says what it was made for: `normal` (bring the vendors to the plan) or `refresh-only` (what
changed at the vendors outside billplan, against what billplan last wrote; nothing to apply).
diff and drift make plans, render shows them, planfile saves them, review compares two of
them, apply carries them out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

if TYPE_CHECKING:
    from compiler.credentials import Endpoint
    from compiler.model.breach import Breach

# What apply does with a change. adopt and forget touch only state: adopt records an object
# the vendor already holds, forget drops one the vendor no longer holds.
Action = Literal["create", "update", "delete", "adopt", "forget", "no-op"]
ACTIONS: tuple[Action, ...] = get_args(Action)
WRITES: frozenset[Action] = frozenset({"create", "update", "delete"})  # requests to a vendor

# Why, for the reader.
Reason = Literal[
    "new",  # in the plan, not at the vendor
    "changed",  # the plan changed since billplan wrote the object
    "removed",  # no longer in the plan
    "replaced",  # a field the vendor cannot change in place, or another kind of object
    "moved",  # the schedule moved (takes over another address's object), or `moved:` renamed it
    "drift",  # edited outside billplan since billplan wrote it
    "gone",  # deleted outside billplan (or a create that never landed)
    "locked",  # invoiced at the vendor: a wanted change billplan never writes
    "adjust",  # a line billing the difference of an invoiced object the plan changed (adjust:)
    "protected",  # a delete of a protected object (`protect: true`): refused, never written
    "released",  # under the plan's `removed:`: dropped from state, kept at the vendor
    "adopted",  # found at the vendor (a twin, billplan's tag, a lost create that landed)
    "unchanged",  # the vendor holds what the plan says
    # A create whose answer was lost, not settled: the vendor holds a look-alike made since
    # it was sent (differing where a person may have edited it) that a person must confirm
    # (`billplan import`) or reject (`billplan state reject`) ...
    "unconfirmed",
    # ... or no look-alike, but the project's objects could not be read completely, so its
    # absence proves nothing: plan again.
    "unproven",
]
REASONS: tuple[Reason, ...] = get_args(Reason)
# The reason a change of each action has unless the diff says otherwise.
USUAL: dict[Action, Reason] = {
    "create": "new",
    "update": "changed",
    "delete": "removed",
    "adopt": "adopted",
    "forget": "gone",
    "no-op": "unchanged",
}
# What a reader calls a change: its action, or the reason when that is what matters most.
Label = Literal[
    "create",
    "update",
    "delete",
    "adopt",
    "forget",
    "no-op",
    "drift",
    "locked",
    "unconfirmed",
    "protected",
]
# Reasons that leave an address waiting for a person (or a new plan): never a write, never
# settled by apply on its own.
UNSETTLED: frozenset[Reason] = frozenset({"unconfirmed", "unproven"})
# The last segment of an adjusting line's address, under the locked object it corrects
# (compiler.adjust): `acme/milestones/kickoff/~adjust`. No key a plan writes can make it.
ADJUST_SEGMENT = "~adjust"
# What a plan is made for: to bring the vendors to the plan, or to show what changed at the
# vendors since billplan wrote (`plan --refresh-only`: never applied).
Mode = Literal["normal", "refresh-only"]


class Addressed(Protocol):
    """Anything a change can be to: it names an address, its provider, type and project."""

    @property
    def address(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def project_id(self) -> str | int: ...


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Side:
    """One side of a change, enough for the billing impact: when and how much."""

    date: date | None
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Change:
    """One object's change. In a refresh-only plan, before is what billplan last wrote and
    after what the vendor holds now (the vendor's change); otherwise as below."""

    address: str
    action: Action
    provider: str
    type: str
    project: str
    project_id: str | int
    remote_id: str | None
    before: Mapping[str, Any] | None  # what the vendor holds now
    after: Mapping[str, Any] | None  # what billplan will hold it to
    fields: tuple[FieldChange, ...] = ()
    detail: str = ""  # the reason in a sentence, for the reader
    moved_from: str | None = None  # paired occurrence: the address it replaces
    before_side: Side | None = None
    after_side: Side | None = None
    before_locked: bool = False
    reason: Reason | None = None  # None: the action's usual reason (USUAL)
    # The plan's fields (`ignore:`) in which the vendor differs and is left as it is.
    ignored: tuple[str, ...] = ()
    # What the provider needs for the write beyond `after` (Resource.private over
    # Observed.private, like Terraform's Private): carried to apply and into the saved plan.
    private: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reason is None:
            object.__setattr__(self, "reason", USUAL[self.action])
        if self.reason == "locked" and self.action != "no-op":
            # apply reads only the action: a lock must never travel with a write.
            raise ValueError(f"{self.address}: an invoiced object is never written ({self.action})")
        if self.reason == "protected" and self.action != "no-op":
            # A refused delete: apply refuses the whole plan, and never writes this one.
            raise ValueError(f"{self.address}: a protected object is never deleted")
        if self.reason == "released" and self.action != "forget":
            raise ValueError(f"{self.address}: `removed:` only ever forgets ({self.action})")
        if self.reason in UNSETTLED and self.action != "no-op":
            # Nor may a guess: what a lost create made is settled by a person or a full read.
            raise ValueError(
                f"{self.address}: an unsettled create is never written ({self.action})"
            )

    @property
    def label(self) -> Label:
        """The one word a reviewer reads (label_of)."""
        return label_of(self.action, self.reason or USUAL[self.action])

    @classmethod
    def to(cls, of: Addressed, action: Action, reason: Reason, **fields: Any) -> Change:
        """A change to what `of` names (a Resource, a state Entry): its address, provider,
        type and project."""
        return cls(
            address=of.address,
            action=action,
            reason=reason,
            provider=of.provider,
            type=of.type,
            project=of.project,
            project_id=of.project_id,
            **fields,
        )


def label_of(action: Action, reason: Reason) -> Label:
    """The one word a reviewer reads for a change: a restore of drift is `drift`, an invoiced
    object billplan leaves as it is `locked`, a lost create not yet settled `unconfirmed`, any
    other change its action."""
    if reason == "locked":
        return "locked"
    if reason == "protected":
        return "protected"
    if reason in UNSETTLED:
        return "unconfirmed"
    if reason == "drift" and action == "update":
        return "drift"
    return action


@dataclass(frozen=True)
class SandboxChoice:
    """The sandbox a plan ran against, which a command it prints must name again to reach the
    same objects and state: the emulators in this process (`--sandbox`), a served sandbox
    (`--sandbox-url URL`), or neither (the vendors). Only the choice: never a token, and a
    served sandbox's URL holds none (compiler.credentials.checked_url refuses a user or
    password in it)."""

    in_process: bool = False
    url: str | None = None

    def flags(self, *, reads_vendors: bool = True) -> str:
        """The trailing flags of a command line, "" for the vendors. A command that reads only
        state (`state reject`) takes `--sandbox` (the sandbox's own state) but no URL: a served
        sandbox keeps no state of billplan's."""
        if self.in_process:
            return " --sandbox"
        if self.url and reads_vendors:
            return f" --sandbox-url {self.url}"
        return ""


def settle_commands(
    address: str, remote_id: str, sandbox: SandboxChoice | None = None
) -> tuple[str, str]:
    """The commands that confirm, or reject, that remote_id is what address's lost create made,
    with the sandbox flags the plan ran with: copied and pasted, they reach the same objects."""
    sandbox = sandbox or SandboxChoice()
    return (
        f"billplan import {address} {remote_id} PATH{sandbox.flags()}",
        f"billplan state reject {address} {remote_id} PATH{sandbox.flags(reads_vendors=False)}",
    )


def unlabel(label: str) -> tuple[Action, Reason]:
    """The action behind a label, and the reason it has unless told otherwise (reading a
    plan saved before changes carried their reason)."""
    if label == "locked":
        return "no-op", "locked"
    if label == "protected":
        return "no-op", "protected"
    if label == "drift":
        return "update", "drift"
    if label == "unconfirmed":
        return "no-op", "unconfirmed"
    if label not in ACTIONS:
        raise ValueError(f"action {label!r} is not one billplan has")
    action: Action = label  # type: ignore[assignment]
    return action, USUAL[action]


@dataclass(frozen=True)
class Unmanaged:
    """A remote object in a managed project that billplan did not create: never touched."""

    provider: str
    type: str
    project: str
    project_id: str | int
    remote_id: str
    attributes: Mapping[str, Any]
    locked: bool
    side: Side


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # from providers, e.g. a low request budget
    moved: dict[str, str] = field(default_factory=dict)  # `moved:` renames: new address -> old
    targets: tuple[str, ...] = ()  # a partial plan: only these address prefixes (--target)
    excludes: tuple[str, ...] = ()  # ... and none under these (--exclude)
    # Where each connection's requests go, for the reviewer: set outside the plan, never by it.
    endpoints: list[Endpoint] = field(default_factory=list)
    mode: Mode = "normal"
    # Refresh-only: addresses whose create's outcome is unknown, so not compared.
    pending: list[str] = field(default_factory=list)
    # The sandbox the plan ran against, for the commands it prints (settle_commands).
    sandbox: SandboxChoice = field(default_factory=SandboxChoice)
    # Protection marks apply sets (True) or clears (False) in state: an address whose
    # `protect:` in the plan differs from what state remembers. State only, like `moved`.
    protection: dict[str, bool] = field(default_factory=dict)
    # Policy rules the plan breaks (compiler.policy): apply refuses it, plan exits EXIT_POLICY.
    breaches: list[Breach] = field(default_factory=list)

    def count(self, label: Label) -> int:
        """How many changes a reader sees as `label` (a restore of drift is not an update)."""
        return sum(1 for change in self.changes if change.label == label)

    def locked_adjusted(self) -> int:
        """How many locked objects have an adjusting line in this plan (`adjust:`), which
        bills their difference: a reviewer is warned only of the others."""
        lines = {c.address for c in self.changes if c.action != "delete"}
        return sum(
            1
            for c in self.changes
            if c.label == "locked" and f"{c.address}/{ADJUST_SEGMENT}" in lines
        )

    def count_reason(self, reason: Reason) -> int:
        return sum(1 for change in self.changes if change.reason == reason)

    @property
    def has_changes(self) -> bool:
        """Anything for apply to do, at the vendors or in state (a `moved:` rename, a
        protection mark)."""
        return (
            bool(self.moved)
            or bool(self.protection)
            or any(c.action != "no-op" for c in self.changes)
        )

    @property
    def refused(self) -> list[Change]:
        """Deletes of protected objects: a plan holding any is never applied (EXIT_PROTECTED)."""
        return [change for change in self.changes if change.reason == "protected"]

    def summary(self) -> str:
        create = self.count("create")
        update = self.count("update") + self.count("drift")
        delete = self.count("delete")
        text = f"Plan: {create} to create, {update} to update, {delete} to delete"
        extras = [
            f"{self.count(action)} {label}"
            for action, label in (("adopt", "to adopt"), ("forget", "to forget"))
            if self.count(action)
        ]
        marks = sum(self.protection.values())
        if marks:
            extras.append(f"{marks} to protect")
        if unmarks := len(self.protection) - marks:
            extras.append(f"{unmarks} to unprotect")
        locked = self.count("locked")
        extras.append(f"{locked} locked")
        if refused := self.count("protected"):
            extras.append(f"{refused} protected from delete")
        if unsettled := self.count("unconfirmed"):
            extras.append(f"{unsettled} unconfirmed")
        return text + ", " + ", ".join(extras) + "."

    @property
    def unsettled(self) -> list[Change]:
        """Lost creates a person (or a new plan) must settle: nothing is written for them."""
        return [change for change in self.changes if change.label == "unconfirmed"]

    def impact(self) -> Impact:
        return billing_impact(self.changes)


@dataclass(frozen=True)
class Impact:
    before: dict[str, Decimal]  # currency -> total scheduled now
    after: dict[str, Decimal]  # currency -> total scheduled after apply
    by_month: dict[tuple[str, str], Decimal]  # (YYYY-MM, currency) -> net change


def billing_impact(changes: Iterable[Change]) -> Impact:
    before: dict[str, Decimal] = defaultdict(Decimal)
    after: dict[str, Decimal] = defaultdict(Decimal)
    by_month: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for change in changes:
        old = change.before_side
        new = change.after_side
        if change.reason in ("locked", "protected", *UNSETTLED) or change.action == "forget":
            # A locked object stays as it is, and so do a protected one and an unsettled
            # look-alike; a forgotten one is already gone, or stays at the vendor (released).
            new = old
        if change.action == "delete":
            new = None
        for side, totals, sign in ((old, before, -1), (new, after, 1)):
            if side is None:
                continue
            totals[side.currency] += side.amount
            month = side.date.strftime("%Y-%m") if side.date else "on completion"
            by_month[(month, side.currency)] += sign * side.amount
    return Impact(
        before=dict(before),
        after=dict(after),
        by_month={key: value for key, value in sorted(by_month.items()) if value != 0},
    )
