"""Viewers (buyers): the accounts that watch, engage, buy and tip."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId


class Viewer(Base):
    __tablename__ = "viewers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    real_name_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Minors may not tip and have spending limits.
    is_minor: Mapped[bool] = mapped_column(Boolean, default=False)
    birth_date: Mapped[date | None] = mapped_column(Date)


class ViewerDevice(Base):
    """A device an account was seen on; shared devices link accounts (rings, farms)."""

    __tablename__ = "viewer_devices"
    __table_args__ = (Index("uq_viewer_devices_pair", "viewer_id", "device_id", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    viewer_id: Mapped[int] = mapped_column(ForeignKey("viewers.id"))
    device_id: Mapped[str] = mapped_column(String(100), index=True)
