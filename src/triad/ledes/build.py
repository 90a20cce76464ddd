"""Turning a checked frame into ``Invoice`` objects (for import and conversion, not for validation)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import polars as pl

from triad.ledes.model import Invoice, Line, Party


def _d(v: str | None) -> Decimal | None:
    if v is None:
        return None
    try:
        return Decimal(v.removeprefix("+"))
    except InvalidOperation:
        return None


@lru_cache(maxsize=8192)
def _date(v: str | None) -> dt.date | None:
    """A LEDES date (YYYYMMDD); cached because an invoice repeats a few dates on every line."""
    if v is None:
        return None
    try:
        return dt.datetime.strptime(v, "%Y%m%d").date()
    except ValueError:
        return None


def _u(v: str | None) -> str | None:
    return v.upper() if v else v


def invoices(frame: pl.DataFrame) -> list[Invoice]:
    """Group the frame's rows into invoices by (LAW_FIRM_ID, INVOICE_NUMBER), in file order."""
    out: dict[tuple, Invoice] = {}
    for r in frame.iter_rows(named=True):
        key = (r.get("law_firm_id"), r.get("invoice_number"))
        inv = out.get(key)
        if inv is None:
            inv = out[key] = Invoice(
                invoice_number=r.get("invoice_number") or "", invoice_date=_date(r.get("invoice_date")),
                billing_start=_date(r.get("billing_start_date")), billing_end=_date(r.get("billing_end_date")),
                total=_d(r.get("invoice_total")) or Decimal(0), description=r.get("invoice_description"),
                currency=_u(r.get("invoice_currency")), net_total=_d(r.get("invoice_net_total")),
                tax_total=_d(r.get("invoice_tax_total")), reported_tax_total=_d(r.get("invoice_reported_tax_total")),
                tax_currency=_u(r.get("invoice_tax_currency")), po_number=r.get("po_number"),
                account_type=r.get("account_type"),
                law_firm=Party(id=r.get("law_firm_id"), name=r.get("law_firm_name"),
                               address_1=r.get("law_firm_address_1"), address_2=r.get("law_firm_address_2"),
                               city=r.get("law_firm_city"), region=r.get("law_firm_stateorregion"),
                               postcode=r.get("law_firm_postcode"), country=_u(r.get("law_firm_country"))),
                client=Party(id=r.get("client_id"), name=r.get("client_name"), tax_id=r.get("client_tax_id"),
                             address_1=r.get("client_address_1"), address_2=r.get("client_address_2"),
                             city=r.get("client_city"), region=r.get("client_stateorregion"),
                             postcode=r.get("client_postcode"), country=_u(r.get("client_country"))),
            )
        inv.lines.append(Line(
            line_no=r.get("line_item_number") or "", line_type=_u(r.get("exp_fee_inv_adj_type")) or "",
            date=_date(r.get("line_item_date")), units=_d(r.get("line_item_number_of_units")),
            unit_cost=_d(r.get("line_item_unit_cost")), adjustment=_d(r.get("line_item_adjustment_amount")),
            total=_d(r.get("line_item_total")) or Decimal(0), law_firm_matter_id=r.get("law_firm_matter_id"),
            client_matter_id=r.get("client_matter_id"), matter_name=r.get("matter_name"),
            task_code=_u(r.get("line_item_task_code")), activity_code=_u(r.get("line_item_activity_code")),
            expense_code=_u(r.get("line_item_expense_code")), timekeeper_id=r.get("timekeeper_id"),
            timekeeper_name=r.get("timekeeper_name"), timekeeper_last_name=r.get("timekeeper_last_name"),
            timekeeper_first_name=r.get("timekeeper_first_name"),
            timekeeper_classification=_u(r.get("timekeeper_classification")),
            description=r.get("line_item_description"),
            tax_rate=_d(r.get("line_item_tax_rate")), tax_total=_d(r.get("line_item_tax_total")),
            tax_type=r.get("line_item_tax_type"), source_line=r.get("_line"),
        ))
    return list(out.values())
