"""Factories: a small company with two law firms, built through the real services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count

from sqlalchemy.orm import Session

from triad.ap.models import ApRoute, SyncRun
from triad.audit.service import Actor
from triad.auth.models import User
from triad.auth.schemas import UserCreate
from triad.auth.service import create_api_token, create_user
from triad.budgets.models import Budget
from triad.budgets.schemas import BudgetCreate
from triad.core import crud
from triad.core.permissions import Role
from triad.firms.models import LawFirm, Timekeeper
from triad.firms.schemas import LawFirmCreate, TimekeeperCreate
from triad.guidelines.models import GuidelineVersion
from triad.invoices.models import ApprovalLevel, Invoice, InvoiceAllocation, InvoiceLine
from triad.matters.models import Engagement, Matter
from triad.matters.schemas import EngagementCreate, MatterCreate
from triad.org.models import BusinessUnit, CostCenter, GLAccount
from triad.org.schemas import BusinessUnitCreate, CostCenterCreate, GLAccountCreate
from triad.vendors.models import Vendor
from triad.vendors.schemas import VendorCreate
from triad.vendors.service import create_vendor

ACTOR = Actor("test")
PASSWORD = "correct horse battery"
_seq = count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


def business_unit(s: Session) -> BusinessUnit:
    return crud.create(session=s, model=BusinessUnit, actor=ACTOR,
                       data=BusinessUnitCreate(code=uniq("BU"), name="Retail"))


def cost_center(s: Session, bu: BusinessUnit) -> CostCenter:
    return crud.create(session=s, model=CostCenter, actor=ACTOR,
                       data=CostCenterCreate(code=uniq("CC"), name="Litigation", business_unit_id=bu.id))


def gl_account(s: Session) -> GLAccount:
    return crud.create(session=s, model=GLAccount, actor=ACTOR, data=GLAccountCreate(number=uniq("61"),
                       name="Outside counsel fees"))


def ein() -> str:
    """A valid, unique US EIN (prefix 13 is a real IRS campus code; stdnum checks prefixes)."""
    return f"13-{next(_seq):07d}"


def vendor(s: Session, name: str, tax_id: str | None = None) -> Vendor:
    """A draft vendor with a valid EIN and US bank account, created through the vendor service."""
    return create_vendor(session=s, actor=ACTOR, data=VendorCreate(
        legal_name=name, country="US", tax_ids=[{"scheme": "us_ein", "value": tax_id or ein(), "country": "US"}],
        bank_accounts=[{"holder_name": name, "routing_number": "021000021", "account_number": f"{next(_seq):09d}",
                        "currency": "USD"}]))


def firm(s: Session, name: str) -> LawFirm:
    v = vendor(s, name)
    return crud.create(session=s, model=LawFirm, actor=ACTOR, data=LawFirmCreate(
        vendor_id=v.id, name=name, ledes_firm_id=v.tax_ids[0].value, default_currency="USD"))


def timekeeper(s: Session, f: LawFirm, last: str = "Doe") -> Timekeeper:
    return crud.create(session=s, model=Timekeeper, actor=ACTOR, data=TimekeeperCreate(
        firm_id=f.id, tk_id=uniq("TK"), last_name=last, first_name="Jan", classification="ASSOC",
        rates=[{"rate": "450.00", "currency": "USD", "effective_from": "2026-01-01"}]))


def matter(s: Session, bu: BusinessUnit, cc: CostCenter, name: str) -> Matter:
    return crud.create(session=s, model=Matter, actor=ACTOR, data=MatterCreate(
        number=uniq("M-"), name=name, matter_type="litigation", business_unit_id=bu.id, cost_center_id=cc.id,
        opened_on=dt.date(2026, 1, 5)))


def engagement(s: Session, f: LawFirm, m: Matter) -> Engagement:
    return crud.create(session=s, model=Engagement, actor=ACTOR, data=EngagementCreate(
        firm_id=f.id, matter_id=m.id, currency="USD", starts_on=dt.date(2026, 1, 5)))


def budget(s: Session, m: Matter, f: LawFirm) -> Budget:
    return crud.create(session=s, model=Budget, actor=ACTOR, data=BudgetCreate(
        matter_id=m.id, vendor_id=f.vendor_id, utbms_code="L100", fiscal_period="FY2026",
        amount="50000.00", currency="USD"))


def invoice(s: Session, f: LawFirm, m: Matter, tk: Timekeeper, cc: CostCenter, gl: GLAccount,
            description: str) -> Invoice:
    inv = Invoice(firm_id=f.id, vendor_id=f.vendor_id, invoice_number=uniq("INV"),
                  invoice_date=dt.date(2026, 10, 1), billing_start=dt.date(2026, 9, 1),
                  billing_end=dt.date(2026, 9, 30), currency="USD", total_amount=Decimal("900.00"),
                  description=description)
    inv.lines.append(InvoiceLine(matter_id=m.id, line_no=1, line_type="F", work_date=dt.date(2026, 9, 3),
                                 timekeeper_id=tk.id, task_code="L110", activity_code="A101", units=Decimal("2"),
                                 unit_cost=Decimal("450.00"), total=Decimal("900.00"), description=description))
    inv.allocations.append(InvoiceAllocation(matter_id=m.id, cost_center_id=cc.id, gl_account_id=gl.id,
                                             amount=Decimal("900.00"), currency="USD"))
    s.add(inv)
    s.flush()
    return inv


def user(s: Session, role: Role, firm_id: int | None = None, username: str | None = None) -> User:
    return create_user(session=s, actor=ACTOR, data=UserCreate(
        username=username or uniq(role.value + "_"), email="someone@example.com", full_name=f"Test {role.value}",
        role=role, firm_id=firm_id, password=PASSWORD))


FAR_FUTURE_GUIDE = "name: Firm terms from 2099\nrules:\n  currency: {severity: warning}\n"


def firm_guidelines(s: Session, w: World) -> World:
    """Firm guideline sets for A and B, in force only from 2099 (for tests that read guideline sets;
    no test invoice is judged by them)."""
    from triad.guidelines.service import load

    for fw in (w.a, w.b):
        fw.guideline_version = load(session=s, text=FAR_FUTURE_GUIDE, scope="firm", firm_id=fw.firm.id,
                                    effective_from=dt.date(2099, 1, 1), actor=ACTOR)
    s.commit()
    return w


@dataclass
class FirmWorld:
    firm: LawFirm
    timekeeper: Timekeeper
    matter: Matter
    engagement: Engagement
    budget: Budget
    invoice: Invoice
    counsel: User
    guideline_version: GuidelineVersion | None = None


@dataclass
class World:
    bu: BusinessUnit
    cc: CostCenter
    gl: GLAccount
    a: FirmWorld
    b: FirmWorld
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    approval_level: ApprovalLevel | None = None
    ap_route: ApRoute | None = None
    sync_run: SyncRun | None = None
    spare_vendor: Vendor | None = None  # a vendor with no law firm yet


def world(s: Session) -> World:
    """Two firms, A and B, each engaged on its own matter, with a budget, an invoice and a counsel user;
    plus one user and API token for every role (``counsel_a`` / ``counsel_b`` for outside counsel)."""
    bu = business_unit(s)
    cc = cost_center(s, bu)
    gl = gl_account(s)

    def one(name: str) -> FirmWorld:
        f = firm(s, f"{name} Law LLP")
        tk = timekeeper(s, f, last=f"{name}son")
        m = matter(s, bu, cc, f"{name} matter")
        e = engagement(s, f, m)
        b = budget(s, m, f)
        inv = invoice(s, f, m, tk, cc, gl, f"{name} services")
        c = user(s, Role.outside_counsel, firm_id=f.id, username=f"counsel_{name.lower()}")
        return FirmWorld(f, tk, m, e, b, inv, c)

    w = World(bu=bu, cc=cc, gl=gl, a=one("Alpha"), b=one("Bravo"), spare_vendor=vendor(s, "Charlie Counsel LLP"))
    for role in Role:
        if role == Role.outside_counsel:
            continue
        w.users[role.value] = user(s, role)
    w.users["counsel_a"] = w.a.counsel
    w.users["counsel_b"] = w.b.counsel
    # an approval level far above any test invoice: present (the API matrix reads it), never triggered
    w.approval_level = ApprovalLevel(name=f"Board {uniq('')}", min_amount=Decimal("100000000"), currency="USD",
                                     approver_id=w.users["admin"].id)
    s.add(w.approval_level)
    # a catch-all AP route and one recorded (refused) payment import
    w.ap_route = ApRoute(name=f"catch-all-{uniq('')}", ap_system="Oracle AP", priority=1000)
    w.sync_run = SyncRun(kind="ap_import", status="rejected", actor="test", filename="bad.csv", errors=[])
    s.add_all([w.ap_route, w.sync_run])
    for key, u in w.users.items():
        _, plain = create_api_token(session=s, user=u, name="test", expires_in_days=1, actor=ACTOR)
        w.tokens[key] = plain
    s.commit()
    return w


def ledes_file(fw: FirmWorld, invoice_number: str | None = None, *, units: str = "2.0", rate: str = "450.00") -> bytes:
    """A valid LEDES 1998B file with one invoice from firm ``fw`` on its matter."""
    from triad.ledes.model import Invoice as LInvoice
    from triad.ledes.model import Line, Party
    from triad.ledes.writers import write_1998b

    total = (Decimal(units) * Decimal(rate)).quantize(Decimal("0.01"))
    line = Line(line_no="1", line_type="F", date=dt.date(2026, 9, 3), units=Decimal(units), unit_cost=Decimal(rate),
                adjustment=Decimal(0), total=total, law_firm_matter_id="FM-1", client_matter_id=fw.matter.number,
                task_code="L110", activity_code="A101", timekeeper_id=fw.timekeeper.tk_id,
                timekeeper_name=f"{fw.timekeeper.last_name}, {fw.timekeeper.first_name}",
                timekeeper_classification=fw.timekeeper.classification, description="Review facts")
    inv = LInvoice(invoice_number=invoice_number or uniq("LEDES-"), invoice_date=dt.date(2026, 10, 2),
                   billing_start=dt.date(2026, 9, 1), billing_end=dt.date(2026, 9, 30), total=total,
                   law_firm=Party(id=fw.firm.ledes_firm_id), client=Party(id="TRIADCO"), description="September",
                   lines=[line])
    return write_1998b([inv])
