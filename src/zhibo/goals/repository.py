"""How the goals are queried: yearly totals grouped in the database, and day-by-day series
only for the few subjects that count (so a year of orders is never read row by row)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from zhibo.kit.db import UTCDateTime
from zhibo.models import (
    Brand,
    LiveRoom,
    LiveSession,
    Order,
    Partner,
    PayoutBatch,
    Product,
    Streamer,
)
from zhibo.models.settlement import PayeeKind

CHUNK = 5_000
SECONDS_PER_DAY = 86_400


def day_index(column: Any, start: datetime, dialect: str) -> ColumnElement[int]:
    """Whole days from ``start`` (the year's first local midnight, in UTC) to ``column``."""
    origin = literal(start, UTCDateTime())
    if dialect == "sqlite":
        return cast(func.julianday(column) - func.julianday(origin), Integer)
    return cast(func.floor(func.extract("epoch", column - origin) / SECONDS_PER_DAY), Integer)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for offset in range(0, len(ids), CHUNK):
        yield list(ids[offset : offset + CHUNK])


def _net() -> ColumnElement[int]:
    return Order.amount_fen - Order.refunded_fen


def sales_totals(
    db: Session, subject: Any, start: datetime, until: datetime, window_start: datetime
) -> list[tuple[int, int, int]]:
    """``(subject id, sales this year, sales in the trailing window)`` in fen, net of refunds,
    for every subject (``Order.room_id`` or ``Order.partner_id``) that sold this year."""
    in_window = func.sum(case((Order.paid_at >= window_start, _net()), else_=0))
    rows = db.execute(
        select(subject, func.sum(_net()), in_window)
        .where(subject.is_not(None), Order.paid_at >= start, Order.paid_at <= until)
        .group_by(subject)
    )
    return [(int(key), int(total or 0), int(window or 0)) for key, total, window in rows]


def sales_by_day(
    db: Session, subject: Any, ids: Sequence[int], start: datetime, until: datetime
) -> list[tuple[int, int, int]]:
    """``(subject id, day index, sales that day)`` for the given subjects."""
    day = day_index(Order.paid_at, start, db.get_bind().dialect.name)
    result: list[tuple[int, int, int]] = []
    for chunk in _chunks(ids):
        rows = db.execute(
            select(subject, day, func.sum(_net()))
            .where(subject.in_(chunk), Order.paid_at >= start, Order.paid_at <= until)
            .group_by(subject, day)
        )
        result.extend((int(key), int(index), int(total or 0)) for key, index, total in rows)
    return result


def first_paid_day(
    db: Session, paid_by: str, start: datetime, until: datetime, first_day: date, last_day: date
) -> dict[int, int]:
    """``{streamer id: first day index it was paid this year}``: by a payout batch that paid
    more than 0 fen, or by a sale not fully refunded."""
    dialect = db.get_bind().dialect.name
    if paid_by == "payout":
        payouts = db.execute(
            select(PayoutBatch.payee_id, func.min(PayoutBatch.as_of))
            .where(
                PayoutBatch.payee_kind == PayeeKind.STREAMER,
                PayoutBatch.paid_fen > 0,
                PayoutBatch.as_of >= first_day,
                PayoutBatch.as_of <= last_day,
            )
            .group_by(PayoutBatch.payee_id)
        )
        return {int(key): (day - first_day).days for key, day in payouts}
    day = day_index(Order.paid_at, start, dialect)
    sold = db.execute(
        select(Order.streamer_id, func.min(day))
        .where(
            Order.streamer_id.is_not(None),
            Order.paid_at >= start,
            Order.paid_at <= until,
            Order.refunded_fen < Order.amount_fen,
        )
        .group_by(Order.streamer_id)
    )
    return {int(key): int(index) for key, index in sold if key is not None}


def streamers_verified(
    db: Session, ids: Sequence[int], until: datetime
) -> dict[int, tuple[str, datetime | None]]:
    """``{streamer id: (display name, verified_at or None)}`` as of ``until``."""
    result: dict[int, tuple[str, datetime | None]] = {}
    for chunk in _chunks(ids):
        rows = db.execute(
            select(Streamer.id, Streamer.display_name, Streamer.verified_at).where(
                Streamer.id.in_(chunk)
            )
        )
        for key, name, verified_at in rows:
            if verified_at is not None and verified_at.tzinfo is None:
                verified_at = verified_at.replace(tzinfo=until.tzinfo)
            result[int(key)] = (name, verified_at if verified_at and verified_at <= until else None)
    return result


def sessions_by_day(
    db: Session, ids: Sequence[int], start: datetime, until: datetime
) -> list[tuple[int, int, int]]:
    """``(streamer id, day index, sessions started that day)`` this year."""
    day = day_index(LiveSession.started_at, start, db.get_bind().dialect.name)
    result: list[tuple[int, int, int]] = []
    for chunk in _chunks(ids):
        rows = db.execute(
            select(LiveSession.streamer_id, day, func.count())
            .where(
                LiveSession.streamer_id.in_(chunk),
                LiveSession.started_at >= start,
                LiveSession.started_at <= until,
            )
            .group_by(LiveSession.streamer_id, day)
        )
        result.extend((int(key), int(index), int(count)) for key, index, count in rows)
    return result


def brands_first_sale(
    db: Session, start: datetime, until: datetime
) -> list[tuple[int, str, datetime]]:
    """Brands whose first sale ever (up to ``until``) fell on or after ``start``."""
    first = (
        select(
            Product.brand_id.label("brand_id"),
            type_coerce(func.min(Order.paid_at), UTCDateTime()).label("first"),
        )
        .join(Product, Product.id == Order.product_id)
        .where(Order.paid_at <= until)
        .group_by(Product.brand_id)
        .subquery()
    )
    rows = db.execute(
        select(Brand.id, Brand.name, first.c.first)
        .join(first, first.c.brand_id == Brand.id)
        .where(and_(first.c.first >= literal(start, UTCDateTime())))
    )
    result = []
    for key, name, at in rows:
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        if when.tzinfo is None:
            when = when.replace(tzinfo=start.tzinfo)
        result.append((int(key), name, when))
    return result


def names(db: Session, model: Any, column: Any, ids: Sequence[int]) -> dict[int, str]:
    result: dict[int, str] = {}
    for chunk in _chunks(ids):
        result.update(
            (int(key), str(name))
            for key, name in db.execute(select(model.id, column).where(model.id.in_(chunk)))
        )
    return result


def room_names(db: Session, ids: Sequence[int]) -> dict[int, str]:
    return names(db, LiveRoom, LiveRoom.title, ids)


def partner_names(db: Session, ids: Sequence[int]) -> dict[int, str]:
    return names(db, Partner, Partner.name, ids)
