"""LEDES XML 2.0/2.1/2.2 e-billing files, read into the same frame as the pipe formats.

``read`` turns every fee, expense and discount/credit segment into one row of the frame that
``pipe.read`` builds (``_line`` + the 52 LEDES 98BI columns), so ``checks.check`` serves every format
(see docs/decisions/0006-ledes-xml-mapping.md). In short:

* invoice: inv_id → INVOICE_NUMBER, inv_date → INVOICE_DATE, inv_start_date/inv_end_date → the billing
  period, inv_total_net_due → INVOICE_TOTAL; inv_desc, inv_currency, inv_tax_total, inv_net_total and
  po_number fill the fields of the same meaning;
* LAW_FIRM_ID is lf_tax_id, or lf_vendor_id when there is no tax id; firm and client names, tax ids and
  addresses fill the 98BI party fields;
* fee → F, expense → E; discount_amount (a reduction, written positive) becomes a negative adjustment;
  the timekeeper's name and level come from the matter's tksum (also spelled tk_sum);
* inv_disc_cred / matter_disc_cred → IF or IE (by disc_cred_type), with the signed amount as both the
  adjustment and the line total; invoice-level ones are booked to the invoice's first matter; an undated
  one is dated on the last day of the billing period.

Dates become YYYYMMDD, numbers stay text. Element names are matched case-insensitively and without
namespaces; elements Triad does not use are ignored. The version attribute is not needed: the elements
read here are common to 2.0, 2.1 and 2.2. Documents with a DOCTYPE are refused before parsing, so no
entity is ever expanded. ``write`` is the inverse.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import polars as pl
from lxml import etree

from triad.ledes.fields import ALL_COLUMNS
from triad.ledes.model import Invoice, Line, Party
from triad.ledes.problems import Problem, problem

ROOT = "ledesxmlebilling"
VERSIONS = ("2.0", "2.1", "2.2")
Row = dict[str, str | int | None]
Value = str | Decimal | dt.date | None

_ALIASES = {"tk_sum": "tksum"}
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_PROLOG = re.compile(rb"(?:\s|<\?.*?\?>|<!--.*?-->)*", re.S)  # XML declaration, comments, blanks
# XML address child → frame column suffix (law_firm_… / client_…) and Party attribute
_ADDRESS = (("address_1", "address_1", "address_1"), ("address_2", "address_2", "address_2"),
            ("city", "city", "city"), ("state_province", "stateorregion", "region"),
            ("zip_postal_code", "postcode", "postcode"), ("country", "country", "country"))
# the columns each line item sets itself; the rest come from its firm, client, invoice and matter
_LINE_COLUMNS = ("exp_fee_inv_adj_type", "line_item_number", "line_item_date", "line_item_task_code",
                 "line_item_activity_code", "line_item_expense_code", "line_item_description",
                 "line_item_number_of_units", "line_item_unit_cost", "line_item_adjustment_amount",
                 "line_item_tax_rate", "line_item_tax_total", "line_item_total", "timekeeper_id", "timekeeper_name",
                 "timekeeper_last_name", "timekeeper_first_name", "timekeeper_classification")
_SHARED_COLUMNS = tuple(c for c in ALL_COLUMNS if c not in _LINE_COLUMNS)


# ---------------------------------------------------------------- reading


def read(data: bytes) -> tuple[pl.DataFrame, list[Problem]]:
    """Parse LEDES XML (UTF-8 bytes, as ``pipe.decode`` returns them) into one row per line item."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    prolog = _PROLOG.match(data)
    start = prolog.end() if prolog else 0
    if data[start:start + 9].upper() == b"<!DOCTYPE":
        return _frame([], []), [_refused(data.count(b"\n", 0, start) + 1)]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True, encoding="utf-8")
    try:
        root = etree.fromstring(data, parser)  # hardened parser; a DOCTYPE was refused above
    except etree.XMLSyntaxError as exc:
        return _frame([], []), [problem("LEDES-009", exc.lineno or None, None, None,
                                        f"the XML is not well-formed: {exc.msg}")]
    if root.getroottree().docinfo.doctype:
        return _frame([], []), [_refused(1)]
    if not _name(root).startswith(ROOT):
        return _frame([], []), [problem("LEDES-010", root.sourceline, _name(root), None,
                                        f"the root element must be <{ROOT}>, not <{_name(root)}>")]
    reader = _Reader()
    for firm in _children(root, "firm"):
        reader.firm(firm)
    if not reader.lines:
        reader.problems.append(problem("LEDES-011", None, None, None, "the file has no invoice lines"))
    return _frame(reader.lines, reader.contexts), reader.problems


class _Reader:
    """Walks firm → client → invoice → matter, collecting frame rows and structural problems."""

    def __init__(self) -> None:
        self.lines: list[Row] = []  # the line's own columns, and _ctx: the index of its context
        self.contexts: list[Row] = []  # the firm, client, invoice and matter columns its lines share
        self.problems: list[Problem] = []

    def _context(self, row: Row) -> int:
        self.contexts.append(row)
        return len(self.contexts) - 1

    def _missing(self, el: etree._Element, name: str, message: str) -> None:
        self.problems.append(problem("LEDES-010", el.sourceline, name, None, message))

    def firm(self, el: etree._Element) -> None:
        v = _values(el)
        base: Row = {"law_firm_id": v.get("lf_tax_id") or v.get("lf_vendor_id"), "law_firm_name": v.get("lf_name"),
                     **_address(el, "lf_address", "law_firm")}
        for client in _children(el, "client"):
            v = _values(client)
            row: Row = {**base, "client_id": v.get("cl_id"), "client_name": v.get("cl_name"),
                        "client_tax_id": v.get("cl_tax_id"), **_address(client, "cl_address", "client")}
            for invoice in _children(client, "invoice"):
                self.invoice(invoice, row)

    def invoice(self, el: etree._Element, client: Row) -> None:
        v = _values(el)
        for name in ("inv_id", "inv_date"):
            if v.get(name) is None:
                self._missing(el, name, f"the invoice has no <{name}>")
        matters = _children(el, "matter")
        if not matters:
            self._missing(el, "matter", f"invoice {v.get('inv_id') or '?'} has no <matter>")
        base: Row = {**client, "invoice_number": v.get("inv_id"), "invoice_date": _date(v.get("inv_date")),
                     "billing_start_date": _date(v.get("inv_start_date")),
                     "billing_end_date": _date(v.get("inv_end_date")), "invoice_description": v.get("inv_desc"),
                     "invoice_total": v.get("inv_total_net_due"), "invoice_currency": v.get("inv_currency"),
                     "invoice_tax_total": v.get("inv_tax_total"), "invoice_net_total": v.get("inv_net_total"),
                     "po_number": v.get("po_number")}
        # an undated discount is dated at the end of the billing period (the invoice date usually
        # lies after it, which the shared check LEDES-036 would report)
        default_date = base["billing_end_date"] or base["invoice_date"]
        first_matter: int | None = None
        for child in _kids(el):
            name = _name(child)
            if name == "inv_disc_cred":
                if first_matter is None:
                    first_matter = self._context({**base, **(_matter_fields(matters[0]) if matters else {})})
                self.lines.append(self.disc(child, first_matter, default_date))
            elif name == "matter":
                self.matter(child, base, default_date)

    def matter(self, el: etree._Element, invoice: Row, default_date: str | int | None) -> None:
        ctx = self._context({**invoice, **_matter_fields(el)})
        people: dict[str | None, dict[str, str | None]] = {}
        for tk in _children(el, "tksum"):
            values = _values(tk)
            people.setdefault(values.get("tk_id"), values)
        items = 0
        for child in _kids(el):
            name = _name(child)
            if name in ("fee", "expense"):
                self.lines.append(self.item(child, name, ctx, people))
            elif name == "matter_disc_cred":
                self.lines.append(self.disc(child, ctx, default_date))
            else:
                continue
            items += 1
        if not items:
            matter_id = self.contexts[ctx]["law_firm_matter_id"] or "?"
            self._missing(el, "matter", f"matter {matter_id} has no <fee>, <expense> or <matter_disc_cred>")

    def item(self, el: etree._Element, kind: str, ctx: int, people: dict) -> Row:
        v = _values(el)
        if v.get("total_amount") is None:
            self._missing(el, "total_amount", f"the <{kind}> has no <total_amount>")
        tk = people.get(v.get("tk_id"), {}) if v.get("tk_id") else {}
        last, first = tk.get("tk_lname"), tk.get("tk_fname")
        return {"_ctx": ctx, "_line": el.sourceline, "exp_fee_inv_adj_type": "F" if kind == "fee" else "E",
                "line_item_number": v.get("fee_id" if kind == "fee" else "exp_id"),
                "line_item_date": _date(v.get("charge_date")), "line_item_task_code": v.get("acca_task"),
                "line_item_activity_code": v.get("acca_activity"), "line_item_expense_code": v.get("acca_expense"),
                "line_item_description": v.get("charge_desc"), "line_item_number_of_units": v.get("units"),
                "line_item_unit_cost": v.get("rate"), "line_item_adjustment_amount": _negated(v.get("discount_amount")),
                "line_item_tax_rate": v.get("tax_rate"), "line_item_tax_total": v.get("tax_on_charge"),
                "line_item_total": v.get("total_amount"), "timekeeper_id": v.get("tk_id"),
                "timekeeper_name": ", ".join(p for p in (last, first) if p) or None,
                "timekeeper_last_name": last, "timekeeper_first_name": first,
                "timekeeper_classification": tk.get("tk_level")}

    def disc(self, el: etree._Element, ctx: int, default_date: str | int | None) -> Row:
        v = _values(el)
        kind = (v.get("disc_cred_type") or "fee").lower()
        if kind not in ("fee", "expense", "exp"):
            self._missing(el, "disc_cred_type", f"disc_cred_type {v.get('disc_cred_type')!r} must be fee or expense")
        amount = v.get("disc_cred_amount")
        if amount is None:
            self._missing(el, "disc_cred_amount", f"the <{_name(el)}> has no <disc_cred_amount>")
        return {"_ctx": ctx, "_line": el.sourceline, "exp_fee_inv_adj_type": "IE" if kind.startswith("exp") else "IF",
                "line_item_number": v.get("disc_cred_id"),
                "line_item_date": _date(v.get("disc_cred_date")) or default_date,
                "line_item_description": v.get("disc_cred_desc"),
                "line_item_adjustment_amount": amount, "line_item_total": amount}


def _name(el: etree._Element) -> str:
    """Local name, lower-cased, without namespace; ``tk_sum`` is read as ``tksum``."""
    return _local(el.tag)


@lru_cache(maxsize=512)
def _local(tag: str) -> str:
    name = tag.rsplit("}", 1)[-1].lower()
    return _ALIASES.get(name, name)


def _kids(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in _kids(el) if _name(c) == name]


def _values(el: etree._Element) -> dict[str, str | None]:
    """The text of each leaf child (first one of each name), stripped; None when empty."""
    out: dict[str, str | None] = {}
    for c in el:
        if isinstance(c.tag, str) and not len(c):  # comments and PIs were removed by the parser
            out.setdefault(_local(c.tag), (c.text or "").strip() or None)
    return out


def _address(el: etree._Element, tag: str, prefix: str) -> Row:
    boxes = _children(el, tag)
    v = _values(boxes[0]) if boxes else {}
    return {f"{prefix}_{col}": v.get(name) for name, col, _ in _ADDRESS}


def _matter_fields(el: etree._Element) -> Row:
    v = _values(el)
    return {"law_firm_matter_id": v.get("lf_matter_id"), "client_matter_id": v.get("cl_matter_id"),
            "matter_name": v.get("matter_name")}


def _date(v: str | None) -> str | None:
    """YYYY-MM-DD (optionally with a time zone) → YYYYMMDD; anything else unchanged, for LEDES-022."""
    m = _ISO_DATE.fullmatch(v) if v else None
    return m[1] + m[2] + m[3] if m else v


def _negated(v: str | None) -> str | None:
    """A discount (a positive reduction) as a signed adjustment; non-numbers unchanged, for LEDES-023."""
    if v is None or not _NUMBER.fullmatch(v):
        return v
    digits = v.lstrip("+-")
    return digits if v.startswith("-") or Decimal(digits) == 0 else "-" + digits


def _refused(line: int) -> Problem:
    return problem("LEDES-009", line, None, "<!DOCTYPE", "the XML has a DOCTYPE; DTDs and entities are refused")


def _frame(lines: list[Row], contexts: list[Row]) -> pl.DataFrame:
    """The frame ``pipe.read`` builds: each line's own columns next to the columns of its context."""
    own = pl.DataFrame({c: [r.get(c) for r in lines] for c in ("_line", *_LINE_COLUMNS)},
                       schema={"_line": pl.Int64, **{c: pl.String for c in _LINE_COLUMNS}})
    shared = pl.DataFrame({c: [r.get(c) for r in contexts] for c in _SHARED_COLUMNS},
                          schema=dict.fromkeys(_SHARED_COLUMNS, pl.String))
    index = pl.Series([r["_ctx"] for r in lines], dtype=pl.UInt32)
    return pl.concat([own, shared.select(pl.all().gather(index))], how="horizontal").select("_line", *ALL_COLUMNS)


# ---------------------------------------------------------------- writing


def write(invoices: list[Invoice], version: str = "2.1") -> bytes:
    """LEDES XML: invoices grouped by law firm, then client; a matter's tksums, fees, expenses and
    discounts/credits (IF/IE lines) follow one another, each kind in the order of the lines.
    Raises ValueError when the XML cannot hold an invoice (no currency, a line type other than F, E, IF or IE)."""
    if version not in VERSIONS:
        raise ValueError(f"LEDES XML version {version!r} is not one of {', '.join(VERSIONS)}")
    root = etree.Element(ROOT, lxnsversion=version)
    firms: dict[str | None, tuple[etree._Element, dict[str | None, etree._Element]]] = {}
    for inv in invoices:
        if not inv.currency:
            raise ValueError(f"invoice {inv.invoice_number} has no currency; LEDES XML requires inv_currency")
        lf, cl = inv.law_firm, inv.client
        if lf.id not in firms:
            firm = etree.SubElement(root, "firm")
            _leaves(firm, lf_vendor_id=lf.id, lf_tax_id=lf.tax_id, lf_name=lf.name)
            _write_address(firm, "lf_address", lf)
            firms[lf.id] = (firm, {})
        firm, clients = firms[lf.id]
        if cl.id not in clients:
            client = clients[cl.id] = etree.SubElement(firm, "client")
            _leaves(client, cl_id=cl.id, cl_name=cl.name, cl_tax_id=cl.tax_id)
            _write_address(client, "cl_address", cl)
        _write_invoice(etree.SubElement(clients[cl.id], "invoice"), inv)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8", xml_declaration=False,
                                                                        pretty_print=True)


def _write_invoice(el: etree._Element, inv: Invoice) -> None:
    _leaves(el, inv_id=inv.invoice_number, inv_date=inv.invoice_date, inv_currency=inv.currency,
            inv_desc=inv.description, inv_start_date=inv.billing_start, inv_end_date=inv.billing_end,
            inv_total_net_due=inv.total, inv_tax_total=inv.tax_total, inv_net_total=inv.net_total,
            po_number=inv.po_number)
    matters: dict[tuple[str | None, str | None], list[Line]] = {}
    for ln in inv.lines:
        if ln.line_type not in ("F", "E", "IF", "IE"):
            raise ValueError(f"invoice {inv.invoice_number} line {ln.line_no} has type {ln.line_type!r}; "
                             "LEDES XML holds F, E, IF and IE lines")
        matters.setdefault((ln.law_firm_matter_id, ln.client_matter_id), []).append(ln)
    for (lf_matter, cl_matter), lines in matters.items():
        matter = etree.SubElement(el, "matter")
        _leaves(matter, lf_matter_id=lf_matter, cl_matter_id=cl_matter, matter_name=lines[0].matter_name)
        _write_tksums(matter, lines)
        # the element kinds in schema order; each keeps the lines' order
        for ln in [ln for ln in lines if ln.line_type == "F"] + [ln for ln in lines if ln.line_type == "E"]:
            fee = ln.line_type == "F"
            base = _cents(ln.units * ln.unit_cost) if ln.units is not None and ln.unit_cost is not None else None
            item = etree.SubElement(matter, "fee" if fee else "expense")
            _leaves(item, **{"fee_id" if fee else "exp_id": ln.line_no}, tk_id=ln.timekeeper_id, charge_date=ln.date,
                    acca_task=ln.task_code, acca_activity=ln.activity_code, acca_expense=ln.expense_code,
                    charge_desc=ln.description, units=ln.units, rate=ln.unit_cost, base_amount=base,
                    discount_amount=None if ln.adjustment is None else ln.adjustment.copy_negate(),
                    tax_rate=ln.tax_rate, tax_on_charge=ln.tax_total, total_amount=ln.total)
        for ln in lines:
            if ln.line_type in ("IF", "IE"):
                _leaves(etree.SubElement(matter, "matter_disc_cred"), disc_cred_id=ln.line_no,
                        disc_cred_type="fee" if ln.line_type == "IF" else "expense", disc_cred_date=ln.date,
                        disc_cred_amount=ln.total, disc_cred_desc=ln.description)


def _write_tksums(matter: etree._Element, lines: list[Line]) -> None:
    """One tksum per timekeeper of the matter; tk_rate is the unit cost of their first fee line."""
    people: dict[str, list[Line]] = {}
    for ln in lines:
        if ln.timekeeper_id and ln.line_type in ("F", "E"):
            people.setdefault(ln.timekeeper_id, []).append(ln)
    for tk_id, own in people.items():
        ln = own[0]
        last, first = ln.timekeeper_last_name, ln.timekeeper_first_name
        if last is None and first is None and ln.timekeeper_name:
            last, _, first = (p.strip() for p in ln.timekeeper_name.partition(","))
        rate = next((x.unit_cost for x in own if x.line_type == "F"), None)
        _leaves(etree.SubElement(matter, "tksum"), tk_id=tk_id, tk_lname=last or None, tk_fname=first or None,
                tk_level=ln.timekeeper_classification, tk_rate=rate)


def _cents(d: Decimal) -> Decimal:
    """d with two decimal places when that is exact (1.5 x 300.00 is written 450.00, not 450.000)."""
    try:
        cents = d.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than the decimal context holds
        return d
    return cents if cents == d else d


def _write_address(parent: etree._Element, tag: str, party: Party) -> None:
    values = {name: getattr(party, attr) for name, _, attr in _ADDRESS}
    if any(v is not None for v in values.values()):
        _leaves(etree.SubElement(parent, tag), **values)


def _leaves(parent: etree._Element, **values: Value) -> None:
    """One child element per value, in the order given; None is left out."""
    for tag, v in values.items():
        if v is None:
            continue
        text = format(v, "f") if isinstance(v, Decimal) else v.isoformat() if isinstance(v, dt.date) else v
        etree.SubElement(parent, tag).text = text
