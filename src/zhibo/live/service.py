"""What live rooms do: open rooms, schedule and move sessions, fill shelves."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo.catalog.selection import check_sellable
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.hashing import token_hash
from zhibo.kit.pagination import paginate
from zhibo.kit.time import utcnow
from zhibo.live.schemas import RoomCreate, SessionCreate, ShelfItemCreate
from zhibo.models import (
    LiveRoom,
    LiveSession,
    Product,
    Role,
    ShelfItem,
    Streamer,
)
from zhibo.models.room import RoomStatus
from zhibo.models.session import SessionStatus


class RoomSuspended(Conflict):
    """A suspended or closed room cannot schedule sessions."""


def _owns_streamer(principal: Principal, streamer_id: int) -> None:
    if principal.role == Role.STREAMER and principal.subject_id != streamer_id:
        raise Forbidden("streamer_id: a streamer acts only for itself")


def new_stream_key() -> str:
    return "sk_" + secrets.token_urlsafe(24)


def create_room(
    session: Session, principal: Principal, data: RoomCreate, at: datetime | None = None
) -> tuple[LiveRoom, str]:
    _owns_streamer(principal, data.streamer_id)
    if session.get(Streamer, data.streamer_id) is None:
        raise InvalidInput(f"streamer_id: no streamer with id {data.streamer_id}")
    key = new_stream_key()
    room = LiveRoom(
        streamer_id=data.streamer_id,
        title=data.title,
        stream_key_hash=token_hash(key),
        status=RoomStatus.ACTIVE,
        is_key_room=False,
        created_at=at or utcnow(),
    )
    session.add(room)
    session.flush()
    return room, key


def list_rooms(
    session: Session, cursor: str | None, limit: int, streamer_id: int | None = None
) -> tuple[Sequence[LiveRoom], str | None]:
    query = select(LiveRoom)
    if streamer_id is not None:
        query = query.where(LiveRoom.streamer_id == streamer_id)
    return paginate(session, query, LiveRoom.id, cursor, limit)


def get_room(session: Session, room_id: int) -> LiveRoom:
    room = session.get(LiveRoom, room_id)
    if room is None:
        raise NotFound(f"room: no room with id {room_id}")
    return room


def schedule_session(session: Session, principal: Principal, data: SessionCreate) -> LiveSession:
    room = session.get(LiveRoom, data.room_id)
    if room is None:
        raise InvalidInput(f"room_id: no room with id {data.room_id}")
    _owns_streamer(principal, room.streamer_id)
    if room.status != RoomStatus.ACTIVE:
        raise RoomSuspended(f"room_id: room {room.id} is {room.status}")
    live_session = LiveSession(
        room_id=room.id,
        streamer_id=room.streamer_id,
        title=data.title,
        status=SessionStatus.SCHEDULED,
        scheduled_start_at=data.scheduled_start_at,
    )
    session.add(live_session)
    session.flush()
    return live_session


def list_sessions(
    session: Session,
    cursor: str | None,
    limit: int,
    status: SessionStatus | None = None,
    room_id: int | None = None,
    streamer_id: int | None = None,
) -> tuple[Sequence[LiveSession], str | None]:
    query = select(LiveSession)
    if status is not None:
        query = query.where(LiveSession.status == status)
    if room_id is not None:
        query = query.where(LiveSession.room_id == room_id)
    if streamer_id is not None:
        query = query.where(LiveSession.streamer_id == streamer_id)
    return paginate(session, query, LiveSession.id, cursor, limit)


def get_session(session: Session, session_id: int) -> LiveSession:
    live_session = session.get(LiveSession, session_id)
    if live_session is None:
        raise NotFound(f"session: no session with id {session_id}")
    return live_session


def start_session(
    session: Session, principal: Principal, session_id: int, at: datetime | None = None
) -> LiveSession:
    live_session = get_session(session, session_id)
    _owns_streamer(principal, live_session.streamer_id)
    live_session.start(at or utcnow())
    session.flush()
    return live_session


def end_session(
    session: Session, principal: Principal, session_id: int, at: datetime | None = None
) -> LiveSession:
    live_session = get_session(session, session_id)
    _owns_streamer(principal, live_session.streamer_id)
    live_session.end(at or utcnow())
    session.flush()
    return live_session


def suspend_session(
    session: Session, session_id: int, reason: str, at: datetime | None = None
) -> LiveSession:
    live_session = get_session(session, session_id)
    live_session.suspend(at or utcnow(), reason)
    session.flush()
    return live_session


def resume_session(session: Session, session_id: int) -> LiveSession:
    live_session = get_session(session, session_id)
    live_session.resume()
    session.flush()
    return live_session


def shelf(session: Session, session_id: int) -> Sequence[ShelfItem]:
    get_session(session, session_id)
    return session.scalars(
        select(ShelfItem)
        .where(ShelfItem.session_id == session_id)
        .order_by(ShelfItem.position, ShelfItem.id)
    ).all()


def add_to_shelf(
    session: Session,
    principal: Principal,
    session_id: int,
    data: ShelfItemCreate,
    at: datetime | None = None,
) -> ShelfItem:
    live_session = get_session(session, session_id)
    _owns_streamer(principal, live_session.streamer_id)
    if live_session.status == SessionStatus.ENDED:
        raise Conflict(f"session_id: session {session_id} has ended")
    product = session.get(Product, data.product_id)
    if product is None:
        raise InvalidInput(f"product_id: no product with id {data.product_id}")
    streamer = session.get(Streamer, live_session.streamer_id)
    if streamer is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound(f"streamer: no streamer with id {live_session.streamer_id}")
    check_sellable(session, streamer, product)
    existing = select(ShelfItem.id).where(
        ShelfItem.session_id == session_id, ShelfItem.product_id == product.id
    )
    if session.scalar(existing) is not None:
        raise Conflict(f"product_id: product {product.id} is already on this shelf")
    position = (
        session.scalar(
            select(func.count()).select_from(ShelfItem).where(ShelfItem.session_id == session_id)
        )
        or 0
    )
    item = ShelfItem(
        session_id=session_id,
        product_id=product.id,
        commission_rate_bp=data.commission_rate_bp
        if data.commission_rate_bp is not None
        else product.commission_rate_bp,
        slot_fee_fen=data.slot_fee_fen,
        currency=data.currency,
        position=position,
        added_at=at or utcnow(),
    )
    session.add(item)
    session.flush()
    return item
