"""Server-side paging and sorting of the console's long lists (the live rooms, the risk
review queue): ``?page=`` (from 1), ``?size=`` (rows a page) and ``?sort=`` (a column key,
``-key`` for descending) become ``ORDER BY``, ``LIMIT`` and ``OFFSET`` in the database, with
the total counted alongside, so a page costs the same whatever the list's length.

The scope is the domain's: a live room is listed to whom ``live.service.check_may_follow_room``
allows (the platform's readers, its streamer, the streamer's partner; the query applies the
same rule and the page checks each row again through the service), the review queue only to
the platform's readers (whom ``risk.cases`` does not narrow)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, InvalidInput
from zhibo.models import LiveRoom, LiveSession, Role, SessionMetrics, Streamer
from zhibo.models.risk import CaseStatus, RiskCase
from zhibo.models.session import SessionStatus

T = TypeVar("T")

#: Rows a page unless asked otherwise, and the most one page may hold.
DEFAULT_SIZE = 50
MAX_SIZE = 200


@dataclass(frozen=True)
class Paging:
    page: int
    size: int
    sort: str
    descending: bool

    @property
    def sort_param(self) -> str:
        return ("-" if self.descending else "") + self.sort

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def paging_of(
    params: Mapping[str, str], sorts: Sequence[str], default_sort: str, default_size: int
) -> Paging:
    """``page``, ``size`` and ``sort`` from a query string; anything else is ``InvalidInput``
    (a page past the end is not an error: it is empty, with links back)."""
    try:
        page = int(params.get("page") or 1)
        size = int(params.get("size") or default_size)
    except ValueError:
        raise InvalidInput("page, size: whole numbers") from None
    if page < 1 or not 1 <= size <= MAX_SIZE:
        raise InvalidInput(f"page: from 1; size: 1 to {MAX_SIZE}")
    sort = str(params.get("sort") or default_sort)
    key = sort.removeprefix("-")
    if key not in sorts:
        raise InvalidInput(f"sort: {sort!r} is not one of {', '.join(sorts)} (or -key)")
    return Paging(page=page, size=size, sort=key, descending=sort.startswith("-"))


@dataclass
class PageOf(Generic[T]):
    items: list[T]
    total: int
    paging: Paging
    #: Query parameters kept in every link (filters), besides page, size and sort.
    keep: Mapping[str, str]

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.paging.size))

    @property
    def first_row(self) -> int:
        return min(self.paging.offset + 1, self.total)

    @property
    def last_row(self) -> int:
        return min(self.paging.offset + len(self.items), self.total)

    def query(self, page: int | None = None, sort: str | None = None) -> str:
        """``?page=..&size=..&sort=..``: a link to another page (or another order, from page 1)."""
        values = {
            **self.keep,
            "page": str(page if page is not None else (1 if sort else self.paging.page)),
            "size": str(self.paging.size),
            "sort": sort or self.paging.sort_param,
        }
        return "?" + urlencode(values)

    def sort_link(self, key: str) -> str:
        """A column header's link: the column ascending, or descending when it already is."""
        ascending_now = self.paging.sort == key and not self.paging.descending
        return self.query(sort=("-" if ascending_now else "") + key)

    def aria_sort(self, key: str) -> str | None:
        if self.paging.sort != key:
            return None
        return "descending" if self.paging.descending else "ascending"

    @property
    def previous(self) -> str | None:
        return self.query(page=self.paging.page - 1) if self.paging.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.query(page=self.paging.page + 1) if self.paging.page < self.pages else None


def _ordered(query: Any, columns: Mapping[str, Any], paging: Paging, tie: Any) -> Any:
    column = columns[paging.sort]
    # Ties in the same direction, so reversing the order reverses the whole list.
    order = (column.desc(), tie.desc()) if paging.descending else (column.asc(), tie.asc())
    return query.order_by(*order).offset(paging.offset).limit(paging.size)


def _count(db: Session, query: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)


# --- live rooms -------------------------------------------------------------------------------


LIVE_SORTS: dict[str, Any] = {
    "room": LiveRoom.title,
    "online": SessionMetrics.online_now,
    "gmv": SessionMetrics.gmv_fen,
    "viewers": SessionMetrics.unique_viewers,
    "last_event": SessionMetrics.last_event_ms,
}
LIVE_DEFAULT_SORT = "-online"


@dataclass
class LiveRow:
    room_id: int
    session_id: int
    title: str
    key_room: bool
    online_now: int
    gmv_fen: int
    unique_viewers: int
    last_event_at: datetime | None


def live_rooms(db: Session, principal: Principal, paging: Paging) -> PageOf[LiveRow]:
    """Live sessions with their metrics, one page, in the rooms the caller may follow."""
    query = (
        select(SessionMetrics, LiveRoom.title, LiveRoom.is_key_room)
        .join(LiveSession, LiveSession.id == SessionMetrics.session_id)
        .join(LiveRoom, LiveRoom.id == LiveSession.room_id)
        .where(LiveSession.status == SessionStatus.LIVE)
    )
    if principal.role == Role.STREAMER:
        query = query.where(LiveRoom.streamer_id == principal.subject_id)
    elif principal.role == Role.PARTNER:
        own = select(Streamer.id).where(Streamer.partner_id == principal.subject_id)
        query = query.where(LiveRoom.streamer_id.in_(own))
    elif not principal.is_global:
        raise Forbidden(f"role {principal.role} follows no live room")
    total = _count(db, query)
    rows = db.execute(_ordered(query, LIVE_SORTS, paging, SessionMetrics.session_id)).all()
    items = [
        LiveRow(
            room_id=metrics.room_id,
            session_id=metrics.session_id,
            title=title,
            key_room=bool(key_room),
            online_now=metrics.online_now,
            gmv_fen=metrics.gmv_fen,
            unique_viewers=metrics.unique_viewers,
            last_event_at=datetime.fromtimestamp(metrics.last_event_ms / 1000, UTC)
            if metrics.last_event_ms
            else None,
        )
        for metrics, title, key_room in rows
    ]
    return PageOf(items, total, paging, {})


# --- the risk review queue ----------------------------------------------------------------------


QUEUE_SORTS: dict[str, Any] = {
    "id": RiskCase.id,
    "subject": RiskCase.subject_id,
    "room": RiskCase.room_id,
    "rule": RiskCase.rule_key,
    "severity": RiskCase.severity,
    "status": RiskCase.status,
    "opened": RiskCase.opened_at,
}
#: Oldest first, as ``risk.cases.list_cases(queue=True)``.
QUEUE_DEFAULT_SORT = "id"
WAITING = (CaseStatus.PENDING_REVIEW, CaseStatus.APPEALED)


def review_queue(db: Session, principal: Principal, paging: Paging) -> PageOf[RiskCase]:
    """The cases waiting for a person (pending review, appealed), one page."""
    if not principal.is_global:
        raise Forbidden("the review queue is for the platform's readers")
    query = select(RiskCase).where(RiskCase.status.in_(WAITING))
    total = _count(db, query)
    items = list(db.scalars(_ordered(query, QUEUE_SORTS, paging, RiskCase.id)))
    return PageOf(items, total, paging, {})
