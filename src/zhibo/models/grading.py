"""Graded management: violations and complaints (the facts grading reads), credit-point changes
(append-only), the scoring models used, grading runs, their results and the level-change
notifications they sent.

``violations`` is written by the risk engine (and by operators); grading and credit points only
read it, except that a won appeal marks a violation overturned. ``complaints`` are filed by
viewers (or by operators on someone's behalf) and decided once by compliance or an operator
(``zhibo.grading.complaints``); grading counts them, except those rejected as baseless.
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


class ComplainantKind(StrEnum):
    """Who complained (null on rows loaded from files, which do not say)."""

    #: A viewer of the room or streamer complained about (``complainant_id`` is the viewer).
    VIEWER = "viewer"
    #: The buyer of the order complained about (``complainant_id`` is the viewer who bought).
    BUYER = "buyer"
    #: A brand (``complainant_id`` is the brand).
    BRAND = "brand"
    #: Anyone else (a regulator referral, a hotline caller without an account).
    OTHER = "other"


class ComplaintStatus(StrEnum):
    """Where a complaint stands; a decision is taken once and never changed."""

    #: Received, not decided yet.
    OPEN = "open"
    #: Found justified and handled (``resolution`` says how).
    RESOLVED = "resolved"
    #: Found baseless: it no longer counts toward the streamer's complaint rate.
    REJECTED = "rejected"


class Complaint(Base):
    """A complaint by a buyer or viewer about a streamer, counted by grading (unless rejected),
    with its handling: who decided, when, and what was done."""

    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_streamer_received", "streamer_id", "received_at"),
        Index("ix_complaints_status", "status"),
        Index("ix_complaints_complainant", "complainant_kind", "complainant_id"),
        # Decided exactly when handled: an open complaint has no handling time, a decided one has.
        CheckConstraint(
            "(status = 'open' AND handled_at IS NULL) "
            "OR (status <> 'open' AND handled_at IS NOT NULL)",
            name="handled_when_decided",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("live_rooms.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    complainant_kind: Mapped[ComplainantKind | None] = mapped_column(
        enum_column(ComplainantKind, "complainant_kind")
    )
    #: The viewer (viewer, buyer) or brand that complained; never shown to the streamer.
    complainant_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[ComplaintStatus] = mapped_column(
        enum_column(ComplaintStatus, "complaint_status"),
        default=ComplaintStatus.OPEN,
        server_default=ComplaintStatus.OPEN.value,
    )
    #: When the complaint was decided (resolved or rejected); the handling time ends here.
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Who decided: the caller's role and token id (``compliance#7``).
    handled_by: Mapped[str | None] = mapped_column(String(100))
    #: What was found and done, shown to the complainant and the streamer.
    resolution: Mapped[str | None] = mapped_column(Text)


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


class TrafficLimit(Base):
    """A measure keeping a live room out of recommendation listings until ``limited_until``
    (the risk engine's "traffic limit"); lifted early by setting ``lifted_at``."""

    __tablename__ = "traffic_limits"
    __table_args__ = (
        CheckConstraint("limited_until > limited_from", name="ends_after_start"),
        Index("ix_traffic_limits_room_until", "room_id", "limited_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id"))
    limited_from: Mapped[datetime] = mapped_column(UTCDateTime)
    limited_until: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Shown to the streamer: why the room gets no recommendation traffic.
    reason: Mapped[str] = mapped_column(Text)
    #: What decided it (a risk case or finding id, a rule with its version), if anything.
    source_ref: Mapped[str | None] = mapped_column(String(200))
    #: Who set it: ``risk`` (the engine) or an operator's name.
    set_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Campaign(Base):
    """A platform campaign (a shopping festival, a themed week) streamers may enrol in when
    their level unlocks campaigns."""

    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignEnrolment(Base):
    """A streamer (or one of its sessions) enrolled in a campaign, with the level and scoring
    model version that allowed it."""

    __tablename__ = "campaign_enrolments"
    __table_args__ = (
        CheckConstraint("level BETWEEN 0 AND 5", name="level_range"),
        Index("ix_campaign_enrolments_campaign_streamer", "campaign_id", "streamer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"), index=True)
    #: The session enrolled; null when the streamer enrolled itself (all its sessions).
    session_id: Mapped[int | None] = mapped_column(ForeignKey("live_sessions.id"))
    #: The streamer's level when it enrolled, and the model that said the level may.
    level: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
