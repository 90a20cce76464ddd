"""Reconciliation: invoices sent vs confirmed vs paid, amount and FX differences, and anything stuck."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from triad.ap.models import ApBatch, ApBatchItem, InvoiceCredit, Payment
from triad.core.db import utcnow
from triad.core.errors import TriadError
from triad.core.money import quantize
from triad.invoices.approvals import approved_amount
from triad.invoices.models import Invoice, InvoiceStateChange
from triad.invoices.states import State

STATES = (State.approved, State.sent_to_ap, State.partially_paid, State.paid)
COLUMNS = ("invoice_id", "invoice_number", "firm", "state", "currency", "approved", "credits", "due", "sent_on",
           "idempotency_key", "paid", "difference", "approval_fx_rate", "payment_fx_rate", "fx_difference",
           "reporting_currency", "days_waiting", "stuck")


def report(*, session: Session, stuck_days: int = 14, reporting_currency: str = "USD",
           today: dt.date | None = None) -> list[dict[str, Any]]:
    """One row per approved-or-later invoice. ``difference`` = due - paid (positive: still owed,
    negative: overpaid). FX: the rate on the approval date vs the rate the payment carried, both
    invoice currency -> ``reporting_currency``; ``fx_difference`` = paid x (payment rate - approval
    rate) in the reporting currency. ``stuck``: approved but not exported, or sent but not fully
    paid, for more than ``stuck_days`` days."""
    from triad.fx.service import rate_on

    today = today or utcnow().date()
    invoices = list(session.scalars(select(Invoice).where(Invoice.state.in_([s.value for s in STATES]))
                                    .options(selectinload(Invoice.lines), selectinload(Invoice.firm))
                                    .order_by(Invoice.id)))
    ids = [i.id for i in invoices]
    credits: dict[int, Decimal] = {}
    for inv_id, amt in session.execute(select(InvoiceCredit.invoice_id, InvoiceCredit.amount)
                                       .where(InvoiceCredit.invoice_id.in_(ids))):
        credits[inv_id] = credits.get(inv_id, Decimal(0)) + amt
    paid: dict[int, Decimal] = {}
    pay_rate: dict[int, Decimal] = {}
    for inv_id, status, amt, rate in session.execute(select(Payment.invoice_id, Payment.status, Payment.amount,
                                                            Payment.fx_rate).where(Payment.invoice_id.in_(ids))):
        if status in ("paid", "reversed"):
            paid[inv_id] = paid.get(inv_id, Decimal(0)) + (amt if status == "paid" else -amt)
        if status == "paid" and rate is not None:
            pay_rate[inv_id] = rate
    sent: dict[int, tuple[dt.date, str]] = {}
    for inv_id, key, at in session.execute(select(ApBatchItem.invoice_id, ApBatchItem.idempotency_key,
                                                  ApBatch.created_at).join(ApBatch)
                                           .where(ApBatchItem.invoice_id.in_(ids), ApBatchItem.reopened_at.is_(None))):
        sent[inv_id] = (at.date(), key)
    approved_on: dict[int, dt.date] = {}
    for inv_id, at in session.execute(select(InvoiceStateChange.invoice_id, InvoiceStateChange.at)
                                      .where(InvoiceStateChange.invoice_id.in_(ids),
                                             InvoiceStateChange.to_state == State.approved)
                                      .order_by(InvoiceStateChange.at)):
        approved_on[inv_id] = at.date()
    rows = []
    for inv in invoices:
        approved = approved_amount(inv)
        due = approved - credits.get(inv.id, Decimal(0))
        got = paid.get(inv.id, Decimal(0))
        since = sent[inv.id][0] if inv.id in sent else approved_on.get(inv.id, inv.invoice_date)
        waiting = (today - since).days
        stuck = inv.state != State.paid and waiting > stuck_days
        a_rate = p_rate = fx_diff = None
        if inv.id in pay_rate and inv.currency != reporting_currency:
            p_rate = pay_rate[inv.id]
            try:
                a_rate = rate_on(session=session, base=inv.currency, quote=reporting_currency,
                                 on=approved_on.get(inv.id, inv.invoice_date))
                fx_diff = quantize(got * (p_rate - a_rate), reporting_currency)
            except TriadError:
                a_rate = None
        ccy = inv.currency

        def q(v: Decimal, ccy: str = ccy) -> str:
            return format(quantize(v, ccy), "f")

        rows.append({"invoice_id": inv.id, "invoice_number": inv.invoice_number, "firm": inv.firm.name,
                     "state": inv.state, "currency": inv.currency, "approved": q(approved),
                     "credits": q(credits.get(inv.id, Decimal(0))), "due": q(due),
                     "sent_on": sent[inv.id][0].isoformat() if inv.id in sent else None,
                     "idempotency_key": sent[inv.id][1] if inv.id in sent else None, "paid": q(got),
                     "difference": q(due - got),
                     "approval_fx_rate": format(a_rate, "f") if a_rate is not None else None,
                     "payment_fx_rate": format(p_rate, "f") if p_rate is not None else None,
                     "fx_difference": format(fx_diff, "f") if fx_diff is not None else None,
                     "reporting_currency": reporting_currency, "days_waiting": waiting if inv.state != State.paid
                     else 0, "stuck": stuck})
    return rows


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    import csv
    import io

    from triad.ap.formats import neutralise

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([neutralise("" if r[c] is None else str(r[c])) for c in COLUMNS])
    return out.getvalue().encode("utf-8")
