"""Vendor lifecycle as a declared table of allowed moves (DESIGN.md §3.5).

    draft -> pending_review -> active -> suspended -> deactivated
             pending_review -> draft (returned)     suspended -> active (reinstated, gate again)
    any state but deactivated -> deactivated

Entering ``active`` passes the gate in ``triad.vendors.service.gate_problems``.
"""

from __future__ import annotations

from triad.core.permissions import Perm
from triad.vendors.models import VendorStatus

S = VendorStatus
TRANSITIONS: dict[VendorStatus, frozenset[VendorStatus]] = {
    S.draft: frozenset({S.pending_review, S.deactivated}),
    S.pending_review: frozenset({S.active, S.draft, S.deactivated}),
    S.active: frozenset({S.suspended, S.deactivated}),
    S.suspended: frozenset({S.active, S.deactivated}),
    S.deactivated: frozenset(),
}
NEEDS_REASON = frozenset({S.draft, S.suspended, S.deactivated})
# Procurement asks for a vendor to be reviewed; every other move is legal's (vendor status is legal's field).
MOVE_PERM: dict[VendorStatus, Perm] = {
    S.pending_review: Perm.vendors_write,
    S.draft: Perm.vendors_review,
    S.active: Perm.vendors_review,
    S.suspended: Perm.vendors_review,
    S.deactivated: Perm.vendors_review,
}
BLOCKED = frozenset({S.suspended, S.deactivated})  # cannot be engaged, cannot submit invoices


def allowed(current: str, target: str) -> bool:
    return VendorStatus(target) in TRANSITIONS[VendorStatus(current)]
