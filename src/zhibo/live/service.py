"""What live rooms do: open rooms, schedule and move sessions, fill shelves, and decide which
RTMP pushes may go on air."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo.catalog.selection import check_sellable, check_shelf_room
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.hashing import token_hash
from zhibo.kit.pagination import paginate
from zhibo.kit.time import utcnow
from zhibo.live.media import DropResult, MediaServer, session_of_stream_name, stream_name
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
from zhibo.models.session import SessionEndReason, SessionStatus
from zhibo.models.streamer import StreamerStatus

logger = logging.getLogger("zhibo.live")


class RoomSuspended(Conflict):
    """A suspended or closed room cannot schedule sessions."""


class MediaHookForbidden(Forbidden):
    """A media-server hook without the shared secret (or, with none configured, not from
    loopback)."""


class UnknownStreamKey(Forbidden):
    """No room has this stream key: a wrong, missing or rotated key."""


class RoomNotActive(Forbidden):
    """A suspended or closed room refuses pushes."""


class StreamerNotVerified(Forbidden):
    """Only an active streamer with a verified real-name identity may go live."""


class SessionIsSuspended(Forbidden):
    """The room's session was suspended by the platform: pushes are refused until it resumes."""


class NoScheduledSession(Conflict):
    """A push needs a scheduled session of its room (or a live one to reconnect to)."""


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


def rotate_stream_key(session: Session, principal: Principal, room_id: int) -> tuple[LiveRoom, str]:
    """A new stream key for the room, returned once; the old one stops opening pushes at once.

    A push already on air is not cut: its session was authorised when it started.
    """
    room = get_room(session, room_id)
    _owns_streamer(principal, room.streamer_id)
    key = new_stream_key()
    room.stream_key_hash = token_hash(key)
    session.flush()
    logger.info("stream key of room %s rotated", room.id)
    return room, key


def list_rooms(
    session: Session, cursor: str | None, limit: int, streamer_id: int | None = None
) -> tuple[Sequence[LiveRoom], str | None]:
    query = select(LiveRoom)
    if streamer_id is not None:
        query = query.where(LiveRoom.streamer_id == streamer_id)
    return paginate(session, query, LiveRoom.id, cursor, limit)


def list_recommended_rooms(
    session: Session, cursor: str | None, limit: int, at: datetime | None = None
) -> tuple[Sequence[LiveRoom], str | None]:
    """Live rooms whose streamer's level unlocks recommendation traffic and that no traffic
    limit holds out (``zhibo.grading.recommendation``)."""
    from zhibo.grading.recommendation import recommended_rooms_query

    return paginate(session, recommended_rooms_query(at), LiveRoom.id, cursor, limit)


def get_room(session: Session, room_id: int) -> LiveRoom:
    room = session.get(LiveRoom, room_id)
    if room is None:
        raise NotFound(f"room: no room with id {room_id}")
    return room


def check_may_follow_room(session: Session, principal: Principal, room_id: int) -> LiveRoom:
    """The room's own channel (its SSE stream of metric updates and notices, risk notices
    among them) is for the platform's global readers, the room's streamer and the streamer's
    partner (agency); anyone else gets ``Forbidden``, a missing room ``NotFound``."""
    room = get_room(session, room_id)
    if principal.is_global:
        return room
    if principal.role == Role.STREAMER and principal.subject_id == room.streamer_id:
        return room
    if principal.role == Role.PARTNER:
        streamer = session.get(Streamer, room.streamer_id)
        if streamer is not None and streamer.partner_id == principal.subject_id:
            return room
    raise Forbidden(
        f"room {room_id}: only its streamer, their partner or the platform may follow it"
    )


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
    at = at or utcnow()
    # A manual start passes the same checks as a push (room active, streamer verified, identity
    # re-checked before going live), so the API is no way around them.
    room = session.get(LiveRoom, live_session.room_id)
    if room is None:
        raise NotFound(f"session_id: session {session_id} has no room")
    _check_may_go_live(session, room, at)
    live_session.start(at)
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


def ended_session_ids(session: Session, session_ids: Sequence[int]) -> list[int]:
    """Those of ``session_ids`` that have ended (the event pipeline forgets their state)."""
    ended: list[int] = []
    for start in range(0, len(session_ids), 5000):
        chunk = list(session_ids[start : start + 5000])
        ended.extend(
            session.scalars(
                select(LiveSession.id).where(
                    LiveSession.id.in_(chunk), LiveSession.status == SessionStatus.ENDED
                )
            )
        )
    return ended


def cut_stream(media: MediaServer, live_session: LiveSession) -> DropResult | None:
    """Drop the session's RTMP publisher; ``None`` when it has none on record.

    A side effect on another system: call it after the commit, never inside the transaction.
    """
    if live_session.publish_app is None or live_session.publish_client_id is None:
        return None
    if live_session.publisher_left_at is not None:
        # The push already ended (the session was waiting for a reconnect): nothing is on air.
        return None
    result = media.drop_publisher(
        app=live_session.publish_app,
        name=stream_name(live_session.id),
        client_id=live_session.publish_client_id,
    )
    logger.info("session %s: stream cut=%s (%s)", live_session.id, result.dropped, result.outcome)
    return result


def drop_replaced_publisher(media: MediaServer, decision: PublishDecision) -> DropResult | None:
    """Drop the connection a reconnect replaced (nginx-rtmp keeps one publisher per stream, so
    the old one would block the new); ``None`` when nothing was replaced."""
    if decision.replaced_publisher is None:
        return None
    app, client_id = decision.replaced_publisher
    return media.drop_publisher(app=app, name=stream_name(decision.session.id), client_id=client_id)


def resume_session(session: Session, session_id: int, at: datetime | None = None) -> LiveSession:
    live_session = get_session(session, session_id)
    live_session.resume(at or utcnow())
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
    check_shelf_room(session, streamer, session_id)
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


@dataclass(frozen=True, slots=True)
class PublishDecision:
    """An allowed push: the session it carries and the publisher it replaces, if any."""

    session: LiveSession
    reconnect: bool
    #: The public name nginx-rtmp is told to publish the push under (``on_publish`` redirect).
    stream_name: str
    #: ``(app, client_id)`` of the previous publisher of a live session, which the media server
    #: may still hold (its connection not yet timed out): drop it after commit.
    replaced_publisher: tuple[str, str] | None = None


def _room_by_stream_key(session: Session, stream_key: str) -> LiveRoom | None:
    if not stream_key:
        return None
    # Locking the room serialises the decisions about one room's pushes (PostgreSQL).
    return session.scalar(
        select(LiveRoom).where(LiveRoom.stream_key_hash == token_hash(stream_key)).with_for_update()
    )


def _check_may_go_live(session: Session, room: LiveRoom, at: datetime | None = None) -> None:
    if room.status != RoomStatus.ACTIVE:
        raise RoomNotActive(f"room {room.id} is {room.status}")
    streamer = session.get(Streamer, room.streamer_id)
    if streamer is None:  # pragma: no cover - a foreign key guarantees it
        raise StreamerNotVerified(f"streamer {room.streamer_id} does not exist")
    if streamer.status != StreamerStatus.ACTIVE:
        raise StreamerNotVerified(f"streamer {streamer.id} is {streamer.status}")
    if streamer.verified_at is None:
        raise StreamerNotVerified(f"streamer {streamer.id} has no verified real-name identity")
    # Identity is re-checked before each session goes live (provider, blacklist, age and
    # guardian consent); a failure is a 403, so the media server refuses the push.
    from zhibo.identity.service import recheck_before_live

    recheck_before_live(session, streamer, at)


def end_abandoned_sessions(
    session: Session,
    at: datetime | None = None,
    *,
    grace: timedelta,
    room_id: int | None = None,
    session_id: int | None = None,
) -> list[LiveSession]:
    """End the live sessions (of one room or one session, or all) whose push left more than
    ``grace`` before ``at`` and did not return: ``ended_at`` is the moment the push left, the
    reason ``reconnect_grace_expired``. Idempotent; safe to run from several processes (the rows
    are locked, and one another process ended is no longer live)."""
    at = at or utcnow()
    query = select(LiveSession).where(
        LiveSession.status == SessionStatus.LIVE,
        LiveSession.publisher_left_at.is_not(None),
        LiveSession.publisher_left_at <= at - grace,
    )
    if room_id is not None:
        query = query.where(LiveSession.room_id == room_id)
    if session_id is not None:
        query = query.where(LiveSession.id == session_id)
    ended = list(session.scalars(query.order_by(LiveSession.id).with_for_update()).all())
    for live_session in ended:
        live_session.end_abandoned()
        logger.info(
            "session %s of room %s ended: its push left at %s and did not return within %ss",
            live_session.id,
            live_session.room_id,
            live_session.publisher_left_at,
            int(grace.total_seconds()),
        )
    if ended:
        session.flush()
    return ended


def end_abandoned_sessions_of_key(
    session: Session, stream_key: str, *, grace: timedelta, at: datetime | None = None
) -> list[LiveSession]:
    """``end_abandoned_sessions`` of the room this stream key opens (none for an unknown key):
    run by ``on_publish`` in a transaction of its own, so that a refused push still ends them."""
    room = _room_by_stream_key(session, stream_key)
    if room is None:
        return []
    return end_abandoned_sessions(session, at, grace=grace, room_id=room.id)


def read_session(
    session: Session, session_id: int, *, grace: timedelta, at: datetime | None = None
) -> LiveSession:
    """A session as it stands now: one whose reconnect grace ran out is ended first (the
    periodic sweep may not have come by yet)."""
    end_abandoned_sessions(session, at, grace=grace, session_id=session_id)
    return get_session(session, session_id)


def authorize_publish(
    session: Session,
    *,
    stream_key: str,
    app: str,
    client_id: str,
    at: datetime | None = None,
    grace: timedelta = timedelta(0),
) -> PublishDecision:
    """Decide an ``on_publish``: start the room's earliest scheduled session, or continue its
    live one (a reconnect, within ``grace`` of its push leaving), or raise the reason for
    refusing."""
    room = _room_by_stream_key(session, stream_key)
    if room is None:
        raise UnknownStreamKey("name: no room has this stream key")
    at = at or utcnow()
    _check_may_go_live(session, room, at)
    # A session whose push left longer than the grace ago is over: this push does not revive it.
    end_abandoned_sessions(session, at, grace=grace, room_id=room.id)
    on_air = session.scalars(
        select(LiveSession)
        .where(
            LiveSession.room_id == room.id,
            LiveSession.status.in_([SessionStatus.LIVE, SessionStatus.SUSPENDED]),
        )
        .order_by(LiveSession.id)
    ).all()
    suspended = [row for row in on_air if row.status == SessionStatus.SUSPENDED]
    if suspended:
        raise SessionIsSuspended(
            f"session {suspended[0].id} of room {room.id} is suspended: no push until it resumes"
        )
    if on_air:
        # The latest live session: a reconnect continues it, and the new connection replaces
        # the old (nginx-rtmp keeps one publisher per stream).
        live_session = on_air[-1]
        replaced = None
        if live_session.publisher_left_at is not None:
            # Within the grace: the old connection is gone, this push resumes the session.
            live_session.publisher_returned(app, client_id)
            session.flush()
            logger.info(
                "session %s of room %s: push resumed after it left at %s",
                live_session.id,
                room.id,
                live_session.publisher_left_at,
            )
            return PublishDecision(
                live_session, reconnect=True, stream_name=stream_name(live_session.id)
            )
        if (
            live_session.publish_app is not None
            and live_session.publish_client_id is not None
            and not live_session.is_published_by(app, client_id)
        ):
            replaced = (live_session.publish_app, live_session.publish_client_id)
        live_session.record_publisher(app, client_id)
        session.flush()
        return PublishDecision(
            live_session,
            reconnect=True,
            stream_name=stream_name(live_session.id),
            replaced_publisher=replaced,
        )
    scheduled = session.scalar(
        select(LiveSession)
        .where(LiveSession.room_id == room.id, LiveSession.status == SessionStatus.SCHEDULED)
        .order_by(LiveSession.scheduled_start_at, LiveSession.id)
        .limit(1)
    )
    if scheduled is None:
        raise NoScheduledSession(f"room {room.id} has no scheduled session: schedule one first")
    scheduled.start(at)
    scheduled.record_publisher(app, client_id)
    session.flush()
    return PublishDecision(scheduled, reconnect=False, stream_name=stream_name(scheduled.id))


def end_published_session(
    session: Session,
    *,
    stream_key: str,
    app: str,
    client_id: str,
    at: datetime | None = None,
    grace: timedelta = timedelta(0),
) -> LiveSession | None:
    """Decide an ``on_publish_done``: end the live session this publisher carried, or, with a
    reconnect ``grace``, mark its publisher gone (``publisher_left_at``) so that a push of the
    room within the grace resumes it (``end_abandoned_sessions`` ends it otherwise).

    Matched on the publisher (app and client id) recorded by ``authorize_publish``, within the
    key's room when the key is still valid (it may have been rotated during the push). So a late
    ``publish_done`` of a connection a reconnect replaced ends nothing, and neither does a second
    call or one for a session that already ended or was suspended: ``None``.

    nginx-rtmp names the push by the key it was pushed to, not by the stream name zhibo renamed
    it to; a media server that sends the session's stream name instead is matched on that.
    """
    query = select(LiveSession).where(
        LiveSession.status == SessionStatus.LIVE,
        LiveSession.publish_app == app,
        LiveSession.publish_client_id == client_id,
    )
    named_session = session_of_stream_name(stream_key)
    room = None if named_session is not None else _room_by_stream_key(session, stream_key)
    if named_session is not None:
        query = query.where(LiveSession.id == named_session)
    elif room is not None:
        query = query.where(LiveSession.room_id == room.id)
    matches = session.scalars(query.with_for_update()).all()
    if len(matches) != 1:
        if matches:
            # Client ids restart with nginx: without a valid key to pick the room, do not guess.
            logger.warning(
                "on_publish_done: %d live sessions recorded client %s of %r; none ended",
                len(matches),
                client_id,
                app,
            )
        return None
    live_session = matches[0]
    if grace > timedelta(0):
        live_session.publisher_left(at or utcnow())
    else:
        live_session.end(at or utcnow(), SessionEndReason.PUBLISHER_LEFT)
    session.flush()
    return live_session
