"""HTTP endpoints for partners, streamers and viewers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhibo.accounts import service
from zhibo.accounts.schemas import (
    PartnerCreate,
    PartnerOut,
    StreamerCreate,
    StreamerOut,
    ViewerOut,
)
from zhibo.kit.api import DB, ERROR_RESPONSES, READERS, require
from zhibo.kit.auth import Principal
from zhibo.kit.pagination import Page
from zhibo.models import Role

router = APIRouter(prefix="/v1", tags=["accounts"], responses=ERROR_RESPONSES)

Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=500)]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
StreamerReaders = Annotated[Principal, Depends(require(*READERS, Role.STREAMER, Role.PARTNER))]
PartnerReaders = Annotated[Principal, Depends(require(*READERS, Role.PARTNER))]
Registrars = Annotated[Principal, Depends(require(Role.OPERATOR, Role.PARTNER))]
ViewerReaders = Annotated[Principal, Depends(require(*READERS, Role.VIEWER))]


@router.get("/partners", response_model=Page[PartnerOut])
def list_partners(
    db: DB, principal: PartnerReaders, cursor: Cursor = None, limit: Limit = 50
) -> Page[PartnerOut]:
    rows, next_cursor = service.list_partners(db, principal, cursor, limit)
    return Page(items=[PartnerOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("/partners", response_model=PartnerOut, status_code=201)
def create_partner(db: DB, _: Operator, body: PartnerCreate) -> PartnerOut:
    return PartnerOut.model_validate(service.create_partner(db, body))


@router.get("/streamers", response_model=Page[StreamerOut])
def list_streamers(
    db: DB,
    principal: StreamerReaders,
    cursor: Cursor = None,
    limit: Limit = 50,
    partner_id: int | None = None,
) -> Page[StreamerOut]:
    rows, next_cursor = service.list_streamers(db, principal, cursor, limit, partner_id)
    return Page(items=[StreamerOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("/streamers", response_model=StreamerOut, status_code=201)
def create_streamer(db: DB, principal: Registrars, body: StreamerCreate) -> StreamerOut:
    return StreamerOut.model_validate(service.create_streamer(db, principal, body))


@router.get("/streamers/{streamer_id}", response_model=StreamerOut)
def get_streamer(db: DB, principal: StreamerReaders, streamer_id: int) -> StreamerOut:
    return StreamerOut.model_validate(service.get_streamer(db, principal, streamer_id))


@router.get("/viewers/{viewer_id}", response_model=ViewerOut)
def get_viewer(db: DB, principal: ViewerReaders, viewer_id: int) -> ViewerOut:
    return ViewerOut.model_validate(service.get_viewer(db, principal, viewer_id))
