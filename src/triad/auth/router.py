from fastapi import APIRouter
from pydantic import BaseModel

from triad.audit.service import Actor
from triad.auth import schemas as s
from triad.auth import service
from triad.auth.deps import CurrentUser, DbSession
from triad.auth.models import User
from triad.core.crud_router import Resource, build_router
from triad.core.permissions import ROLE_PERMS, Perm, Role


class UserFilters(BaseModel):
    role: str | None = None
    firm_id: int | None = None
    is_active: bool | None = None


def _update(*, session, obj, data, actor):
    return service.update_user(session=session, user=obj, data=data, actor=actor)


me_router = APIRouter(prefix="/auth", tags=["auth"])


class Me(s.UserRead):
    permissions: list[str]


@me_router.get("/me", response_model=Me, summary="Who am I, and what may I do")
def me(user: CurrentUser):
    return Me(**s.UserRead.model_validate(user).model_dump(),
              permissions=sorted(p.value for p in ROLE_PERMS[Role(user.role)]))


@me_router.post("/tokens", response_model=s.TokenCreated, status_code=201,
                summary="Create an API token for yourself (shown once)")
def create_token(body: s.TokenCreate, session: DbSession, user: CurrentUser):
    tok, plain = service.create_api_token(session=session, user=user, name=body.name,
                                          expires_in_days=body.expires_in_days, actor=Actor.of(user))
    session.commit()
    return s.TokenCreated(id=tok.id, name=tok.name, prefix=tok.prefix, token=plain, expires_at=tok.expires_at)


routers = [
    build_router(Resource(
        path="/users", model=User, read=s.UserRead, create=s.UserCreate, update=s.UserUpdate,
        read_perm=Perm.users_read, write_perm=Perm.users_write, filters=UserFilters,
        search=("username", "full_name", "email"), create_fn=service.create_user, update_fn=_update)),
    me_router,
]
