"""What comes in and out of orders."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from zhibo.kit.schemas import Fen, InSchema, OutSchema
from zhibo.models.order import OrderStatus


class OrderCreate(InSchema):
    session_id: int
    product_id: int
    quantity: int = Field(default=1, strict=True, ge=1, le=10_000)
    #: Operators may place orders for any buyer; a viewer's token buys for itself.
    buyer_id: int | None = None
    device_id: str | None = Field(default=None, max_length=100)


class RefundCreate(InSchema):
    amount_fen: Fen = Field(gt=0)
    reason: str = Field(default="", max_length=2000)


class OrderOut(OutSchema):
    id: int
    buyer_id: int
    product_id: int
    quantity: int
    unit_price_fen: int
    amount_fen: int
    currency: str
    commission_rate_bp: int
    session_id: int | None
    room_id: int | None
    streamer_id: int | None
    partner_id: int | None
    status: OrderStatus
    paid_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    confirmed_at: datetime | None
    #: When a settlement run made the order's commission payable (status ``settled``).
    settled_at: datetime | None = None
    refunded_fen: int
    refunded_at: datetime | None
