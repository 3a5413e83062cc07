"""Graded management: violations and complaints (the facts grading reads), credit-point changes
(append-only), the scoring models used, grading runs, their results and the level-change
notifications they sent.

``violations`` is written by the risk engine (and by operators); grading and credit points only
read it, except that a won appeal marks a violation overturned. ``complaints`` is the minimal
record grading needs until a complaints domain owns it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, enum_column


class ViolationSeverity(StrEnum):
    """How grave a violation is; the scoring model's gates and default deductions key on it."""

    #: E.g. a first misleading phrase, corrected at once.
    MINOR = "minor"
    #: E.g. repeated absolute terms, off-platform lures.
    MODERATE = "moderate"
    #: E.g. fabricated transactions, false health claims, price fraud.
    SERIOUS = "serious"
    #: E.g. counterfeit goods, fraud, selling to minors beyond limits: rights can go at once.
    CRITICAL = "critical"


class Violation(Base):
    """A confirmed violation by a streamer (in one of its rooms, if it happened live)."""

    __tablename__ = "violations"
    __table_args__ = (
        CheckConstraint("points_tenths BETWEEN 0 AND 120", name="points_range"),
        Index("ix_violations_streamer_occurred", "streamer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("live_rooms.id"))
    severity: Mapped[ViolationSeverity] = mapped_column(
        enum_column(ViolationSeverity, "violation_severity")
    )
    #: The rule broken, with its version (e.g. ``absolute-terms@2026-11``): shown to the streamer.
    rule: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Where the finding came from (a risk case id, a regulator notice number), if anywhere.
    source_ref: Mapped[str | None] = mapped_column(String(200))
    #: Credit points to deduct, in tenths of a point (5 = 0.5 point, 120 = all 12 points).
    points_tenths: Mapped[int] = mapped_column(Integer)
    #: Set when an appeal against the violation was won: it no longer counts anywhere.
    overturned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Complaint(Base):
    """A complaint by a buyer or viewer about a streamer, counted by grading."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_streamer_received", "streamer_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("live_rooms.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CreditCause(StrEnum):
    """Why a streamer's credit points changed."""

    #: Deducted for a violation (``violation_id`` set).
    VIOLATION = "violation"
    #: Earned back after the scoring model's number of clean days.
    RECOVERY = "recovery"
    #: Given back because an appeal against the violation was won (``violation_id`` set).
    APPEAL_WON = "appeal_won"


class CreditChange(Base):
    """One change of a streamer's credit points; append-only. The balance is the model's
    starting points plus the sum of ``delta_tenths``, and ``balance_tenths`` keeps it after
    each change so a reader needs no sum."""

    __tablename__ = "credit_changes"
    __table_args__ = (
        CheckConstraint("balance_tenths >= 0", name="balance_nonnegative"),
        Index("ix_credit_changes_streamer_occurred", "streamer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"))
    #: Points added (positive) or deducted (negative), in tenths of a point.
    delta_tenths: Mapped[int] = mapped_column(Integer)
    #: Balance after this change, in tenths of a point.
    balance_tenths: Mapped[int] = mapped_column(Integer)
    cause: Mapped[CreditCause] = mapped_column(enum_column(CreditCause, "credit_cause"))
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violations.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")


class GradingModel(Base):
    """A scoring model version as it was used: the validated document, kept for replay."""

    __tablename__ = "grading_models"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: SHA-256 of ``document``: a version may not be reused for different content.
    sha256: Mapped[str] = mapped_column(String(64))
    #: The validated model as JSON.
    document: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GradingRun(Base):
    """One grading of every account as of a day; running the same day again replaces it."""

    __tablename__ = "grading_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    model_version: Mapped[str] = mapped_column(ForeignKey("grading_models.version"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: JSON summary: accounts per level and kind, key rooms, notifications.
    summary: Mapped[str] = mapped_column(Text, default="{}")


class GradedKind(StrEnum):
    STREAMER = "streamer"
    PARTNER = "partner"
    #: Rooms get no level, only the key-room decision.
    ROOM = "room"


class GradeResult(Base):
    """The grade of one account in one run, with everything needed to explain it."""

    __tablename__ = "grade_results"
    __table_args__ = (
        CheckConstraint("level IS NULL OR level BETWEEN 0 AND 5", name="level_range"),
        CheckConstraint("score_bp BETWEEN 0 AND 10000", name="score_range"),
        Index("uq_grade_results_run_subject", "run_id", "kind", "subject_id", unique=True),
        Index("ix_grade_results_subject", "kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"))
    kind: Mapped[GradedKind] = mapped_column(enum_column(GradedKind, "graded_kind"))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[int | None] = mapped_column(Integer)
    previous_level: Mapped[int | None] = mapped_column(Integer)
    #: Weighted score, 0..10000 basis points of the best possible.
    score_bp: Mapped[int] = mapped_column(Integer)
    #: The gate that capped the level, if one did.
    gate: Mapped[str | None] = mapped_column(String(64))
    is_key_room: Mapped[bool] = mapped_column(Boolean, default=False)
    #: One sentence: why this level (score band or gate).
    reason: Mapped[str] = mapped_column(Text)
    #: JSON: metric values, percentiles, contributions, gates, counterfactuals.
    inputs: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(64))


class LevelNotification(Base):
    """A notice to an account that its level changed, with the reason; sent after commit."""

    __tablename__ = "level_notifications"
    __table_args__ = (
        Index("uq_level_notifications_run_subject", "run_id", "kind", "subject_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"))
    kind: Mapped[GradedKind] = mapped_column(enum_column(GradedKind, "graded_kind"))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    from_level: Mapped[int | None] = mapped_column(Integer)
    to_level: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
