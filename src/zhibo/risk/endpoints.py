"""Risk endpoints: check a text against the running text rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from zhibo.kit.api import ALL_ROLES, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.risk.screens import check_text

router = APIRouter(prefix="/v1/risk", tags=["risk"], responses=ERROR_RESPONSES)

Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]


class TextCheck(BaseModel):
    text: str = Field(max_length=20_000)
    #: Only rules reading this field (``title``, ``description``, ``comment``, ``transcript``).
    field: str | None = None


class TextMatchOut(BaseModel):
    term: str
    category: str
    start: int
    end: int
    normalized: str
    text: str
    form: str
    contact: str | None
    detector: str
    rule_id: str
    rule_version: int
    rule_state: str
    severity: str
    measures: list[str]


@router.post("/check-text", response_model=list[TextMatchOut])
def check_text_endpoint(body: TextCheck, _principal: Anyone) -> list[TextMatchOut]:
    """Banned absolute terms, health claims and off-platform contacts in a text, with offsets in
    the text as sent and the rule (id, version, state) that reports each (see docs/risk.md)."""
    return [TextMatchOut(**item.as_dict()) for item in check_text(body.text, field=body.field)]
