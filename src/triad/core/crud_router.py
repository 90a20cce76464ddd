"""Builds the standard JSON API routes for a resource: list (filters, search, pages), get,
create, update. Visibility is applied in every query (``triad.auth.scoping``); a row the
caller may not see is answered with 404, exactly like a row that does not exist.

This module deliberately has no ``from __future__ import annotations``: FastAPI reads the
schema classes from the closures' annotations at definition time.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import or_

from triad.audit.service import Actor
from triad.auth.deps import CurrentUser, DbSession, require
from triad.auth.scoping import get_visible, visible_to
from triad.core import crud
from triad.core.errors import NotFound, PermissionDenied
from triad.core.pagination import Page, PageParams, page_params, paginate
from triad.core.permissions import Perm, has


class NoFilters(BaseModel):
    pass


@dataclass
class Resource:
    path: str
    model: type
    read: type[BaseModel]
    read_perm: Perm
    write_perm: Perm | None = None
    create: type[BaseModel] | None = None
    update: type[BaseModel] | None = None
    filters: type[BaseModel] = NoFilters
    search: tuple[str, ...] = ()
    create_fn: Callable[..., Any] | None = None  # (session=, data=, actor=) -> obj
    update_fn: Callable[..., Any] | None = None  # (session=, obj=, data=, actor=) -> obj
    tags: list[str] = field(default_factory=list)

    @property
    def noun(self) -> str:
        return self.model.__tablename__.replace("_", " ")


def build_router(res: Resource) -> APIRouter:
    router = APIRouter(prefix=res.path, tags=res.tags or [res.path.strip("/")])
    model = res.model
    Read = res.read
    Filters = res.filters

    @router.get("", response_model=Page[Read], summary=f"List {res.noun} records",
                dependencies=[require(res.read_perm)])
    def list_items(
        session: DbSession,
        user: CurrentUser,
        filters: Annotated[Filters, Query()],
        params: Annotated[PageParams, Depends(page_params)],
        q: Annotated[str | None, Query(max_length=200, description="Search text")] = None,
    ):
        stmt = visible_to(model, user)
        for key, value in filters.model_dump(exclude_none=True).items():
            stmt = stmt.where(getattr(model, key) == value)
        if q and res.search:
            like = f"%{q.strip()}%"
            stmt = stmt.where(or_(*[getattr(model, c).ilike(like) for c in res.search]))
        rows, total = paginate(session, stmt.order_by(model.id), params)
        return Page[Read](items=[Read.model_validate(r) for r in rows], total=total,
                          page=params.page, size=params.size)

    @router.get("/{item_id}", response_model=Read, summary=f"Get one {res.noun}",
                dependencies=[require(res.read_perm)])
    def get_item(item_id: int, session: DbSession, user: CurrentUser):
        obj = get_visible(session, model, item_id, user)
        if obj is None:
            raise NotFound(f"no {res.noun} with id {item_id}")
        return Read.model_validate(obj)

    if res.create is not None and res.write_perm is not None:
        Create = res.create
        create_fn = res.create_fn or (lambda *, session, data, actor: crud.create(
            session=session, model=model, data=data, actor=actor))

        @router.post("", response_model=Read, status_code=201, summary=f"Create a {res.noun}",
                     dependencies=[require(res.write_perm)])
        def create_item(body: Create, session: DbSession, user: CurrentUser):
            obj = create_fn(session=session, data=body, actor=Actor.of(user))
            session.commit()
            return Read.model_validate(obj)

    if res.update is not None and res.write_perm is not None:
        Update = res.update
        write_perm = res.write_perm
        update_fn = res.update_fn or (lambda *, session, obj, data, actor: crud.update(
            session=session, obj=obj, data=data, actor=actor))

        @router.patch("/{item_id}", response_model=Read, summary=f"Change a {res.noun}",
                      dependencies=[require(res.read_perm)])
        def update_item(item_id: int, body: Update, session: DbSession, user: CurrentUser):
            # Visibility first (404 for another firm's row), then the write permission (403).
            obj = get_visible(session, model, item_id, user)
            if obj is None:
                raise NotFound(f"no {res.noun} with id {item_id}")
            if not has(user.role, write_perm):
                raise PermissionDenied(f"your role ({user.role}) lacks the permission {write_perm.value}")
            obj = update_fn(session=session, obj=obj, data=body, actor=Actor.of(user))
            session.commit()
            session.refresh(obj)
            return Read.model_validate(obj)

    return router
