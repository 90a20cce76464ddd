"""Permission codes and the roles that hold them.

Three layers (DESIGN.md §3.8): these codes; a route dependency
(``triad.auth.deps.require``); and scoped queries (``triad.auth.scoping``)
so outside counsel only ever see their own firm's rows.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    legal_ops = "legal_ops"
    matter_manager = "matter_manager"
    finance_ap = "finance_ap"
    procurement = "procurement"
    auditor = "auditor"
    outside_counsel = "outside_counsel"


class Perm(StrEnum):
    org_read = "org.read"  # business units, cost centers, GL accounts
    org_write = "org.write"
    vendors_read = "vendors.read"
    vendors_write = "vendors.write"
    vendors_review = "vendors.review"  # legal review of vendors, screening, lifecycle (legal owns status)
    vendors_risk = "vendors.risk"  # aggregate vendor risk and onboarding metrics: internal roles only
    firms_read = "firms.read"
    firms_write = "firms.write"
    matters_read = "matters.read"
    matters_write = "matters.write"
    budgets_read = "budgets.read"
    budgets_write = "budgets.write"
    invoices_read = "invoices.read"
    invoices_submit = "invoices.submit"
    invoices_review = "invoices.review"
    guidelines_read = "guidelines.read"
    guidelines_write = "guidelines.write"
    approvals_read = "approvals.read"  # approval levels by amount
    approvals_write = "approvals.write"
    ap_read = "ap.read"  # AP routes, batches, payment runs, reconciliation
    ap_write = "ap.write"  # export, import payments, credits, re-open
    users_read = "users.read"
    users_write = "users.write"
    audit_read = "audit.read"


_READ_ALL = {
    Perm.org_read,
    Perm.vendors_read,
    Perm.firms_read,
    Perm.matters_read,
    Perm.budgets_read,
    Perm.invoices_read,
    Perm.guidelines_read,
    Perm.approvals_read,
    Perm.vendors_risk,
}

ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.admin: frozenset(Perm),
    Role.legal_ops: frozenset(
        _READ_ALL
        | {Perm.firms_write, Perm.matters_write, Perm.budgets_write, Perm.users_read, Perm.invoices_review,
           Perm.guidelines_write, Perm.approvals_write, Perm.ap_read,
           Perm.vendors_review}
    ),
    Role.matter_manager: frozenset(_READ_ALL | {Perm.matters_write, Perm.budgets_write, Perm.invoices_review}),
    Role.finance_ap: frozenset(_READ_ALL | {Perm.org_write, Perm.ap_read, Perm.ap_write}),
    Role.procurement: frozenset(_READ_ALL | {Perm.vendors_write}),
    Role.auditor: frozenset(_READ_ALL | {Perm.users_read, Perm.audit_read, Perm.ap_read}),
    # Outside counsel read only what scoping lets them see: their firm, its
    # timekeepers, matters it is engaged on, its budgets and its invoices.
    Role.outside_counsel: frozenset(
        {
            Perm.vendors_read,
            Perm.firms_read,
            Perm.matters_read,
            Perm.budgets_read,
            Perm.invoices_read,
            Perm.invoices_submit,
            Perm.guidelines_read,
        }
    ),
}


def has(role: str | Role, perm: Perm) -> bool:
    return perm in ROLE_PERMS[Role(role)]
