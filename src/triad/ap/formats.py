"""AP file formats, pure (no database): the export writers (CSV, JSON, ISO 20022 pain.001) and the
payment-confirmation readers (CSV reverse feed, pain.002 status reports, camt.054 notifications).

Readers return entries and problems; each problem names the file's line (or XML element), the field
and the reason, so a person can fix the file. XML is parsed with DTDs and entities refused
(defusedxml): an entity bomb or an external entity is a problem, never work.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple

from triad.core.money import CurrencyError, minor_units
from triad.core.money import currency as iso_currency

# ---------------------------------------------------------------- export


class ExportAllocation(NamedTuple):  # a tuple: an export makes one per allocation, hundreds of thousands
    matter_number: str
    cost_center: str
    gl_account: str
    amount: Decimal


@dataclass
class ExportInvoice:
    idempotency_key: str
    invoice_id: int
    invoice_number: str
    invoice_date: dt.date
    vendor_id: int
    vendor_name: str
    firm_name: str
    currency: str
    amount: Decimal
    business_unit: str
    allocations: list[ExportAllocation]
    bank: dict[str, str | None] = field(default_factory=dict)  # holder_name, iban, bic, account_number, routing


SINGLE_COLUMNS = ("batch_id", "idempotency_key", "invoice_id", "invoice_number", "invoice_date", "vendor_id",
                  "vendor_name", "firm_name", "business_unit", "currency", "amount", "allocation_count")
MULTI_COLUMNS = ("batch_id", "idempotency_key", "invoice_id", "invoice_number", "invoice_date", "vendor_id",
                 "vendor_name", "firm_name", "business_unit", "currency", "amount", "allocation_no", "matter_number",
                 "cost_center", "gl_account", "allocation_amount")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA) else cell


def _amount(value: Decimal, ccy: str) -> str:
    return format(value.quantize(Decimal(1).scaleb(-minor_units(ccy))), "f")


def write_csv(batch_id: str, invoices: list[ExportInvoice], *, layout: str = "single",
              columns: dict[str, str] | None = None) -> bytes:
    """One row per invoice (``single``) or per allocation (``multi``); ``columns`` renames headers.

    Written as text (decision 0030): the cells an invoice's rows share are rendered once, as CSV text,
    and each allocation's row appends only its own cells, themselves rendered once per distinct
    (matter, cost centre, GL account, amount). Rendering is what ``csv.writer`` writes: cells joined
    with commas, or, when a cell holds a comma, a quote or a line break, the writer itself renders
    them. Repeated texts (names, amounts) are neutralised and formatted once each."""
    names = SINGLE_COLUMNS if layout == "single" else MULTI_COLUMNS
    seen: dict[str, str] = {}

    def cell(text: str) -> str:  # repeated names (vendors, matters, cost centres...) neutralised once
        done = seen.get(text)
        if done is None:
            done = seen[text] = neutralise(text)
        return done

    amounts: dict[str, dict[Decimal, str]] = {}  # currency -> amount -> its cell (equal values, equal text)
    tails: dict[tuple[ExportAllocation, str], str] = {}  # (allocation, currency) -> its cells' text, line end
    batch = neutralise(batch_id)
    formula = _FORMULA
    parts: list[str] = [_csv_line([neutralise((columns or {}).get(c, c)) for c in names]) + "\r\n"]
    append = parts.append
    for inv in invoices:
        ccy = inv.currency
        texts = amounts.get(ccy)
        if texts is None:
            texts = amounts[ccy] = {}
        key, number = inv.idempotency_key, inv.invoice_number
        shared = _csv_line([batch, "'" + key if key.startswith(formula) else key, str(inv.invoice_id),
                            "'" + number if number.startswith(formula) else number,
                            inv.invoice_date.isoformat(), str(inv.vendor_id), cell(inv.vendor_name),
                            cell(inv.firm_name), cell(inv.business_unit), cell(ccy),
                            _money_cell(texts, inv.amount, ccy)])
        if layout == "single":
            append(f"{shared},{len(inv.allocations)}\r\n")
            continue
        for n, a in enumerate(inv.allocations, start=1):
            tail = tails.get((a, ccy))
            if tail is None:
                tail = tails[a, ccy] = _csv_line([cell(a[0]), cell(a[1]), cell(a[2]),
                                                  _money_cell(texts, a.amount, ccy)]) + "\r\n"
            append(f"{shared},{n},{tail}")
    return "".join(parts).encode("utf-8")


def _csv_line(cells: list[str]) -> str:
    """``cells`` as ``csv.writer`` (minimal quoting) writes them, without the line end: joined with commas
    when no cell holds a comma, a quote or a line break (nothing to quote), else by the writer itself."""
    text = ",".join(cells)
    if len(cells) < 2 or '"' in text or "\n" in text or "\r" in text or text.count(",") != len(cells) - 1:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(cells)
        text = out.getvalue()[:-2]
    return text


def _money_cell(texts: dict[Decimal, str], value: Decimal, ccy: str) -> str:
    """An amount's CSV cell (at the currency's minor units, neutralised), remembered in ``texts``."""
    text = texts.get(value)
    if text is None:
        text = texts[value] = neutralise(format(value.quantize(Decimal(1).scaleb(-minor_units(ccy))), "f"))
    return text


def write_json(batch: dict[str, Any], invoices: list[ExportInvoice]) -> bytes:
    """The batch and its invoices with their allocations (docs/schemas/ap-export.schema.json)."""
    doc = {"schema": "https://triad.example/schemas/ap-export/1", "batch": batch, "invoices": [
        {"idempotency_key": i.idempotency_key, "invoice_id": i.invoice_id, "invoice_number": i.invoice_number,
         "invoice_date": i.invoice_date.isoformat(), "vendor_id": i.vendor_id, "vendor_name": i.vendor_name,
         "firm_name": i.firm_name, "business_unit": i.business_unit, "currency": i.currency,
         "amount": _amount(i.amount, i.currency),
         "allocations": [{"matter_number": a.matter_number, "cost_center": a.cost_center, "gl_account": a.gl_account,
                          "amount": _amount(a.amount, i.currency)} for a in i.allocations]}
        for i in invoices]}
    return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")


PAIN001_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"


@lru_cache(maxsize=1)
def pain001_schema():
    """The pain.001.001.03 XSD shipped with the installed ``sepaxml`` package (not copied here)."""
    from importlib.resources import files

    from lxml import etree

    xsd = files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
    return etree.XMLSchema(etree.fromstring(xsd.read_bytes()))


def _text(s: str, n: int) -> str:
    """pain.001 text: the SEPA-safe Latin subset, cut to the field's length."""
    clean = re.sub(r"[^A-Za-z0-9/\-?:().,'+ ]", " ", s).strip() or "-"
    return clean[:n]


def write_pain001(msg_id: str, created: dt.datetime, debtor: dict[str, str], invoices: list[ExportInvoice],
                  execution_date: dt.date) -> bytes:
    """An ISO 20022 pain.001.001.03 credit-transfer initiation, one payment block per currency,
    validated against the XSD before it is returned (raises ValueError naming the schema problem)."""
    from lxml import etree

    ns = PAIN001_NS

    def el(parent, tag, text=None, **attrs):
        e = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
        if text is not None:
            e.text = text
        return e

    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    cst = el(root, "CstmrCdtTrfInitn")
    hdr = el(cst, "GrpHdr")
    el(hdr, "MsgId", msg_id[:35])
    el(hdr, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%S"))
    el(hdr, "NbOfTxs", str(len(invoices)))
    el(hdr, "CtrlSum", format(sum((i.amount for i in invoices), Decimal(0)), "f"))
    el(el(hdr, "InitgPty"), "Nm", _text(debtor["name"], 70))
    for n, ccy in enumerate(sorted({i.currency for i in invoices}), start=1):
        group = [i for i in invoices if i.currency == ccy]
        pmt = el(cst, "PmtInf")
        el(pmt, "PmtInfId", f"{msg_id[:30]}-{n}")
        el(pmt, "PmtMtd", "TRF")
        el(pmt, "NbOfTxs", str(len(group)))
        el(pmt, "CtrlSum", format(sum((i.amount for i in group), Decimal(0)), "f"))
        el(pmt, "ReqdExctnDt", execution_date.isoformat())
        el(el(pmt, "Dbtr"), "Nm", _text(debtor["name"], 70))
        el(el(el(pmt, "DbtrAcct"), "Id"), "IBAN", debtor["iban"])
        el(el(el(pmt, "DbtrAgt"), "FinInstnId"), "BIC", debtor["bic"])
        el(pmt, "ChrgBr", "SLEV" if ccy == "EUR" else "SHAR")
        for i in group:
            tx = el(pmt, "CdtTrfTxInf")
            el(el(tx, "PmtId"), "EndToEndId", i.idempotency_key)
            el(el(tx, "Amt"), "InstdAmt", _amount(i.amount, i.currency), Ccy=i.currency)
            if i.bank.get("bic"):
                el(el(el(tx, "CdtrAgt"), "FinInstnId"), "BIC", i.bank["bic"])
            elif i.bank.get("routing_number"):
                agent = el(el(tx, "CdtrAgt"), "FinInstnId")
                mmb = el(agent, "ClrSysMmbId")
                el(el(mmb, "ClrSysId"), "Cd", "USABA")
                el(mmb, "MmbId", i.bank["routing_number"])
            # an IBAN without a BIC: the agent is optional (IBAN-only SEPA transfers)
            el(el(tx, "Cdtr"), "Nm", _text(i.bank.get("holder_name") or i.vendor_name, 70))
            acct_id = el(el(tx, "CdtrAcct"), "Id")
            if i.bank.get("iban"):
                el(acct_id, "IBAN", i.bank["iban"])
            else:
                el(el(acct_id, "Othr"), "Id", i.bank.get("account_number") or "")
            el(el(tx, "RmtInf"), "Ustrd", _text(f"Invoice {i.invoice_number}", 140))
    schema = pain001_schema()
    if not schema.validate(root):
        raise ValueError(f"pain.001 does not validate: {schema.error_log.last_error}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------- payment confirmations


@dataclass
class Entry:
    """One confirmation, whatever the file: a payment, a rejection of a transfer, or a reversal."""

    line: int | str  # file line (CSV) or XML element path
    status: str  # paid, rejected, reversed
    entry_ref: str
    invoice_id: int | None = None
    invoice_number: str | None = None
    vendor_id: int | None = None
    end_to_end_id: str | None = None
    paid_on: dt.date | None = None
    amount: Decimal | None = None
    currency: str | None = None
    fx_rate: Decimal | None = None
    reference: str = ""
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (format(v, "f") if isinstance(v, Decimal) else v.isoformat() if isinstance(v, dt.date) else v)
                for k, v in d.items()}


@dataclass
class Feed:
    format: str
    message_id: str | None = None
    entries: list[Entry] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # {line, field, reason}


MAX_AMOUNT_DIGITS = 18  # ISO 20022 amounts: 18 digits in all


_AMOUNT = re.compile(r"\d{1,15}(\.\d{1,5})?")


def _money(raw: str, ccy: str | None) -> Decimal:
    if not _AMOUNT.fullmatch(raw.strip()):
        raise ValueError(f"{raw!r} is not a positive amount with at most 15 digits before the point")
    value = Decimal(raw.strip())
    if value <= 0:
        raise ValueError("the amount must be above zero")
    if ccy and -value.as_tuple().exponent > minor_units(ccy):
        raise ValueError(f"{raw!r} has more decimals than {ccy} allows")
    return value


CSV_FIELDS = ("invoice_id", "invoice_number", "vendor_id", "payment_date", "amount", "currency", "exchange_rate",
              "payment_reference", "status")
CSV_STATUSES = {"paid": "paid", "rejected": "rejected", "reversed": "reversed"}


def read_csv(data: bytes, filename: str) -> Feed:
    """The CSV reverse feed (columns in CSV_FIELDS; invoice_id, or invoice_number + vendor_id)."""
    feed = Feed("csv")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        feed.problems.append({"line": 1, "field": None, "reason": f"not UTF-8 text (byte {exc.start})"})
        return feed
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        feed.problems.append({"line": 1, "field": None, "reason": "empty file: expected a header row"})
        return feed
    header = [h.strip().lower() for h in header]
    missing = [f for f in ("payment_date", "amount", "currency", "payment_reference", "status") if f not in header]
    if "invoice_id" not in header and not {"invoice_number", "vendor_id"} <= set(header):
        missing.append("invoice_id (or invoice_number and vendor_id)")
    if missing:
        feed.problems.append({"line": 1, "field": None, "reason": f"missing column(s): {', '.join(missing)}"})
        return feed
    quick = _QuickRow(header)
    try:
        for n, raw in enumerate(rows, start=2):
            cells = [c.strip() for c in raw]
            if not any(cells):
                continue
            if len(cells) != len(header):
                feed.problems.append({"line": n, "field": None,
                                      "reason": f"{len(raw)} cells, the header has {len(header)}"})
                continue
            entry = quick.entry(n, cells)
            if entry is None:  # something is wrong with the row: the precise check names every problem
                entry = _csv_entry(n, dict(zip(header, cells, strict=True)), feed.problems)
            if entry:
                feed.entries.append(entry)
    except csv.Error as exc:
        feed.problems.append({"line": rows.line_num, "field": None, "reason": f"not valid CSV: {exc}"})
    if not feed.entries and not feed.problems:
        feed.problems.append({"line": 2, "field": None, "reason": "no payment rows after the header"})
    return feed


class _QuickRow:
    """The common case of ``_csv_entry`` without its per-row dict and checks (decision 0027): a row
    whose every field passes gives the very ``Entry`` ``_csv_entry`` gives; anything else gives None
    and the row goes through ``_csv_entry`` for its problems. Currencies, dates, amounts and rates
    repeat across a feed, so each distinct text is checked once."""

    def __init__(self, header: list[str]) -> None:
        where = {h: i for i, h in enumerate(header)}  # the last of repeated names, as a dict of the row keeps
        self.at = [where.get(f) for f in ("status", "invoice_id", "invoice_number", "vendor_id", "currency",
                                          "payment_date", "amount", "exchange_rate", "payment_reference")]
        self.currencies: dict[str, str | None] = {}
        self.dates: dict[str, dt.date | None] = {}
        self.amounts: dict[tuple[str, str], Decimal | None] = {}
        self.rates: dict[str, Decimal | None] = {}

    def entry(self, n: int, cells: list[str]) -> Entry | None:
        status, inv, number, vendor, ccy, day, amount, rate, ref = (
            "" if i is None else cells[i] for i in self.at)
        status = CSV_STATUSES.get(status.lower())
        if status is None or not ref or len(ref) > 100:
            return None
        inv_id = vendor_id = None
        if inv:
            if not (inv.isascii() and inv.isdigit()) or len(inv) > 12:
                return None
            inv_id = int(inv)
        elif not (number and vendor):
            return None
        if vendor:
            if not (vendor.isascii() and vendor.isdigit()) or len(vendor) > 12:
                return None
            vendor_id = int(vendor)
        code = self.currencies.get(ccy, "")
        if code == "":
            try:
                code = self.currencies[ccy] = iso_currency(ccy)
            except CurrencyError:
                code = self.currencies[ccy] = None
        paid_on = self.dates.get(day, "")
        if paid_on == "":
            try:
                paid_on = self.dates[day] = dt.date.fromisoformat(day)
            except ValueError:
                paid_on = self.dates[day] = None
        value = self.amounts.get((amount, code), "")
        if value == "":
            try:
                value = self.amounts[amount, code] = _money(amount, code)
            except ValueError:
                value = self.amounts[amount, code] = None
        fx = None
        if rate:
            fx = self.rates.get(rate, "")
            if fx == "":
                try:
                    fx = Decimal(rate)
                    if not fx.is_finite() or fx <= 0 or len(rate) > 30:
                        fx = None
                except InvalidOperation:
                    fx = None
                self.rates[rate] = fx
            if fx is None:
                return None
        if code is None or paid_on is None or value is None:
            return None
        who = f"id{inv_id}" if inv_id is not None else f"v{vendor_id}:{number}"
        return Entry(line=n, status=status, entry_ref=f"csv:{who}:{ref}:{status}"[:200], invoice_id=inv_id,
                     invoice_number=number or None, vendor_id=vendor_id, paid_on=paid_on, amount=value,
                     currency=code, fx_rate=fx, reference=ref)


def _csv_entry(n: int, row: dict[str, str], problems: list) -> Entry | None:
    before = len(problems)

    def bad(fld: str, reason: str) -> None:
        problems.append({"line": n, "field": fld, "reason": reason})

    status = CSV_STATUSES.get(row.get("status", "").lower())
    if status is None:
        bad("status", f"{row.get('status')!r} is not one of paid, rejected, reversed")
    inv_id = vendor_id = None
    if row.get("invoice_id"):
        if not (row["invoice_id"].isascii() and row["invoice_id"].isdigit()) or len(row["invoice_id"]) > 12:
            bad("invoice_id", f"{row['invoice_id']!r} is not an invoice id")
        else:
            inv_id = int(row["invoice_id"])
    elif not (row.get("invoice_number") and row.get("vendor_id")):
        bad("invoice_id", "give invoice_id, or invoice_number and vendor_id")
    if row.get("vendor_id"):
        if not (row["vendor_id"].isascii() and row["vendor_id"].isdigit()) or len(row["vendor_id"]) > 12:
            bad("vendor_id", f"{row['vendor_id']!r} is not a vendor id")
        else:
            vendor_id = int(row["vendor_id"])
    ccy = None
    try:
        ccy = iso_currency(row.get("currency", ""))
    except CurrencyError as exc:
        bad("currency", str(exc))
    try:
        paid_on = dt.date.fromisoformat(row.get("payment_date", ""))
    except ValueError:
        paid_on = None
        bad("payment_date", f"{row.get('payment_date')!r} is not a date (YYYY-MM-DD)")
    try:
        amount = _money(row.get("amount", ""), ccy)
    except ValueError as exc:
        amount = None
        bad("amount", str(exc))
    rate = None
    if row.get("exchange_rate"):
        try:
            rate = Decimal(row["exchange_rate"])
            if not rate.is_finite() or rate <= 0 or len(row["exchange_rate"]) > 30:
                raise InvalidOperation
        except InvalidOperation:
            bad("exchange_rate", f"{row['exchange_rate']!r} is not a positive rate")
    ref = row.get("payment_reference", "")
    if not ref or len(ref) > 100:
        bad("payment_reference", "required, at most 100 characters")
    if len(problems) > before:
        return None
    who = f"id{inv_id}" if inv_id is not None else f"v{vendor_id}:{row.get('invoice_number')}"
    # one transfer may pay several invoices under one reference: the entry is reference + invoice + status
    return Entry(line=n, status=status, entry_ref=f"csv:{who}:{ref}:{status}"[:200], invoice_id=inv_id,
                 invoice_number=row.get("invoice_number") or None, vendor_id=vendor_id, paid_on=paid_on,
                 amount=amount, currency=ccy, fx_rate=rate, reference=ref)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _ns(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def read_xml(data: bytes, filename: str) -> Feed:
    """pain.002 (payment status report) or camt.054 (debit notification), recognised by namespace."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    feed = Feed("xml")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        feed.problems.append({"line": 1, "field": None, "reason": f"refused: {type(exc).__name__} (DTDs and "
                                                                   "entities are not accepted)"})
        return feed
    except Exception as exc:  # noqa: BLE001 - ParseError and friends: say what the parser said
        feed.problems.append({"line": getattr(exc, "position", (1,))[0], "field": None,
                              "reason": f"not well-formed XML: {exc}"})
        return feed
    ns = _ns(root.tag)
    if _local(root.tag) != "Document" or not ns.startswith("urn:iso:std:iso:20022:tech:xsd:"):
        feed.problems.append({"line": 1, "field": "Document", "reason": f"not an ISO 20022 document (namespace "
                                                                        f"{ns or 'none'!r})"})
        return feed
    kind = ns.rsplit(":", 1)[-1]
    if kind.startswith("pain.002."):
        feed.format = "pain.002"
        _read_pain002(root, ns, feed)
    elif kind.startswith("camt.054."):
        feed.format = "camt.054"
        _read_camt054(root, ns, feed)
    else:
        feed.problems.append({"line": 1, "field": "Document", "reason": f"{kind} is not a payment status report "
                                                                        "(pain.002) or debit notification (camt.054)"})
    return feed


def _find(el, path: str, ns: str):
    return el.find("/".join(f"{{{ns}}}{p}" for p in path.split("/"))) if el is not None else None


def _t(el, path: str, ns: str) -> str | None:
    found = _find(el, path, ns)
    return found.text.strip() if found is not None and found.text else None


def _read_pain002(root, ns: str, feed: Feed) -> None:
    rpt = _find(root, "CstmrPmtStsRpt", ns)
    feed.message_id = _t(rpt, "GrpHdr/MsgId", ns)
    if not feed.message_id:
        feed.problems.append({"line": "GrpHdr/MsgId", "field": "MsgId", "reason": "missing"})
        return
    if len(feed.message_id) > 35:
        feed.problems.append({"line": "GrpHdr/MsgId", "field": "MsgId", "reason": "longer than the 35 characters "
                                                                                 "ISO 20022 allows"})
        return
    group_status = _t(rpt, "OrgnlGrpInfAndSts/GrpSts", ns)
    n = 0
    for pmt in rpt.findall(f"{{{ns}}}OrgnlPmtInfAndSts"):
        for tx in pmt.findall(f"{{{ns}}}TxInfAndSts"):
            n += 1
            where = f"OrgnlPmtInfAndSts/TxInfAndSts[{n}]"
            e2e = _t(tx, "OrgnlEndToEndId", ns)
            status = _t(tx, "TxSts", ns) or _t(pmt, "PmtInfSts", ns) or group_status
            if not e2e:
                feed.problems.append({"line": where, "field": "OrgnlEndToEndId", "reason": "missing"})
                continue
            if status == "RJCT":
                reason = _t(tx, "StsRsnInf/Rsn/Cd", ns) or _t(tx, "StsRsnInf/AddtlInf", ns) or "rejected by the bank"
                feed.entries.append(Entry(line=where, status="rejected", entry_ref=f"pain002:{e2e}:RJCT",
                                          end_to_end_id=e2e, reference=feed.message_id, reason=reason))
            elif status not in ("ACCP", "ACTC", "ACSP", "ACSC", "ACWC", "PDNG", "RCVD", None):
                feed.problems.append({"line": where, "field": "TxSts", "reason": f"unknown status {status!r}"})
            # accepted / pending statuses confirm receipt only: the money moves in camt.054 or the CSV feed


def _first(*elements):
    """The first element found (elements without children are falsy, so ``or`` would skip them)."""
    return next((e for e in elements if e is not None), None)


def _read_camt054(root, ns: str, feed: Feed) -> None:
    ntf = _find(root, "BkToCstmrDbtCdtNtfctn", ns)
    feed.message_id = _t(ntf, "GrpHdr/MsgId", ns)
    if not feed.message_id:
        feed.problems.append({"line": "GrpHdr/MsgId", "field": "MsgId", "reason": "missing"})
        return
    if len(feed.message_id) > 35:
        feed.problems.append({"line": "GrpHdr/MsgId", "field": "MsgId", "reason": "longer than the 35 characters "
                                                                                 "ISO 20022 allows"})
        return
    n = 0
    for note in ntf.findall(f"{{{ns}}}Ntfctn"):
        for ntry in note.findall(f"{{{ns}}}Ntry"):
            n += 1
            where = f"Ntfctn/Ntry[{n}]"
            if (_t(ntry, "CdtDbtInd", ns) or "") != "DBIT" and _t(ntry, "RvslInd", ns) != "true":
                continue  # money in: not a payment of ours
            reversal = _t(ntry, "RvslInd", ns) == "true"
            day = _t(ntry, "BookgDt/Dt", ns) or _t(ntry, "ValDt/Dt", ns)
            m = 0
            for tx in ntry.findall(f"{{{ns}}}NtryDtls/{{{ns}}}TxDtls"):
                m += 1
                at = f"{where}/NtryDtls/TxDtls[{m}]"
                e2e = _t(tx, "Refs/EndToEndId", ns)
                amt_el = _first(_find(tx, "AmtDtls/InstdAmt/Amt", ns), _find(tx, "Amt", ns),
                                _find(ntry, "Amt", ns) if m == 1 else None)
                problems = len(feed.problems)
                if not e2e or e2e == "NOTPROVIDED":
                    feed.problems.append({"line": at, "field": "EndToEndId", "reason": "missing"})
                ccy = amount = paid_on = None
                if amt_el is None:
                    feed.problems.append({"line": at, "field": "Amt", "reason": "missing"})
                else:
                    try:
                        ccy = iso_currency(amt_el.get("Ccy") or "")
                        amount = _money(amt_el.text or "", ccy)
                    except (CurrencyError, ValueError) as exc:
                        feed.problems.append({"line": at, "field": "Amt", "reason": str(exc)})
                try:
                    paid_on = dt.date.fromisoformat(day or "")
                except ValueError:
                    feed.problems.append({"line": where, "field": "BookgDt", "reason": f"{day!r} is not a date"})
                rate = _t(tx, "AmtDtls/TxAmt/CcyXchg/XchgRate", ns)
                if len(feed.problems) > problems:
                    continue
                ref = _t(ntry, "AcctSvcrRef", ns) or _t(tx, "Refs/AcctSvcrRef", ns) or feed.message_id
                status = "reversed" if reversal else "paid"
                feed.entries.append(Entry(line=at, status=status,
                                          entry_ref=f"camt054:{e2e}:{ref}:{status}"[:200],
                                          end_to_end_id=e2e, paid_on=paid_on, amount=amount, currency=ccy,
                                          fx_rate=Decimal(rate) if rate and re.fullmatch(r"\d{1,10}(\.\d{1,12})?",
                                                                                         rate) else None,
                                          reference=ref))


def read(data: bytes, filename: str) -> Feed:
    """Any supported payment-confirmation file, recognised by its content."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return read_xml(data, filename) if head == b"<" else read_csv(data, filename)
