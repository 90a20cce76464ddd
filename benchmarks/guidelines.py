"""Benchmark: billing-guideline screening.

1. All rules of docs/examples/guidelines-company.yaml over 1,000,000 lines (20,000 invoices;
   --quick: 100,000 lines), through the batch runner (`runner.evaluate_many`, as bulk imports),
   against LEDES validation of the same file in the same run (`ratio_to_validation`; target <= 2).
2. Submitting one 200-line invoice (validation, intake, screening with duplicate detection against
   the firm's history) into a SQLite database that already holds 1,000,000 earlier lines of the same
   firm (--quick: 100,000): `submit_200_lines_ms` (target < 200 ms).
Prints the figures, last, as one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ledes_import import FIRM_ID, fresh_db, seed  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import triad.ledes as ledes  # noqa: E402
from triad.audit.service import Actor  # noqa: E402
from triad.guidelines.frame import ledes_views  # noqa: E402
from triad.guidelines.model import Context, Version  # noqa: E402
from triad.guidelines.runner import evaluate_many, same_lines  # noqa: E402
from triad.guidelines.schema import load_text, validate_document  # noqa: E402
from triad.guidelines.service import ScreenItem, _group_columns  # noqa: E402
from triad.invoices.intake import file_columns  # noqa: E402
from triad.ledes import build  # noqa: E402
from triad.ledes.sample import generate_1998b  # noqa: E402

EXAMPLE = ROOT / "docs" / "examples" / "guidelines-company.yaml"


def _import_columns(frame, parsed_invoices, items):
    """What an import runs before the batch runner: the file's columns as intake's views hold them
    (``intake.file_columns``) and the group's rows of them (``service._group_columns``)."""
    found = file_columns(frame, parsed_invoices)
    return None if found is None else _group_columns(found[0], items)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    invoices = 2_000 if args.quick else 20_000
    data = generate_1998b(invoices=invoices, lines_per_invoice=50, seed=4, law_firm_id=FIRM_ID)
    lines = data.count(b"\n") - 2

    report = ledes.validate(data)
    assert report.valid
    # the parsed file (as an import has it): its invoices as the rules' views and its LEDES frame
    parsed = ledes.validate(data, keep_frame=True)
    parsed_invoices = build.invoices(parsed.frame)
    inv_views = ledes_views(parsed_invoices, "USD")
    # as intake hands them to screen(): each invoice's position in the file's columns and the
    # classification of each timekeeper ID (Triad's; here the file's, which the views hold)
    classes = {ln.timekeeper_id: ln.classification for v in inv_views for ln in v.lines if ln.timekeeper_id}
    assert all(classes[ln.timekeeper_id] == ln.classification for v in inv_views for ln in v.lines if ln.timekeeper_id)
    items = [ScreenItem(i, v, 1, 1, "USD", [1], i, classes) for i, v in enumerate(inv_views)]
    # (else the runner would read the views)
    assert same_lines(_import_columns(parsed.frame, parsed_invoices, items), inv_views)
    doc = validate_document(load_text(EXAMPLE.read_text()))
    version = Version("company v1", dt.date(2025, 1, 1), None, doc.rules)
    ctx = Context(engagement_currency="USD")
    # The machine is shared: validation and the rules run alternately, three times each, and the
    # fastest of each is compared (wall clock, and CPU time of the process as a steadier check).
    # The rules go through the batch runner (what a bulk import uses): vectorised pre-filters,
    # rule code on candidate lines; tests/unit/test_guideline_prefilter.py checks it finds exactly
    # what evaluate() finds. Timed with them: reading the rules' columns from the parsed file's
    # LEDES frame as an import does (``_import_columns``), which validation does not provide.
    validation_s = rules_s = validation_cpu = rules_cpu = float("inf")
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        ledes.validate(data)
        validation_s = min(validation_s, time.perf_counter() - t)
        validation_cpu = min(validation_cpu, time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        columns = _import_columns(parsed.frame, parsed_invoices, items)
        n_findings = sum(map(len, evaluate_many(inv_views, ctx, [version], columns=columns)))
        rules_s = min(rules_s, time.perf_counter() - t)
        rules_cpu = min(rules_cpu, time.process_time() - c)
    del inv_views, items, parsed_invoices, parsed, columns

    # one 200-line invoice against the firm's history
    from triad.guidelines.service import load
    from triad.invoices.intake import import_file

    with tempfile.TemporaryDirectory() as tmp:
        engine, _ = fresh_db("sqlite", Path(tmp))
        seed(engine)
        with Session(engine) as s:
            load(session=s, text=EXAMPLE.read_text(), effective_from=dt.date(2025, 1, 1), actor=Actor("bench"))
            result = import_file(session=s, data=data, filename="history.ledes", actor=Actor("bench"))
            s.commit()
        assert all(o.status == "stored" for o in result.invoices)
        submit_ms, submit_cpu_ms = [], []
        for k in range(3):  # three different invoices; the median is reported
            one = generate_1998b(invoices=1, lines_per_invoice=200, seed=99 + k, law_firm_id=FIRM_ID).replace(
                b"|INV100000|", f"|NEW-{k}|".encode())
            with Session(engine) as s:
                t, c = time.perf_counter(), time.process_time()
                r = import_file(session=s, data=one, filename=f"one-{k}.ledes", actor=Actor("bench"))
                s.commit()
                submit_ms.append((time.perf_counter() - t) * 1000)
                submit_cpu_ms.append((time.process_time() - c) * 1000)
            assert r.invoices[0].status == "stored", r.invoices[0].errors
        engine.dispose()
    out = {"scenario": "guidelines", "lines": lines, "findings": n_findings, "lines_per_s": int(lines / rules_s),
           "ratio_to_validation": round(rules_s / validation_s, 2),
           "ratio_to_validation_cpu": round(rules_cpu / validation_cpu, 2), "history_lines": lines,
           "submit_200_lines_ms": round(statistics.median(submit_ms)),
           "submit_200_lines_ms_each": [round(m) for m in submit_ms],
           "submit_200_lines_cpu_ms": round(statistics.median(submit_cpu_ms))}
    print(f"rules {rules_s:.2f} s (cpu {rules_cpu:.2f} s) over {lines:,} lines; validation {validation_s:.2f} s "
          f"(cpu {validation_cpu:.2f} s); one 200-line invoice against {lines:,} earlier lines: "
          f"{', '.join(f'{m:.0f}' for m in submit_ms)} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
