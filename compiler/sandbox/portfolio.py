"""A demo portfolio of existing schedules, for `billplan sandbox seed-portfolio`: the projects a
firm's PSA holds before it adopts billplan, made through each emulator's admin surface the way
people make them in the vendor's UI (monthly retainers with a stub month, quarterly licences,
escalations, fixed fees split by percentage, product lines, some invoiced or sent, a few
descriptions edited by hand). It only ever writes to a sandbox, never to a vendor.

The portfolio is data: each project is the admin calls that make it (`Made`), built by a few
small helpers from what a person would type. `seed()` makes them all and says what it made.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from compiler import jsonio

from . import DEFAULT_ROOT, Sandbox, admin_root, emulator_for

Body = dict[str, Any]


class PortfolioRefused(RuntimeError):
    """The sandbox cannot take the portfolio (it holds it already); the message says why."""


@dataclass(frozen=True)
class Made:
    """One object made in the vendor's UI: an admin POST, then the actions a person took on it
    (invoice it, send it), each a POST below the object."""

    collection: str
    body: Body
    then: tuple[str, ...] = ()
    action_body: Body | None = None

    @property
    def key(self) -> str:
        """The id it is made with (a Wethod company's is its slug)."""
        return str(self.body.get("id", self.body.get("slug")))


@dataclass(frozen=True)
class Project:
    """One project of the portfolio, at one vendor: what makes it, and what it shows."""

    vendor: str
    name: str
    what: str  # the schedule, as the seeding note says it
    made: tuple[Made, ...]
    # Shared objects it refers to, made unless the sandbox has them (invoice items, a company).
    needs: tuple[Made, ...] = ()

    @property
    def locked(self) -> int:
        return sum(1 for m in self.made if m.then)


# ---- the schedules, as a person types them ------------------------------------------------


def _months(start: date, count: int) -> Iterator[date]:
    for offset in range(count):
        year, month = divmod(start.month - 1 + offset, 12)
        yield date(start.year + year, month + 1, 1)


def _quarters(start: date, count: int) -> Iterator[date]:
    for offset in range(count):
        year, month = divmod(start.month - 1 + 3 * offset, 12)
        yield date(start.year + year, month + 1, 1)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _stub(amount: Decimal, first: date) -> Decimal:
    """A first month billed from `first`, prorated by the day as a person works it out."""
    in_month = calendar.monthrange(first.year, first.month)[1]
    return _cents(amount * (in_month - first.day + 1) / in_month)


# ---- Ruddr -----------------------------------------------------------------------------------

RUDDR_SERVICES = "5a1d0c2e-7b1f-4c8e-9e61-2f4b8d9a0001"
RUDDR_LICENCES = "5a1d0c2e-7b1f-4c8e-9e61-2f4b8d9a0002"
_RUDDR_ITEMS = (
    Made("invoice-items", {"id": RUDDR_SERVICES, "name": "Services"}),
    Made("invoice-items", {"id": RUDDR_LICENCES, "name": "Licences"}),
)


def _ruddr_project(
    number: int, name: str, currency: str, what: str, made: Sequence[Made]
) -> Project:
    project_id = f"7c0e5b1a-3f2d-4b6a-8c1e-{number:012d}"
    body = {
        "id": project_id,
        "name": name,
        "billingTypeId": "fixed_recurring",
        "currency": currency,
    }
    return Project(
        "ruddr",
        name,
        what,
        (Made("projects", body), *(_in(m, projectId=project_id) for m in made)),
        _RUDDR_ITEMS,
    )


def _in(made: Made, **fields: Any) -> Made:
    return Made(made.collection, {**fields, **made.body}, made.then, made.action_body)


def _milestone(
    day: date, name: str, fee: Decimal | int, kind: str = "custom", invoiced: bool = False
) -> Made:
    body = {
        "invoiceItemId": RUDDR_SERVICES,
        "date": day.isoformat(),
        "name": name,
        "fee": Decimal(fee),
        "typeId": kind,
    }
    return Made("project-invoice-milestones", body, ("invoice",) if invoiced else ())


def _product(day: date, description: str, quantity: int, rate: Decimal | int) -> Made:
    body = {
        "invoiceItemId": RUDDR_LICENCES,
        "date": day.isoformat(),
        "description": description,
        "quantity": quantity,
        "rate": Decimal(rate),
    }
    return Made("project-product-items", body)


def _monthly_fees(
    label: str, fee: Decimal, start: date, count: int, invoiced: int = 0
) -> list[tuple[date, str, Decimal, bool]]:
    return [
        (day, f"{label} {day:%B %Y}", fee, n < invoiced)
        for n, day in enumerate(_months(start, count))
    ]


def _ruddr() -> list[Project]:
    retainer = Decimal(15000)
    stub_day = date(2026, 1, 16)
    northwind = [
        _milestone(
            stub_day, "Retainer January 2026", _stub(retainer, stub_day), "recurring", invoiced=True
        )
    ]
    northwind += [
        _milestone(day, name, fee, "recurring", invoiced)
        for day, name, fee, invoiced in _monthly_fees(
            "Retainer", retainer, date(2026, 2, 1), 11, invoiced=2
        )
    ]
    atlas = [
        _milestone(day, name, fee, "recurring", invoiced)
        for day, name, fee, invoiced in _monthly_fees(
            "Managed services", Decimal(10000), date(2026, 1, 1), 12, invoiced=4
        )
        + _monthly_fees("Managed services", Decimal(10300), date(2027, 1, 1), 6)
    ]
    # Someone added a note to one month's line: it no longer reads like its neighbours.
    atlas[3] = _edited(atlas[3], name="Managed services April 2026 (incl. DR test)")
    harbor_total = Decimal(180000)
    harbor = [
        _milestone(date(2026, 2, 2), "Mobilisation", harbor_total * 10 / 100, invoiced=True),
        _milestone(date(2026, 4, 1), "Design sign-off", harbor_total * 30 / 100, invoiced=True),
        _milestone(date(2026, 7, 1), "Build complete", harbor_total * 40 / 100),
        _milestone(date(2026, 9, 15), "Go-live", harbor_total * 20 / 100),
    ]
    meridian = [
        _milestone(
            day,
            f"Platform licence Q{(day.month - 1) // 3 + 1} {day.year}",
            4500,
            "recurring",
            invoiced=day.month == 1,
        )
        for day in _quarters(date(2026, 1, 1), 4)
    ]
    meridian += [_product(day, "Analyst seats", 12, 95) for day in _months(date(2026, 1, 1), 6)]
    bluefin = [
        _milestone(date(2026, 3, 2), "Discovery workshop", 8500, invoiced=True),
        _milestone(date(2026, 5, 29), "Data migration", 42000),
        _milestone(date(2026, 6, 30), "Credit: delayed cut-over", -1500),
        _product(date(2026, 4, 1), "Migration tooling licence", 1, 2400),
    ]
    cobalt = [
        _milestone(date(2026, 8, 3), "Security audit kickoff", 6000, invoiced=True),
        _milestone(date(2026, 9, 30), "Audit report", 14000, invoiced=True),
        _milestone(date(2026, 11, 30), "Remediation review", 5000),
    ]
    juniper = [
        _milestone(day, name, fee, "recurring", invoiced)
        for day, name, fee, invoiced in _monthly_fees(
            "Support desk", Decimal(3200), date(2026, 6, 1), 9, invoiced=5
        )
    ]
    kestrel = [
        _milestone(date(2026, 1, 5), "Annual advisory licence 2026", 24000, "recurring", True),
        _milestone(date(2027, 1, 5), "Annual advisory licence 2027", 24000, "recurring"),
        _product(date(2026, 3, 16), "Board workshop days", 3, 1850),
        _product(date(2026, 9, 14), "Board workshop days", 2, 1850),
    ]
    return [
        _ruddr_project(
            1,
            "Northwind Cloud Operations",
            "USD",
            "monthly retainer from a mid-January stub, 3 invoiced",
            northwind,
        ),
        _ruddr_project(
            2,
            "Atlas Managed Services",
            "USD",
            "monthly fee escalated 3% in 2027, one line edited by hand",
            atlas,
        ),
        _ruddr_project(
            3,
            "Harbor Point ERP rollout",
            "USD",
            "fixed fee of 180,000 in four percentage milestones",
            harbor,
        ),
        _ruddr_project(
            4,
            "Meridian Analytics platform",
            "EUR",
            "quarterly licence and monthly seats (12 x 95)",
            meridian,
        ),
        _ruddr_project(
            5, "Bluefin data migration", "GBP", "milestones, a credit and a licence line", bluefin
        ),
        _ruddr_project(
            6, "Cobalt security audit", "USD", "fixed-fee milestones, two invoiced", cobalt
        ),
        _ruddr_project(7, "Juniper support desk", "USD", "monthly support, 5 invoiced", juniper),
        _ruddr_project(
            8, "Kestrel board advisory", "EUR", "yearly licence and workshop days", kestrel
        ),
    ]


def _edited(made: Made, **fields: Any) -> Made:
    return Made(made.collection, {**made.body, **fields}, made.then, made.action_body)


# ---- Wethod ----------------------------------------------------------------------------------


def _wethod_project(
    number: int, name: str, what: str, invoices: Sequence[Made], company: str
) -> Project:
    project_id = 8100 + number
    return Project(
        "wethod",
        name,
        what,
        (
            Made("projects", {"id": project_id, "name": name, "company": company}),
            *(_in(m, project_id=project_id) for m in invoices),
        ),
        (Made("companies", {"slug": company, "name": company}),),
    )


def _invoice(
    day: date, notes: str, value: Decimal | int, state: str = "", order: str | None = None
) -> Made:
    body: Body = {"issue_date": day.isoformat(), "notes": notes, "value": Decimal(value)}
    if order is not None:
        body["purchase_order"] = order
    then = {"": (), "sent": ("send",), "paid": ("send", "set-paid")}[state]
    return Made("invoices", body, then)


def _wethod(company: str) -> list[Project]:
    lakeside = [
        _invoice(day, f"Retainer {day:%B %Y}", 6500, "paid" if day.month < 6 else "")
        for day in _months(date(2026, 3, 1), 10)
    ]
    orbital = [
        _invoice(date(2026, 2, 16), "Orbital platform: discovery", 18000, "paid"),
        _invoice(date(2026, 5, 15), "Orbital platform: build", 24000, "sent"),
        _invoice(date(2026, 9, 15), "Orbital platform: launch", 18000),
    ]
    pinecrest = [
        _invoice(
            day,
            f"Content studio Q{(day.month - 1) // 3 + 1} {day.year}",
            9000,
            "sent" if day.year == 2026 and day.month == 1 else "",
        )
        for day in _quarters(date(2026, 1, 1), 6)
    ]
    vela = [
        _invoice(date(2026, 4, 10), "Campaign concept", 7200, "paid", order="PO-VELA-0042"),
        _invoice(date(2026, 6, 12), "Campaign production", 15800, order="PO-VELA-0042"),
        _invoice(date(2026, 7, 31), "Media buying fee", Decimal("3150.75"), order="PO-VELA-0057"),
    ]
    quarry = [
        _invoice(day, f"Event support {day:%B %Y}", fee)
        for day, fee in [
            *((d, Decimal(4000)) for d in _months(date(2026, 9, 1), 4)),
            *((d, Decimal(4200)) for d in _months(date(2027, 1, 1), 3)),
        ]
    ]
    quarry[1] = _edited(quarry[1], notes="Event support October 2026 - trade fair week")
    nimbus = [
        _invoice(date(2026, 10, 1), "Nimbus redesign: first half", 21000, "sent"),
        _invoice(date(2026, 12, 15), "Nimbus redesign: second half", 21000),
    ]
    return [
        _wethod_project(1, "Lakeside brand refresh", "monthly retainer, 3 paid", lakeside, company),
        _wethod_project(2, "Orbital web platform", "fixed fee split 30/40/30", orbital, company),
        _wethod_project(3, "Pinecrest content studio", "quarterly fee, 1 sent", pinecrest, company),
        _wethod_project(4, "Vela product launch", "invoices under purchase orders", vela, company),
        _wethod_project(
            5, "Quarry trade fair", "monthly fee raised in 2027, one edited", quarry, company
        ),
        _wethod_project(
            6, "Nimbus app redesign", "fixed fee in two halves, 1 sent", nimbus, company
        ),
    ]


# ---- Kantata ---------------------------------------------------------------------------------


def _kantata_project(
    number: int,
    title: str,
    currency: str,
    what: str,
    milestones: Sequence[Made],
    stories: Sequence[tuple[int, str]] = (),
) -> Project:
    workspace = 42000 + number
    return Project(
        "kantata",
        title,
        what,
        (
            Made("workspaces", {"id": workspace, "title": title, "currency": currency}),
            *(
                Made("stories", {"id": s, "workspace_id": workspace, "title": t})
                for s, t in stories
            ),
            *(_in(m, workspace_id=workspace) for m in milestones),
        ),
    )


def _billing(
    title: str,
    amount: Decimal | int,
    day: date | None = None,
    story: int | None = None,
    invoiced: bool = False,
) -> Made:
    body: Body = {"title": title, "amount_in_cents": int(Decimal(amount) * 100)}
    if story is None:
        body |= {"date_to_invoice": str(day), "billing_type": "fixed_date"}
    else:
        body |= {"billing_type": "upon_completion", "story_id": story}
    return Made("billing_milestones", body, ("invoice",) if invoiced else ())


def _kantata() -> list[Project]:
    cascade = [
        _billing(f"Support {day:%B %Y}", 2400, day, invoiced=day.month < 4)
        for day in _months(date(2026, 1, 1), 12)
    ]
    summit = [
        _billing("Kickoff", 12000, date(2026, 3, 2), invoiced=True),
        _billing("UAT signed off", 28000, story=43021),
        _billing("Go-live", 20000, story=43022),
    ]
    granite = [
        _billing(f"Licence Q{(day.month - 1) // 3 + 1} {day.year}", 3750, day)
        for day in _quarters(date(2026, 1, 1), 4)
    ]
    return [
        _kantata_project(
            1, "Cascade Health Partners", "USD", "monthly support, 3 invoiced", cascade
        ),
        _kantata_project(
            2,
            "Summit Logistics integration",
            "USD",
            "kickoff, then milestones billed on completion of tasks",
            summit,
            [(43021, "User acceptance testing"), (43022, "Go-live")],
        ),
        _kantata_project(3, "Granite Insurance licences", "EUR", "quarterly licence", granite),
    ]


# ---- Coperniq --------------------------------------------------------------------------------

COPERNIQ_ITEMS = {
    3101: ("Installation", "SERVICE"),
    3102: ("Monitoring", "SERVICE"),
    3103: ("Battery storage unit", "PRODUCT"),
}


def _coperniq_project(
    number: int, title: str, value: int, what: str, invoices: Sequence[Made]
) -> Project:
    record = 5200 + number
    return Project(
        "coperniq",
        title,
        what,
        (
            Made("projects", {"id": record, "title": title, "contractValue": value}),
            *(_in(m, recordId=record) for m in invoices),
        ),
        tuple(
            Made("catalog-items", {"id": key, "name": name, "type": kind})
            for key, (name, kind) in COPERNIQ_ITEMS.items()
        ),
    )


def _draft(
    due: date,
    description: str,
    price: Decimal | int,
    item: int = 3101,
    quantity: int = 1,
    status: str = "",
) -> Made:
    line = {
        "catalogItemId": item,
        "quantity": quantity,
        "unitPrice": Decimal(price),
        "description": description,
    }
    body: Body = {"description": description, "dueDate": f"{due}T00:00:00Z", "lineItems": [line]}
    if not status:
        return Made("invoices", body)
    return Made("invoices", body, ("status",), {"status": status})


def _share(due: date, description: str, percentage: int) -> Made:
    """A PERCENTAGE invoice: a share of the project's contract value, no lines."""
    body: Body = {
        "calculationMethod": "PERCENTAGE",
        "percentage": percentage,
        "description": description,
        "dueDate": f"{due}T00:00:00Z",
    }
    return Made("invoices", body)


def _coperniq() -> list[Project]:
    sunridge = [
        _draft(date(2026, 5, 1), "Engineering design", 48000, status="PAID"),
        _draft(date(2026, 7, 31), "Equipment delivered", 275000),
        _draft(date(2026, 7, 31), "Battery storage units", 11500, 3103, quantity=6),
    ]
    sunridge += [
        _draft(day, f"Monitoring {day.year}-Q{(day.month - 1) // 3 + 1}", 2400, 3102)
        for day in _quarters(date(2026, 7, 1), 4)
    ]
    oakfield = [
        _draft(day, f"Monitoring {day:%B %Y}", 180, 3102, status="SENT" if day.month == 4 else "")
        for day in _months(date(2026, 4, 1), 9)
    ]
    brookside = [
        _draft(date(2026, 6, 15), "Site survey", 3500, status="SENT"),
        _draft(date(2026, 8, 14), "Roof-mount installation", 68500),
        _draft(date(2026, 8, 14), "Battery storage units", 11200, 3103, quantity=2),
        _share(date(2026, 10, 15), "Interconnection approved (10% of contract)", 10),
    ]
    hillcrest = [
        _draft(date(2026, 3, 31), "Feasibility study", 12000, status="PAID"),
        _draft(date(2026, 6, 30), "Microgrid installation", 168000, status="SENT"),
        _draft(date(2026, 6, 30), "Battery storage units", 11500, 3103, quantity=4),
        _draft(date(2026, 9, 30), "Commissioning", 14000),
    ]
    redwood = [
        _draft(day, f"Pump monitoring {day.year}-Q{(day.month - 1) // 3 + 1}", 600, 3102)
        for day in _quarters(date(2026, 4, 1), 6)
    ]
    return [
        _coperniq_project(
            1,
            "Sunridge Farm solar array",
            612000,
            "milestones, batteries and quarterly monitoring",
            sunridge,
        ),
        _coperniq_project(2, "Oakfield community solar", 98000, "monthly monitoring", oakfield),
        _coperniq_project(
            3,
            "Brookside residential",
            86000,
            "survey, installation, batteries and a share of the contract",
            brookside,
        ),
        _coperniq_project(
            4, "Hillcrest school microgrid", 240000, "milestones and batteries", hillcrest
        ),
        _coperniq_project(5, "Redwood ranch pumps", 36000, "quarterly monitoring", redwood),
    ]


# ---- seeding ----------------------------------------------------------------------------------

TITLES = {"ruddr": "Ruddr", "kantata": "Kantata", "wethod": "Wethod", "coperniq": "Coperniq"}
# The collections of billing objects, as against projects, stories and catalog items.
OBJECTS = frozenset(
    {"project-invoice-milestones", "project-product-items", "billing_milestones", "invoices"}
)


# The vendors the portfolio has projects at, in the order it makes them.
VENDORS = ("ruddr", "kantata", "wethod", "coperniq")


def portfolio(vendors: Sequence[str] = VENDORS, company: str = "sandbox") -> list[Project]:
    """The demo portfolio's projects at these vendors; Wethod's in `company` (its slug)."""
    makers: dict[str, Callable[[], list[Project]]] = {
        "ruddr": _ruddr,
        "kantata": _kantata,
        "wethod": lambda: _wethod(company),
        "coperniq": _coperniq,
    }
    return [project for vendor in vendors for project in makers[vendor]()]


@dataclass
class _Admin:
    client: httpx.Client
    vendor: str
    made_once: set[str] = field(default_factory=set)

    def post(self, path: str, body: Body | None) -> Any:
        root = admin_root(emulator_for(self.vendor))
        content = None if body is None else jsonio.dumps(body)  # money stays exact
        headers = {"Content-Type": "application/json"} if content else None
        response = self.client.post(f"{root}/{path}", content=content, headers=headers)
        if response.status_code >= 400:
            raise PortfolioRefused(f"the {self.vendor} sandbox refused {path}: {response.text}")
        return jsonio.loads(response.content) if response.content else None

    def listed(self, path: str) -> set[str]:
        root = admin_root(emulator_for(self.vendor))
        response = self.client.get(f"{root}/{path}")
        response.raise_for_status()
        return {str(row.get("id", row.get("slug"))) for row in response.json()}


def seed(sandbox: Sandbox, projects: Sequence[Project]) -> list[str]:
    """Make every project's objects in the sandbox, as people would; a note per project.
    PortfolioRefused when the sandbox holds a project of the portfolio already."""
    with httpx.Client(transport=sandbox.transport, base_url=DEFAULT_ROOT) as client:
        admins = {v: _Admin(client, v) for v in sorted({p.vendor for p in projects})}
        for project in projects:
            first = project.made[0]
            if first.key in admins[project.vendor].listed(first.collection):
                raise PortfolioRefused(
                    f"the sandbox already holds {project.name} ({project.vendor}): it is "
                    "seeded. To start again, remove the directory's .billplan/ folder"
                )
        notes = []
        for project in projects:
            admin = admins[project.vendor]
            for need in project.needs:
                key = f"{need.collection}/{need.key}"
                if key not in admin.made_once and need.key not in admin.listed(need.collection):
                    admin.post(need.collection, need.body)
                admin.made_once.add(key)
            for made in project.made:
                created = admin.post(made.collection, made.body)
                for action in made.then:
                    admin.post(f"{made.collection}/{created['id']}/{action}", made.action_body)
            objects = sum(1 for m in project.made if m.collection in OBJECTS)
            locked = f", {project.locked} locked" if project.locked else ""
            notes.append(
                f"{TITLES[project.vendor]}: {project.name}: {project.what} "
                f"({objects} objects{locked})"
            )
    return notes
