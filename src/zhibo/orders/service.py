"""What orders do: place an order in a live session, move it through its lifecycle, refund."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, InvalidInput, NotFound
from zhibo.kit.pagination import paginate
from zhibo.kit.time import utcnow
from zhibo.models import (
    LiveSession,
    Order,
    OrderStatus,
    Product,
    Refund,
    Role,
    ShelfItem,
    Streamer,
    Viewer,
)
from zhibo.models.session import SessionStatus
from zhibo.orders.repository import orders_visible_to
from zhibo.orders.schemas import OrderCreate, RefundCreate


class OutOfStock(Conflict):
    """Not enough stock for the quantity ordered."""


class NotOnShelf(Conflict):
    """Orders in a session are for products on its shelf."""


def place_order(
    session: Session, principal: Principal, data: OrderCreate, at: datetime | None = None
) -> Order:
    buyer_id = principal.subject_id if principal.role == Role.VIEWER else data.buyer_id
    if buyer_id is None:
        raise InvalidInput("buyer_id: required when an operator places an order")
    if session.get(Viewer, buyer_id) is None:
        raise InvalidInput(f"buyer_id: no viewer with id {buyer_id}")
    live_session = session.get(LiveSession, data.session_id)
    if live_session is None:
        raise InvalidInput(f"session_id: no session with id {data.session_id}")
    if live_session.status != SessionStatus.LIVE:
        raise Conflict(f"session_id: session {live_session.id} is {live_session.status}, not live")
    item = session.scalar(
        select(ShelfItem).where(
            ShelfItem.session_id == live_session.id, ShelfItem.product_id == data.product_id
        )
    )
    if item is None:
        raise NotOnShelf(
            f"product_id: product {data.product_id} is not on session {live_session.id}'s shelf"
        )
    product = session.get(Product, data.product_id, with_for_update=True)
    assert product is not None  # the shelf item's foreign key guarantees it
    if product.stock < data.quantity:
        raise OutOfStock(f"quantity: {data.quantity} ordered, {product.stock} in stock")
    streamer = session.get(Streamer, live_session.streamer_id)
    product.stock -= data.quantity
    order = Order(
        buyer_id=buyer_id,
        product_id=product.id,
        quantity=data.quantity,
        unit_price_fen=product.price_fen,
        amount_fen=product.price_fen * data.quantity,
        currency=product.currency,
        commission_rate_bp=item.commission_rate_bp,
        session_id=live_session.id,
        room_id=live_session.room_id,
        streamer_id=live_session.streamer_id,
        partner_id=streamer.partner_id if streamer else None,
        status=OrderStatus.PAID,
        paid_at=at or utcnow(),
        refunded_fen=0,
        device_id=data.device_id,
    )
    session.add(order)
    session.flush()
    return order


def list_orders(
    session: Session,
    principal: Principal,
    cursor: str | None,
    limit: int,
    status: OrderStatus | None = None,
    session_id: int | None = None,
) -> tuple[Sequence[Order], str | None]:
    query = orders_visible_to(principal)
    if status is not None:
        query = query.where(Order.status == status)
    if session_id is not None:
        query = query.where(Order.session_id == session_id)
    return paginate(session, query, Order.id, cursor, limit)


def get_order(session: Session, principal: Principal, order_id: int) -> Order:
    order = session.scalar(orders_visible_to(principal).where(Order.id == order_id))
    if order is None:
        raise NotFound(f"order: no order with id {order_id}")
    return order


def advance(
    session: Session, principal: Principal, order_id: int, action: str, at: datetime | None = None
) -> Order:
    order = get_order(session, principal, order_id)
    moves = {"ship": order.ship, "deliver": order.deliver, "confirm": order.confirm}
    moves[action](at or utcnow())
    session.flush()
    return order


def refund(
    session: Session,
    principal: Principal,
    order_id: int,
    data: RefundCreate,
    at: datetime | None = None,
) -> Order:
    order = get_order(session, principal, order_id)
    when = at or utcnow()
    order.refund(data.amount_fen, when)
    session.add(
        Refund(
            order_id=order.id,
            amount_fen=data.amount_fen,
            currency=order.currency,
            reason=data.reason,
            refunded_at=when,
        )
    )
    session.flush()
    return order
