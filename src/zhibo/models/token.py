"""API tokens: hashed at rest, one role and (for scoped roles) one subject each."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, enum_column


class Role(StrEnum):
    #: Runs the platform: sees and changes everything.
    OPERATOR = "operator"
    #: Reviews risk cases and sanctions; reads everything.
    COMPLIANCE = "compliance"
    #: Sees and acts on its own rooms, sessions, orders and earnings.
    STREAMER = "streamer"
    #: An agency/MCN: sees its own streamers.
    PARTNER = "partner"
    #: Sees its own products and their sales.
    BRAND = "brand"
    #: Reads everything, changes nothing.
    AUDITOR = "auditor"
    #: A viewer/buyer: its own orders.
    VIEWER = "viewer"


#: Roles whose tokens name the subject (the streamer, partner, brand or viewer id) they act as.
SCOPED_ROLES = frozenset({Role.STREAMER, Role.PARTNER, Role.BRAND, Role.VIEWER})


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: SHA-256 of the token; the token itself is shown once.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: First characters of the token, to tell tokens apart in listings.
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
