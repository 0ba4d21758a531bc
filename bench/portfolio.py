"""A synthetic portfolio: N projects' billing plans, the size of a big firm's whole book.

`write_portfolio` writes a plan directory (a head fragment with providers, defaults, vars and
templates, then the projects in fragments of 10) and returns how many items it expands to at
AS_OF. Projects go round-robin over the given providers (named after their vendors). Each
holds about 100 items of every kind its vendor takes:

- recurring: a monthly retainer from a template (escalating, a prorated first stub), monthly
  hosting with price steps (some aligned to their start), a weekly or fortnightly support
  desk in arrears, quarterly reviews in arrears on the last business day with holidays, and an
  open-ended evergreen fee billed up to the horizon;
- products: a one-off licence pack, quarterly seats from a template, monthly cloud usage;
- milestones: a fixed amount, quantity x rate, a percentage of the contract value, a credit,
  a weighted split and a share split of the contract value (a part billed on a task's
  completion for Kantata);
- provider options: Ruddr's invoice item, Wethod's VAT rate, payment terms, budget area,
  purchase order and exchange rate, Coperniq's grouping, payment terms and a catalog item per
  charge (Coperniq takes a catalog item once per invoice, and grouped invoices hold several).

Currencies vary by project (with 0 and 3 decimal ones), and so do amounts, lengths and
descriptions; the same seed writes the same bytes. Counts are computed from the shapes
written, not by expanding: tests/test_portfolio.py holds the two to agreement.

    python bench/portfolio.py DIR --projects N [--providers ruddr,kantata] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

AS_OF = date(2026, 1, 1)  # the as-of date the generated plans are meant for
VENDORS = ("ruddr", "kantata", "wethod", "coperniq")
HORIZON_MONTHS = 12  # `horizon` under defaults; open-ended charges bill up to AS_OF + this
PROJECTS_PER_FILE = 10
WETHOD_COMPANY = "northwind-consulting"
RUDDR_INVOICE_ITEM = "aba04832-216c-463e-8998-c520948f707c"
# Coperniq's catalog item for each charge (its own, so that charges billed on one date can share
# a `group_by: date` invoice).
COPERNIQ_CATALOG = {
    charge: 7001 + n
    for n, charge in enumerate(
        ("retainer", "hosting", "support", "reviews", "evergreen", "licence-pack",
         "platform-seats", "cloud-usage", "kickoff", "workshops", "mobilisation",
         "goodwill-credit", "delivery", "acceptance")
    )
}  # fmt: skip

# Currency and the scale of its amounts (0-decimal currencies in larger units).
CURRENCIES: Mapping[str, Sequence[str]] = {
    "ruddr": ("USD", "EUR", "GBP", "CAD", "JPY", "KWD"),
    "kantata": ("USD", "EUR", "AUD", "CHF", "JPY", "BHD"),
    "wethod": ("EUR", "EUR", "GBP", "CHF", "SEK", "JPY"),
    # Coperniq computes a percentage invoice to the cent: keep its projects in 2-decimal money.
    "coperniq": ("USD", "USD", "CAD", "EUR"),
}
DECIMALS = {"JPY": 0, "KWD": 3, "BHD": 3}
SCALE = {"JPY": 100, "SEK": 10}

CLIENTS = (
    "acme", "harbor-point", "northwind", "brightwater", "kiyosumi", "al-safat", "thameside",
    "cascade-health", "meridian", "blue-heron", "granite-peak", "solstice", "tidewater",
    "ironbridge", "lakeshore", "redwood", "silverline", "summit", "westgate", "evergreen",
)  # fmt: skip
ENGAGEMENTS = (
    ("erp", "ERP rollout"), ("crm", "CRM migration"), ("data", "Data platform"),
    ("msp", "Managed IT"), ("sec", "Security programme"), ("web", "Web replatform"),
    ("hr", "HR systems"), ("cloud", "Cloud migration"), ("bi", "Analytics"),
)  # fmt: skip
SERVICES = ("Application support", "Service desk", "Platform operations", "Data engineering")
PRODUCTS = ("Connector", "Analytics seat", "Integration", "Monitoring agent", "Field app")

HEAD = """\
# A synthetic portfolio written by bench/portfolio.py (seed {seed}); as-of {as_of}.
version: 1
providers:
{providers}
vars:
  msa: MSA-{seed:04d}-117
  billing_contact: accounts@example.com
defaults:
  currency: USD
  rounding: half_up
  horizon: {horizon} months
  ruddr: {{invoice_item: {invoice_item}}}
  wethod: {{vat_rate_id: 301, payment_term_id: 402}}
  coperniq: {{due_in_days: 30}}
templates:
  monthly-retainer:
    every: month
    bill: in_advance
    description: "{{{{ project.name }}}} retainer {{{{ period.start | month_name }}}} \
{{{{ period.start.year }}}}{{% if period.is_stub %}} ({{{{ period.days }}}} days){{% endif %}}"
    escalate: {{by: 3%, every: year}}
  seat-licences:
    every: quarter
    description: "{{{{ charge.key | replace('-', ' ') | title }}}}{{% if period %}} \
{{{{ period.label }}}}{{% endif %}}: {{{{ quantity }}}} x {{{{ rate }}}} {{{{ currency }}}}"
  quarterly-review:
    every: quarter
    bill: in_arrears
    day: last_business_day
    description: "Quarterly service review Q{{{{ period.start | quarter }}}} \
{{{{ period.start.year }}}} under {{{{ vars.msa }}}}"
"""


def write_portfolio(
    directory: Path,
    projects: int,
    *,
    providers: Sequence[str] = VENDORS,
    seed: int = 0,
) -> int:
    """Write a plan of `projects` projects into `directory`; return its item count at AS_OF.
    Like any plan it names no host: a benchmark sets them where billplan runs."""
    if projects < 1:
        raise ValueError(f"a portfolio needs at least one project; got {projects}")
    unknown = [p for p in providers if p not in VENDORS]
    if unknown or not providers:
        raise ValueError(f"providers must be among {', '.join(VENDORS)}; got {list(providers)}")
    directory.mkdir(parents=True, exist_ok=True)
    connections = []
    for vendor in dict.fromkeys(providers):
        fields = [f"type: {vendor}"]
        if vendor == "wethod":
            fields.append(f"company: {WETHOD_COMPANY}")
        connections.append(f"  {vendor}: {{{', '.join(fields)}}}")
    head = HEAD.format(
        seed=seed,
        as_of=AS_OF.isoformat(),
        providers="\n".join(connections),
        horizon=HORIZON_MONTHS,
        invoice_item=RUDDR_INVOICE_ITEM,
    )
    (directory / "00-head.yaml").write_text(head, encoding="utf-8")
    total = 0
    for first in range(0, projects, PROJECTS_PER_FILE):
        chunks = ["projects:\n"]
        for n in range(first, min(first + PROJECTS_PER_FILE, projects)):
            text, items = _project(n, providers[n % len(providers)], seed)
            chunks.append(text)
            total += items
        name = f"projects-{first // PROJECTS_PER_FILE:04d}.yaml"
        (directory / name).write_text("".join(chunks), encoding="utf-8")
    return total


def write_under_defaults(directory: Path, files: int, per_file: int, months: int) -> int:
    """Write a plan of Ruddr projects that set nothing of their own, so that they share the
    defaults' settings, each with one monthly charge `fee` of `months` periods (one project's
    last item and the next one's first are charges of the same key); return its item count.
    write_portfolio gives every project settings of its own, and never writes this shape."""
    directory.mkdir(parents=True, exist_ok=True)
    head = "version: 1\nproviders: {ruddr: {type: ruddr}}\ndefaults: {currency: USD}\n"
    (directory / "00-head.yaml").write_text(head, encoding="utf-8")
    for file in range(files):
        projects = "".join(
            f"  p{file}{n}:\n    provider: ruddr\n"
            f"    project_id: 00000000-0000-4000-8000-0000000000{file}{n}\n"
            f"    recurring:\n      fee: {{description: 'Fee {{{{ period.label }}}}', "
            f"every: month, start: 2025-06-01, count: {months}, amount: {100 + n}}}\n"
            for n in range(per_file)
        )
        (directory / f"projects-{file}.yaml").write_text(f"projects:\n{projects}", "utf-8")
    return files * per_file * months


def _project(n: int, vendor: str, seed: int) -> tuple[str, int]:
    """One project's YAML (indented under `projects:`) and the items it expands to."""
    rng = random.Random(seed * 1_000_003 + n)
    currency = rng.choice(CURRENCIES[vendor])
    client = CLIENTS[n % len(CLIENTS)]
    slug, engagement = ENGAGEMENTS[rng.randrange(len(ENGAGEMENTS))]
    key = f"{client}-{slug}-{n:05d}"
    name = f"{client.replace('-', ' ').title()} {engagement}"

    def money(low: int, high: int) -> str:
        """An amount in the currency's main unit, using its decimals now and then."""
        whole = rng.randrange(low, high) * SCALE.get(currency, 1)
        places = DECIMALS.get(currency, 2)
        if places and rng.random() < 0.3:
            cents = rng.randrange(1, 10**places)
            return f"{whole}.{cents:0{places}d}"
        return str(whole)

    project_id = _project_id(vendor, n, seed, rng)
    lines = [f"  {key}:", f"    provider: {vendor}", f"    project_id: {project_id}",
             f"    name: {name}", f"    currency: {currency}"]  # fmt: skip
    contract = rng.randrange(200, 900) * 1000 * SCALE.get(currency, 1)
    lines.append(f"    contract_value: {contract}")
    holidays = sorted(
        {date(y, 12, 25) for y in (2025, 2026)} | {date(2026, 4, 3), date(2025, 8, 25)}
    )
    lines.append(f"    holidays: [{', '.join(d.isoformat() for d in holidays)}]")
    lines += _options(vendor, n, currency, rng)
    count = 0

    def own(charge: str, block: bool = False) -> str:
        """The charge's Coperniq catalog item: inside its flow mapping, or a line of a block."""
        if vendor != "coperniq":
            return ""
        option = f"coperniq: {{catalog_item: {COPERNIQ_CATALOG[charge]}}}"
        return f"\n        {option}" if block else f", {option}"

    # -- recurring ---------------------------------------------------------------------------
    lines.append("    recurring:")
    start = date(2025, rng.randrange(1, 13), rng.randrange(2, 28))
    months = rng.randrange(24, 37)
    rise = rng.choice((2, 3, 4, 5))
    lines.append(f"      retainer: {{use: monthly-retainer, start: {start}, count: {months}, "
                 f"amount: {money(4000, 20000)}, escalate: {{by: {rise}%}}"
                 f"{own('retainer')}}}")  # fmt: skip
    count += months

    hosting_start = date(2025, rng.randrange(1, 13), 1 + rng.randrange(0, 28))
    hosting_months = rng.randrange(12, 25)
    step = _add_months(hosting_start, rng.randrange(4, 12))
    align = "start" if rng.random() < 0.3 else "calendar"
    lines += [
        "      hosting:" + own("hosting", block=True),
        '        description: "Hosting and operations {{ period.label }}, '
        '{{ amount | money }} {{ currency }}"',
        "        every: month",
        f"        align: {align}",
        f"        start: {hosting_start}",
        f"        count: {hosting_months}",
        "        amounts:",
        f"          - {{from: {hosting_start}, amount: {money(1000, 5000)}}}",
        f"          - {{from: {step}, amount: {money(5000, 9000)}}}",
    ]  # fmt: skip
    count += hosting_months

    weeks = rng.randrange(10, 21)
    every = rng.choice(("week", "2 weeks"))
    service = rng.choice(SERVICES)
    lines.append(f'      support: {{description: "{service} {{{{ period.label }}}} '
                 "({{ period.start | date('%d %b') }} to {{ period.end | date('%d %b') }})\", "
                 f"every: {every}, bill: in_arrears, start: {_monday(2025, rng)}, count: {weeks}, "
                 f"amount: {money(500, 3000)}{own('support')}}}")  # fmt: skip
    count += weeks

    review_start = date(2025, rng.randrange(1, 13), rng.randrange(1, 29))
    lines.append(f"      reviews: {{use: quarterly-review, start: {review_start}, end: 2026-12-31, "
                 f"amount: {money(2000, 8000)}{own('reviews')}}}")  # fmt: skip
    count += 8 - (review_start.month - 1) // 3

    evergreen = date(2025, rng.randrange(1, 13), rng.randrange(1, 29))
    lines.append(
        f'      evergreen: {{description: "Evergreen advisory, month {{{{ period.index }}}}'
        f'{{% if period.count %}} of {{{{ period.count }}}}{{% endif %}}", every: month, '
        f"start: {evergreen}, amount: {money(300, 1500)}{own('evergreen')}}}"
    )
    last = _add_months(AS_OF, HORIZON_MONTHS)  # periods whose first day is on or before this
    count += (last.year - evergreen.year) * 12 + last.month - evergreen.month + 1

    # -- products ----------------------------------------------------------------------------
    product = rng.choice(PRODUCTS)
    lines.append("    products:")
    lines.append(f'      licence-pack: {{description: "{product} licences ({{{{ quantity }}}})", '
                 f"quantity: {rng.randrange(2, 40)}, rate: {money(100, 2000)}, "
                 f"date: {_day(rng, 2025)}{own('licence-pack')}}}")  # fmt: skip
    count += 1
    quarters = rng.randrange(4, 9)
    rate = f"{rng.randrange(20, 200) * SCALE.get(currency, 1)}.{rng.randrange(0, 1000):03d}"
    seats = rng.randrange(5, 120)
    lines.append(f"      platform-seats: {{use: seat-licences, start: {_day(rng, 2025)}, "
                 f"count: {quarters}, quantity: {seats}, rate: {rate}"
                 f"{own('platform-seats')}}}")  # fmt: skip
    count += quarters
    usage = rng.randrange(6, 13)
    usage_start = date(2025, rng.randrange(1, 13), 1)
    units, unit_rate = rng.randrange(100, 5000), rng.randrange(10, 99)
    lines.append('      cloud-usage: {description: "Cloud usage {{ period.start | month_abbr }} '
                 '{{ period.start.year }}", every: month, bill: in_arrears, day: last, '
                 f"start: {usage_start}, count: {usage}, "
                 f"quantity: {units}, rate: 0.{unit_rate}{own('cloud-usage')}}}")  # fmt: skip
    count += usage

    # -- milestones --------------------------------------------------------------------------
    lines += [
        "    milestones:",
        f"      kickoff: {{description: {name} kickoff workshop, date: {_day(rng, 2025)}, "
        f"amount: {money(2000, 15000)}{own('kickoff')}}}",
        f'      workshops: {{description: "Design workshops: {{{{ quantity }}}} days at '
        f'{{{{ rate | money }}}}", date: {_day(rng, 2025)}, quantity: {rng.randrange(2, 12)}, '
        f"rate: {money(800, 2500)}{own('workshops')}}}",
        f'      mobilisation: {{description: "Mobilisation ({{{{ project.name }}}})", '
        f"date: {_day(rng, 2025)}, percent: {rng.choice(('10%', '12.5%', '15%', '7.25%'))}}}",
        f"      goodwill-credit: {{description: Goodwill credit for the delayed start, "
        f"date: {_day(rng, 2026)}, amount: -{money(200, 2000)}{own('goodwill-credit')}}}",
    ]  # fmt: skip
    count += 4
    parts = rng.randrange(3, 6)
    first = _day(rng, 2025)
    lines += [
        "      delivery:" + own("delivery", block=True),
        f"        description: \"{engagement} delivery, {{{{ date | date('%B %Y') }}}}\"",
        "        split:",
        f"          total: {money(50000, 300000)}",
        "          parts:",
    ]
    for k in range(parts):
        when = first + timedelta(days=45 * k)
        lines.append(f"            wave-{k + 1}: {{date: {when}, weight: {rng.randrange(1, 5)}}}")
    count += parts
    lines += [
        "      acceptance:" + own("acceptance", block=True),
        "        split:",
        "          parts:",
        f"            design: {{date: {_day(rng, 2025)}, share: 30%, "
        f'description: "Design approved under {{{{ vars.msa }}}}"}}',
    ]
    if vendor == "kantata":
        task = 880_000 + n * 10
        lines.append(f"            go-live: {{on_completion: {{task: {task}}}, share: 70%, "
                     f"description: Go-live signed off}}")  # fmt: skip
    else:
        lines.append(f"            go-live: {{date: {_day(rng, 2026)}, share: 70%, "
                     f"description: Go-live signed off}}")  # fmt: skip
    count += 2
    return "\n".join(lines) + "\n", count


def _project_id(vendor: str, n: int, seed: int, rng: random.Random) -> str:
    if vendor == "ruddr":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    base = {"kantata": 41_000_000, "wethod": 52_000_000, "coperniq": 63_000_000}[vendor]
    return str(base + seed * 100_000 + n)


def _options(vendor: str, n: int, currency: str, rng: random.Random) -> list[str]:
    if vendor == "wethod":
        options = [
            f"budget_area_uid: area-{n % 7}",
            f"purchase_order: PO-{rng.randrange(1000, 9999)}",
            f"payment_term_id: {rng.choice((401, 402))}",
        ]
        if currency != "EUR":
            options.append(f"exchange_rate: 1.{rng.randrange(1000, 9999)}")
        return [f"    wethod: {{{', '.join(options)}}}"]
    if vendor == "coperniq":
        group = "date" if n % 2 else "none"
        return [f"    coperniq: {{group_by: {group}, due_in_days: {rng.choice((14, 30, 45))}}}"]
    return []


def _day(rng: random.Random, year: int) -> date:
    return date(year, rng.randrange(1, 13), rng.randrange(1, 29))


def _monday(year: int, rng: random.Random) -> date:
    d = _day(rng, year)
    return d - timedelta(days=d.weekday())


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, min(d.day, 28))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="plan directory to write (created)")
    parser.add_argument("--projects", type=int, required=True, help="number of projects")
    parser.add_argument(
        "--providers", default=",".join(VENDORS), help="comma-separated vendors (round-robin)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    try:
        items = write_portfolio(args.directory, args.projects, providers=providers, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    print(items)


if __name__ == "__main__":
    main()
