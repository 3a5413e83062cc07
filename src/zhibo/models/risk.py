"""Risk cases: findings (what a rule saw), cases (findings of one person under review or
decided), measures (what was done, and undone), notices (what the person was told), appeals and
the append-only audit log of every decision.

State machine of a case::

    pending_review --confirm--> sanctioned --appeal--> appealed --win--> overturned
          |                         ^                     |
          +--dismiss--> dismissed    +--------lose---------+

A case that needs no human review is opened directly as ``sanctioned`` by the system (its
decision is the rule's). Only the latest appeal of a case is open at a time.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.kit.errors import IllegalTransition
from zhibo.kit.states import require_state
from zhibo.models._types import BigId, enum_column


class SubjectKind(StrEnum):
    """Who a case is about (and who its notices go to)."""

    STREAMER = "streamer"
    VIEWER = "viewer"


class CaseStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    """In the human review queue: high severity or uncertain; no sanction applied yet."""
    SANCTIONED = "sanctioned"
    """Decided: the violation stands and its sanctions were applied."""
    DISMISSED = "dismissed"
    """Decided: no violation; real-time measures it caused were reversed."""
    APPEALED = "appealed"
    """The person appealed a sanction; a reviewer decides."""
    OVERTURNED = "overturned"
    """The appeal was won: every sanction reversed, credit points given back."""


class CaseNotPending(IllegalTransition):
    """Only a case in the review queue can be confirmed or dismissed."""


class CaseNotAppealable(IllegalTransition):
    """Only a sanctioned case can be appealed (once the appeal is decided, it stays decided)."""


class CaseNotAppealed(IllegalTransition):
    """Only an appealed case has an appeal to decide."""


class RiskCase(Base):
    """The findings of one rule about one person, with the decision and its history."""

    __tablename__ = "risk_cases"
    __table_args__ = (
        Index("ix_risk_cases_subject", "subject_kind", "subject_id", "status"),
        Index("ix_risk_cases_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_kind: Mapped[SubjectKind] = mapped_column(enum_column(SubjectKind, "subject_kind"))
    subject_id: Mapped[int] = mapped_column(BigId)
    #: The room the findings came from, if any (a streamer's room; a viewer's comment's room).
    room_id: Mapped[int | None] = mapped_column(ForeignKey("live_rooms.id"))
    #: ``id@version`` of the rule whose findings the case holds.
    rule_key: Mapped[str] = mapped_column(String(120))
    #: The rule's legal basis and description as they were when the case opened (notices
    #: quote them).
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    rule_description: Mapped[str] = mapped_column(Text, default="")
    #: JSON list: the measures the rule version listed (its sanctions apply on confirmation).
    rule_measures: Mapped[str] = mapped_column(Text, default="[]")
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus, "risk_case_status"))
    #: Why the case went to the review queue (``severity high``, ``rule asks for review``,
    #: ``uncertain``), or empty.
    review_reason: Mapped[str] = mapped_column(Text, default="")
    #: Sanctioned cases of the same person within the repetition window before this one.
    repetition: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: ``system`` for automatic decisions, else the reviewer (``compliance#<token id>``).
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)

    def confirm(self, at: datetime, reviewer: str, reason: str) -> None:
        require_state("case", self.status, [CaseStatus.PENDING_REVIEW], "confirm", CaseNotPending)
        self._decide(CaseStatus.SANCTIONED, at, reviewer, reason)

    def dismiss(self, at: datetime, reviewer: str, reason: str) -> None:
        require_state("case", self.status, [CaseStatus.PENDING_REVIEW], "dismiss", CaseNotPending)
        self._decide(CaseStatus.DISMISSED, at, reviewer, reason)

    def appeal(self) -> None:
        require_state("case", self.status, [CaseStatus.SANCTIONED], "appeal", CaseNotAppealable)
        self.status = CaseStatus.APPEALED

    def close_appeal(self, won: bool) -> None:
        require_state("case", self.status, [CaseStatus.APPEALED], "decide", CaseNotAppealed)
        self.status = CaseStatus.OVERTURNED if won else CaseStatus.SANCTIONED

    def _decide(self, status: CaseStatus, at: datetime, reviewer: str, reason: str) -> None:
        self.status = status
        self.decided_at = at
        self.decided_by = reviewer
        self.decision_reason = reason


class RiskFinding(Base):
    """One finding as a rule version made it, with its evidence (JSON) and where it went."""

    __tablename__ = "risk_findings"
    __table_args__ = (
        Index("ix_risk_findings_room_detected", "room_id", "detected_at"),
        Index("ix_risk_findings_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Makes a finding idempotent: the rule key and what triggered it (an event id, an order id,
    #: a window); a batch shown twice (at-least-once delivery) records nothing new.
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    detector: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(100))
    rule_version: Mapped[int] = mapped_column(Integer)
    #: ``shadow`` findings are recorded and never apply a measure.
    rule_state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    #: ``realtime`` (pipeline or order hook), ``scan`` or ``manual``.
    source: Mapped[str] = mapped_column(String(16))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[int | None] = mapped_column(BigId)
    session_id: Mapped[int | None] = mapped_column(BigId)
    subject_kind: Mapped[str | None] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(BigId)
    #: JSON list of the accounts involved (buyers, likers, the commenter).
    user_ids: Mapped[str] = mapped_column(Text, default="[]")
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: One line of facts as a notice tells them (what, where, when).
    summary: Mapped[str] = mapped_column(Text, default="")
    #: JSON: the events, orders, text spans and feature values behind the finding.
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    #: When the triggering event happened (its own time) and when the engine saw it.
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("risk_cases.id"))


class MeasureStatus(StrEnum):
    APPLIED = "applied"
    #: Recorded, waiting for a capability zhibo does not have yet (e.g. the blacklist store).
    PENDING = "pending"
    #: Undone: a dismissed case, a won appeal.
    REVERSED = "reversed"
    #: The measure does not apply to this person (e.g. credit points for a viewer).
    NOT_APPLICABLE = "not_applicable"


class RiskMeasure(Base):
    """One measure taken on a room, session or person, with how long it lasts."""

    __tablename__ = "risk_measures"
    __table_args__ = (
        Index("ix_risk_measures_target", "target_kind", "target_id", "kind"),
        Index("ix_risk_measures_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("risk_cases.id"))
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("risk_findings.id"))
    #: ``zhibo.risk.rules.Measure`` value.
    kind: Mapped[str] = mapped_column(String(32))
    #: ``room``, ``session``, ``streamer`` or ``viewer``.
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[MeasureStatus] = mapped_column(enum_column(MeasureStatus, "measure_status"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When it lapses by itself; ``None``: until lifted (or for good).
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: JSON: what applying it did (violation id, points, previous status, stream cut outcome).
    detail: Mapped[str] = mapped_column(Text, default="{}")
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(Text)


class RiskNotice(Base):
    """What a person (or a room's viewers) was told: facts, reasons, rule and legal basis,
    duration and the appeal channel (DOMAIN.md §2, the 2026 Measures)."""

    __tablename__ = "risk_notices"
    __table_args__ = (Index("ix_risk_notices_recipient", "recipient_kind", "recipient_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: ``streamer``, ``viewer`` or ``room`` (a notice to everyone watching the room).
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[int] = mapped_column(BigId)
    #: ``prompt`` (pop-up to the streamer), ``viewer_notice``, ``sanction``, ``review``
    #: (a reviewer's decision), ``appeal`` (an appeal's decision).
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("risk_cases.id"))
    measure_id: Mapped[int | None] = mapped_column(ForeignKey("risk_measures.id"))
    room_id: Mapped[int | None] = mapped_column(BigId)
    title: Mapped[str] = mapped_column(String(200))
    facts: Mapped[str] = mapped_column(Text)
    reasons: Mapped[str] = mapped_column(Text)
    rule_key: Mapped[str] = mapped_column(String(120), default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    #: ``until <time>``, ``for the session``, ``permanent`` ... as shown.
    duration: Mapped[str] = mapped_column(String(120), default="")
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appeal_channel: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AppealStatus(StrEnum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


class RiskAppeal(Base):
    __tablename__ = "risk_appeals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("risk_cases.id"), index=True)
    appellant_kind: Mapped[str] = mapped_column(String(16))
    appellant_id: Mapped[int] = mapped_column(BigId)
    statement: Mapped[str] = mapped_column(Text)
    status: Mapped[AppealStatus] = mapped_column(enum_column(AppealStatus, "appeal_status"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(Text)


class RiskAuditEntry(Base):
    """One decision, as it was taken: append-only (the database refuses UPDATE and DELETE)."""

    __tablename__ = "risk_audit_log"
    __table_args__ = (Index("ix_risk_audit_log_case", "case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: ``system:realtime``, ``system:order``, ``compliance#7``, ``streamer#3`` ...
    actor: Mapped[str] = mapped_column(String(64))
    #: ``finding.recorded``, ``measure.applied``, ``case.opened``, ``case.confirmed``,
    #: ``case.dismissed``, ``appeal.filed``, ``appeal.won``, ``appeal.lost``, ``measure.reversed``.
    action: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(BigId)
    subject: Mapped[str] = mapped_column(String(40), default="")
    rule_key: Mapped[str] = mapped_column(String(120), default="")
    #: JSON: the inputs of the decision (finding ids, measures, severity, repetition ...).
    inputs: Mapped[str] = mapped_column(Text, default="{}")
    reason: Mapped[str] = mapped_column(Text, default="")
