"""Health and identity endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from zhibo import __version__
from zhibo.kit.api import ALL_ROLES, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.migrate import current_revision, head_revision

router = APIRouter(tags=["system"], responses=ERROR_RESPONSES)


class Health(BaseModel):
    status: str
    version: str
    database: str
    schema_revision: str | None
    schema_current: bool


class Me(BaseModel):
    role: str
    subject_id: int | None


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Any:
    engine = request.app.state.engine
    revision = current_revision(engine)
    return Health(
        status="ok",
        version=__version__,
        database=engine.dialect.name,
        schema_revision=revision,
        schema_current=revision == head_revision(),
    )


@router.get("/v1/me", response_model=Me)
def me(principal: Annotated[Principal, Depends(require(*ALL_ROLES))]) -> Me:
    return Me(role=str(principal.role), subject_id=principal.subject_id)
