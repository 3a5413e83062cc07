"""Builders for settlement tests: a small platform with one agency, its streamers and orders
moved through their lifecycle at chosen times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.models import (
    LiveSession,
    Order,
    Partner,
    PartnerContract,
    Product,
    Refund,
    Streamer,
)
from zhibo.models.session import SessionStatus


@dataclass
class Shop:
    agency: Partner
    streamers: list[Streamer]
    sessions: list[LiveSession]
    product: Product


def shop(
    db: Session, *, streamers: int = 2, partner_share_bp: int = 3000, price_fen: int = 9999
) -> Shop:
    """An agency with ``streamers`` contracted streamers (levels 1, 2, ...), one live session
    each and one product; the first streamer's contract is with the agency."""
    agency = b.partner(db)
    product = b.product(db, price_fen=price_fen, commission_rate_bp=2000, stock=10**9)
    rows, sessions = [], []
    for index in range(streamers):
        streamer = b.streamer(db, partner_row=agency, level=index % 5 + 1)
        db.add(
            PartnerContract(
                partner_id=agency.id,
                streamer_id=streamer.id,
                partner_share_bp=partner_share_bp,
                valid_from=date(2020, 1, 1),
            )
        )
        rows.append(streamer)
        sessions.append(
            b.live_session(
                db, room_row=b.room(db, streamer_row=streamer), status=SessionStatus.LIVE
            )
        )
    db.flush()
    return Shop(agency, rows, sessions, product)


def paid_order(
    db: Session, live: LiveSession, product: Product, paid_at: datetime, quantity: int = 1
) -> Order:
    order = b.order(db, session_row=live, product_row=product, quantity=quantity)
    order.paid_at = paid_at
    db.flush()
    return order


def confirm(order: Order, at: datetime) -> None:
    order.ship(at - timedelta(hours=2))
    order.deliver(at - timedelta(hours=1))
    order.confirm(at)


def refund(db: Session, order: Order, amount_fen: int, at: datetime) -> Refund:
    order.refund(amount_fen, at)
    row = Refund(order_id=order.id, amount_fen=amount_fen, refunded_at=at)
    db.add(row)
    db.flush()
    return row


def bulk_orders_postgresql(
    engine: Engine, world: Shop, count: int, *, buyer_id: int, refunds_every: int = 7
) -> None:
    """``count`` confirmed orders spread over the shop's sessions, paid on consecutive minutes
    of November 2026 and confirmed three days later; every ``refunds_every``-th partly refunded
    (set-based SQL: PostgreSQL only)."""
    sessions = [(s.id, s.room_id, s.streamer_id) for s in world.sessions]
    with engine.begin() as connection:
        for index, (session_id, room_id, streamer_id) in enumerate(sessions):
            connection.execute(
                text(
                    """
                    INSERT INTO orders (buyer_id, product_id, quantity, unit_price_fen,
                        amount_fen, currency, commission_rate_bp, session_id, room_id,
                        streamer_id, partner_id, status, paid_at, shipped_at, delivered_at,
                        confirmed_at, refunded_fen)
                    SELECT :buyer, :product, 1, :price + g, :price + g, 'CNY', 2000, :session,
                        :room, :streamer, :partner, 'confirmed',
                        timestamptz '2026-11-01 00:00Z' + g * interval '1 minute',
                        timestamptz '2026-11-02 00:00Z' + g * interval '1 minute',
                        timestamptz '2026-11-03 00:00Z' + g * interval '1 minute',
                        timestamptz '2026-11-04 00:00Z' + g * interval '1 minute', 0
                    FROM generate_series(1, :n) AS g
                    """
                ),
                {
                    "buyer": buyer_id,
                    "product": world.product.id,
                    "price": world.product.price_fen,
                    "session": session_id,
                    "room": room_id,
                    "streamer": streamer_id,
                    "partner": world.agency.id,
                    "n": count // len(sessions) + (1 if index < count % len(sessions) else 0),
                },
            )
        connection.execute(
            text(
                """
                INSERT INTO refunds (order_id, amount_fen, currency, reason, refunded_at)
                SELECT id, amount_fen / 3, 'CNY', 'test', confirmed_at + interval '1 hour'
                FROM orders WHERE id % :every = 0
                """
            ),
            {"every": refunds_every},
        )
        connection.execute(
            text(
                "UPDATE orders SET refunded_fen = amount_fen / 3, "
                "refunded_at = confirmed_at + interval '1 hour' WHERE id % :every = 0"
            ),
            {"every": refunds_every},
        )
