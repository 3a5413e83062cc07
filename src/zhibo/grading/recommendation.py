"""Recommendation traffic: which live rooms the platform recommends, and traffic limits.

A room is recommended while it is active and live (a session of it is ``live``), its streamer is
active and the streamer's level unlocks ``recommendation_traffic`` in the active grading model,
and no traffic limit holds it out. ``GET /v1/rooms/recommended`` (``zhibo.live``) lists them.

Traffic limits are the hook for the risk engine's "traffic limit" measure: ``limit_traffic``
keeps a room out of the listing until a given time (idempotent per ``source_ref``, so a replayed
finding does not stack limits), ``lift_traffic_limit`` ends it early. Both join the caller's
unit of work and record who decided, why and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.orm import Session

from zhibo.kit.errors import InvalidInput, NotFound
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import LiveRoom, LiveSession, RoomStatus, SessionStatus, Streamer
from zhibo.models.grading import TrafficLimit
from zhibo.models.streamer import StreamerStatus


def _in_force(at: datetime) -> Any:
    return and_(
        TrafficLimit.limited_from <= at,
        TrafficLimit.limited_until > at,
        TrafficLimit.lifted_at.is_(None),
    )


def limit_traffic(
    db: Session,
    room_id: int,
    *,
    until: datetime,
    reason: str,
    source_ref: str | None = None,
    set_by: str = "risk",
    at: datetime | None = None,
) -> TrafficLimit:
    """Keep room ``room_id`` out of recommendation listings from ``at`` (default: now) until
    ``until``. Called again with the same ``source_ref`` while that limit is in force, it extends
    the limit to the later ``until`` instead of adding another, and returns it."""
    now = ensure_utc(at, "at") if at is not None else utcnow()
    until = ensure_utc(until, "until")
    if until <= now:
        raise InvalidInput(f"until: {until.isoformat()} is not after {now.isoformat()}")
    if not reason.strip():
        raise InvalidInput("reason: a traffic limit needs a reason")
    if db.get(LiveRoom, room_id) is None:
        raise NotFound(f"room_id: no room with id {room_id}")
    if source_ref is not None:
        same = db.scalar(
            select(TrafficLimit)
            .where(
                TrafficLimit.room_id == room_id,
                TrafficLimit.source_ref == source_ref,
                TrafficLimit.lifted_at.is_(None),
                TrafficLimit.limited_until > now,
            )
            .order_by(TrafficLimit.id)
            .limit(1)
        )
        if same is not None:
            same.limited_until = max(same.limited_until, until)
            db.flush()
            return same
    row = TrafficLimit(
        room_id=room_id,
        limited_from=now,
        limited_until=until,
        reason=reason,
        source_ref=source_ref,
        set_by=set_by[:100],
        created_at=now,
    )
    db.add(row)
    db.flush()
    return row


def lift_traffic_limit(
    db: Session, room_id: int, *, source_ref: str | None = None, at: datetime | None = None
) -> int:
    """End the room's traffic limits in force (only those of ``source_ref``, if given), e.g.
    after a won appeal; returns how many were lifted."""
    now = ensure_utc(at, "at") if at is not None else utcnow()
    query = select(TrafficLimit).where(TrafficLimit.room_id == room_id, _in_force(now))
    if source_ref is not None:
        query = query.where(TrafficLimit.source_ref == source_ref)
    rows = db.scalars(query).all()
    for row in rows:
        row.lifted_at = now
    db.flush()
    return len(rows)


def traffic_limits_in_force(
    db: Session, room_ids: Sequence[int], at: datetime | None = None
) -> list[TrafficLimit]:
    """The limits holding any of ``room_ids`` out of recommendations at ``at``."""
    if not room_ids:
        return []
    now = ensure_utc(at, "at") if at is not None else utcnow()
    return list(
        db.scalars(
            select(TrafficLimit)
            .where(TrafficLimit.room_id.in_(list(room_ids)), _in_force(now))
            .order_by(TrafficLimit.room_id, TrafficLimit.id)
        )
    )


def recommended_rooms_query(at: datetime | None = None) -> Select[Any]:
    """Rooms recommended at ``at``: live, active, of an active streamer whose level unlocks
    recommendation traffic under the active model, and under no traffic limit."""
    from zhibo.grading.service import levels_with

    now = ensure_utc(at, "at") if at is not None else utcnow()
    live = exists().where(
        LiveSession.room_id == LiveRoom.id, LiveSession.status == SessionStatus.LIVE
    )
    limited = exists().where(TrafficLimit.room_id == LiveRoom.id, _in_force(now))
    from zhibo.models.risk import SubjectKind
    from zhibo.risk.measures import restriction_in_force

    restricted = restriction_in_force(SubjectKind.STREAMER, Streamer.id, now)
    return (
        select(LiveRoom)
        .join(Streamer, Streamer.id == LiveRoom.streamer_id)
        .where(
            LiveRoom.status == RoomStatus.ACTIVE,
            Streamer.status == StreamerStatus.ACTIVE,
            Streamer.level.in_(sorted(levels_with("recommendation_traffic"))),
            live,
            ~limited,
            ~restricted,
        )
    )
