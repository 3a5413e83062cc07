"""Patrol staffing: reviewers' shifts and the coverage they give, hour by hour, against the rule
of at least one reviewer per ``patrol_rooms_per_reviewer`` (50) online rooms.

A reviewer is a compliance principal (an API token of role ``compliance``); a shift is the time
it is on duty (``patrol_shifts``; open while ``ends_at`` is null, counted up to now). For each
UTC hour, the reviewers are those whose shifts overlap the hour and the online rooms those with
a session (live or suspended, once started) overlapping it. The reviewers on duty can patrol
``reviewers × rooms_per_reviewer`` rooms, given to key rooms first (they get dedicated patrol);
what is left over is uncovered. An hour meets the rule when
``reviewers ≥ ceil(online rooms / rooms_per_reviewer)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhibo.config import get_settings
from zhibo.kit.errors import Conflict, InvalidInput, NotFound
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import ApiToken, LiveRoom, LiveSession, Role
from zhibo.models.identity import PatrolShift
from zhibo.models.session import SessionStatus

HOUR = timedelta(hours=1)
#: The longest range one coverage query may span (31 days of hours).
MAX_HOURS = 31 * 24


class ShiftOverlaps(Conflict):
    """The reviewer already has a shift in that time."""


class ShiftAlreadyEnded(Conflict):
    """The shift has ended already."""


@dataclass(frozen=True, slots=True)
class HourCoverage:
    hour: datetime
    online_rooms: int
    key_rooms: int
    reviewers: int
    reviewers_required: int
    meets_rule: bool
    key_rooms_uncovered: int
    rooms_uncovered: int


def _reviewer(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"reviewer_token_id: no token with id {token_id}")
    if token.role != Role.COMPLIANCE:
        raise InvalidInput(
            f"reviewer_token_id: token {token_id} is a {token.role} token; reviewers are "
            "compliance principals"
        )
    if token.revoked_at is not None:
        raise InvalidInput(f"reviewer_token_id: token {token_id} is revoked")
    return token


def _overlapping(
    session: Session, token_id: int, start: datetime, end: datetime | None
) -> PatrolShift | None:
    query = select(PatrolShift).where(
        PatrolShift.reviewer_token_id == token_id,
        or_(PatrolShift.ends_at.is_(None), PatrolShift.ends_at > start),
    )
    if end is not None:
        query = query.where(PatrolShift.starts_at < end)
    return session.scalar(query.order_by(PatrolShift.starts_at).limit(1))


def start_shift(
    session: Session,
    *,
    reviewer_token_id: int,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    created_by: str,
) -> PatrolShift:
    """Record a shift (open when ``ends_at`` is None). A reviewer is on one shift at a time."""
    start = ensure_utc(starts_at, "starts_at") if starts_at is not None else utcnow()
    end = ensure_utc(ends_at, "ends_at") if ends_at is not None else None
    if end is not None and end <= start:
        raise InvalidInput("ends_at: a shift ends after it starts")
    token = _reviewer(session, reviewer_token_id)
    clash = _overlapping(session, token.id, start, end)
    if clash is not None:
        raise ShiftOverlaps(
            f"starts_at: reviewer {token.id} is on shift {clash.id} from "
            f"{clash.starts_at.isoformat()}"
            + (f" to {clash.ends_at.isoformat()}" if clash.ends_at else " (still open)")
        )
    shift = PatrolShift(
        reviewer_token_id=token.id,
        reviewer_name=token.name or "",
        starts_at=start,
        ends_at=end,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(shift)
    session.flush()
    return shift


def open_shift(session: Session, reviewer_token_id: int) -> PatrolShift | None:
    return session.scalar(
        select(PatrolShift)
        .where(PatrolShift.reviewer_token_id == reviewer_token_id, PatrolShift.ends_at.is_(None))
        .order_by(PatrolShift.starts_at.desc())
        .limit(1)
    )


def end_shift(
    session: Session,
    *,
    shift_id: int | None = None,
    reviewer_token_id: int | None = None,
    at: datetime | None = None,
) -> PatrolShift:
    """End a shift, named by id or as the reviewer's open one."""
    end = ensure_utc(at, "ends_at") if at is not None else utcnow()
    if shift_id is not None:
        shift = session.get(PatrolShift, shift_id)
        if shift is None:
            raise NotFound(f"shift: no patrol shift with id {shift_id}")
    elif reviewer_token_id is not None:
        found = open_shift(session, reviewer_token_id)
        if found is None:
            raise NotFound(f"reviewer_token_id: reviewer {reviewer_token_id} has no open shift")
        shift = found
    else:
        raise InvalidInput("shift: name the shift or the reviewer")
    if shift.ends_at is not None:
        raise ShiftAlreadyEnded(f"shift: shift {shift.id} ended at {shift.ends_at.isoformat()}")
    if end <= shift.starts_at:
        raise InvalidInput("ends_at: a shift ends after it starts")
    shift.ends_at = end
    session.flush()
    return shift


def shifts(session: Session, start: datetime, end: datetime) -> list[PatrolShift]:
    """Shifts overlapping ``[start, end)``, earliest first."""
    return list(
        session.scalars(
            select(PatrolShift)
            .where(
                PatrolShift.starts_at < end,
                or_(PatrolShift.ends_at.is_(None), PatrolShift.ends_at > start),
            )
            .order_by(PatrolShift.starts_at, PatrolShift.id)
        )
    )


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours_of(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours from the one holding ``start`` up to the one before ``end``."""
    first, stop = _floor_hour(start), end.astimezone(UTC)
    if stop <= first:
        raise InvalidInput("to: after from")
    count = math.ceil((stop - first) / HOUR)
    if count > MAX_HOURS:
        raise InvalidInput(f"to: at most {MAX_HOURS // 24} days at a time")
    return [first + HOUR * index for index in range(count)]


def _span(hours: list[datetime], began: datetime, ended: datetime | None) -> range:
    """Indices of the hours that ``[began, ended)`` overlaps (``ended`` None: open)."""
    first = hours[0]
    low = max(0, math.floor((began - first) / HOUR))
    high = len(hours) if ended is None else min(len(hours), math.ceil((ended - first) / HOUR))
    return range(low, high)


def coverage(
    session: Session, start: datetime, end: datetime, *, now: datetime | None = None
) -> list[HourCoverage]:
    """Patrol coverage for each UTC hour of ``[start, end)``."""
    start, end = ensure_utc(start, "from"), ensure_utc(end, "to")
    hours = hours_of(start, end)
    low, high = hours[0], hours[-1] + HOUR
    now = now or utcnow()
    per = get_settings().patrol_rooms_per_reviewer
    rooms: list[set[int]] = [set() for _ in hours]
    keys: list[set[int]] = [set() for _ in hours]
    for room_id, is_key, began, ended in session.execute(
        select(
            LiveSession.room_id, LiveRoom.is_key_room, LiveSession.started_at, LiveSession.ended_at
        )
        .join(LiveRoom, LiveRoom.id == LiveSession.room_id)
        .where(
            LiveSession.started_at.is_not(None),
            LiveSession.status != SessionStatus.SCHEDULED,
            LiveSession.started_at < high,
            or_(LiveSession.ended_at.is_(None), LiveSession.ended_at > low),
        )
    ):
        if began is None:  # pragma: no cover - filtered out above
            continue
        for index in _span(hours, began, ended):
            rooms[index].add(room_id)
            if is_key:
                keys[index].add(room_id)
    reviewers: list[set[int]] = [set() for _ in hours]
    for shift in shifts(session, low, high):
        # An open shift counts up to now, not into hours still to come.
        until = shift.ends_at if shift.ends_at is not None else max(now, shift.starts_at)
        if until <= shift.starts_at:
            continue
        for index in _span(hours, shift.starts_at, until):
            reviewers[index].add(shift.reviewer_token_id)
    out = []
    for index, hour in enumerate(hours):
        online, key, on_duty = len(rooms[index]), len(keys[index]), len(reviewers[index])
        required = math.ceil(online / per)
        capacity = on_duty * per
        out.append(
            HourCoverage(
                hour=hour,
                online_rooms=online,
                key_rooms=key,
                reviewers=on_duty,
                reviewers_required=required,
                meets_rule=on_duty >= required,
                key_rooms_uncovered=max(0, key - capacity),
                rooms_uncovered=max(0, online - capacity),
            )
        )
    return out
