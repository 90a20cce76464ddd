"""The pre-filtered batch runner (``runner.evaluate_many``) finds exactly what running every rule
on every line finds (``runner.evaluate``): same findings, same order, for varied seeded invoices,
settings, guideline versions and contexts. A pre-filter that hid a finding would fail here."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from triad.guidelines.model import ApprovedRate, Context, EarlierLine, History, InvoiceView, LineView, Version
from triad.guidelines.runner import evaluate, evaluate_many
from triad.guidelines.schema import load_text, validate_document

D = Decimal
EXAMPLE = Path(__file__).parent.parent.parent / "docs" / "examples" / "guidelines-company.yaml"
BASE = dt.date(2025, 12, 20)

UNITS = ["0.1", "0.25", "1.0", "1", "2.5", "0.05", "7.5", "8.0", "10", "10.5", "12", "0", "-1.0", "0.30",
         "6.000001", "0.2"]
RATES = ["950.00", "950.01", "951", "175.00", "176", "500", "650.00", "0.10", "0.11", "0.25", "0.26", "12.50",
         "2500"]
ODD_NUMBERS = ["3.3333333", "1E+1", "1234567890123.5"]  # more digits than the frame holds exactly
TASKS = ["L110", "L160", "", None, "L120"]
ACTS = ["A101", "A103", "", None]
EXPS = ["E101", "E102", "E110", "E111", "E106", "", None]
TKS = ["TK1", "TK2", "TK3", "TK4", "TK5", "", None]
CLS = ["PARTNR", "ASSOC", "LGLAST", "PARLGL", "OFCNSL", None]
WORDS = ["review", "draft", "motion", "discovery", "client", "call", "with", "opposing", "counsel", "memo",
         "research", "strategy", "deposition", "exhibits", "hearing"]
PIECES = ["photocopy exhibits", "Calendar deadlines", "internal conference re strategy", "TEAM MEETING",
          "confer with partner", "travel to court", "Travel", "overtime meal", "office supplies", "various",
          "follow up", "review file", "attention to file.", "work on file", "general research", "bates label",
          "; draft reply", " / call client", ";", "Réunion interne", "İnternal conference", "ΟΔΟΙΠΟΡΙΚΑ",
          "\x1cfollow up", "  case management  ", "Meal", "scan documents", "x", "", "index documents / prepare binder"]


def _description(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 3)):
        if rng.random() < 0.5:
            parts.append(" ".join(rng.choices(WORDS, k=rng.randint(1, 6))))
        else:
            parts.append(rng.choice(PIECES))
    return rng.choice([" ", "; ", " "]).join(parts)


def _invoice(rng: random.Random, n: int) -> InvoiceView:
    start = BASE + dt.timedelta(days=rng.randint(0, 20))
    lines: list[LineView] = []
    for i in range(1, rng.randint(0, 14) + 1):
        if lines and rng.random() < 0.12:  # a line billed twice in the same invoice
            ln = rng.choice(lines)
            lines.append(LineView(i, ln.line_type, ln.date, ln.units, ln.unit_cost, ln.total, ln.adjustment,
                                  ln.timekeeper_id, ln.classification, ln.task_code, ln.activity_code,
                                  ln.expense_code, ln.description.upper() if rng.random() < 0.5 else ln.description,
                                  i + 2))
            continue
        kind = rng.choices(["F", "E", "IF", "IE"], weights=[70, 22, 4, 4])[0]
        units, rate = D(rng.choice(UNITS)), D(rng.choice(RATES))
        if rng.random() < 0.01:  # such an invoice is screened line by line
            units = D(rng.choice(ODD_NUMBERS))
        total = units * rate if rng.random() < 0.8 else (units * rate * D("0.5")).quantize(D("0.01"))
        if rng.random() < 0.05:
            total = -total
        day = (dt.date(2024, 5, 1) if rng.random() < 0.03 else start + dt.timedelta(days=rng.randint(-100, 25)))
        lines.append(LineView(
            line_no=i, line_type=kind, date=day, units=units, unit_cost=rate, total=total,
            timekeeper_id=rng.choice(TKS) if kind in ("F", "IF") or rng.random() < 0.1 else None,
            classification=rng.choice(CLS), task_code=rng.choice(TASKS), activity_code=rng.choice(ACTS),
            expense_code=rng.choice(EXPS) if kind in ("E", "IE") or rng.random() < 0.05 else None,
            description=_description(rng), source_line=i + 2))
    inv_date = start + dt.timedelta(days=rng.choice([5, 40, 95, 200]))
    end = start + dt.timedelta(days=rng.choice([10, 29, 45]))
    return InvoiceView(f"INV-{n}", inv_date, start, end, rng.choice(["USD", "USD", "EUR"]),
                       sum((ln.total for ln in lines), D(0)), tuple(lines))


def _context(rng: random.Random, invoices: list[InvoiceView]) -> Context:
    rates = []
    for tk in ("TK1", "TK2", "TK3"):
        rates.append(ApprovedRate(tk, D(rng.choice(["500", "650.00", "950"])), "USD", dt.date(2025, 1, 1),
                                  dt.date(2025, 12, 31) if tk == "TK2" else None))
    rates.append(ApprovedRate("TK2", D("700"), "USD", dt.date(2026, 1, 10)))  # a gap from Jan 1 to 9
    rates.append(ApprovedRate("TK3", D("900"), "USD", dt.date(2026, 1, 5)))
    earlier = []
    for inv in invoices[:: 3]:
        for ln in inv.lines[:: 2]:  # some lines of this batch were billed before, some only look alike
            desc = ln.description if rng.random() < 0.6 else ln.description + " again"
            earlier.append(EarlierLine(rng.choice(["OLD-1", "OLD-2", inv.invoice_number]), ln.date, ln.timekeeper_id,
                                       ln.units, ln.total, desc, ln.line_type, ln.expense_code))
    earlier.append(EarlierLine("OLD-3", BASE, "TK1", D("11.5"), D("5750"), "Trial preparation", "F", None))
    return Context(
        engagement_currency="USD", approved_rates=tuple(rates) if rng.random() < 0.7 else (),
        approved_timekeepers=rng.choice([None, frozenset({"TK1", "TK2"})]),
        known_timekeepers=rng.choice([frozenset(), frozenset({"TK1", "TK4"})]),
        history=History(earlier) if rng.random() < 0.7 else History(), fiscal_year_start_month=rng.choice([1, 7]))


DEFAULTS = {rule: {} for rule in validate_document(load_text(EXAMPLE.read_text())).rules}
ODD = {
    "billing_increment": {"increment": "0.25"}, "block_billing": {"max_tasks": 0, "min_units": "2.5"},
    "vague_description": {"min_words": 5, "phrases": ["Call", "review", ""]},
    "clerical_work": {"keywords": ["photocopy", "Calendar"], "classifications": ["PARTNR", "PARLGL"]},
    "internal_conference": {"max_attendees": 1, "keywords": ["conference", "réunion"]},
    "travel_time": {"keywords": ["travel", "ΟΔΟΙΠΟΡΙΚΑ"], "allowed_share": "0.75"},
    "units_per_entry": {"min_units": "0.2", "max_units": "8.000001"},
    "daily_hours": {"max_hours": "7.5"}, "expense_caps": {"per_unit": {"E101": "0.1", "E106": "0.000001"},
                                                          "per_invoice": {"E110": "10", "E102": "0.123456"}},
    "rate_cap": {"by_timekeeper": {"TK1": "500", "TK5": "0.10"}, "by_classification": {"ASSOC": "175.005"}},
    "codes": {"prohibited_activities": ["A103"], "prohibited_expenses": ["E106"], "require_task": True},
    "approved_rate": {"require_approved_rate": False}, "duplicate_lines": {"against_history": False},
    "submission_window": {"max_days_after_work": 30, "single_month": False},
    "expense_not_allowed": {"codes": ["E106"], "keywords": ["MEAL", "Supplies"]},
}
BROKEN = {"billing_increment": {"increment": "0"}, "block_billing": {"separators": ["", ";"]}}


def _versions(kind: str) -> list[Version]:
    example = validate_document(load_text(EXAMPLE.read_text())).rules
    if kind == "example":
        return [Version("company v1", dt.date(2025, 1, 1), None, example)]
    if kind == "two":
        odd = {**example, **{k: {**example.get(k, {}), **v} for k, v in ODD.items()}}
        return [Version("v1", dt.date(2025, 6, 1), dt.date(2025, 12, 31), example),
                Version("v2", dt.date(2026, 1, 1), None, odd)]
    if kind == "defaults":
        return [Version("defaults", dt.date(2025, 1, 1), None, DEFAULTS)]
    return [Version("broken", dt.date(2025, 1, 1), dt.date(2026, 1, 1), {**DEFAULTS, **BROKEN}),
            Version("after", dt.date(2026, 1, 2), None, {"rate_cap": {"enabled": False}, "vague_description": {}})]


@pytest.mark.parametrize("kind", ["example", "two", "defaults", "broken"])
@pytest.mark.parametrize("seed", range(6))
def test_prefiltered_batch_finds_exactly_what_every_rule_on_every_line_finds(kind, seed):
    rng = random.Random(seed * 31 + len(kind))
    invoices = [_invoice(rng, n) for n in range(60)]
    ctx = _context(rng, invoices)
    versions = _versions(kind)
    expected = [evaluate(inv, ctx, versions) for inv in invoices]
    assert sum(map(len, expected)) > 0
    got = evaluate_many(invoices, ctx, versions)
    for inv, want, have in zip(invoices, expected, got, strict=True):
        assert have == want, inv.invoice_number


def test_the_batch_skips_lines_no_rule_could_report_on():
    """Not a timing: the pre-filters do leave most rules' lines out (else the batch saves nothing)."""
    import polars as pl

    from triad.guidelines.frame import lines_frame
    from triad.guidelines.registry import rules

    rng = random.Random(7)
    invoices = [_invoice(rng, n) for n in range(40)]
    frame, _ = lines_frame(invoices)
    version = _versions("example")[0]
    spec = rules()["vague_description"]
    mask = frame.select(spec.prefilter(frame, version.settings(spec.id, spec.settings), Context())).to_series()
    assert 0 < mask.sum() < frame.filter(pl.col("type") == "F").height


def test_empty_batch_and_invoice_without_lines():
    versions = _versions("example")
    empty = InvoiceView("E-1", dt.date(2026, 2, 1), dt.date(2025, 12, 1), dt.date(2026, 1, 31), "EUR", D(0), ())
    assert evaluate_many([], Context(), versions) == []
    assert evaluate_many([empty], Context(engagement_currency="USD"), versions) == [
        evaluate(empty, Context(engagement_currency="USD"), versions)]


def test_any_of_matches_exactly_what_python_in_finds():
    """The text pre-filters search a regex alternation of literal words (``frame.any_of``): every
    word must match as plain text, punctuation and regex meta characters included."""
    import string

    import polars as pl

    from triad.guidelines.frame import any_of

    rng = random.Random(11)
    alphabet = string.printable + "éİΟ中\x1c"
    for _ in range(300):
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 6))]
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(60)]
        texts += [t + w + t for t, w in zip(texts, words * 10, strict=False)]
        got = pl.Series(texts, dtype=pl.String).str.contains(any_of(words)).to_list()
        assert got == [any(w in t for w in words) for t in texts], words


def _mutated_file(seed: int) -> bytes:
    """A seeded 1998B file with its records shuffled (invoices interleaved) and odd texts: amounts
    with "+" or leading zeros or in exponent form, lower-case codes, empty units, long descriptions."""
    from triad.ledes.sample import generate_1998b

    rng = random.Random(seed)
    data = generate_1998b(invoices=25, lines_per_invoice=12, seed=seed).decode()
    head, *records = data.strip("\n").split("\n")
    names = records[0]
    fields = names.removesuffix("[]").split("|")
    at = {f: i for i, f in enumerate(fields)}
    body = []
    for rec in records[1:]:
        v = rec.removesuffix("[]").split("|")
        roll = rng.random()
        if roll < 0.05:
            v[at["LINE_ITEM_NUMBER_OF_UNITS"]] = "+" + v[at["LINE_ITEM_NUMBER_OF_UNITS"]]
        elif roll < 0.08:
            v[at["LINE_ITEM_UNIT_COST"]] = "00" + v[at["LINE_ITEM_UNIT_COST"]]
        elif roll < 0.10:
            v[at["LINE_ITEM_NUMBER_OF_UNITS"]] = "1E+1"
        elif roll < 0.12:
            v[at["LINE_ITEM_TASK_CODE"]] = v[at["LINE_ITEM_TASK_CODE"]].lower()
        elif roll < 0.14:
            v[at["LINE_ITEM_NUMBER_OF_UNITS"]] = ""
        elif roll < 0.18:
            v[at["LINE_ITEM_DESCRIPTION"]] = rng.choice(["various", "travel to court", "photocopy exhibits; call",
                                                         "overtime meal", "x", ""])
        body.append("|".join(v) + "[]")
    rng.shuffle(body)
    return ("\n".join([head, names, *body]) + "\n").encode()


@pytest.mark.parametrize("seed", range(4))
def test_columns_from_the_ledes_frame_give_the_same_findings(seed):
    """``frame.ledes_columns`` (the rules' frame read straight from the LEDES frame, no line object
    read) describes exactly the lines of ``frame.ledes_views`` of the same file: same rows, same
    values where an invoice is not odd, and the batch finds exactly what evaluate() finds."""
    import triad.ledes as ledes
    from triad.guidelines.frame import ledes_columns, ledes_views, lines_frame
    from triad.guidelines.runner import same_lines
    from triad.ledes import build

    report = ledes.validate(_mutated_file(seed), keep_frame=True)
    views = ledes_views(build.invoices(report.frame), "USD")
    columns = ledes_columns(report.frame)
    assert columns is not None and same_lines(columns, views)
    fast, _ = lines_frame(views, columns)
    slow, _ = lines_frame(views)
    assert fast.columns == slow.columns
    plain = ~(fast["odd"] | slow["odd"])
    assert plain.sum() > fast.height // 2
    assert fast.filter(plain).equals(slow.filter(plain))
    assert (fast["inv"] == slow["inv"]).all() and (fast["line_no"] == slow["line_no"]).all()
    for kind in ("example", "two"):
        versions = _versions(kind)
        ctx = _context(random.Random(seed), views)
        got = evaluate_many(views, ctx, versions, columns=columns)
        assert sum(map(len, got)) > 0
        assert got == [evaluate(inv, ctx, versions) for inv in views]


def test_columns_that_do_not_match_the_invoices_are_ignored():
    import triad.ledes as ledes
    from triad.guidelines.frame import ledes_columns, ledes_views
    from triad.ledes import build

    report = ledes.validate(_mutated_file(9), keep_frame=True)
    views = ledes_views(build.invoices(report.frame), "USD")
    columns = ledes_columns(report.frame)
    ctx, versions = Context(engagement_currency="USD"), _versions("example")
    want = [evaluate(inv, ctx, versions) for inv in views[1:]]
    assert evaluate_many(views[1:], ctx, versions, columns=columns) == want  # a missing invoice
    shifted = columns.with_columns(columns["line_no"] + 1)
    assert evaluate_many(views, ctx, versions, columns=shifted) == [evaluate(inv, ctx, versions) for inv in views]


@pytest.mark.parametrize("kind", ["example", "two", "broken"])
@pytest.mark.parametrize("seed", range(4))
def test_pieces_of_whole_invoices_find_what_the_whole_batch_finds(kind, seed, monkeypatch):
    """Pre-filters and bulk forms run over pieces of a few rows (here 1-9: an invoice longer than a
    piece, pieces ending on an invoice's last line) as they run over 50,000-row pieces of a large
    batch: the same findings as ``evaluate``. Earlier lines repeat keys on several invoices, the
    batch's own number among them, so the duplicate pre-filter's history part is exercised."""
    import triad.guidelines.runner as runner

    rng = random.Random(seed * 17 + len(kind))
    invoices = [_invoice(rng, n) for n in range(50)]
    ctx = _context(rng, invoices)
    extra = []
    for inv in invoices[1::4]:
        for ln in inv.lines[1::3]:
            for number in rng.sample(["OLD-1", "OLD-2", inv.invoice_number], k=rng.randint(1, 3)):
                extra.append(EarlierLine(number, ln.date, ln.timekeeper_id, ln.units, ln.total, ln.description,
                                         ln.line_type, ln.expense_code))
    ctx = Context(engagement_currency="USD", approved_rates=ctx.approved_rates,
                  approved_timekeepers=ctx.approved_timekeepers, known_timekeepers=ctx.known_timekeepers,
                  history=History(extra), fiscal_year_start_month=ctx.fiscal_year_start_month)
    versions = _versions(kind)
    expected = [evaluate(inv, ctx, versions) for inv in invoices]
    assert sum(map(len, expected)) > 0
    monkeypatch.setattr(runner, "_CHUNK", rng.randint(1, 9))
    from triad.guidelines.frame import lines_frame

    assert len(runner._pieces(lines_frame(invoices)[0])) > 20
    got = evaluate_many(invoices, ctx, versions)
    for inv, want, have in zip(invoices, expected, got, strict=True):
        assert have == want, inv.invoice_number


@pytest.mark.parametrize("chunk", [50_000, 7])
def test_bulk_forms_decide_lines_over_pieces(chunk, monkeypatch):
    """The bulk forms do decide lines, over one piece and over many (a bulk form that fails is
    silently replaced by the rule's code: the findings stay right, the batch would only be slow)."""
    import polars as pl

    import triad.guidelines.runner as runner
    from triad.guidelines.frame import lines_frame
    from triad.guidelines.registry import rules

    monkeypatch.setattr(runner, "_CHUNK", chunk)
    rng = random.Random(5)
    invoices = [_invoice(rng, n) for n in range(60)]
    frame, _ = lines_frame(invoices)
    version = _versions("example")[0]
    ctx = Context(approved_rates=(ApprovedRate("TK1", D("500"), "USD", dt.date(2025, 1, 1)),))
    pieces = runner._pieces(frame)
    for rule_id in ("approved_rate", "new_timekeeper", "codes"):
        spec = rules()[rule_id]
        settings = version.settings(rule_id, spec.settings)
        masks, raw = runner._masks(frame, [(0, spec, settings)], ctx, pieces)
        got = runner._decide(frame, spec, settings, ctx, masks[0], pieces, raw.get(0))
        assert got is not None, rule_id
        decided, messages, line_nos, _ = got
        assert 0 < decided.sum() == len(messages) == len(line_nos)
        assert all(isinstance(m, str) for m in messages)
        assert (decided & ~masks[0]).sum() == 0 and not (decided & frame["odd"]).any()
        assert isinstance(decided, pl.Series)


def test_line_numbers_beyond_64_bits_give_the_same_findings():
    """The batch sorts its findings with numpy (64-bit keys); a line number that does not fit takes the
    Python sort, in the same order as ``evaluate``."""
    rng = random.Random(11)
    invoices = [_invoice(rng, n) for n in range(30)]
    big = 2 ** 64 + 5
    invoices = [replace(inv, lines=tuple(replace(ln, line_no=big - ln.line_no) for ln in inv.lines)) if k % 2 else inv
                for k, inv in enumerate(invoices)]
    ctx = _context(rng, invoices)
    versions = _versions("example")
    expected = [evaluate(inv, ctx, versions) for inv in invoices]
    assert any(f.line_no is not None and f.line_no > 2 ** 63 for found in expected for f in found)
    assert evaluate_many(invoices, ctx, versions) == expected


@pytest.mark.parametrize("kind", ["example", "two", "broken"])
@pytest.mark.parametrize("seed", range(3))
def test_the_second_thread_finds_what_one_thread_finds(kind, seed, monkeypatch):
    """A large batch computes its pre-filters and bulk forms on a second thread, one job per rule,
    bulk forms first (``_THREAD_MIN_LINES``); here every batch does, over pieces of a few rows, with
    and without the file's columns: the same findings as ``evaluate`` and as the batch on one thread."""
    import triad.guidelines.runner as runner

    rng = random.Random(seed * 7 + len(kind))
    invoices = [_invoice(rng, n) for n in range(50)]
    ctx = _context(rng, invoices)
    versions = _versions(kind)
    expected = [evaluate(inv, ctx, versions) for inv in invoices]
    assert sum(map(len, expected)) > 0
    monkeypatch.setattr(runner, "_CHUNK", rng.randint(3, 40))
    monkeypatch.setattr(runner, "_THREAD_MIN_LINES", 10 ** 9)
    one = evaluate_many(invoices, ctx, versions)
    monkeypatch.setattr(runner, "_THREAD_MIN_LINES", 0)
    threads = []
    real = runner._rules_job

    def spy(*args):
        import threading

        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(runner, "_rules_job", spy)
    two = evaluate_many(invoices, ctx, versions)
    assert threads and all(t.startswith("guidelines") for t in threads)
    for inv, want, have, alone in zip(invoices, expected, two, one, strict=True):
        assert have == want == alone, inv.invoice_number


@pytest.mark.parametrize("seed", range(4))
def test_packed_sort_orders_as_lexsort(seed):
    """The findings' order: keys packed into one 64-bit integer sort as ``np.lexsort`` sorts them,
    and keys that do not fit (or a negative one) take ``lexsort`` itself."""
    import numpy as np

    from triad.guidelines.runner import _order

    rng = np.random.default_rng(seed)
    n = 5_000
    for highs in ([20, 2, 60, 18, 3], [2 ** 20, 2, 2 ** 30, 30, 5], [3, 2, 2 ** 62, 4, 2]):
        keys = tuple(rng.integers(0, h, n) for h in highs) + (rng.permutation(n),)
        assert (_order(keys) == np.lexsort(keys[::-1])).all()
    keys = (rng.integers(-5, 5, n), rng.integers(0, 9, n), rng.permutation(n))
    assert (_order(keys) == np.lexsort(keys[::-1])).all()
