"""Turning a checked frame into ``Invoice`` objects (for import and conversion, not for validation)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import polars as pl

from triad.ledes.model import Invoice, Line, Party


def _d(v: str | None) -> Decimal | None:
    if v is None:
        return None
    try:
        return Decimal(v.removeprefix("+"))
    except InvalidOperation:
        return None


def _date(v: str | None) -> dt.date | None:
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
        key = (r["law_firm_id"], r["invoice_number"])
        inv = out.get(key)
        if inv is None:
            inv = out[key] = Invoice(
                invoice_number=r["invoice_number"] or "", invoice_date=_date(r["invoice_date"]),
                billing_start=_date(r["billing_start_date"]), billing_end=_date(r["billing_end_date"]),
                total=_d(r["invoice_total"]) or Decimal(0), description=r["invoice_description"],
                currency=_u(r["invoice_currency"]), net_total=_d(r["invoice_net_total"]),
                tax_total=_d(r["invoice_tax_total"]), reported_tax_total=_d(r["invoice_reported_tax_total"]),
                tax_currency=_u(r["invoice_tax_currency"]), po_number=r["po_number"], account_type=r["account_type"],
                law_firm=Party(id=r["law_firm_id"], name=r["law_firm_name"],
                               address_1=r["law_firm_address_1"], address_2=r["law_firm_address_2"],
                               city=r["law_firm_city"], region=r["law_firm_stateorregion"],
                               postcode=r["law_firm_postcode"], country=_u(r["law_firm_country"])),
                client=Party(id=r["client_id"], name=r["client_name"], tax_id=r["client_tax_id"],
                             address_1=r["client_address_1"], address_2=r["client_address_2"],
                             city=r["client_city"], region=r["client_stateorregion"],
                             postcode=r["client_postcode"], country=_u(r["client_country"])),
            )
        inv.lines.append(Line(
            line_no=r["line_item_number"] or "", line_type=_u(r["exp_fee_inv_adj_type"]) or "",
            date=_date(r["line_item_date"]), units=_d(r["line_item_number_of_units"]),
            unit_cost=_d(r["line_item_unit_cost"]), adjustment=_d(r["line_item_adjustment_amount"]),
            total=_d(r["line_item_total"]) or Decimal(0), law_firm_matter_id=r["law_firm_matter_id"],
            client_matter_id=r["client_matter_id"], matter_name=r["matter_name"],
            task_code=_u(r["line_item_task_code"]), activity_code=_u(r["line_item_activity_code"]),
            expense_code=_u(r["line_item_expense_code"]), timekeeper_id=r["timekeeper_id"],
            timekeeper_name=r["timekeeper_name"], timekeeper_last_name=r["timekeeper_last_name"],
            timekeeper_first_name=r["timekeeper_first_name"],
            timekeeper_classification=_u(r["timekeeper_classification"]), description=r["line_item_description"],
            tax_rate=_d(r["line_item_tax_rate"]), tax_total=_d(r["line_item_tax_total"]),
            tax_type=r["line_item_tax_type"], source_line=r["_line"],
        ))
    return list(out.values())
