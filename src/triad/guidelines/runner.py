"""Run every enabled rule over an invoice, each line judged by the guideline version in force
on its date; a crashing rule becomes a finding, never a crash."""

from __future__ import annotations

from collections.abc import Sequence

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
