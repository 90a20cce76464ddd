from __future__ import annotations

import datetime as dt

from pydantic import EmailStr, Field, model_validator

from triad.core.permissions import Role
from triad.core.schemas import ReadSchema, Schema

MIN_PASSWORD = 10


class UserCreate(Schema):
    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    email: EmailStr
    full_name: str = Field(min_length=1, max_length=200)
    role: Role
    firm_id: int | None = None
    password: str = Field(min_length=MIN_PASSWORD, max_length=200)
    is_active: bool = True

    @model_validator(mode="after")
    def _firm(self) -> UserCreate:
        if (self.role == Role.outside_counsel) != (self.firm_id is not None):
            raise ValueError("firm_id is required for outside_counsel and only for that role")
        return self


class UserUpdate(Schema):
    email: EmailStr | None = None
    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    is_active: bool | None = None
    away_until: dt.date | None = None
    password: str | None = Field(default=None, min_length=MIN_PASSWORD, max_length=200)


class UserRead(ReadSchema):
    id: int
    username: str
    email: str
    full_name: str
    role: str
    firm_id: int | None
    is_active: bool
    away_until: dt.date | None = None
    last_login_at: dt.datetime | None


class TokenCreate(Schema):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=365, ge=1, le=3650)


class TokenCreated(ReadSchema):
    id: int
    name: str
    prefix: str
    token: str
    expires_at: dt.datetime | None
