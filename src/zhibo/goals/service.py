"""What the goals do: count each goal now, day by day through the year, and project it to the
year end at the trailing run rate.

Projections: a sales goal (rooms, partners) projects each subject's own sales, adding its
trailing-window pace for the days left, and counts those that would cross the threshold; a
head-count goal (streamers, brands) adds the trailing-window pace of newcomers for the days
left. Days are local calendar days of the goal's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from zhibo.goals import repository, store
from zhibo.goals.schemas import (
    GoalDefinitions,
    GoalKey,
    GoalMember,
    GoalProgress,
    GoalsOut,
    GoalVersion,
    TrendPoint,
)
from zhibo.kit.auth import Principal
from zhibo.kit.time import utcnow
from zhibo.models import Order, Role

#: How many not-yet-counting subjects each goal lists as candidates.
CANDIDATES = 10


@dataclass(frozen=True)
class YearWindow:
    """The goal year as UTC instants, and how far into it ``as_of`` is."""

    year: int
    zone: ZoneInfo
    start: datetime
    end: datetime
    as_of: datetime

    @classmethod
    def of(cls, definitions: GoalDefinitions, at: datetime) -> YearWindow:
        zone = ZoneInfo(definitions.timezone)
        year = definitions.year or at.astimezone(zone).year
        start = datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)
        end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
        as_of = min(max(at, start), end - timedelta(microseconds=1))
        return cls(year, zone, start, end, as_of)

    @property
    def days_in_year(self) -> int:
        return (self.end - self.start).days

    @property
    def days_elapsed(self) -> int:
        """Days begun so far (1 on the first day)."""
        return (self.as_of - self.start).days + 1

    @property
    def days_left(self) -> int:
        return self.days_in_year - self.days_elapsed

    def day(self, index: int) -> date:
        return (self.start.astimezone(self.zone) + timedelta(days=index)).date()

    def day_of(self, at: datetime) -> int:
        return max(0, (at - self.start) // timedelta(days=1))


def _progress_bp(count: int, target: int) -> int:
    return min(10_000, count * 10_000 // target)


def _trend(window: YearWindow, counted_days: Iterable[int]) -> list[TrendPoint]:
    per_day = [0] * window.days_elapsed
    for index in counted_days:
        per_day[min(index, window.days_elapsed - 1)] += 1
    points, running = [], 0
    for index, added in enumerate(per_day):
        running += added
        points.append(TrendPoint(day=window.day(index), count=running))
    return points


def _run_rate_days(window: YearWindow, definitions: GoalDefinitions) -> int:
    return min(definitions.run_rate_days, window.days_elapsed)


def _sales_goal(
    db: Session,
    key: GoalKey,
    subject: object,
    threshold_fen: int,
    target: int,
    window: YearWindow,
    definitions: GoalDefinitions,
    limit: int,
) -> GoalProgress:
    rate_days = _run_rate_days(window, definitions)
    window_start = window.start + timedelta(days=window.days_elapsed - rate_days)
    totals = repository.sales_totals(db, subject, window.start, window.as_of, window_start)
    counting = sorted(
        ((total, key_id) for key_id, total, _ in totals if total >= threshold_fen), reverse=True
    )
    counting_ids = [key_id for _, key_id in counting]
    crossed: dict[int, int] = {}
    running: dict[int, int] = defaultdict(int)
    for key_id, index, amount in sorted(
        repository.sales_by_day(db, subject, counting_ids, window.start, window.as_of),
        key=lambda row: (row[0], row[1]),
    ):
        running[key_id] += amount
        if key_id not in crossed and running[key_id] >= threshold_fen:
            crossed[key_id] = index
    projected = sum(
        1
        for _, total, recent in totals
        if total + recent * window.days_left // rate_days >= threshold_fen
    )
    near = sorted(
        ((total, key_id) for key_id, total, _ in totals if total < threshold_fen), reverse=True
    )[:CANDIDATES]
    listed = counting_ids[:limit] + [key_id for _, key_id in near]
    name_of = (
        repository.room_names(db, listed)
        if key == GoalKey.ROOMS
        else repository.partner_names(db, listed)
    )
    total_of = {key_id: total for key_id, total, _ in totals}
    return GoalProgress(
        key=key,
        target=target,
        count=len(counting_ids),
        progress_bp=_progress_bp(len(counting_ids), target),
        projected=projected,
        trend=_trend(window, crossed.values()),
        members=[
            GoalMember(
                id=key_id,
                name=name_of.get(key_id, str(key_id)),
                value=total_of[key_id],
                counted_on=window.day(crossed[key_id]) if key_id in crossed else None,
                counts=True,
            )
            for key_id in counting_ids[:limit]
        ],
        candidates=[
            GoalMember(
                id=key_id,
                name=name_of.get(key_id, str(key_id)),
                value=total,
                counted_on=None,
                counts=False,
            )
            for total, key_id in near
        ],
    )


def _streamers_goal(
    db: Session, window: YearWindow, definitions: GoalDefinitions, limit: int
) -> GoalProgress:
    paid = repository.first_paid_day(
        db,
        definitions.streamer_paid_by,
        window.start,
        window.as_of,
        window.day(0),
        window.as_of.astimezone(window.zone).date(),
    )
    ids = sorted(paid)
    people = repository.streamers_verified(db, ids, window.as_of)
    sessions: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for key_id, index, count in repository.sessions_by_day(db, ids, window.start, window.as_of):
        sessions[key_id].append((index, count))
    qualified: dict[int, int] = {}
    session_count: dict[int, int] = {}
    for key_id in ids:
        days = sorted(sessions.get(key_id, []))
        session_count[key_id] = sum(count for _, count in days)
        needed = definitions.streamer_min_sessions
        nth_day: int | None = 0 if needed == 0 else None
        running = 0
        for index, count in days:
            running += count
            if nth_day is None and running >= needed:
                nth_day = index
        verified_at = people.get(key_id, (str(key_id), None))[1]
        if nth_day is None:
            continue
        if definitions.streamer_must_be_verified:
            if verified_at is None:
                continue
            verified_day = window.day_of(verified_at)
        else:
            verified_day = 0
        qualified[key_id] = max(paid[key_id], nth_day, verified_day)
    counting = sorted(qualified, key=lambda key_id: (-session_count[key_id], key_id))
    rate_days = _run_rate_days(window, definitions)
    recent = sum(1 for index in qualified.values() if index >= window.days_elapsed - rate_days)
    near = sorted(
        (key_id for key_id in ids if key_id not in qualified),
        key=lambda key_id: (-session_count[key_id], key_id),
    )[:CANDIDATES]

    def member(key_id: int) -> GoalMember:
        return GoalMember(
            id=key_id,
            name=people.get(key_id, (str(key_id), None))[0],
            value=session_count[key_id],
            counted_on=window.day(qualified[key_id]) if key_id in qualified else None,
            counts=key_id in qualified,
        )

    count = len(qualified)
    return GoalProgress(
        key=GoalKey.STREAMERS,
        target=definitions.streamers_target,
        count=count,
        progress_bp=_progress_bp(count, definitions.streamers_target),
        projected=count + recent * window.days_left // rate_days,
        trend=_trend(window, qualified.values()),
        members=[member(key_id) for key_id in counting[:limit]],
        candidates=[member(key_id) for key_id in near],
    )


def _brands_goal(
    db: Session, window: YearWindow, definitions: GoalDefinitions, limit: int
) -> GoalProgress:
    brands = repository.brands_first_sale(db, window.start, window.as_of)
    days = {key_id: window.day_of(first) for key_id, _, first in brands}
    rate_days = _run_rate_days(window, definitions)
    recent = sum(1 for index in days.values() if index >= window.days_elapsed - rate_days)
    ordered = sorted(brands, key=lambda row: (row[2], row[0]), reverse=True)
    count = len(brands)
    return GoalProgress(
        key=GoalKey.BRANDS,
        target=definitions.brands_target,
        count=count,
        progress_bp=_progress_bp(count, definitions.brands_target),
        projected=count + recent * window.days_left // rate_days,
        trend=_trend(window, days.values()),
        members=[
            GoalMember(
                id=key_id, name=name, value=0, counted_on=window.day(days[key_id]), counts=True
            )
            for key_id, name, _ in ordered[:limit]
        ],
        candidates=[],
    )


def compute(
    db: Session,
    definitions: GoalDefinitions,
    *,
    at: datetime | None = None,
    limit: int = 100,
    version: int = 0,
) -> GoalsOut:
    """The four goals as of ``at`` (default now) under ``definitions``."""
    window = YearWindow.of(definitions, at or utcnow())
    goals = [
        _sales_goal(
            db,
            GoalKey.ROOMS,
            Order.room_id,
            definitions.room_sales_threshold_fen,
            definitions.rooms_target,
            window,
            definitions,
            limit,
        ),
        _sales_goal(
            db,
            GoalKey.PARTNERS,
            Order.partner_id,
            definitions.partner_sales_threshold_fen,
            definitions.partners_target,
            window,
            definitions,
            limit,
        ),
        _streamers_goal(db, window, definitions, limit),
        _brands_goal(db, window, definitions, limit),
    ]
    return GoalsOut(
        year=window.year,
        timezone=definitions.timezone,
        as_of=window.as_of,
        year_start=window.day(0),
        year_end=window.day(window.days_in_year - 1),
        definitions_version=version,
        definitions=definitions,
        goals=goals,
    )


def goals_for(
    db: Session,
    principal: Principal,
    data_dir: Path | None = None,
    *,
    at: datetime | None = None,
    limit: int = 100,
) -> GoalsOut:
    """The goals as the platform's global readers see them (the lists name every room,
    partner, streamer and brand, so scoped roles may not read them). ``data_dir``: where an
    earlier version's JSON document may wait to be imported."""
    principal.require(Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR)
    version = store.current(db, data_dir)
    return compute(db, version.definitions, at=at, limit=limit, version=version.version)


def actor(principal: Principal) -> str:
    """``operator#7`` (its token), ``operator#7:alice`` (a console user and its identity)."""
    username = getattr(principal, "username", None)
    return f"{principal.role}#{principal.token_id}" + (f":{username}" if username else "")


def change_definitions(
    db: Session,
    principal: Principal,
    definitions: GoalDefinitions,
    reason: str = "",
    data_dir: Path | None = None,
) -> GoalVersion:
    """Operators change the targets and definitions; each change is a new version, with who,
    when, why and the values it replaced."""
    principal.require(Role.OPERATOR)
    return store.save(db, definitions, actor(principal), reason, data_dir=data_dir)


def definitions_history(
    db: Session, principal: Principal, data_dir: Path | None = None
) -> list[GoalVersion]:
    principal.require(Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR)
    return store.history(db, data_dir)
