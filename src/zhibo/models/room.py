"""Live rooms: a streamer's permanent channel, in which sessions happen."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, enum_column


class RoomStatus(StrEnum):
    ACTIVE = "active"
    #: A suspended room refuses pushes until the suspension is lifted.
    SUSPENDED = "suspended"
    CLOSED = "closed"


class LiveRoom(Base):
    __tablename__ = "live_rooms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    #: Hash of the secret RTMP stream key; the key itself is shown once, at creation.
    stream_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[RoomStatus] = mapped_column(
        enum_column(RoomStatus, "room_status"), default=RoomStatus.ACTIVE
    )
    #: Key live rooms get real-time patrol and longer content retention.
    is_key_room: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
