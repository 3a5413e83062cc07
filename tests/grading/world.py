"""A small graded platform: streamers with orders, rooms, sessions and a partner, built with the
shared builders; times are relative to ``AS_OF``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.models import LiveRoom, LiveSession, Order, Partner, Product, Streamer, Viewer
from zhibo.models.session import SessionStatus

AS_OF = date(2026, 11, 26)
#: A time inside every window (the day before ``AS_OF``, at noon UTC).
RECENT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class World:
    partner: Partner
    streamers: list[Streamer]
    rooms: dict[int, LiveRoom]
    sessions: dict[int, LiveSession]
    product: Product
    buyers: list[Viewer] = field(default_factory=list)


def sell(
    db: Session,
    world: World,
    streamer: Streamer,
    amount_fen: int,
    *,
    refunded_fen: int = 0,
    at: datetime = RECENT,
    buyer: Viewer | None = None,
) -> Order:
    """One order of ``amount_fen`` in the streamer's session, paid at ``at``."""
    session = world.sessions[streamer.id]
    order = Order(
        buyer_id=(buyer or world.buyers[0]).id,
        product_id=world.product.id,
        quantity=1,
        unit_price_fen=amount_fen,
        amount_fen=amount_fen,
        commission_rate_bp=2000,
        session_id=session.id,
        room_id=session.room_id,
        streamer_id=streamer.id,
        partner_id=streamer.partner_id,
        paid_at=at,
        refunded_fen=refunded_fen,
    )
    db.add(order)
    db.flush()
    return order


def build(db: Session, sales_fen: list[int], *, buyers: int = 3) -> World:
    """One streamer per entry of ``sales_fen`` (its GMV, in one order per buyer), all with the
    same partner, on the platform long enough for no tenure gate."""
    partner = b.partner(db)
    product = b.product(db)
    world = World(partner, [], {}, {}, product, [b.viewer(db) for _ in range(buyers)])
    for amount in sales_fen:
        streamer = b.streamer(db, partner_row=partner)
        streamer.created_at = LONG_AGO
        room = b.room(db, streamer_row=streamer)
        live = b.live_session(db, room_row=room, status=SessionStatus.LIVE)
        world.streamers.append(streamer)
        world.rooms[streamer.id] = room
        world.sessions[streamer.id] = live
        if amount:
            share, rest = divmod(amount, len(world.buyers))
            for index, buyer in enumerate(world.buyers):
                part = share + (rest if index == 0 else 0)
                if part:
                    sell(db, world, streamer, part, buyer=buyer)
    db.flush()
    return world
