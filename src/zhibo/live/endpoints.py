"""HTTP endpoints for live rooms, sessions and shelves, and the media server's hooks."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse

from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.errors import ZhiboError
from zhibo.kit.pagination import Page
from zhibo.live import service
from zhibo.live.media import MediaServer, media_server_for, redact_secret_from_access_log
from zhibo.live.schemas import (
    MediaHook,
    PublishAllowed,
    PublishDone,
    RoomCreate,
    RoomCreated,
    RoomOut,
    SessionCreate,
    SessionEnded,
    SessionOut,
    SessionSuspend,
    SessionSuspended,
    ShelfItemCreate,
    ShelfItemOut,
    StreamKeyRotated,
)
from zhibo.models import Role
from zhibo.models.session import SessionStatus

router = APIRouter(prefix="/v1", tags=["live"], responses=ERROR_RESPONSES)
logger = logging.getLogger("zhibo.live")
# nginx-rtmp can pass the hook secret only in the hook URL, which access logs print.
redact_secret_from_access_log()

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


@router.get("/rooms/recommended", response_model=Page[RoomOut])
def list_recommended_rooms(
    db: DB, _: Anyone, cursor: Cursor = None, limit: Limit = 50
) -> Page[RoomOut]:
    """Rooms live now whose streamer's level earns recommendation traffic (the grading model's
    ``recommendation_traffic``), less those under a traffic limit."""
    rows, next_cursor = service.list_recommended_rooms(db, cursor, limit)
    return Page(items=[RoomOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("/rooms", response_model=RoomCreated, status_code=201)
def create_room(db: DB, principal: Broadcasters, body: RoomCreate) -> RoomCreated:
    room, key = service.create_room(db, principal, body)
    return RoomCreated(**RoomOut.model_validate(room).model_dump(), stream_key=key)


@router.get("/rooms/{room_id}", response_model=RoomOut)
def get_room(db: DB, _: Anyone, room_id: int) -> RoomOut:
    return RoomOut.model_validate(service.get_room(db, room_id))


@router.post("/rooms/{room_id}/stream-key", response_model=StreamKeyRotated)
def rotate_stream_key(db: DB, principal: Broadcasters, room_id: int) -> StreamKeyRotated:
    room, key = service.rotate_stream_key(db, principal, room_id)
    return StreamKeyRotated(room_id=room.id, stream_key=key)


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


def reconnect_grace(request: Request) -> timedelta:
    """``ZHIBO_PUBLISH_RECONNECT_GRACE_SECONDS`` of the application's settings."""
    return timedelta(seconds=request.app.state.settings.publish_reconnect_grace_seconds)


Grace = Annotated[timedelta, Depends(reconnect_grace)]


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(db: DB, _: Anyone, grace: Grace, session_id: int) -> SessionOut:
    """A session; one whose reconnect grace ran out is ended on the way (committed)."""
    return SessionOut.model_validate(service.read_session(db, session_id, grace=grace))


@router.post("/sessions/{session_id}/start", response_model=SessionOut)
def start_session(db: DB, principal: Broadcasters, session_id: int) -> SessionOut:
    return SessionOut.model_validate(service.start_session(db, principal, session_id))


def get_media_server(request: Request) -> MediaServer:
    """The application's media server (``app.state.media_server``; tests put a fake there)."""
    server: MediaServer | None = getattr(request.app.state, "media_server", None)
    if server is None:
        server = media_server_for(request.app.state.settings)
        request.app.state.media_server = server
    return server


Media = Annotated[MediaServer, Depends(get_media_server)]


@router.post("/sessions/{session_id}/suspend", response_model=SessionSuspended)
def suspend_session(
    db: DB, _: Enforcers, media: Media, session_id: int, body: SessionSuspend
) -> SessionSuspended:
    live_session = service.suspend_session(db, session_id, body.reason)
    # The suspension stands whether or not the media server obeys: commit it first, then cut.
    db.commit()
    cut = service.cut_stream(media, live_session)
    return SessionSuspended(
        **SessionOut.model_validate(live_session).model_dump(),
        stream_cut=cut.dropped if cut else None,
        stream_cut_detail=cut.detail if cut else None,
    )


@router.post("/sessions/{session_id}/end", response_model=SessionEnded)
def end_session(db: DB, principal: Broadcasters, media: Media, session_id: int) -> SessionEnded:
    """End a live or suspended session; a push still on air is cut (after the commit)."""
    live_session = service.end_session(db, principal, session_id)
    # The end stands whether or not the media server obeys: commit it first, then cut.
    db.commit()
    cut = service.cut_stream(media, live_session)
    return SessionEnded(
        **SessionOut.model_validate(live_session).model_dump(),
        stream_cut=cut.dropped if cut else None,
        stream_cut_detail=cut.detail if cut else None,
    )


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


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def media_hook_guard(
    request: Request, secret: Annotated[str | None, Query(max_length=200)] = None
) -> None:
    """Only the media server may call the hooks: it proves it with ``?secret=`` (the setting
    ``ZHIBO_MEDIA_HOOK_SECRET``); without a configured secret only loopback clients may."""
    configured = request.app.state.settings.media_hook_secret
    expected = configured.get_secret_value() if configured is not None else ""
    client = request.client.host if request.client else ""
    if expected:
        if secret is not None and hmac.compare_digest(secret.encode(), expected.encode()):
            return
        logger.warning("media hook %s refused: wrong or missing secret", request.url.path)
        raise service.MediaHookForbidden("secret: wrong or missing media hook secret")
    if _is_loopback(client):
        return
    logger.warning(
        "media hook %s refused: no secret configured and client %s is not loopback",
        request.url.path,
        client,
    )
    raise service.MediaHookForbidden(
        "secret: no media hook secret is configured, so only loopback clients may call hooks"
    )


Hook = Annotated[MediaHook, Form()]
media = APIRouter(
    prefix="/v1/media",
    tags=["media"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(media_hook_guard)],
)


@media.post(
    "/on_publish",
    status_code=302,
    response_model=PublishAllowed,
    responses={302: {"model": PublishAllowed, "description": "Allowed, renamed (Location)"}},
)
def on_publish(db: DB, server: Media, grace: Grace, hook: Hook) -> JSONResponse:
    """nginx-rtmp ``on_publish``: a 3xx lets the push on air under the name in ``Location``
    (the session's public stream name, never the key) and starts its session; a 4xx refuses
    it. The stream key (``name``) is never logged."""
    # Sessions of the room whose push left longer than the grace ago end whatever this push's
    # fate (committed on their own: a refusal rolls back the decision, not the facts).
    service.end_abandoned_sessions_of_key(db, hook.name, grace=grace)
    db.commit()
    try:
        decision = service.authorize_publish(
            db, stream_key=hook.name, app=hook.app, client_id=hook.clientid, grace=grace
        )
        # Commit before answering: nginx puts the stream on air as soon as it reads the 2xx.
        db.commit()
    except ZhiboError as refusal:
        logger.warning(
            "on_publish refused: %s: %s (app=%r clientid=%s)",
            refusal.name,
            refusal.detail,
            hook.app,
            hook.clientid,
        )
        raise
    live_session = decision.session
    logger.info(
        "on_publish allowed: session %s of room %s %s as stream %r (app=%r clientid=%s)",
        live_session.id,
        live_session.room_id,
        "continues" if decision.reconnect else "starts",
        decision.stream_name,
        hook.app,
        hook.clientid,
    )
    # Before answering: nginx would refuse the new connection while the old one publishes.
    service.drop_replaced_publisher(server, decision)
    allowed = PublishAllowed(
        session_id=live_session.id,
        room_id=live_session.room_id,
        reconnect=decision.reconnect,
        stream_name=decision.stream_name,
    )
    # nginx-rtmp reads a 3xx answer's Location as the name to publish under (a value starting
    # with rtmp:// would relay the push elsewhere: stream names never do).
    return JSONResponse(
        allowed.model_dump(), status_code=302, headers={"Location": decision.stream_name}
    )


@media.post("/on_publish_done", response_model=PublishDone)
def on_publish_done(db: DB, grace: Grace, hook: Hook) -> PublishDone:
    """nginx-rtmp ``on_publish_done``: the push ended, so its live session ends, or, with a
    reconnect grace, waits for a push of its room to resume it. Idempotent."""
    ended = service.end_published_session(
        db, stream_key=hook.name, app=hook.app, client_id=hook.clientid, grace=grace
    )
    db.commit()
    if ended is None:
        logger.info(
            "on_publish_done: no live session of this publisher (app=%r clientid=%s)",
            hook.app,
            hook.clientid,
        )
        return PublishDone(session_id=None, ended=False)
    if ended.reconnecting:
        logger.info(
            "on_publish_done: session %s of room %s waits %ss for a reconnect (app=%r clientid=%s)",
            ended.id,
            ended.room_id,
            int(grace.total_seconds()),
            hook.app,
            hook.clientid,
        )
        return PublishDone(
            session_id=ended.id,
            ended=False,
            reconnecting=True,
            publisher_left_at=ended.publisher_left_at,
        )
    logger.info(
        "on_publish_done: session %s of room %s ended (app=%r clientid=%s)",
        ended.id,
        ended.room_id,
        hook.app,
        hook.clientid,
    )
    return PublishDone(session_id=ended.id, ended=True)
