"""Brands: the organisations that publish products into the pool and set commission rates."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, enum_column


class BrandStatus(StrEnum):
    ACTIVE = "active"
    #: Products of a blacklisted brand may not be put on any shelf.
    BLACKLISTED = "blacklisted"


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Unified social credit code (统一社会信用代码), 18 characters, checksum-validated.
    social_credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    #: First day on the platform when the brand counts as new (goal: 1,000 new brands).
    new_brand_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[BrandStatus] = mapped_column(
        enum_column(BrandStatus, "brand_status"), default=BrandStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
