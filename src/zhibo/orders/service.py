"""What orders do: place an order in a live session, move it through its lifecycle, refund.

Payment accrues the order's commission, and a refund adjusts it, in the same transaction
(``zhibo.settlement``'s service).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhibo.kit import metrics
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
from zhibo.orders.schemas import OrderCreate, OrderOut, RefundCreate
from zhibo.settlement import service as settlement


class OutOfStock(Conflict):
    """Not enough stock for the quantity ordered."""


class NotOnShelf(Conflict):
    """Orders in a session are for products on its shelf."""


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key the buyer already used for a different order."""


def _replayed(session: Session, buyer_id: int, key: str, data: OrderCreate) -> Order | None:
    """The order this buyer already placed under ``key``, if it is the same order."""
    order = session.scalar(
        select(Order).where(Order.buyer_id == buyer_id, Order.idempotency_key == key)
    )
    if order is None:
        return None
    if (order.session_id, order.product_id, order.quantity) != (
        data.session_id,
        data.product_id,
        data.quantity,
    ):
        raise IdempotencyKeyReused(
            f"Idempotency-Key: {key!r} was used for order {order.id} (session "
            f"{order.session_id}, product {order.product_id}, quantity {order.quantity})"
        )
    return order


def place_order(
    session: Session,
    principal: Principal,
    data: OrderCreate,
    at: datetime | None = None,
    *,
    idempotency_key: str | None = None,
) -> Order:
    """Place and pay an order. With ``idempotency_key`` (unique per buyer), a retry of the
    same order returns the order already placed (``order.replayed`` is set) instead of a
    second one; the same key for a different order is ``IdempotencyKeyReused``."""
    buyer_id = principal.subject_id if principal.role == Role.VIEWER else data.buyer_id
    if buyer_id is None:
        raise InvalidInput("buyer_id: required when an operator places an order")
    if session.get(Viewer, buyer_id) is None:
        raise InvalidInput(f"buyer_id: no viewer with id {buyer_id}")
    if idempotency_key is not None:
        if not 0 < len(idempotency_key) <= 100 or not idempotency_key.isprintable():
            raise InvalidInput("Idempotency-Key: must be 1-100 printable characters")
        existing = _replayed(session, buyer_id, idempotency_key, data)
        if existing is not None:
            existing.replayed = True
            return existing
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
        idempotency_key=idempotency_key,
    )
    try:
        with session.begin_nested():  # (flushes what came before: the stock goes in here)
            product.stock -= data.quantity
            session.add(order)
            session.flush()
    except IntegrityError:
        # A concurrent request with the same key won (PostgreSQL waited for it to commit);
        # the savepoint undid this one's row and stock.
        if idempotency_key is None:
            raise
        existing = _replayed(session, buyer_id, idempotency_key, data)
        if existing is None:
            raise
        existing.replayed = True
        return existing
    metrics.ORDERS_PLACED.inc()
    # Payment and commission are one transaction: the order never exists without its
    # commission row and ledger entries.
    settlement.on_order_paid(session, order.id)
    # Real-time risk: the room's recent orders against the brushing rule (never refuses).
    from zhibo.risk.realtime import on_order_placed

    on_order_placed(session, order)
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
    # Settlement does not rewrite order rows: a confirmed order is settled once a run has
    # itemised it (older databases may hold rows moved to ``settled``).
    if status == OrderStatus.SETTLED:
        query = query.where(
            or_(
                Order.status == OrderStatus.SETTLED,
                and_(Order.status == OrderStatus.CONFIRMED, settlement.order_settled()),
            )
        )
    elif status == OrderStatus.CONFIRMED:
        query = query.where(Order.status == status, ~settlement.order_settled())
    elif status is not None:
        query = query.where(Order.status == status)
    if session_id is not None:
        query = query.where(Order.session_id == session_id)
    return paginate(session, query, Order.id, cursor, limit)


def present(session: Session, orders: Sequence[Order]) -> list[OrderOut]:
    """Orders as callers see them: a confirmed order a settlement run has itemised is
    ``settled``, with the run's day as ``settled_at``."""
    settled = settlement.settled_at(
        session, [order.id for order in orders if order.status == OrderStatus.CONFIRMED]
    )
    out = []
    for order in orders:
        row = OrderOut.model_validate(order)
        if order.id in settled:
            row = row.model_copy(
                update={"status": OrderStatus.SETTLED, "settled_at": settled[order.id]}
            )
        out.append(row)
    return out


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
    # Locked: two refunds of one order at once must add up, not overwrite each other.
    order = session.scalar(
        orders_visible_to(principal)
        .where(Order.id == order_id)
        .with_for_update(of=Order)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound(f"order: no order with id {order_id}")
    when = at or utcnow()
    order.refund(data.amount_fen, when)
    row = Refund(
        order_id=order.id,
        amount_fen=data.amount_fen,
        currency=order.currency,
        reason=data.reason,
        refunded_at=when,
    )
    session.add(row)
    session.flush()
    # Commission is reduced (before settlement) or clawed back (after) with the refund,
    # unless a settlement run is in progress: the next accrual applies it then.
    settlement.on_order_refunded(session, row.id)
    return order
