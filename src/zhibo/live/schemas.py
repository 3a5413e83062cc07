"""What comes in and out of live rooms and sessions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

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


class StreamKeyRotated(OutSchema):
    room_id: int
    #: The new RTMP stream key, shown only this once; the previous key no longer works.
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
    #: When the session's RTMP push ended while it waits (the reconnect grace) for a push of its
    #: room to resume it; kept once ended (then it is ``ended_at`` if no push came back).
    publisher_left_at: datetime | None = None
    #: Live, its push gone, within the reconnect grace.
    reconnecting: bool = False
    #: Why it ended: requested, publisher_left, reconnect_grace_expired or cancelled.
    end_reason: str | None = None


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


class SessionStreamCut(SessionOut):
    """A session that zhibo took off the air, and whether its RTMP push was cut."""

    #: Whether the media server cut the push: null when the session had no RTMP publisher on
    #: record, false when the cut failed or found no publisher (``stream_cut_detail`` says why).
    stream_cut: bool | None
    stream_cut_detail: str | None


class SessionSuspended(SessionStreamCut):
    pass


class SessionEnded(SessionStreamCut):
    pass


class MediaHook(BaseModel):
    """A form-encoded notification from nginx-rtmp (``on_publish``, ``on_publish_done``).

    nginx also sends fields such as ``flashver`` and the push URL's query arguments: ignored.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    call: str = Field(default="", max_length=40)
    app: str = Field(min_length=1, max_length=100)
    #: The stream key the client pushes to. Secret: never logged, never echoed.
    name: str = Field(default="", max_length=200, repr=False)
    addr: str = Field(default="", max_length=64)
    #: nginx's id of the client connection; unique while nginx runs.
    clientid: str = Field(pattern=r"^[0-9]{1,20}$")
    tcurl: str = Field(default="", max_length=500)
    type: str = Field(default="", max_length=20)


class PublishAllowed(BaseModel):
    allowed: bool = True
    session_id: int
    room_id: int
    #: True when the push continues a session that was already live (a reconnect).
    reconnect: bool
    #: The public name nginx-rtmp publishes the push under (the answer's ``Location``).
    stream_name: str


class PublishDone(BaseModel):
    #: The live session this push carried; null when there was nothing live to end.
    session_id: int | None
    ended: bool
    #: True when the session stays live for the reconnect grace instead of ending now.
    reconnecting: bool = False
    #: The moment the push ended, when the session waits for a reconnect.
    publisher_left_at: datetime | None = None
