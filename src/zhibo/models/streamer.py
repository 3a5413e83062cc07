"""Streamers: real-name identities who sell in live rooms, most of them attached to a partner."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, enum_column


class StreamerStatus(StrEnum):
    #: Registered, real-name identity not yet verified: may not go live.
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    BANNED = "banned"


class Streamer(Base):
    __tablename__ = "streamers"
    __table_args__ = (
        CheckConstraint("followers >= 0", name="followers_nonnegative"),
        CheckConstraint("level BETWEEN 0 AND 5", name="level_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    #: Real name, masked (e.g. ``张*``); the clear name is not kept here.
    real_name_masked: Mapped[str | None] = mapped_column(String(100))
    #: Keyed hash of the resident ID number, for matching (blacklist, duplicates).
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: ``3301**********1234``: what screens show.
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    birth_date: Mapped[date | None] = mapped_column(Date)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    status: Mapped[StreamerStatus] = mapped_column(
        enum_column(StreamerStatus, "streamer_status"), default=StreamerStatus.PENDING
    )
    #: Virtual (AI) hosts must be labelled to viewers.
    is_virtual: Mapped[bool] = mapped_column(Boolean, default=False)
    followers: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Graded-management level, 0 (selling rights revoked) to 5 (top); new streamers start at 1.
    #: Decides what the streamer may do, e.g. which category risk classes it may sell
    #: (``zhibo.catalog.policy``, driven by the scoring model). ``zhibo.grading`` sets it.
    level: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
