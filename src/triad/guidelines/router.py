"""Guideline sets and versions over the API: read them, and load a new version (validated, audited)."""

from fastapi import APIRouter

from triad.audit.service import Actor
from triad.auth.deps import CurrentUser, DbSession, require
from triad.auth.scoping import get_visible
from triad.core.crud_router import Resource, build_router
from triad.core.errors import NotFound
from triad.core.permissions import Perm
from triad.guidelines import schemas as s
from triad.guidelines.models import GuidelineSet, GuidelineVersion
from triad.guidelines.service import load

versions = APIRouter(prefix="/guidelines/versions", tags=["guidelines"])


@versions.post("", status_code=201, response_model=s.VersionRead,
               summary="Validate a guideline document and store it as the next version of its set",
               dependencies=[require(Perm.guidelines_write)])
def create_version(body: s.VersionCreate, session: DbSession, user: CurrentUser):
    v = load(session=session, text=body.source(), scope=body.scope, firm_id=body.firm_id,
             engagement_id=body.engagement_id, effective_from=body.effective_from, effective_to=body.effective_to,
             actor=Actor.of(user))
    session.commit()
    session.refresh(v)
    return s.VersionRead.model_validate(v)


@versions.get("/{item_id}", response_model=s.VersionRead, summary="One guideline version with its document",
              dependencies=[require(Perm.guidelines_read)])
def get_version(item_id: int, session: DbSession, user: CurrentUser):
    v = session.get(GuidelineVersion, item_id)
    if v is None or get_visible(session, GuidelineSet, v.set_id, user) is None:
        raise NotFound(f"no guideline version with id {item_id}")
    return s.VersionRead.model_validate(v)


routers = [
    versions,
    build_router(Resource(path="/guidelines", model=GuidelineSet, read=s.GuidelineSetRead,
                          read_perm=Perm.guidelines_read, search=("name",), tags=["guidelines"])),
]
