"""Generic create/update used by domain services: reference and uniqueness checks, nested
children, one audit event per change. Domain services add their own rules on top."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import UniqueConstraint, and_, inspect, select
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record, snapshot
from triad.core.db import Base
from triad.core.errors import Conflict, ValidationFailed


def _class_for_table(table_name: str) -> type | None:
    for mapper in Base.registry.mappers:
        if mapper.local_table.name == table_name:
            return mapper.class_
    return None


def check_references(session: Session, model: type, values: dict[str, Any]) -> None:
    """Every foreign key given must point at an existing row; otherwise 422 naming the field."""
    errors = []
    for col in model.__table__.columns:
        if col.key not in values or values[col.key] is None:
            continue
        for fk in col.foreign_keys:
            target = _class_for_table(fk.column.table.name)
            if target is not None and session.get(target, values[col.key]) is None:
                errors.append({"field": col.key, "message": f"no {fk.column.table.name} with id {values[col.key]}"})
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def check_unique(session: Session, model: type, values: dict[str, Any], exclude_id: int | None = None) -> None:
    """Refuse a duplicate of a unique column or constraint with 409 naming the fields."""
    table = model.__table__
    groups: list[list[str]] = [[c.key] for c in table.columns if c.unique]
    groups += [[c.key for c in con.columns] for con in table.constraints if isinstance(con, UniqueConstraint)]
    for keys in groups:
        if not all(k in values for k in keys):
            continue
        cond = and_(*[getattr(model, k) == values[k] for k in keys])
        stmt = select(model.id).where(cond)
        if exclude_id is not None:
            stmt = stmt.where(model.id != exclude_id)
        if session.scalar(stmt) is not None:
            shown = ", ".join(f"{k}={values[k]!r}" for k in keys)
            raise Conflict(f"a {table.name} with {shown} already exists")


def _split(data: BaseModel, model: type, *, exclude_unset: bool) -> tuple[dict, dict]:
    raw = data.model_dump(exclude_unset=exclude_unset)
    rels = inspect(model).relationships
    children = {k: v for k, v in raw.items() if k in rels}
    scalars = {k: v for k, v in raw.items() if k not in rels}
    return scalars, children


def _check_children(session: Session, model: type, children: dict[str, list[dict] | None]) -> None:
    """Nested rows get the same checks as top-level ones: references exist, and no two items
    of one list collide on a unique key of the child table (the parent key is implied)."""
    rels = inspect(model).relationships
    for key, items in children.items():
        if not items:
            continue
        child_cls = rels[key].mapper.class_
        parent_cols = {c.key for c in rels[key].remote_side}
        for n, item in enumerate(items):
            try:
                check_references(session, child_cls, item)
            except ValidationFailed as exc:
                errors = [{"field": f"{key}[{n}].{e['field']}", "message": e["message"]} for e in exc.errors]
                raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                                       errors=errors) from None
        for con in child_cls.__table__.constraints:
            if not isinstance(con, UniqueConstraint):
                continue
            cols = [c.key for c in con.columns if c.key not in parent_cols]
            seen: set[tuple] = set()
            for n, item in enumerate(items):
                value = tuple(item.get(c) for c in cols)
                if value in seen:
                    shown = ", ".join(f"{c}={v!r}" for c, v in zip(cols, value, strict=True))
                    raise ValidationFailed(f"{key}: two items have {shown}",
                                           errors=[{"field": f"{key}[{n}]", "message": f"duplicate {shown}"}])
                seen.add(value)


def _set_children(session: Session, obj: Any, children: dict[str, list[dict] | None]) -> None:
    rels = inspect(type(obj)).relationships
    for key, items in children.items():
        if items is None:
            continue
        child_cls = rels[key].mapper.class_
        current = getattr(obj, key)
        if current:
            # delete the old rows first: the unit of work inserts before it deletes, so a new row
            # with the same unique key as an old one would otherwise collide
            current.clear()
            session.flush()
        setattr(obj, key, [child_cls(**item) for item in items])


def _children_snapshot(obj: Any, keys: list[str]) -> dict[str, Any]:
    return {k: [snapshot(c) for c in getattr(obj, k)] for k in keys}


def create(*, session: Session, model: type, data: BaseModel, actor: Actor, **extra: Any) -> Any:
    """Create a row (and nested children) from a validated schema; one audit event."""
    scalars, children = _split(data, model, exclude_unset=False)
    scalars.update(extra)
    check_references(session, model, scalars)
    check_unique(session, model, scalars)
    _check_children(session, model, children)
    obj = model(**scalars)
    _set_children(session, obj, children)
    session.add(obj)
    session.flush()
    _audit_children_created(session, actor, obj, list(children))
    return obj


def _audit_children_created(session: Session, actor: Actor, obj: Any, keys: list[str]) -> None:
    session.flush()
    after = snapshot(obj)
    after.update(_children_snapshot(obj, keys))
    record(session, actor=actor, action=f"{obj.__tablename__}.created", entity_type=obj.__tablename__,
           entity_id=obj.id, after=after)


def update(*, session: Session, obj: Any, data: BaseModel, actor: Actor, reason: str | None = None) -> Any:
    """Apply the fields that were sent; replace nested lists that were sent; one audit event."""
    model = type(obj)
    scalars, children = _split(data, model, exclude_unset=True)
    nullable = {c.key for c in model.__table__.columns if c.nullable}
    for key, value in scalars.items():
        if value is None and key not in nullable:
            raise ValidationFailed(f"{key} cannot be empty", errors=[{"field": key, "message": "required"}])
    check_references(session, model, scalars)
    merged = {c.key: getattr(obj, c.key) for c in model.__table__.columns} | scalars
    check_unique(session, model, merged, exclude_id=obj.id)
    _check_children(session, model, children)
    keys = [k for k, v in children.items() if v is not None]
    before = snapshot(obj) | _children_snapshot(obj, keys)
    for key, value in scalars.items():
        setattr(obj, key, value)
    _set_children(session, obj, children)
    session.flush()
    after = snapshot(obj) | _children_snapshot(obj, keys)
    changed = sorted(k for k in after if after[k] != before.get(k))
    if not changed:
        return obj  # nothing changed: no audit event
    record(session, actor=actor, action=f"{obj.__tablename__}.updated", entity_type=obj.__tablename__,
           entity_id=obj.id, before={k: before.get(k) for k in changed}, after={k: after[k] for k in changed},
           reason=reason)
    return obj

