"""Row-level visibility: what each user may see, enforced in the query.

Outside counsel are bound to one law firm and see only that firm's rows.
Models not listed here are invisible to them (the safe default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, false, select

from triad.auth.models import User
from triad.budgets.models import Budget
from triad.contracts.models import Contract
from triad.core.permissions import Role
from triad.firms.models import LawFirm, Timekeeper
from triad.guidelines.models import GuidelineSet
from triad.invoices.models import Invoice
from triad.matters.models import Engagement, Matter
from triad.vendors.models import Vendor


def _firm_vendor(firm_id: int):
    return select(LawFirm.vendor_id).where(LawFirm.id == firm_id).scalar_subquery()


def _engaged_matters(firm_id: int):
    return select(Engagement.matter_id).where(Engagement.firm_id == firm_id)


_COUNSEL_FILTERS: dict[type, Callable[[User], ColumnElement[bool]]] = {
    LawFirm: lambda u: LawFirm.id == u.firm_id,
    Vendor: lambda u: Vendor.id == _firm_vendor(u.firm_id),
    Timekeeper: lambda u: Timekeeper.firm_id == u.firm_id,
    Matter: lambda u: Matter.id.in_(_engaged_matters(u.firm_id)),
    Engagement: lambda u: Engagement.firm_id == u.firm_id,
    Budget: lambda u: (Budget.vendor_id == _firm_vendor(u.firm_id))
    & Budget.matter_id.in_(_engaged_matters(u.firm_id)),
    Invoice: lambda u: Invoice.firm_id == u.firm_id,
    Contract: lambda u: Contract.vendor_id == _firm_vendor(u.firm_id),
    User: lambda u: User.id == u.id,
    # the guidelines a firm is bound by: the company default, its own, its engagements'
    GuidelineSet: lambda u: (GuidelineSet.scope == "company") | (GuidelineSet.firm_id == u.firm_id)
    | GuidelineSet.engagement_id.in_(select(Engagement.id).where(Engagement.firm_id == u.firm_id)),
}


def visibility(model: type, user: User) -> ColumnElement[bool] | None:
    """A WHERE clause limiting ``model`` to what ``user`` may see, or None for everything."""
    if user.role != Role.outside_counsel:
        return None
    if user.firm_id is None:
        return false()
    make = _COUNSEL_FILTERS.get(model)
    return make(user) if make else false()


def scoped(stmt: Select, model: type, user: User) -> Select:
    clause = visibility(model, user)
    return stmt if clause is None else stmt.where(clause)


def visible_to(model: type, user: User) -> Select:
    """``SELECT model`` limited to the rows ``user`` may see, e.g. ``visible_to(Invoice, user)``."""
    return scoped(select(model), model, user)


def get_visible(session: Any, model: type, obj_id: int, user: User) -> Any | None:
    """Load one row if it exists *and* the user may see it; None otherwise (callers answer 404)."""
    return session.scalar(visible_to(model, user).where(model.id == obj_id))
