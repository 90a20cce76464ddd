from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import Field, model_validator

from triad.core.schemas import ReadSchema, Schema


class VersionSummary(ReadSchema):
    id: int
    version_no: int
    effective_from: dt.date
    effective_to: dt.date | None
    created_by: str
    created_at: dt.datetime


class GuidelineSetRead(ReadSchema):
    id: int
    scope: str
    firm_id: int | None
    engagement_id: int | None
    name: str
    versions: list[VersionSummary]


class VersionRead(VersionSummary):
    set_id: int
    document: dict[str, Any]
    source_text: str


class VersionCreate(Schema):
    """A new guideline version: the document as YAML/JSON text, or as a JSON object."""

    scope: str = Field(default="company", pattern="^(company|firm|engagement)$")
    firm_id: int | None = None
    engagement_id: int | None = None
    effective_from: dt.date
    effective_to: dt.date | None = None
    text: str | None = Field(default=None, max_length=1_000_000)
    document: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VersionCreate:
        if (self.text is None) == (self.document is None):
            raise ValueError("give the guideline document either as text (YAML or JSON) or as document (an object)")
        return self

    def source(self) -> str:
        return self.text if self.text is not None else json.dumps(self.document, indent=2, ensure_ascii=False)
