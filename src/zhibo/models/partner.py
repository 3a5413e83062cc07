"""Ecological partners (agencies/MCNs, live bases, service providers) and their contracts."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, enum_column


class PartnerKind(StrEnum):
    #: Talent agency / multi-channel network that signs and manages streamers.
    AGENCY = "agency"
    #: A physical live-streaming base (studios, supply chain).
    LIVE_BASE = "live_base"
    #: Operations, content or technical service provider.
    SERVICE_PROVIDER = "service_provider"


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[PartnerKind] = mapped_column(enum_column(PartnerKind, "partner_kind"))
    #: Unified social credit code of the organisation.
    social_credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PartnerContract(Base):
    """Revenue-share contract between a partner and one of its streamers."""

    __tablename__ = "partner_contracts"
    __table_args__ = (
        CheckConstraint("partner_share_bp BETWEEN 0 AND 10000", name="partner_share_range"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_period"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"), index=True)
    #: The partner's share of the streamer's commission, in basis points.
    partner_share_bp: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
