"""A corpus of at least 200 mutated payment files (truncated, bit-flipped, wrong namespace, not UTF-8,
entity bombs, huge, negative or overlong amounts) sent to the API: never a 5xx, and the business data
(payments, invoice states, state history, imported files, audit trail) is identical before and after
each. Only the sync-run log grows: refusals are recorded for monitoring, by design."""

from __future__ import annotations

import hashlib
import random

import pytest
import sqlalchemy as sa

from tests.factories import world as factories
from triad.ap.models import ImportedPaymentFile, Payment
from triad.audit.models import AuditEvent
from triad.invoices.models import Invoice, InvoiceStateChange

SEED = 20261126


@pytest.fixture
def w(db):
    return factories.world(db)


def _snapshot(db) -> str:
    """A digest of everything an import could change, except the sync-run log."""
    h = hashlib.sha256()
    for stmt in (sa.select(Payment.id, Payment.invoice_id, Payment.amount, Payment.status).order_by(Payment.id),
                 sa.select(Invoice.id, Invoice.state).order_by(Invoice.id),
                 sa.select(sa.func.count(InvoiceStateChange.id)),
                 sa.select(sa.func.count(ImportedPaymentFile.id)),
                 sa.select(sa.func.count(AuditEvent.id))):
        h.update(repr(db.execute(stmt).all()).encode())
    return h.hexdigest()


def _bases(inv_id: int, other_id: int) -> list[bytes]:
    """Valid-looking files whose entries all point at invoices that were never sent to AP (so even a
    mutation that still parses cannot be applied), plus one for an unknown end-to-end id."""
    csv_feed = ("invoice_id,payment_date,amount,currency,exchange_rate,payment_reference,status\n"
                f"{inv_id},2026-11-02,400.00,USD,,PAY-1,paid\n{other_id},2026-11-03,500.00,USD,1.0850,PAY-2,paid\n")
    pain002 = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>'
               '<GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-30T10:00:00</CreDtTm></GrpHdr>'
               '<OrgnlPmtInfAndSts><OrgnlPmtInfId>P</OrgnlPmtInfId><TxInfAndSts>'
               '<OrgnlEndToEndId>TRIAD-999999-1</OrgnlEndToEndId><TxSts>RJCT</TxSts></TxInfAndSts>'
               '</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>')
    camt = ('<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">'
            '<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>C-1</MsgId></GrpHdr><Ntfctn><Ntry>'
            '<Amt Ccy="USD">900.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><BookgDt><Dt>2026-11-30</Dt></BookgDt>'
            '<NtryDtls><TxDtls><Refs><EndToEndId>TRIAD-999998-1</EndToEndId></Refs></TxDtls></NtryDtls>'
            '</Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>')
    return [csv_feed.encode(), pain002.encode(), camt.encode()]


def _mutations(bases: list[bytes]) -> list[tuple[str, bytes]]:
    rng = random.Random(SEED)
    out: list[tuple[str, bytes]] = []
    for b in bases:
        for _ in range(25):
            out.append(("truncated", b[:rng.randrange(0, len(b))]))
        for _ in range(30):
            data = bytearray(b)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
            out.append(("bit-flipped", bytes(data)))
        for _ in range(5):
            i = rng.randrange(len(b))
            out.append(("not UTF-8", b[:i] + bytes([0xC3, 0x28, 0xFF]) + b[i:]))
    for ns in ("urn:iso:std:iso:20022:tech:xsd:pain.001.001.03", "urn:example:payments", ""):
        for b in bases[1:]:
            out.append(("wrong namespace", b.replace(b"urn:iso:std:iso:20022:tech:xsd:pain.002.001.03", ns.encode())
                        .replace(b"urn:iso:std:iso:20022:tech:xsd:camt.054.001.02", ns.encode())))
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">' +
            b"".join(b'<!ENTITY %s "%s">' % (f"e{i}".encode(), (f"&e{i - 1};" if i else "&a;").encode() * 10)
                     for i in range(12)) + b']><Document>&e11;</Document>')
    out += [("entity bomb", bomb),
            ("external entity", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                b"<Document>&x;</Document>"),
            ("parameter entity", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "http://example/x">%p;]>'
                                 b"<Document/>"),
            ("huge", b"invoice_id,payment_date,amount,currency,payment_reference,status\n"
                     + b"1,2026-11-02,1.00,USD,R,paid\n" * 200_000),
            ("huge cell", b"invoice_id,payment_date,amount,currency,payment_reference,status\n1,2026-11-02,"
                          + b"9" * 2_000_000 + b",USD,R,paid\n"),
            ("empty", b""), ("only a BOM", b"\xef\xbb\xbf"), ("binary", bytes(range(256)) * 10)]
    for amount in ("-400.00", "0.00", "1e9", "400.001", "99999999999999999999.00", "NaN", "Infinity", "4,00",
                   "400." + "0" * 400, " ", "+-1"):
        out.append(("bad amount", f"invoice_id,payment_date,amount,currency,payment_reference,status\n"
                                  f"1,2026-11-02,{amount},USD,R,paid\n".encode()))
    return out


def test_two_hundred_mutated_files_change_nothing_and_never_5xx(client, db, w):
    corpus = _mutations(_bases(w.a.invoice.id, w.b.invoice.id))
    assert len(corpus) >= 200
    headers = {"Authorization": f"Bearer {w.tokens['finance_ap']}"}
    kinds: dict[str, int] = {}
    for kind, data in corpus:
        before = _snapshot(db)
        r = client.post("/api/v1/ap/imports", headers=headers, files={"file": ("feed", data)})
        assert r.status_code < 500, f"{kind}: {r.status_code} {r.text[:300]}"
        assert r.status_code in (200, 413, 422), f"{kind}: {r.status_code}"
        db.expire_all()
        assert _snapshot(db) == before, f"{kind} changed the database: {r.text[:300]}"
        kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) >= {"truncated", "bit-flipped", "not UTF-8", "wrong namespace", "entity bomb", "huge",
                          "bad amount"}
