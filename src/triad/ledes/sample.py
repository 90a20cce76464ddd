"""Seeded, realistic LEDES 1998B files for benchmarks, tests and demos (valid by construction)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from triad.ledes import utbms
from triad.ledes.fields import FIELDS_1998B, HEADER_1998B

_TASKS = [c for c in utbms.CODE_SETS["litigation"] if c[-2:] != "00"]
_ACTS = list(utbms.ACTIVITIES)
_EXPS = ["E101", "E105", "E106", "E107", "E108", "E109", "E110", "E112", "E115"]
_PEOPLE = [("Whitaker", "Ann", "PARTNR", 850), ("Osei", "Kwame", "PARTNR", 790), ("Lindgren", "Sara", "OFCNSL", 700),
           ("Nakamura", "Ken", "ASSOC", 520), ("Reyes", "Lucia", "ASSOC", 465), ("Novak", "Petra", "ASSOC", 410),
           ("Haddad", "Omar", "PARLGL", 240), ("Singh", "Asha", "PARLGL", 210), ("Moreau", "Luc", "LGLAST", 150)]
_WORDS = ["Review", "draft", "revise", "analyze", "correspondence", "re", "motion", "discovery", "deposition",
          "outline", "strategy", "client", "call", "with", "opposing", "counsel", "regarding", "production",
          "documents", "research", "case", "law", "memo", "prepare", "exhibits", "hearing", "witness"]


def generate_1998b(*, invoices: int, lines_per_invoice: int = 50, seed: int = 1998,
                   law_firm_id: str = "13-4924710", client_id: str = "TRIADCO", crlf: bool = False) -> bytes:
    """A valid 1998B file with ``invoices`` invoices of about ``lines_per_invoice`` lines each."""
    rng = random.Random(seed)
    out = [HEADER_1998B, "|".join(f.name for f in FIELDS_1998B) + "[]"]
    start = dt.date(2026, 1, 1)
    for n in range(invoices):
        period_start = start + dt.timedelta(days=30 * (n % 10))
        period_end = period_start + dt.timedelta(days=29)
        inv_date = (period_end + dt.timedelta(days=5)).strftime("%Y%m%d")
        number = f"INV{100000 + n}"
        matter = f"M-2026-{rng.randint(1, 40):04d}"
        firm_matter = f"HL-{10000 + n % 977}"
        k = max(1, lines_per_invoice + rng.randint(-5, 5))
        rows = []
        total = Decimal(0)
        for i in range(1, k + 1):
            day = (period_start + dt.timedelta(days=rng.randint(0, 29))).strftime("%Y%m%d")
            desc = " ".join(rng.choices(_WORDS, k=rng.randint(4, 12))).capitalize()
            if rng.random() < 0.85:
                person = rng.randrange(len(_PEOPLE))
                last, first, cls, rate = _PEOPLE[person]
                units = Decimal(rng.randint(1, 80)) / 10
                cost = Decimal(rate)
                adj = Decimal(0) if rng.random() < 0.9 else -Decimal(rng.randint(1, 50))
                line_total = units * cost + adj
                rows.append([inv_date, number, client_id, firm_matter, None, _d(period_start), _d(period_end),
                             "Legal services", str(i), "F", str(units), str(adj), f"{line_total:.2f}", day,
                             rng.choice(_TASKS), "", rng.choice(_ACTS), f"TK{person:03d}",
                             desc, law_firm_id, f"{cost:.2f}", f"{last}, {first}", cls, matter])
            else:
                units = Decimal(rng.randint(1, 200))
                cost = Decimal(rng.choice(["0.10", "0.15", "1.00", "12.50", "45.00"]))
                line_total = units * cost
                rows.append([inv_date, number, client_id, firm_matter, None, _d(period_start), _d(period_end),
                             "Legal services", str(i), "E", str(units), "0", f"{line_total:.2f}", day, "",
                             rng.choice(_EXPS), "", "", desc, law_firm_id, f"{cost:.2f}", "", "", matter])
            total += line_total
        for row in rows:
            row[4] = f"{total:.2f}"
            out.append("|".join(row) + "[]")
    eol = "\r\n" if crlf else "\n"
    return (eol.join(out) + eol).encode()


def _d(d: dt.date) -> str:
    return d.strftime("%Y%m%d")
