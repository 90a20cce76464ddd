"""The demo company: the promised sizes, every role, and idempotent loading."""

import sqlalchemy as sa

from triad.audit.service import verify
from triad.auth.models import User
from triad.core.permissions import Role
from triad.demo.loader import load
from triad.firms.models import LawFirm, Timekeeper
from triad.matters.models import Matter
from triad.org.models import BusinessUnit


def _count(db, model):
    return db.scalar(sa.select(sa.func.count()).select_from(model))


def test_demo_loads_once(db):
    created = load(session=db)
    assert created["business_units"] == 3
    assert created["law_firms"] == 6
    assert created["matters"] == 40
    assert _count(db, BusinessUnit) == 3 and _count(db, LawFirm) == 6 and _count(db, Matter) == 40
    kinds = set(db.scalars(sa.select(Matter.matter_type)))
    assert {"litigation", "counseling", "transactional"} <= kinds
    classes = set(db.scalars(sa.select(Timekeeper.classification)))
    assert {"PARTNR", "ASSOC", "PARLGL"} <= classes
    roles = set(db.scalars(sa.select(User.role)))
    assert roles == {r.value for r in Role}
    snapshot = {m: _count(db, m) for m in (BusinessUnit, LawFirm, Matter, User, Timekeeper)}
    assert load(session=db) == {}
    assert {m: _count(db, m) for m in snapshot} == snapshot
    assert verify(db).ok
