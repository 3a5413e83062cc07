"""Product categories: a tree with a risk class per node."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base
from zhibo.models._types import BigId, enum_column


class RiskClass(StrEnum):
    """How much scrutiny selling in a category needs; levels unlock higher classes."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    #: Only specially licensed streamers may sell (e.g. health supplements, medical devices).
    RESTRICTED = "restricted"


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: Slash-separated path of names from the root, e.g. ``beauty/skincare``; unique.
    path: Mapped[str] = mapped_column(String(400), unique=True)
    risk_class: Mapped[RiskClass] = mapped_column(
        enum_column(RiskClass, "risk_class"), default=RiskClass.LOW
    )
