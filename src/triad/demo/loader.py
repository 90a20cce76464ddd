"""A realistic, seeded demo company. ``load`` is idempotent: it does nothing if the demo is present.

Everything goes through the same services as real data, so every record is audited.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triad.audit.service import Actor
from triad.auth.models import User
from triad.auth.schemas import UserCreate
from triad.auth.service import create_user
from triad.budgets.models import Budget
from triad.budgets.schemas import BudgetCreate
from triad.core import crud
from triad.core.money import Money, allocate, quantize
from triad.firms.models import LawFirm, Timekeeper
from triad.firms.schemas import LawFirmCreate, TimekeeperCreate
from triad.invoices.models import Invoice, InvoiceAllocation, InvoiceLine
from triad.matters.models import Engagement, Matter
from triad.matters.schemas import EngagementCreate, MatterCreate
from triad.notifications.service import notify
from triad.org.models import BusinessUnit, CostCenter, GLAccount
from triad.org.schemas import BusinessUnitCreate, CostCenterCreate, GLAccountCreate
from triad.vendors import screening
from triad.vendors import service as vendors
from triad.vendors.models import Vendor
from triad.vendors.schemas import VendorCreate

DEMO_PASSWORD = "triad-demo-2026"
ACTOR = Actor("system:demo")

BUSINESS_UNITS = [
    ("RET", "Retail Banking", [("RET-LIT", "Retail Litigation"), ("RET-REG", "Retail Regulatory")]),
    ("CIB", "Corporate & Investment Banking", [("CIB-TXN", "CIB Transactions"), ("CIB-LIT", "CIB Disputes")]),
    ("GRP", "Group Functions", [("GRP-EMP", "Employment & HR Legal"), ("GRP-IP", "IP & Technology")]),
]
GL_ACCOUNTS = [("6100", "Outside counsel fees"), ("6110", "Outside counsel disbursements"),
               ("6120", "Litigation costs and experts"), ("6130", "Transaction legal costs")]


def _iban(country: str, bban: str) -> str:
    """A syntactically valid IBAN (ISO 13616 mod-97 check digits) for demo data."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


FIRMS = [
    # name, country, currency, tax scheme, tax id, bank
    ("Hargrove & Lytle LLP", "US", "USD", "us_ein", "13-4924710", {"routing_number": "021000021",
                                                                   "account_number": "483920117"}),
    ("Whitcombe Adair LLP", "US", "USD", "us_ein", "94-3108455", {"routing_number": "026009593",
                                                                  "account_number": "771204583"}),
    ("Brennan Okafor PC", "US", "USD", "us_ein", "36-2875102", {"routing_number": "071000013",
                                                               "account_number": "220174839"}),
    ("Ashdown Pryce LLP", "GB", "GBP", "gb_vat", "GB980780684", {"iban": _iban("GB", "NWBK60161331926819"),
                                                                "bic": "NWBKGB2L"}),
    ("Kessler Vogt Partnerschaft", "DE", "EUR", "eu_vat", "DE136695976",
     {"iban": _iban("DE", "370400440532013000"), "bic": "COBADEFFXXX"}),
    ("Moreau Lindqvist AARPI", "FR", "EUR", "eu_vat", "FR40303265045",
     {"iban": _iban("FR", "20041010050500013M02606"), "bic": "PSSTFRPPPAR"}),
]
CITIES = {"US": ("New York", "NY", "10017"), "GB": ("London", None, "EC2V 7HH"),
          "DE": ("Frankfurt am Main", "HE", "60311"), "FR": ("Paris", None, "75008")}
FIRST = ["Alex", "Jordan", "Priya", "Samuel", "Ines", "Tomasz", "Grace", "Mateo", "Aisha", "Oliver",
         "Chloe", "Henrik", "Mei", "Daniel", "Fatima", "Lucas", "Hannah", "Rafael"]
LAST = ["Whitaker", "Nakamura", "Osei", "Fernandes", "Lindgren", "Kowalski", "Brennan", "Moreau",
        "Achterberg", "Delacroix", "Singh", "Haddad", "Okonkwo", "Reyes", "Schmidt", "Novak"]
TK_MIX = [("PARTNR", 2, (780, 1150)), ("OFCNSL", 1, (650, 850)), ("ASSOC", 3, (380, 690)),
          ("PARLGL", 2, (190, 290)), ("LGLAST", 1, (120, 170))]
MATTER_KINDS = [
    ("litigation", ["Consumer class action", "Contract dispute", "Regulatory enforcement defence",
                    "Securities litigation", "Patent infringement defence", "Employment tribunal claim"]),
    ("counseling", ["Data protection advice", "Sanctions compliance review", "Product terms review",
                    "Employment policy update", "AI governance advice"]),
    ("transactional", ["Acquisition of fintech target", "Syndicated facility", "Outsourcing agreement",
                       "Joint venture", "Real estate lease portfolio"]),
]
COUNTERPARTIES = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware",
                  "Wingtip", "Lucerne", "Fourth Coffee", "Humongous", "Trey Research"]
LIT_PHASES = ["L100", "L200", "L300", "L400"]
TXN_PHASES = ["*"]
TASKS = {"litigation": [("L110", "A102", "Review and analyze facts and documents"),
                        ("L120", "A104", "Analyze claims and defences; prepare strategy memo"),
                        ("L210", "A103", "Draft motion to dismiss"),
                        ("L310", "A103", "Prepare written discovery requests"),
                        ("L330", "A106", "Communicate with client regarding depositions")],
         "counseling": [("C100", "A104", "Research regulatory requirements"),
                        ("C200", "A103", "Draft advice memorandum"),
                        ("C300", "A106", "Call with client legal team")],
         "transactional": [("P100", "A102", "Review due diligence materials"),
                           ("P300", "A103", "Draft and revise transaction documents"),
                           ("P400", "A105", "Negotiation call with counterparty counsel")]}


def is_empty(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(BusinessUnit)) or 0) == 0 and (
        session.scalar(select(func.count()).select_from(User)) or 0) == 0


def already_loaded(session: Session) -> bool:
    return session.scalar(select(BusinessUnit.id).where(BusinessUnit.code == BUSINESS_UNITS[0][0])) is not None


def load(*, session: Session, seed: int = 42) -> dict[str, int]:
    """Create the demo company. Returns counts of what was created ({} when already present)."""
    if already_loaded(session):
        return {}
    rng = random.Random(seed)
    today = dt.date(2026, 11, 1)

    cost_centers: dict[str, list[CostCenter]] = {}
    bus: list[BusinessUnit] = []
    for code, name, ccs in BUSINESS_UNITS:
        bu = crud.create(session=session, model=BusinessUnit, data=BusinessUnitCreate(code=code, name=name),
                         actor=ACTOR)
        bus.append(bu)
        cost_centers[code] = [
            crud.create(session=session, model=CostCenter, actor=ACTOR,
                        data=CostCenterCreate(code=cc, name=ccn, business_unit_id=bu.id))
            for cc, ccn in ccs
        ]
    gls = [crud.create(session=session, model=GLAccount, data=GLAccountCreate(number=n, name=nm), actor=ACTOR)
           for n, nm in GL_ACCOUNTS]

    users = {}
    staff = [("admin", "admin", "Ada Administrator"), ("legal_ops", "legal_ops", "Lena Legal-Ops"),
             ("matter_manager", "matter_manager", "Marcus Matterson"), ("finance_ap", "finance_ap", "Fiona Payables"),
             ("procurement", "procurement", "Pablo Procurer"), ("auditor", "auditor", "Audrey Auditor")]
    for username, role, full in staff:
        users[username] = create_user(session=session, actor=ACTOR, data=UserCreate(
            username=username, email=f"{username}@demo.triad.example", full_name=full, role=role,
            password=DEMO_PASSWORD))
    managers = [users["matter_manager"], users["legal_ops"]]

    firms: list[LawFirm] = []
    tks: dict[int, list[Timekeeper]] = {}
    # Vendors are onboarded as in real life: procurement requests, screening, legal review, activation.
    screening.load_list(session=session, data=DEMO_SANCTIONS.encode(), filename="demo-sanctions.csv", fmt="names",
                        actor=ACTOR)
    procurement, legal = users["procurement"], users["legal_ops"]
    vrng = random.Random(seed + 1)  # vendor extras; the main sequence stays as it was
    for i, (name, country, cur, scheme, tax, bank) in enumerate(FIRMS, start=1):
        city, region, postcode = CITIES[country]
        vendor = _onboard(session, procurement, legal, VendorCreate(
            legal_name=name, country=country, risk_tier=rng.choice(["low", "low", "medium", "high"]),
            business_unit_ids=[b.id for b in bus if vrng.random() < 0.7] or [bus[0].id],
            tax_ids=[{"scheme": scheme, "value": tax, "country": country}],
            bank_accounts=[{"holder_name": name, "currency": cur, **bank}],
            contacts=[{"name": f"{vrng.choice(FIRST)} {vrng.choice(LAST)}", "role": "billing",
                       "email": f"billing{i}@firm{i}.demo.triad.example"}],
            addresses=[{"kind": "remit_to", "line1": f"{rng.randint(1, 400)} {rng.choice(LAST)} Street",
                        "city": city, "region": region, "postal_code": postcode, "country": country}]))
        firm = crud.create(session=session, model=LawFirm, actor=ACTOR, data=LawFirmCreate(
            vendor_id=vendor.id, name=name, ledes_firm_id=tax, default_currency=cur))
        firms.append(firm)
        tks[firm.id] = []
        n = 0
        for cls, count, (lo, hi) in TK_MIX:
            for _ in range(count):
                n += 1
                rate_2025 = Decimal(rng.randrange(lo, hi, 5))
                rate_2026 = quantize(rate_2025 * Decimal("1.05"), cur)
                tks[firm.id].append(crud.create(session=session, model=Timekeeper, actor=ACTOR, data=TimekeeperCreate(
                    firm_id=firm.id, tk_id=f"TK{n:03d}", last_name=rng.choice(LAST), first_name=rng.choice(FIRST),
                    classification=cls, rates=[
                        {"rate": str(rate_2025), "currency": cur, "effective_from": "2025-01-01",
                         "effective_to": "2025-12-31"},
                        {"rate": str(rate_2026), "currency": cur, "effective_from": "2026-01-01"}])))
        users[f"counsel_{i}"] = create_user(session=session, actor=ACTOR, data=UserCreate(
            username=f"counsel_{i}", email=f"billing{i}@firm{i}.demo.triad.example",
            full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)} ({name.split()[0]})", role="outside_counsel",
            firm_id=firm.id, password=DEMO_PASSWORD))

    matters: list[tuple[Matter, str]] = []
    engagements: list[Engagement] = []
    budgets = 0
    for n in range(1, 41):
        kind, titles = MATTER_KINDS[(n - 1) % 3]
        bu = bus[(n - 1) % 3]
        ccs = cost_centers[bu.code]
        cc = ccs[n % len(ccs)]
        opened = today - dt.timedelta(days=rng.randint(30, 700))
        allocations = []
        if n % 4 == 0:  # a split matter: shared between two cost centers
            other = cost_centers[bus[n % 3].code][0]
            allocations = [{"cost_center_id": cc.id, "gl_account_id": gls[0].id, "percent": "60"},
                           {"cost_center_id": other.id, "gl_account_id": gls[0].id, "percent": "40"}]
        m = crud.create(session=session, model=Matter, actor=ACTOR, data=MatterCreate(
            number=f"M-2026-{n:04d}", name=f"{rng.choice(COUNTERPARTIES)} – {rng.choice(titles)}",
            matter_type=kind, status="closed" if n % 13 == 0 else "open", business_unit_id=bu.id,
            cost_center_id=cc.id, manager_id=managers[n % 2].id, opened_on=opened,
            closed_on=today if n % 13 == 0 else None, allocations=allocations,
            description=f"{kind.title()} matter for the {bu.name} business unit."))
        matters.append((m, kind))
        for firm in rng.sample(firms, k=1 if n % 3 else 2):
            eng = crud.create(session=session, model=Engagement, actor=ACTOR, data=EngagementCreate(
                firm_id=firm.id, matter_id=m.id, firm_matter_id=f"{firm.name[:3].upper()}-{10000 + n * 7}",
                currency=firm.default_currency, starts_on=opened,
                billing_terms={"billing_increment_hours": "0.1", "invoice_due_days": 45,
                               "ledes_format": "LEDES1998B"}))
            engagements.append(eng)
            for phase in (LIT_PHASES if kind == "litigation" else TXN_PHASES):
                amount = Decimal(rng.randrange(20_000, 250_000, 500))
                crud.create(session=session, model=Budget, actor=ACTOR, data=BudgetCreate(
                    matter_id=m.id, vendor_id=firm.vendor_id, utbms_code=phase, fiscal_period="FY2026",
                    amount=str(amount), currency=firm.default_currency))
                budgets += 1

    _pending_vendors(session, procurement)
    invoices = _demo_invoices(session, rng, engagements, tks, gls, today)
    # ECB-style daily reference rates for 2026 (a seeded walk): approval levels and reports convert with them
    from triad.fx.models import FXRate

    for base, start in (("EUR", Decimal("1.0850")), ("GBP", Decimal("1.2700"))):
        rate, day = start, dt.date(2026, 1, 1)
        while day <= dt.date(2026, 12, 31):
            if day.weekday() < 5:
                session.add(FXRate(base=base, quote="USD", rate_date=day, rate=rate, source="demo"))
                rate = (rate * (1 + Decimal(rng.randint(-40, 40)) / 10000)).quantize(Decimal("0.0001"))
            day += dt.timedelta(days=1)
    # AP: one catch-all route to the company's AP system, paying from its main account
    from triad.ap.models import ApRoute

    session.add(ApRoute(name="main", ap_system="Oracle AP", priority=1000, csv_layout="multi",
                        debtor_name="Triad Demo Co Ltd", debtor_iban="GB33BUKB20201555555555", debtor_bic="BUKBGB22"))
    # delegation of authority: larger invoices also need legal ops' head, then the admin (as GC)
    from triad.invoices.models import ApprovalLevel

    session.add_all([
        ApprovalLevel(name="Head of legal ops", min_amount=Decimal("25000"), currency="USD",
                      approver_id=users["legal_ops"].id, fallback_approver_id=users["admin"].id),
        ApprovalLevel(name="General counsel", min_amount=Decimal("100000"), currency="USD",
                      approver_id=users["admin"].id, fallback_approver_id=users["legal_ops"].id),
    ])
    notify(session=session, user=users["matter_manager"], subject=f"{invoices} invoices are waiting for review",
           body="September 2026 invoices from your panel firms have been submitted.", link="/invoices")
    big = max(matters, key=lambda mk: mk[0].id)[0]
    notify(session=session, user=users["matter_manager"], subject=f"{big.number} is at 75% of its FY2026 budget",
           body=f"Approved and projected spend on {big.name} has reached 75% of budget.", link=f"/matters/{big.id}")
    return {"business_units": len(bus), "cost_centers": sum(len(v) for v in cost_centers.values()),
            "gl_accounts": len(gls), "law_firms": len(firms), "timekeepers": sum(len(v) for v in tks.values()),
            "matters": len(matters), "engagements": len(engagements), "budgets": budgets,
            "invoices": invoices, "users": len(users)}


# Fictional names in the simple names layout (the real OFAC SDN file loads with --format ofac_sdn).
DEMO_SANCTIONS = """uid,name,type,program
D-1,Blue Harbor Consulting,Entity,DEMO
D-2,Crescent Meridian Shipping,Entity,DEMO
D-3,Volkov Petrenko Trading House,Entity,DEMO
"""


def _onboard(session: Session, procurement: User, legal: User, data: VendorCreate) -> Vendor:
    """Procurement requests the vendor, it is screened, legal reviews it, and only then is it activated."""
    vendor = vendors.create_vendor(session=session, data=data, actor=Actor.of(procurement))
    vendors.transition(session=session, vendor=vendor, to="pending_review", actor=Actor.of(procurement),
                       user=procurement)
    screening.screen_vendor(session=session, vendor=vendor, actor=ACTOR)
    vendors.record_review(session=session, vendor=vendor, reviewer=legal, outcome="completed",
                          note="Engagement letter, conflicts and insurance checked.")
    vendors.transition(session=session, vendor=vendor, to="active", actor=Actor.of(legal), user=legal)
    return vendor


def _pending_vendors(session: Session, procurement: User) -> None:
    """Two vendors still on their way in: one waiting for legal with a screening match, one draft."""
    pending = vendors.create_vendor(session=session, actor=Actor.of(procurement), data=VendorCreate(
        legal_name="Blue Harbour Consulting Ltd", country="GB", risk_tier="high",
        tax_ids=[{"scheme": "gb_crn", "value": "09446231", "country": "GB"}],
        bank_accounts=[{"holder_name": "Blue Harbour Consulting Ltd", "currency": "GBP",
                        "iban": _iban("GB", "NWBK60161331926820"), "bic": "NWBKGB2L"}]))
    vendors.transition(session=session, vendor=pending, to="pending_review", actor=Actor.of(procurement),
                       user=procurement)
    screening.screen_vendor(session=session, vendor=pending, actor=ACTOR)
    vendors.create_vendor(session=session, actor=Actor.of(procurement), data=VendorCreate(
        legal_name="Northgate Data Services Inc", country="US", onboarding_pathway="self_service",
        tax_ids=[{"scheme": "us_ein", "value": "27-1502384", "country": "US"}],
        bank_accounts=[{"holder_name": "Northgate Data Services Inc", "currency": "USD",
                        "routing_number": "026009593", "account_number": "550193847"}]))


def _demo_invoices(session: Session, rng: random.Random, engagements: list[Engagement],
                   tks: dict[int, list[Timekeeper]], gls: list[GLAccount], today: dt.date) -> int:
    """A few submitted invoices so the lists are not empty; LEDES intake creates the real ones."""
    from triad.audit import events

    count = 0
    for eng in engagements[:18]:
        matter = session.get(Matter, eng.matter_id)
        kind = matter.matter_type
        start = dt.date(2026, 9, 1)
        end = dt.date(2026, 9, 30)
        inv = Invoice(firm_id=eng.firm_id, vendor_id=eng.firm.vendor_id,
                      invoice_number=f"{eng.firm.name[:2].upper()}{rng.randint(100000, 999999)}",
                      invoice_date=dt.date(2026, 10, 5), billing_start=start, billing_end=end,
                      currency=eng.currency, total_amount=Decimal(0), state="submitted",
                      description=f"Professional services, September 2026 – {matter.name}")
        total = Money.zero(eng.currency)
        for line_no in range(1, rng.randint(4, 9)):
            tk = rng.choice(tks[eng.firm_id])
            rate = tk.rates[-1].rate
            units = Decimal(rng.randint(1, 45)) / 10
            task, act, desc = rng.choice(TASKS[kind])
            line_total = Money.of(units * rate, eng.currency)
            total += line_total
            inv.lines.append(InvoiceLine(
                matter_id=matter.id, line_no=line_no, line_type="F",
                work_date=start + dt.timedelta(days=rng.randint(0, 29)), timekeeper_id=tk.id,
                task_code=task, activity_code=act, units=units, unit_cost=rate, adjustment=Decimal(0),
                total=line_total.amount, description=desc, source_line=line_no + 2))
        inv.total_amount = total.amount
        shares = matter.allocations or []
        if shares:
            parts = allocate(total, [a.percent for a in shares])
            for a, part in zip(shares, parts, strict=True):
                inv.allocations.append(InvoiceAllocation(
                    matter_id=matter.id, cost_center_id=a.cost_center_id, gl_account_id=a.gl_account_id,
                    amount=part.amount, currency=eng.currency))
        else:
            inv.allocations.append(InvoiceAllocation(
                matter_id=matter.id, cost_center_id=matter.cost_center_id, gl_account_id=gls[0].id,
                amount=total.amount, currency=eng.currency))
        session.add(inv)
        events.created(session, actor=ACTOR, obj=inv)
        count += 1
    return count
