"""Invoice states as a declared table of allowed moves (DESIGN.md §3.5).

    submitted -> in_review -> approved -> sent_to_ap -> partially_paid -> paid
                           \\-> rejected -> appealed -> in_review
    sent_to_ap -> approved (re-opened, or the transfer rejected); a reversal steps back from paid
    approved -> appealed (the firm contests an adjusted or rejected line before the invoice goes to AP)
    on_hold and withdrawn from the open states; on_hold returns to in_review.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    submitted = "submitted"
    in_review = "in_review"
    on_hold = "on_hold"
    approved = "approved"
    rejected = "rejected"
    appealed = "appealed"
    withdrawn = "withdrawn"
    sent_to_ap = "sent_to_ap"
    partially_paid = "partially_paid"
    paid = "paid"


S = State
TRANSITIONS: dict[State, frozenset[State]] = {
    S.submitted: frozenset({S.in_review, S.rejected, S.on_hold, S.withdrawn}),
    S.in_review: frozenset({S.approved, S.rejected, S.on_hold, S.withdrawn}),
    S.on_hold: frozenset({S.in_review, S.withdrawn}),
    S.rejected: frozenset({S.appealed}),
    S.appealed: frozenset({S.in_review}),
    S.approved: frozenset({S.sent_to_ap, S.in_review, S.appealed}),  # back to review only before it goes to AP
    # back to approved when a person re-opens it or the bank rejects the transfer (then it may be exported again)
    S.sent_to_ap: frozenset({S.partially_paid, S.paid, S.approved}),
    S.partially_paid: frozenset({S.paid, S.sent_to_ap}),  # sent_to_ap: its only payment was reversed
    S.withdrawn: frozenset(),
    S.paid: frozenset({S.partially_paid, S.sent_to_ap}),  # a payment reversed
}


def allowed(current: str, target: str) -> bool:
    return State(target) in TRANSITIONS[State(current)]
