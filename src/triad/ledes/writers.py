"""Writing invoices as LEDES 1998B or 98BI, and converting between formats.

Conversion is lossless where the target can hold the data; where it cannot (tax and address
fields into 1998B, say) it stops with ``ConversionError`` naming what would be lost, unless
the caller explicitly accepts the loss.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields as dc_fields
from dataclasses import replace
from decimal import Decimal

from triad.ledes.fields import FIELDS_98BI, FIELDS_1998B, HEADER_1998B, HEADERS_98BI
from triad.ledes.model import Invoice, Line

TARGETS = ("1998b", "98bi", "xml2.1")


class ConversionError(ValueError):
    """The target format cannot hold some of the data (or lacks a required value)."""


def _d(v: dt.date | None) -> str:
    return v.strftime("%Y%m%d") if v else ""


def _n(v: Decimal | None) -> str:
    return "" if v is None else format(v, "f")


def _s(v: str | None) -> str:
    if v is None:
        return ""
    if "|" in v or "\n" in v or "\r" in v or "[]" in v:
        raise ConversionError(f"the text {v[:40]!r} contains '|', '[]' or a line break, which pipe formats cannot hold")
    return v


def _row_1998b(inv: Invoice, ln: Line) -> list[str]:
    return [_d(inv.invoice_date), _s(inv.invoice_number), _s(inv.client.id), _s(ln.law_firm_matter_id), _n(inv.total),
            _d(inv.billing_start), _d(inv.billing_end), _s(inv.description), _s(ln.line_no), _s(ln.line_type),
            _n(ln.units), _n(ln.adjustment), _n(ln.total), _d(ln.date), _s(ln.task_code), _s(ln.expense_code),
            _s(ln.activity_code), _s(ln.timekeeper_id), _s(ln.description), _s(inv.law_firm.id), _n(ln.unit_cost),
            _s(_tk_name(ln)), _s(ln.timekeeper_classification), _s(ln.client_matter_id)]


def _tk_name(ln: Line) -> str | None:
    if ln.timekeeper_name:
        return ln.timekeeper_name
    if ln.timekeeper_last_name:
        return f"{ln.timekeeper_last_name}, {ln.timekeeper_first_name or ''}".strip()
    return None


def write_1998b(invoices: list[Invoice]) -> bytes:
    rows = [HEADER_1998B, "|".join(f.name for f in FIELDS_1998B) + "[]"]
    for inv in invoices:
        for ln in inv.lines:
            rows.append("|".join(_row_1998b(inv, ln)) + "[]")
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def write_98bi(invoices: list[Invoice], *, header: str = HEADERS_98BI[0]) -> bytes:
    rows = [header, "|".join(f.name for f in FIELDS_98BI) + "[]"]
    for inv in invoices:
        if not inv.currency:
            raise ConversionError(f"invoice {inv.invoice_number} has no currency; LEDES 98BI requires "
                                  "INVOICE_CURRENCY (give one with --currency)")
        lf, cl = inv.law_firm, inv.client
        for ln in inv.lines:
            last, first = ln.timekeeper_last_name, ln.timekeeper_first_name
            if last is None and ln.timekeeper_name and "," in ln.timekeeper_name:
                last, first = (p.strip() for p in ln.timekeeper_name.split(",", 1))
            rows.append("|".join(_row_1998b(inv, ln) + [
                _s(inv.po_number), _s(cl.tax_id), _s(ln.matter_name), _n(inv.tax_total), _n(inv.net_total),
                _s(inv.currency), _s(last), _s(first), _s(inv.account_type), _s(lf.name), _s(lf.address_1),
                _s(lf.address_2), _s(lf.city), _s(lf.region), _s(lf.postcode), _s(lf.country), _s(cl.name),
                _s(cl.address_1), _s(cl.address_2), _s(cl.city), _s(cl.region), _s(cl.postcode), _s(cl.country),
                _n(ln.tax_rate), _n(ln.tax_total), _s(ln.tax_type), _n(inv.reported_tax_total), _s(inv.tax_currency),
            ]) + "[]")
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


# What 1998B cannot hold (everything 98BI and XML add), by the LEDES field name it has in 98BI.
_INVOICE_RICH = {"currency": "INVOICE_CURRENCY", "net_total": "INVOICE_NET_TOTAL", "tax_total": "INVOICE_TAX_TOTAL",
                 "reported_tax_total": "INVOICE_REPORTED_TAX_TOTAL", "tax_currency": "INVOICE_TAX_CURRENCY",
                 "po_number": "PO_NUMBER", "account_type": "ACCOUNT_TYPE"}
_PARTY_RICH = {"name": "NAME", "address_1": "ADDRESS_1", "address_2": "ADDRESS_2", "city": "CITY",
               "region": "STATEorREGION", "postcode": "POSTCODE", "country": "COUNTRY"}
_LINE_RICH = {"matter_name": "MATTER_NAME", "tax_rate": "LINE_ITEM_TAX_RATE", "tax_total": "LINE_ITEM_TAX_TOTAL",
              "tax_type": "LINE_ITEM_TAX_TYPE"}


def lost_in_1998b(invoices: list[Invoice]) -> list[str]:
    """Names of the fields that carry data 1998B cannot hold."""
    lost: set[str] = set()
    for inv in invoices:
        lost |= {name for attr, name in _INVOICE_RICH.items() if getattr(inv, attr) not in (None, "")}
        for prefix, party in (("LAW_FIRM", inv.law_firm), ("CLIENT", inv.client)):
            lost |= {f"{prefix}_{name}" for attr, name in _PARTY_RICH.items() if getattr(party, attr) not in (None, "")}
        if inv.client.tax_id:
            lost.add("CLIENT_TAX_ID")
        for ln in inv.lines:
            lost |= {name for attr, name in _LINE_RICH.items() if getattr(ln, attr) not in (None, "")}
    return sorted(lost)


def convert(invoices: list[Invoice], to: str, *, currency: str | None = None, allow_loss: bool = False) -> bytes:
    """Write ``invoices`` in the target format (``1998b``, ``98bi`` or ``xml2.1``)."""
    to = to.lower()
    if to not in TARGETS:
        raise ConversionError(f"unknown target {to!r}; choose one of {', '.join(TARGETS)}")
    if currency:
        for inv in invoices:
            if inv.currency and inv.currency != currency.upper():
                raise ConversionError(f"invoice {inv.invoice_number} is in {inv.currency}, not {currency.upper()}")
        invoices = [replace(inv, currency=currency.upper()) for inv in invoices]  # leave the caller's objects alone
    if to == "1998b":
        lost = lost_in_1998b(invoices)
        if lost and not allow_loss:
            raise ConversionError("LEDES 1998B cannot hold " + ", ".join(lost)
                                  + "; converting would lose them (use --allow-loss to accept)")
        return write_1998b(invoices)
    if to == "98bi":
        return write_98bi(invoices)
    from triad.ledes import xml

    try:
        return xml.write(invoices, version="2.1")
    except ValueError as exc:
        hint = " (give one with --currency)" if "currency" in str(exc).lower() else ""
        raise ConversionError(f"{exc}{hint}") from None


def same_invoices(a: list[Invoice], b: list[Invoice]) -> bool:
    """Equal in every field except the source line numbers (used by round-trip tests)."""
    def strip(invs: list[Invoice]) -> list:
        out = []
        for inv in invs:
            d = {f.name: getattr(inv, f.name) for f in dc_fields(inv) if f.name != "lines"}
            d["lines"] = [{f.name: getattr(ln, f.name) for f in dc_fields(ln) if f.name != "source_line"}
                          for ln in inv.lines]
            out.append(d)
        return out
    return strip(a) == strip(b)
