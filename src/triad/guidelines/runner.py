"""Run every enabled rule over an invoice, each line judged by the guideline version in force
on its date; a crashing rule becomes a finding, never a crash."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from decimal import Decimal
from operator import itemgetter

from triad.guidelines.model import Context, Finding, InvoiceView, LineView, Version
from triad.guidelines.registry import rules


def version_for(versions: Sequence[Version], day) -> Version | None:
    """The version in force on ``day`` (the latest one starting on or before it)."""
    covering = [v for v in versions if v.covers(day)]
    return max(covering, key=lambda v: v.effective_from) if covering else None


def evaluate(invoice: InvoiceView, context: Context, versions: Sequence[Version]) -> list[Finding]:
    findings: list[Finding] = []
    groups: dict[int, tuple[Version, list[LineView]]] = {}
    by_day: dict = {}
    for line in invoice.lines:
        if line.date not in by_day:
            by_day[line.date] = version_for(versions, line.date)
        v = by_day[line.date]
        if v is not None:
            groups.setdefault(id(v), (v, []))[1].append(line)
    invoice_version = version_for(versions, invoice.invoice_date) or version_for(versions, invoice.billing_end)
    for spec in rules().values():
        if spec.scope == "invoice":
            batches = [(invoice_version, list(invoice.lines))] if invoice_version else []
        else:
            batches = list(groups.values())
        for version, lines in batches:
            if version.rules.get(spec.id) is None:
                continue
            settings = version.settings(spec.id, spec.settings)
            if not settings.enabled:
                continue
            try:
                hits = list(spec.fn(invoice, tuple(lines), context, settings))
            except Exception as exc:  # a rule's bug must not stop the others
                findings.append(Finding(
                    rule=spec.id, severity="warning", guideline_version=version.label, clause=settings.clause,
                    message=f"the rule failed ({type(exc).__name__}: {exc}); check this invoice by hand"))
                continue
            for hit in hits:
                findings.append(Finding(
                    rule=spec.id, severity=settings.severity, message=hit.message,
                    line_no=hit.line.line_no if hit.line else None,
                    source_line=hit.line.source_line if hit.line else None,
                    adjustment=hit.adjustment, action=settings.action, guideline_version=version.label,
                    clause=settings.clause or None))
    findings.sort(key=lambda f: (f.line_no is None, f.line_no or 0, f.rule))
    return findings


_new = object.__new__
_set = object.__setattr__
_ZERO = Decimal(0)


def _finding_rows(spec, version: Version, settings, hits, rank: int = 0) -> list[tuple[tuple, Finding]]:
    """The hits as findings. A batch makes hundreds of thousands of them: the frozen dataclass's
    own __init__ (one object.__setattr__ per field) was a fifth of the batch's time, so each
    finding gets its attribute dict in one go; the objects are the same (tests compare them with
    ``evaluate``'s)."""
    rule, severity, action, label, clause = (spec.id, settings.severity, settings.action, version.label,
                                             settings.clause or None)
    out = []
    for line, message, adjustment in hits:
        f = _new(Finding)
        line_no = line.line_no if line else None
        _set(f, "__dict__", {"rule": rule, "severity": severity, "message": message, "line_no": line_no,
                             "source_line": line.source_line if line else None, "adjustment": adjustment,
                             "action": action, "guideline_version": label, "clause": clause})
        out.append(((line_no is None, line_no or 0, rule, rank), f))  # with its place in evaluate()'s order
    return out


def _bulk_findings(spec, version: Version, settings, lines: list[LineView], rows: list[int],
                   messages: list[str]) -> list[tuple[int, tuple, Finding]]:
    """Findings of a rule's bulk form: one per decided row, its message from the frame, no
    adjustment; each with the row it is on (for its invoice and its place in the order)."""
    rule, severity, action, label, clause = (spec.id, settings.severity, settings.action, version.label,
                                             settings.clause or None)
    out = []
    for r, message in zip(rows, messages, strict=True):
        line = lines[r]
        f = _new(Finding)
        line_no = line.line_no
        _set(f, "__dict__", {"rule": rule, "severity": severity, "message": message, "line_no": line_no,
                             "source_line": line.source_line, "adjustment": _ZERO, "action": action,
                             "guideline_version": label, "clause": clause})
        out.append((r, (line_no is None, line_no or 0, rule), f))
    return out


def _decide(sub, spec, settings, context: Context, mask):
    """The rows of ``sub`` (among the candidates ``mask``, never of an odd invoice) that the rule's
    bulk form decides, and their messages; None when it decides none or fails (the rule's own code
    then sees every candidate)."""
    import polars as pl

    try:
        got = spec.bulk(sub, settings, context)
        if got is None:
            return None
        decided, message = got
        d = sub.select((decided.fill_null(False) & ~pl.col("odd")).alias("d"))["d"] & mask
        if not d.any():
            return None
        messages = sub.filter(d).select(message.alias("msg"))["msg"]
        if messages.null_count():
            return None
        return d, messages.to_list()
    except Exception:  # noqa: BLE001 - a bulk form's bug must never change a finding: the rule decides
        return None


def _masks(sub, wanted: list[tuple[int, object, object]], context: Context) -> dict[int, object]:
    """Each pre-filter's candidate mask over ``sub`` (a boolean Series), computed together where
    possible. A pre-filter that fails makes every row a candidate (the rule then sees every line,
    as ``evaluate`` would show it, and reports its own failure)."""
    import polars as pl

    out: dict[int, object] = {}
    exprs: dict[int, pl.Expr] = {}
    for key, spec, settings in wanted:
        try:
            m = spec.prefilter(sub, settings, context)
        except Exception:  # noqa: BLE001 - a pre-filter's bug must never hide a finding
            m = None
        if m is None:
            out[key] = pl.Series([True] * sub.height, dtype=pl.Boolean)
        elif isinstance(m, pl.Series):
            out[key] = m.fill_null(True) | sub["odd"]
        else:
            exprs[key] = (m.fill_null(True) | pl.col("odd")).alias(f"m{key}")
    if exprs:
        try:
            got = sub.select(list(exprs.values()))
            out.update({key: got[f"m{key}"] for key in exprs})
        except Exception:  # noqa: BLE001
            for key, expr in exprs.items():
                try:
                    out[key] = sub.select(expr).to_series()
                except Exception:  # noqa: BLE001
                    out[key] = pl.Series([True] * sub.height, dtype=pl.Boolean)
    return out


def evaluate_many(invoices: Sequence[InvoiceView], context: Context, versions: Sequence[Version]
                  ) -> list[list[Finding]]:
    """The findings of ``evaluate`` for each invoice (same findings, same order), computed for the
    batch at once: each rule's pre-filter picks, over one polars frame of every line, the lines
    the rule could report on, and the rule's own code runs on those lines only."""
    # The batch allocates a few objects per finding and no reference cycles; the cyclic garbage
    # collector would walk the whole heap (the parsed file, the views) many times meanwhile.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _evaluate_many(invoices, context, versions)
    finally:
        if paused:
            gc.enable()


def _evaluate_many(invoices: Sequence[InvoiceView], context: Context, versions: Sequence[Version]
                   ) -> list[list[Finding]]:
    import numpy as np
    import polars as pl

    from triad.guidelines.frame import lines_frame

    if not invoices:
        return []
    frame, lines = lines_frame(invoices)
    index = {id(v): i for i, v in enumerate(versions)}
    # the version of each line, looked up once per distinct day
    days = frame["date"].unique()
    by_day = {}
    for day in days.to_list():
        v = version_for(versions, day)
        by_day[day] = -1 if v is None else index[id(v)]
    line_v_col = frame["date"].replace_strict(by_day, return_dtype=pl.Int32) if len(frame) else pl.Series(
        [], dtype=pl.Int32)
    line_v = line_v_col.to_list()
    inv_v = []
    for inv in invoices:
        v = version_for(versions, inv.invoice_date) or version_for(versions, inv.billing_end)
        inv_v.append(-1 if v is None else index[id(v)])
    frame = frame.with_columns(line_v_col.alias("lv"),
                               pl.lit(pl.Series(inv_v, dtype=pl.Int32)).gather(pl.col("inv")).alias("iv"))
    starts = [0]
    row_inv: list[int] = []
    for i, inv in enumerate(invoices):
        starts.append(starts[-1] + len(inv.lines))
        row_inv += [i] * len(inv.lines)
    line_versions = sorted(set(line_v) - {-1})
    # the order in which each invoice meets its versions (only needed when there are several)
    rank: list[dict[int, int]] | None = None
    if len(line_versions) > 1:
        rank = [{v: r for r, v in enumerate(dict.fromkeys(line_v[starts[i]:starts[i + 1]]))}
                for i in range(len(invoices))]
    out: list[list] = [[] for _ in invoices]
    specs = list(rules().values())
    for scope in ("lines", "invoice"):
        scoped = [s for s in specs if s.scope == scope]
        for vi, version in enumerate(versions):
            col = "lv" if scope == "lines" else "iv"
            todo = []
            for spec in scoped:
                if version.rules.get(spec.id) is None:
                    continue
                settings = version.settings(spec.id, spec.settings)
                if settings.enabled:
                    todo.append((spec, settings))
            if not todo:
                continue
            if scope == "lines" and vi not in line_versions:
                continue
            single = (set(line_v) if scope == "lines" else set(inv_v)) == {vi}
            sub = frame if single else frame.filter(pl.col(col) == vi)
            if scope == "invoice":
                targets = [i for i, v in enumerate(inv_v) if v == vi]
                if not targets:
                    continue
            else:
                targets = None
            masks = _masks(sub, [(k, spec, s) for k, (spec, s) in enumerate(todo) if spec.prefilter], context)
            sub_rows = sub["row"].to_numpy()
            sub_inv = sub["inv"].to_numpy()
            for k, (spec, settings) in enumerate(todo):
                whole = k not in masks
                pending: dict[int, list] = {}
                if not whole and spec.bulk is not None and scope == "lines":
                    got = _decide(sub, spec, settings, context, masks[k])
                    if got is not None:
                        d, messages = got
                        d_rows = sub_rows[d.to_numpy()].tolist()
                        for r, key, f in _bulk_findings(spec, version, settings, lines, d_rows, messages):
                            i = row_inv[r]
                            rk = rank[i].get(vi, 0) if rank is not None else 0
                            pending.setdefault(i, []).append(((*key, rk), f))
                        masks[k] = masks[k] & ~d
                if not whole:
                    m = masks[k].to_numpy()
                    rows, invs = sub_rows[m], sub_inv[m]
                    # most lines are candidates: give the invoices with any their lines as they are
                    whole = single and len(rows) * 2 > len(sub_rows)
                else:
                    rows, invs = sub_rows, sub_inv
                cuts = np.flatnonzero(np.diff(invs)) + 1
                row_list = rows.tolist()
                bounds = [0, *cuts.tolist(), len(row_list)]
                chosen: dict[int, tuple] = {}
                inv_list = invs.tolist()
                for a, b in zip(bounds, bounds[1:], strict=False):
                    if a == b:
                        continue
                    i = inv_list[a]
                    if single and whole:
                        chosen[i] = invoices[i].lines
                    else:
                        chosen[i] = tuple([lines[r] for r in row_list[a:b]])
                calls = chosen.items() if targets is None else ((i, chosen.get(i, ())) for i in targets)
                for i, cand in calls:
                    inv = invoices[i]
                    r = rank[i].get(vi, 0) if rank is not None and scope == "lines" else 0
                    try:
                        hits = list(spec.fn(inv, cand, context, settings))
                    except Exception as exc:  # a rule's bug must not stop the others
                        pending.pop(i, None)  # as evaluate(): the failure alone, no finding of the rule
                        out[i].append(((True, 0, spec.id, r), Finding(
                            rule=spec.id, severity="warning", guideline_version=version.label,
                            clause=settings.clause,
                            message=f"the rule failed ({type(exc).__name__}: {exc}); check this invoice by hand")))
                    else:
                        if hits:
                            out[i] += _finding_rows(spec, version, settings, hits, r)
                for i, found in pending.items():
                    out[i] += found
    result = []
    first = itemgetter(0)
    for found in out:
        found.sort(key=first)  # stable: a rule's findings on one line keep the order it gave them
        result.append([f for _, f in found])
    return result
