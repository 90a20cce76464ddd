"""Run every enabled rule over an invoice, each line judged by the guideline version in force
on its date; a crashing rule becomes a finding, never a crash."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import repeat
from operator import itemgetter

from triad.core.gcpause import cyclic_gc_paused
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


class _Found:
    """Every finding of a batch with its place in ``evaluate()``'s order: (invoice, line or none,
    rule, version rank) and the order they were made in. They are sorted once for the whole batch
    (numpy ``lexsort``, stable) instead of once per invoice with a key tuple per finding."""

    def __init__(self, invoices: int, rule_ids) -> None:
        self.n = invoices
        self.rule_no = {r: k for k, r in enumerate(sorted(rule_ids))}
        self.objs: list[Finding] = []
        # one entry per finding made by a rule's code (Python lists), then chunks from bulk forms (arrays)
        self.inv: list[int] = []
        self.line: list[int] = []
        self.none: list[bool] = []
        self.rule: list[int] = []
        self.rank: list[int] = []
        self.seq: list[int] = []
        self.chunks: list[tuple] = []
        self.count = 0

    def add(self, i: int, rank: int, spec, version: Version, settings, hits) -> None:
        """A rule's hits on invoice ``i``. Each finding gets its attribute dict in one go (the
        frozen dataclass's own __init__, one object.__setattr__ per field, was a fifth of the batch);
        the objects are the same (tests compare them with ``evaluate``'s)."""
        rule, severity, action, label, clause = (spec.id, settings.severity, settings.action, version.label,
                                                 settings.clause or None)
        rule_no = self.rule_no[rule]
        for line, message, adjustment in hits:
            f = _new(Finding)
            line_no = line.line_no if line else None
            _set(f, "__dict__", {"rule": rule, "severity": severity, "message": message, "line_no": line_no,
                                 "source_line": line.source_line if line else None, "adjustment": adjustment,
                                 "action": action, "guideline_version": label, "clause": clause})
            self.objs.append(f)
            self.inv.append(i)
            self.none.append(line_no is None)
            self.line.append(line_no or 0)
            self.rule.append(rule_no)
            self.rank.append(rank)
            self.seq.append(self.count)
            self.count += 1

    def add_failure(self, i: int, rank: int, spec, version: Version, settings, exc: Exception) -> None:
        self.objs.append(Finding(
            rule=spec.id, severity="warning", guideline_version=version.label, clause=settings.clause,
            message=f"the rule failed ({type(exc).__name__}: {exc}); check this invoice by hand"))
        self.inv.append(i)
        self.none.append(True)
        self.line.append(0)
        self.rule.append(self.rule_no[spec.id])
        self.rank.append(rank)
        self.seq.append(self.count)
        self.count += 1

    def add_bulk(self, spec, version: Version, settings, inv, line_nos, source_lines: list, messages: list,
                 ranks) -> None:
        """Findings of a rule's bulk form: one per decided line (``inv``, ``line_nos``: arrays;
        ``ranks``: array or int), its message from the frame, no adjustment."""
        import numpy as np

        tmpl = {"rule": spec.id, "severity": settings.severity, "message": None, "line_no": None,
                "source_line": None, "adjustment": _ZERO, "action": settings.action,
                "guideline_version": version.label, "clause": settings.clause or None}
        copy = tmpl.copy
        n = len(messages)
        made = list(map(_new, repeat(Finding, n)))  # the objects at once (no call or append per finding)
        for f, line_no, source_line, message in zip(made, line_nos.tolist(), source_lines, messages, strict=True):
            d = copy()
            d["message"] = message
            d["line_no"] = line_no
            d["source_line"] = source_line
            _set(f, "__dict__", d)
        self.objs += made
        self.chunks.append((inv, line_nos, np.full(n, self.rule_no[spec.id], dtype=np.int64),
                            ranks if isinstance(ranks, np.ndarray) else np.full(n, ranks, dtype=np.int64),
                            np.arange(self.count, self.count + n, dtype=np.int64)))
        self.count += n

    def result(self) -> list[list[Finding]]:
        import numpy as np

        try:
            inv = np.concatenate([np.array(self.inv, dtype=np.int64), *(c[0] for c in self.chunks)])
            none = np.concatenate([np.array(self.none, dtype=np.int8),
                                   *(np.zeros(len(c[0]), dtype=np.int8) for c in self.chunks)])
            line = np.concatenate([np.array(self.line, dtype=np.int64), *(c[1] for c in self.chunks)])
        except OverflowError:  # a line number beyond 64 bits: sort in Python
            return self._result_slow()
        rule = np.concatenate([np.array(self.rule, dtype=np.int64), *(c[2] for c in self.chunks)])
        rank = np.concatenate([np.array(self.rank, dtype=np.int64), *(c[3] for c in self.chunks)])
        seq = np.concatenate([np.array(self.seq, dtype=np.int64), *(c[4] for c in self.chunks)])
        if not len(seq):
            return [[] for _ in range(self.n)]
        order = _order((inv, none, line, rule, rank, seq))
        picked = seq[order].tolist()  # objs are in the order made (seq)
        ordered = itemgetter(*picked)(self.objs) if len(picked) > 1 else (self.objs[picked[0]],)
        bounds = np.concatenate([[0], np.cumsum(np.bincount(inv, minlength=self.n))]).tolist()
        return [list(ordered[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]

    def _result_slow(self) -> list[list[Finding]]:
        keyed: list[list] = [[] for _ in range(self.n)]
        rows = list(zip(self.inv, self.none, self.line, self.rule, self.rank, self.seq, strict=True))
        for inv, lines, rules_, ranks, seqs in self.chunks:
            rows += zip(inv.tolist(), [False] * len(inv), lines.tolist(), rules_.tolist(), ranks.tolist(),
                        seqs.tolist(), strict=True)
        for i, none, line, rule, rank, seq in rows:
            keyed[i].append(((none, line, rule, rank, seq), self.objs[seq]))
        first = itemgetter(0)
        return [[f for _, f in sorted(found, key=first)] for found in keyed]


def _order(keys: tuple):
    """The positions that sort the rows by ``keys`` (first key first; the last one is unique):
    ``np.lexsort``'s order. When every key is non-negative and all fit in 64 bits together, they
    are packed into one unsigned integer and sorted once (about a tenth of ``lexsort``'s time on a
    million findings)."""
    import numpy as np

    if all(k.min() >= 0 for k in keys):
        widths = [int(k.max()).bit_length() for k in keys]
        if sum(widths) <= 64:
            packed = np.zeros(len(keys[0]), dtype=np.uint64)
            for k, w in zip(keys, widths, strict=True):
                packed = (packed << np.uint64(w)) | k.astype(np.uint64)
            return np.argsort(packed)  # (the keys are unique: any sort gives the one order)
    return np.lexsort(keys[::-1])


_CHUNK = 50_000  # rows per piece of the frame that pre-filters and bulk forms are evaluated on


def _pieces(sub) -> list[tuple[int, int]]:
    """(offset, length) pieces of ``sub`` of about ``_CHUNK`` rows, each of whole invoices."""
    import numpy as np

    n = sub.height
    if n <= _CHUNK:
        return [(0, n)]
    inv = sub["inv"].to_numpy()
    cuts = [0]
    while n - cuts[-1] > _CHUNK:
        j = cuts[-1] + _CHUNK
        j = int(np.searchsorted(inv, inv[j], side="left"))  # back to the start of that invoice
        if j <= cuts[-1]:  # one invoice longer than a piece: take it whole
            j = int(np.searchsorted(inv, inv[cuts[-1]], side="right"))
        cuts.append(j)
    if cuts[-1] < n:
        cuts.append(n)
    return [(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)]


def _select(sub, exprs: list, pieces: list[tuple[int, int]]):
    """``sub.select(exprs)``, evaluated piece by piece: a window (``over``) or a distinct test
    over a million rows builds a hash table far beyond the processor's caches and costs 15-20x
    its cost over 100,000; over pieces of whole invoices it stays linear. Pre-filters and bulk
    forms group within an invoice (a line's candidacy depends on its invoice and the context
    only), so each piece gives the rows the whole frame gives."""
    import polars as pl

    if len(pieces) == 1:
        return sub.select(exprs)
    return pl.concat([sub.slice(a, n).select(exprs) for a, n in pieces], how="vertical", rechunk=True)


def _decide(sub, spec, settings, context: Context, mask, pieces, raw=None, lists: bool = True):
    """The rows of ``sub`` (among the candidates ``mask``, never of an odd invoice) that the rule's
    bulk form decides, their messages, line numbers and source lines; None when it decides none or
    fails (the rule's own code then sees every candidate); ``lists``: the messages and source lines as
    Python lists (else the polars Series: the second thread leaves them to the caller). ``raw``: the rule's pre-filter
    expression and its values over ``sub``, reused when the bulk form decides by that expression."""
    import polars as pl

    try:
        got = spec.bulk(sub, settings, context)
        if got is None:
            return None
        decided, message = got
        if raw is not None and decided.meta.eq(raw[0]):
            d = raw[1].fill_null(False) & ~sub["odd"] & mask
        else:
            d = _select(sub, [(decided.fill_null(False) & ~pl.col("odd")).alias("d")], pieces)["d"] & mask
        if not d.any():
            return None
        # only the decided rows, and only the columns the message needs
        try:
            needed = list(dict.fromkeys([*message.meta.root_names(), "inv", "line_no", "source_line"]))
        except Exception:  # noqa: BLE001
            needed = sub.columns
        got = sub.select(needed).filter(d)
        got = _select(got, [message.alias("msg"), pl.col("line_no"), pl.col("source_line")], _pieces(got))
        if got["msg"].null_count() or got["line_no"].null_count():
            return None
        if not lists:
            return d, got["msg"], got["line_no"].to_numpy(), got["source_line"]
        return d, got["msg"].to_list(), got["line_no"].to_numpy(), got["source_line"].to_list()
    except Exception:  # noqa: BLE001 - a bulk form's bug must never change a finding: the rule decides
        return None


def _masks(sub, wanted: list[tuple[int, object, object]], context: Context, pieces
           ) -> tuple[dict[int, object], dict[int, tuple]]:
    """Each pre-filter's candidate mask over ``sub`` (a boolean Series), computed together where
    possible, and for expressions the expression and its own values (``_decide`` reuses them). A
    pre-filter that fails makes every row a candidate (the rule then sees every line, as
    ``evaluate`` would show it, and reports its own failure)."""
    import polars as pl

    out: dict[int, object] = {}
    raw: dict[int, tuple] = {}
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
            exprs[key] = m
    if exprs:
        odd = sub["odd"]
        keep = pl.col("odd").alias("_odd")  # (a literal pre-filter then spans the rows)
        try:
            got = _select(sub, [*(m.alias(f"m{key}") for key, m in exprs.items()), keep], pieces)
            got = {key: got[f"m{key}"] for key in exprs}
        except Exception:  # noqa: BLE001
            got = {}
            for key, m in exprs.items():
                try:
                    got[key] = _select(sub, [m.alias("m"), keep], pieces)["m"]
                except Exception:  # noqa: BLE001
                    out[key] = pl.Series([True] * sub.height, dtype=pl.Boolean)
        for key, values in got.items():
            try:
                out[key] = values.fill_null(True) | odd
            except Exception:  # noqa: BLE001
                out[key] = pl.Series([True] * sub.height, dtype=pl.Boolean)
                continue
            raw[key] = (exprs[key], values)
    return out, raw


def same_lines(columns, invoices: Sequence[InvoiceView]) -> bool:
    """``columns`` has each invoice's lines, by count and line number, in order."""
    import numpy as np

    if columns.height != sum(len(inv.lines) for inv in invoices):
        return False
    counts = np.bincount(columns["inv"].to_numpy(), minlength=len(invoices))
    if len(counts) != len(invoices) or counts.tolist() != [len(inv.lines) for inv in invoices]:
        return False
    numbers = columns["line_no"]
    return numbers.null_count() == 0 and numbers.to_list() == [ln.line_no for inv in invoices for ln in inv.lines]


def evaluate_many(invoices: Sequence[InvoiceView], context: Context, versions: Sequence[Version], *,
                  columns=None) -> list[list[Finding]]:
    """The findings of ``evaluate`` for each invoice (same findings, same order), computed for the
    batch at once: each rule's pre-filter picks, over one polars frame of every line, the lines
    the rule could report on, and the rule's own code runs on those lines only.

    ``columns``: the lines' raw columns when the caller has them already (``frame.ledes_columns``
    of the file the invoices were parsed from), so that the frame is not read back from the line
    objects. They must describe exactly ``invoices``' lines in order; a frame whose invoices'
    line counts or line numbers differ from theirs is ignored."""
    # The batch allocates a few objects per finding and no reference cycles; the cyclic garbage
    # collector would walk the whole heap (the parsed file, the views) many times meanwhile.
    with cyclic_gc_paused():
        return _evaluate_many(invoices, context, versions, columns)


_THREAD_MIN_LINES = 20_000  # batches of this many lines compute their polars work on a second thread


class _Now:
    """A job's result computed at once (a batch below ``_THREAD_MIN_LINES``): the same interface
    as the second thread's ``Future``."""

    __slots__ = ("_value",)

    def __init__(self, fn, *args) -> None:
        self._value = fn(*args)

    def result(self):
        return self._value


def _rules_job(sub, todo: list[tuple[int, object, object, bool]], context: Context, pieces) -> dict:
    """Some rules' polars work over ``sub``: their candidate masks (``_masks``, together) and, for
    bulk forms, the lines they decide (``_decide``): {k: (mask, decided or None)}."""
    masks, raw = _masks(sub, [(k, spec, settings) for k, spec, settings, _ in todo], context, pieces)
    # (the decided lines' messages stay polars Series: making their Python strings needs the GIL)
    return {k: (masks[k], _decide(sub, spec, settings, context, masks[k], pieces, raw.get(k), lists=False)
                if decide else None) for k, spec, settings, decide in todo}


def _evaluate_many(invoices: Sequence[InvoiceView], context: Context, versions: Sequence[Version],
                   columns=None) -> list[list[Finding]]:
    from concurrent.futures import ThreadPoolExecutor

    if not invoices:
        return []
    # Polars releases the GIL while it computes: on a large batch the pre-filters and bulk forms
    # run on a second thread, one job per rule in the order the rules' Python code takes them, so
    # that the Python of one rule (its code on the candidates, the bulk findings) runs while polars
    # computes the next rules' masks. Each rule's result is what the same call gives on one thread.
    threaded = sum(len(inv.lines) for inv in invoices) >= _THREAD_MIN_LINES
    if not threaded:
        return _run(invoices, context, versions, columns, _Now)
    with ThreadPoolExecutor(1, thread_name_prefix="guidelines") as pool:
        try:
            return _run(invoices, context, versions, columns, pool.submit)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _run(invoices: Sequence[InvoiceView], context: Context, versions: Sequence[Version], columns, submit
         ) -> list[list[Finding]]:
    import numpy as np
    import polars as pl

    from triad.guidelines.frame import lines_frame

    if columns is not None:
        # the frame on the second thread while this one checks that the columns are the invoices' lines
        pending = submit(lines_frame, invoices, columns)
        if same_lines(columns, invoices):
            frame, lines = pending.result()
        else:
            pending.result()
            frame, lines = lines_frame(invoices)
    else:
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
    inv_v = []
    for inv in invoices:
        v = version_for(versions, inv.invoice_date) or version_for(versions, inv.billing_end)
        inv_v.append(-1 if v is None else index[id(v)])
    frame = frame.with_columns(line_v_col.alias("lv"),
                               pl.lit(pl.Series(inv_v, dtype=pl.Int32)).gather(pl.col("inv")).alias("iv"))
    line_set = set(line_v_col.unique().to_list())
    line_versions = sorted(line_set - {-1})
    # the order in which each invoice meets its versions (only needed when there are several)
    rank: list[dict[int, int]] | None = None
    if len(line_versions) > 1:
        line_v = line_v_col.to_list()
        starts = [0]
        for inv in invoices:
            starts.append(starts[-1] + len(inv.lines))
        rank = [{v: r for r, v in enumerate(dict.fromkeys(line_v[starts[i]:starts[i + 1]]))}
                for i in range(len(invoices))]
    specs = list(rules().values())
    found = _Found(len(invoices), (s.id for s in specs))
    row_inv_np = frame["inv"].to_numpy().astype(np.int64)  # the invoice of each row
    groups = []
    # invoice-scope rules first: their Python runs while the second thread computes the bulk forms
    for scope in ("invoice", "lines"):
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
            single = (line_set if scope == "lines" else set(inv_v)) == {vi}
            sub = frame if single else frame.filter(pl.col(col) == vi)
            if scope == "invoice":
                targets = [i for i, v in enumerate(inv_v) if v == vi]
                if not targets:
                    continue
            else:
                targets = None
            pieces = _pieces(sub)
            # bulk forms first (the most Python: their findings), then the rest in registry order,
            # as two jobs (each job's masks in one select). (The order findings are made in only
            # orders each rule's own findings: the batch's findings are sorted by rule first.)
            is_bulk = [spec.bulk is not None and scope == "lines" for spec, _ in todo]
            order = sorted(range(len(todo)), key=lambda k: not is_bulk[k])
            parts = [[k for k in order if is_bulk[k]], [k for k in order if not is_bulk[k]]]
            jobs = {}
            for part in parts:
                part = [k for k in part if todo[k][0].prefilter]
                if part:
                    job = submit(_rules_job, sub, [(k, *todo[k], is_bulk[k]) for k in part], context, pieces)
                    jobs.update(dict.fromkeys(part, job))
            groups.append((scope, vi, version, todo, single, sub, targets, order, jobs))
    for scope, vi, version, todo, single, sub, targets, order, jobs in groups:
        sub_rows = sub["row"].to_numpy()
        sub_inv = sub["inv"].to_numpy()
        for k in order:
            spec, settings = todo[k]
            whole = k not in jobs
            bulk = None
            if not whole:
                mask, got = jobs.pop(k).result()[k]
                if got is not None:
                    d, messages, line_nos, source_lines = got
                    messages, source_lines = messages.to_list(), source_lines.to_list()
                    b_rows = sub_rows[d.to_numpy()]
                    b_inv = row_inv_np[b_rows]
                    bulk = (b_inv, line_nos, source_lines, messages,
                            np.array([rank[i].get(vi, 0) for i in b_inv.tolist()], dtype=np.int64)
                            if rank is not None else 0)
                    mask = mask & ~d
                m = mask.to_numpy()
                rows, invs = sub_rows[m], sub_inv[m]
                # most lines are candidates (and none decided by the bulk form): give the
                # invoices with any their lines as they are
                whole = single and bulk is None and len(rows) * 2 > len(sub_rows)
            else:
                rows, invs = sub_rows, sub_inv
            cuts = np.flatnonzero(np.diff(invs)) + 1
            row_list = rows.tolist()
            pick = itemgetter
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
                    chosen[i] = (lines[row_list[a]],) if b - a == 1 else pick(*row_list[a:b])(lines)
            calls = chosen.items() if targets is None else ((i, chosen.get(i, ())) for i in targets)
            failed: list[int] = []
            for i, cand in calls:
                inv = invoices[i]
                r = rank[i].get(vi, 0) if rank is not None and scope == "lines" else 0
                try:
                    hits = list(spec.fn(inv, cand, context, settings))
                except Exception as exc:  # a rule's bug must not stop the others
                    failed.append(i)
                    found.add_failure(i, r, spec, version, settings, exc)
                else:
                    if hits:
                        found.add(i, r, spec, version, settings, hits)
            if bulk is not None:
                b_inv, line_nos, source_lines, messages, ranks = bulk
                if failed:  # as evaluate(): the failure alone, no finding of the rule on that invoice
                    keep = ~np.isin(b_inv, failed)
                    picked = np.flatnonzero(keep).tolist()
                    b_inv, line_nos = b_inv[keep], line_nos[keep]
                    source_lines = [source_lines[j] for j in picked]
                    messages = [messages[j] for j in picked]
                    if isinstance(ranks, np.ndarray):
                        ranks = ranks[keep]
                if len(messages):
                    found.add_bulk(spec, version, settings, b_inv, line_nos, source_lines, messages, ranks)
    return found.result()
