from __future__ import annotations

from pydantic import Field

from triad.core.schemas import ReadSchema, Schema


class BusinessUnitCreate(Schema):
    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    legal_entity: str | None = Field(default=None, max_length=100)
    is_active: bool = True


class BusinessUnitUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    legal_entity: str | None = Field(default=None, max_length=100)
    is_active: bool | None = None


class BusinessUnitRead(ReadSchema):
    id: int
    code: str
    name: str
    legal_entity: str | None = None
    is_active: bool


class CostCenterCreate(Schema):
    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    business_unit_id: int
    is_active: bool = True


class CostCenterUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    business_unit_id: int | None = None
    is_active: bool | None = None


class CostCenterRead(ReadSchema):
    id: int
    code: str
    name: str
    business_unit_id: int
    is_active: bool


class GLAccountCreate(Schema):
    number: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="expense", pattern="^(expense|liability|asset|revenue|equity)$")
    is_active: bool = True


class GLAccountUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, pattern="^(expense|liability|asset|revenue|equity)$")
    is_active: bool | None = None


class GLAccountRead(ReadSchema):
    id: int
    number: str
    name: str
    kind: str
    is_active: bool
