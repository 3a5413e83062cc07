"""HTTP endpoints for live rooms, sessions and shelves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.pagination import Page
from zhibo.live import service
from zhibo.live.schemas import (
    RoomCreate,
    RoomCreated,
    RoomOut,
    SessionCreate,
    SessionOut,
    SessionSuspend,
    ShelfItemCreate,
    ShelfItemOut,
)
from zhibo.models import Role
from zhibo.models.session import SessionStatus

router = APIRouter(prefix="/v1", tags=["live"], responses=ERROR_RESPONSES)

Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=500)]
#: Rooms and sessions are public broadcasts: every role may read them.
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
Broadcasters = Annotated[Principal, Depends(require(Role.OPERATOR, Role.STREAMER))]
Enforcers = Annotated[Principal, Depends(require(Role.OPERATOR, Role.COMPLIANCE))]


@router.get("/rooms", response_model=Page[RoomOut])
def list_rooms(
    db: DB, _: Anyone, cursor: Cursor = None, limit: Limit = 50, streamer_id: int | None = None
) -> Page[RoomOut]:
    rows, next_cursor = service.list_rooms(db, cursor, limit, streamer_id)
    return Page(items=[RoomOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("/rooms", response_model=RoomCreated, status_code=201)
def create_room(db: DB, principal: Broadcasters, body: RoomCreate) -> RoomCreated:
    room, key = service.create_room(db, principal, body)
    return RoomCreated(**RoomOut.model_validate(room).model_dump(), stream_key=key)


@router.get("/rooms/{room_id}", response_model=RoomOut)
def get_room(db: DB, _: Anyone, room_id: int) -> RoomOut:
    return RoomOut.model_validate(service.get_room(db, room_id))


@router.get("/sessions", response_model=Page[SessionOut])
def list_sessions(
    db: DB,
    _: Anyone,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: SessionStatus | None = None,
    room_id: int | None = None,
    streamer_id: int | None = None,
) -> Page[SessionOut]:
    rows, next_cursor = service.list_sessions(db, cursor, limit, status, room_id, streamer_id)
    return Page(items=[SessionOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("/sessions", response_model=SessionOut, status_code=201)
def schedule_session(db: DB, principal: Broadcasters, body: SessionCreate) -> SessionOut:
    return SessionOut.model_validate(service.schedule_session(db, principal, body))


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(db: DB, _: Anyone, session_id: int) -> SessionOut:
    return SessionOut.model_validate(service.get_session(db, session_id))


@router.post("/sessions/{session_id}/start", response_model=SessionOut)
def start_session(db: DB, principal: Broadcasters, session_id: int) -> SessionOut:
    return SessionOut.model_validate(service.start_session(db, principal, session_id))


@router.post("/sessions/{session_id}/end", response_model=SessionOut)
def end_session(db: DB, principal: Broadcasters, session_id: int) -> SessionOut:
    return SessionOut.model_validate(service.end_session(db, principal, session_id))


@router.post("/sessions/{session_id}/suspend", response_model=SessionOut)
def suspend_session(db: DB, _: Enforcers, session_id: int, body: SessionSuspend) -> SessionOut:
    return SessionOut.model_validate(service.suspend_session(db, session_id, body.reason))


@router.post("/sessions/{session_id}/resume", response_model=SessionOut)
def resume_session(db: DB, _: Enforcers, session_id: int) -> SessionOut:
    return SessionOut.model_validate(service.resume_session(db, session_id))


@router.get("/sessions/{session_id}/shelf", response_model=list[ShelfItemOut])
def get_shelf(db: DB, _: Anyone, session_id: int) -> list[ShelfItemOut]:
    return [ShelfItemOut.model_validate(row) for row in service.shelf(db, session_id)]


@router.post("/sessions/{session_id}/shelf", response_model=ShelfItemOut, status_code=201)
def add_to_shelf(
    db: DB, principal: Broadcasters, session_id: int, body: ShelfItemCreate
) -> ShelfItemOut:
    return ShelfItemOut.model_validate(service.add_to_shelf(db, principal, session_id, body))
