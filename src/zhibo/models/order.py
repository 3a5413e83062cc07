"""Orders placed in live sessions, attributed to session, room, streamer and partner.

Lifecycle::

    paid --ship--> shipped --deliver--> delivered --confirm--> confirmed --settle--> settled
      \\_____________\\___________________\\_______________\\--refund (full)--> refunded

Partial refunds keep the status and add to ``refunded_fen``; a refund that reaches the amount
makes the order ``refunded``.

Settlement records that an order is settled in its own tables (the order's ``commission``
settlement item) and, by default, does not rewrite the row: a confirmed order with that item
is shown as ``settled`` by the orders API (``zhibo.orders.service.present``). ``settle`` moves
the row itself only when ``ZHIBO_SETTLEMENT_MARK_ORDERS_SETTLED`` is on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.kit.errors import IllegalTransition, InvalidInput
from zhibo.kit.states import require_state
from zhibo.kit.time import ensure_utc
from zhibo.models._types import BigId, Currency, enum_column


class OrderStatus(StrEnum):
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    #: The buyer confirmed receipt (or the platform auto-confirmed).
    CONFIRMED = "confirmed"
    #: Commission on it has been settled.
    SETTLED = "settled"
    #: Fully refunded.
    REFUNDED = "refunded"


REFUNDABLE = (
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.CONFIRMED,
    OrderStatus.SETTLED,
)


class OrderNotPaid(IllegalTransition):
    """Only a paid order can be shipped."""


class OrderNotShipped(IllegalTransition):
    """Only a shipped order can be delivered."""


class OrderNotDelivered(IllegalTransition):
    """Only a delivered order can be confirmed."""


class OrderNotConfirmed(IllegalTransition):
    """Only a confirmed order can be settled."""


class OrderNotRefundable(IllegalTransition):
    """A fully refunded order cannot be refunded again."""


class RefundExceedsAmount(InvalidInput):
    """Refunds may not add up to more than was paid."""


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_fen >= 0", name="unit_price_nonnegative"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
        CheckConstraint("commission_rate_bp BETWEEN 0 AND 10000", name="commission_rate_range"),
        CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_within_amount"
        ),
        Index("ix_orders_streamer_paid", "streamer_id", "paid_at"),
        Index("ix_orders_partner_paid", "partner_id", "paid_at"),
        Index("ix_orders_session", "session_id"),
        Index("ix_orders_buyer", "buyer_id"),
        Index("ix_orders_product", "product_id"),
        # A retried POST /v1/orders with the same Idempotency-Key is the same order.
        Index("uq_orders_buyer_idempotency_key", "buyer_id", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("viewers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    #: Price per unit actually charged, in fen.
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    #: Total paid by the buyer, in fen.
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    #: Commission rate in force when the order was paid, in basis points.
    commission_rate_bp: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("live_sessions.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("live_rooms.id"))
    streamer_id: Mapped[int | None] = mapped_column(ForeignKey("streamers.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    status: Mapped[OrderStatus] = mapped_column(
        enum_column(OrderStatus, "order_status"), default=OrderStatus.PAID
    )
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Sum of refunds so far, in fen (≤ amount_fen).
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    device_id: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))

    #: Not stored: True on an order returned for a retried request (same Idempotency-Key).
    replayed = False
    #: Keyed hash of the delivery address (rings share addresses).
    address_hash: Mapped[str | None] = mapped_column(String(64))

    def ship(self, at: datetime) -> None:
        require_state("order", self.status, [OrderStatus.PAID], "ship", OrderNotPaid)
        self.shipped_at = ensure_utc(at, "shipped_at")
        self.status = OrderStatus.SHIPPED

    def deliver(self, at: datetime) -> None:
        require_state("order", self.status, [OrderStatus.SHIPPED], "deliver", OrderNotShipped)
        self.delivered_at = ensure_utc(at, "delivered_at")
        self.status = OrderStatus.DELIVERED

    def confirm(self, at: datetime) -> None:
        require_state("order", self.status, [OrderStatus.DELIVERED], "confirm", OrderNotDelivered)
        self.confirmed_at = ensure_utc(at, "confirmed_at")
        self.status = OrderStatus.CONFIRMED

    def settle(self, at: datetime) -> None:
        require_state("order", self.status, [OrderStatus.CONFIRMED], "settle", OrderNotConfirmed)
        self.settled_at = ensure_utc(at, "settled_at")
        self.status = OrderStatus.SETTLED

    def refund(self, amount_fen: int, at: datetime) -> None:
        """Refund part or all of the order; a refund to the full amount ends it as refunded."""
        require_state("order", self.status, REFUNDABLE, "refund", OrderNotRefundable)
        when = ensure_utc(at, "refunded_at")
        if amount_fen <= 0:
            raise InvalidInput(f"amount_fen: a refund must be positive, got {amount_fen}")
        if (self.refunded_fen or 0) + amount_fen > self.amount_fen:
            raise RefundExceedsAmount(
                f"amount_fen: refunds would total {(self.refunded_fen or 0) + amount_fen} fen, "
                f"more than the {self.amount_fen} fen paid"
            )
        self.refunded_fen = (self.refunded_fen or 0) + amount_fen
        self.refunded_at = when
        if self.refunded_fen == self.amount_fen:
            self.status = OrderStatus.REFUNDED

    @property
    def net_amount_fen(self) -> int:
        return self.amount_fen - (self.refunded_fen or 0)


class Refund(Base):
    """One refund of (part of) an order; append-only."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    reason: Mapped[str] = mapped_column(Text, default="")
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime)
