"""Leaderboards of rooms, streamers, partners and brands by sales metrics over any period.

One aggregate query in the database per board. There are no tipping leaderboards: the rules ban
ranking viewers or streamers by gifts, so asking for one is refused with the reason.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from zhibo.grading.schemas import Leaderboard, LeaderboardEntry
from zhibo.kit.errors import InvalidInput
from zhibo.kit.time import start_of_day
from zhibo.models import Brand, LiveRoom, Order, Partner, Product, Streamer

Kind = Literal["rooms", "streamers", "partners", "brands"]
KINDS: tuple[str, ...] = ("rooms", "streamers", "partners", "brands")
#: Sales metrics a board may rank by.
METRICS: tuple[str, ...] = ("gmv_fen", "net_gmv_fen", "orders", "buyers", "refunded_fen")
#: Asked-for metrics that would rank tipping, which the 2021 Measures forbid.
TIPPING = frozenset({"gifts", "gift_fen", "tips", "tip_fen", "tipping"})
MAX_PERIOD_DAYS = 3660


class TippingLeaderboardForbidden(InvalidInput):
    """Tipping leaderboards are banned (2021 Measures for Online Livestreaming Marketing)."""


def leaderboard(
    db: Session, kind: str, metric: str, period_from: date, period_to: date, limit: int = 20
) -> Leaderboard:
    if metric in TIPPING:
        raise TippingLeaderboardForbidden(
            f"metric: {metric!r} would rank tipping; tipping leaderboards are banned by the "
            "rules (choose one of " + ", ".join(METRICS) + ")"
        )
    if metric not in METRICS:
        raise InvalidInput(f"metric: {metric!r} is not one of {', '.join(METRICS)}")
    if kind not in KINDS:
        raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    if period_to < period_from:
        raise InvalidInput("to: the period ends before it starts")
    if (period_to - period_from).days > MAX_PERIOD_DAYS:
        raise InvalidInput(f"to: periods are at most {MAX_PERIOD_DAYS} days")
    if not 1 <= limit <= 500:
        raise InvalidInput(f"limit: {limit} is outside 1..500")
    key: Any
    name: Any
    joins: list[tuple[Any, Any]] = []
    if kind == "rooms":
        key, name = Order.room_id, LiveRoom.title
        joins = [(LiveRoom, LiveRoom.id == Order.room_id)]
    elif kind == "streamers":
        key, name = Order.streamer_id, Streamer.display_name
        joins = [(Streamer, Streamer.id == Order.streamer_id)]
    elif kind == "partners":
        key, name = Order.partner_id, Partner.name
        joins = [(Partner, Partner.id == Order.partner_id)]
    else:
        key, name = Product.brand_id, Brand.name
        joins = [(Product, Product.id == Order.product_id), (Brand, Brand.id == Product.brand_id)]
    values = {
        "gmv_fen": func.sum(Order.amount_fen),
        "net_gmv_fen": func.sum(Order.amount_fen - Order.refunded_fen),
        "orders": func.count(Order.id),
        "buyers": func.count(distinct(Order.buyer_id)),
        "refunded_fen": func.sum(Order.refunded_fen),
    }
    value = values[metric].label("value")
    query = select(key.label("id"), name.label("name"), value).select_from(Order)
    for table, on in joins:
        query = query.join(table, on)
    query = (
        query.where(
            key.is_not(None),
            Order.paid_at >= start_of_day(period_from),
            Order.paid_at < start_of_day(period_to + timedelta(days=1)),
        )
        .group_by(key, name)
        .order_by(value.desc(), key)
        .limit(limit)
    )
    entries = [
        LeaderboardEntry(rank=rank, id=row.id, name=row.name, value=int(row.value or 0))
        for rank, row in enumerate(db.execute(query), start=1)
    ]
    return Leaderboard(
        kind=kind, metric=metric, period_from=period_from, period_to=period_to, entries=entries
    )
