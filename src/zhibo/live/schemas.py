"""What comes in and out of live rooms and sessions."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from zhibo.kit.schemas import Currency, Fen, InSchema, OutSchema, RateBp, UtcDatetime
from zhibo.models.room import RoomStatus
from zhibo.models.session import SessionStatus


class RoomCreate(InSchema):
    streamer_id: int
    title: str = Field(min_length=1, max_length=200)


class RoomOut(OutSchema):
    id: int
    streamer_id: int
    title: str
    status: RoomStatus
    is_key_room: bool
    created_at: datetime


class RoomCreated(RoomOut):
    #: The RTMP stream key, shown only this once.
    stream_key: str


class SessionCreate(InSchema):
    room_id: int
    title: str = Field(min_length=1, max_length=200)
    scheduled_start_at: UtcDatetime


class SessionSuspend(InSchema):
    reason: str = Field(min_length=1, max_length=2000)


class SessionOut(OutSchema):
    id: int
    room_id: int
    streamer_id: int
    title: str
    status: SessionStatus
    scheduled_start_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    suspended_at: datetime | None
    suspension_reason: str | None


class ShelfItemCreate(InSchema):
    product_id: int
    #: Commission for this session; defaults to the product's pool rate.
    commission_rate_bp: RateBp | None = None
    slot_fee_fen: Fen = 0
    currency: Currency = "CNY"


class ShelfItemOut(OutSchema):
    id: int
    session_id: int
    product_id: int
    commission_rate_bp: int
    slot_fee_fen: int
    currency: str
    position: int
    added_at: datetime | None
