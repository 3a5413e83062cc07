"""Identity and compliance: encrypted personal data, verification checks, guardian consents,
the audit of clear reads, the blacklist with its history, tips (gifts), legal holds and the
retention job's record.

Clear ID numbers and phones exist only as AES-GCM ciphertexts (``*_cipher``); matching uses
keyed hashes (``*_hash``) and screens show masks (``*_masked``).
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
from zhibo.models._types import BigId, Currency, enum_column


class SubjectKind(StrEnum):
    """Whose personal data a record holds."""

    STREAMER = "streamer"
    VIEWER = "viewer"
    #: A room operator who is not itself a streamer account (a person named by a partner).
    OPERATOR = "operator"


class IdentityRecord(Base):
    """One person's identity data: encrypted for the rare audited read, hashed for matching,
    masked for showing."""

    __tablename__ = "identity_records"
    __table_args__ = (
        Index("uq_identity_records_subject", "subject_kind", "subject_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_kind: Mapped[SubjectKind] = mapped_column(enum_column(SubjectKind, "subject_kind"))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    #: AES-GCM ciphertext of the resident ID number (``zhibo.identity.crypto``).
    id_number_cipher: Mapped[str] = mapped_column(Text)
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    phone_cipher: Mapped[str | None] = mapped_column(Text)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    birth_date: Mapped[date] = mapped_column(Date)
    #: The six-digit administrative division code the number was issued under.
    region_code: Mapped[str] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckPurpose(StrEnum):
    #: The first real-name verification of an account.
    REGISTRATION = "registration"
    #: The re-check before a session goes live.
    PRE_LIVE = "pre_live"


class IdentityCheck(Base):
    """One identity decision (passed or failed) with its inputs, provider and rule version."""

    __tablename__ = "identity_checks"
    __table_args__ = (Index("ix_identity_checks_streamer_checked", "streamer_id", "checked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"))
    purpose: Mapped[CheckPurpose] = mapped_column(enum_column(CheckPurpose, "check_purpose"))
    #: The verification provider's name (``attestation``, ``test``...).
    provider: Mapped[str] = mapped_column(String(40))
    passed: Mapped[bool] = mapped_column(Boolean)
    #: Why it failed (empty when it passed); shown to the streamer.
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The facts decided on, as JSON (age, as-of date, consent id, blacklist matches...).
    inputs: Mapped[str] = mapped_column(Text)
    rule_version: Mapped[str] = mapped_column(String(40))
    #: Who attested (an operator's name) for attestations; null for automatic re-checks.
    attested_by: Mapped[str | None] = mapped_column(String(100))
    #: The document the operator checked (e.g. a scan's reference); never the number itself.
    document_ref: Mapped[str | None] = mapped_column(String(200))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GuardianConsent(Base):
    """A guardian's consent for a 16- or 17-year-old streamer; valid until the 18th birthday."""

    __tablename__ = "guardian_consents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"), index=True)
    guardian_name_masked: Mapped[str] = mapped_column(String(100))
    guardian_id_hash: Mapped[str] = mapped_column(String(64))
    guardian_id_masked: Mapped[str] = mapped_column(String(18))
    guardian_id_cipher: Mapped[str] = mapped_column(Text)
    #: E.g. ``mother``, ``father``, ``legal guardian``.
    relationship: Mapped[str] = mapped_column(String(40))
    document_ref: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[date] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PersonalDataRead(Base):
    """Append-only audit: every read of a clear ID number or phone, with who and why."""

    __tablename__ = "personal_data_reads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(Text)
    subject_kind: Mapped[SubjectKind] = mapped_column(enum_column(SubjectKind, "read_subject_kind"))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    #: ``id_number`` or ``phone``.
    field: Mapped[str] = mapped_column(String(20))


class BlacklistStatus(StrEnum):
    ACTIVE = "active"
    #: Lifted early (a won appeal, an operator's correction).
    LIFTED = "lifted"
    #: Its duration ran out.
    EXPIRED = "expired"


class BlacklistEntry(Base):
    """A person barred from the platform, told the facts, reasons, legal basis, duration and
    appeal channel. Matched by keyed hashes of ID number and phone, and by device hashes."""

    __tablename__ = "blacklist_entries"
    __table_args__ = (
        CheckConstraint(
            "id_number_hash IS NOT NULL OR phone_hash IS NOT NULL", name="has_identity_key"
        ),
        CheckConstraint("expires_at IS NULL OR expires_at > listed_at", name="expires_after"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    #: The account the entry was made for, if any (the person may hold others).
    streamer_id: Mapped[int | None] = mapped_column(ForeignKey("streamers.id"))
    facts: Mapped[str] = mapped_column(Text)
    reasons: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    appeal_channel: Mapped[str] = mapped_column(Text)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Null: until lifted.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[BlacklistStatus] = mapped_column(
        enum_column(BlacklistStatus, "blacklist_status"), default=BlacklistStatus.ACTIVE
    )
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lift_reason: Mapped[str | None] = mapped_column(Text)
    listed_by: Mapped[str] = mapped_column(String(100))
    #: Where the decision came from (a risk case, a regulator notice).
    source_ref: Mapped[str | None] = mapped_column(String(200))

    def is_active(self, at: datetime) -> bool:
        if self.status != BlacklistStatus.ACTIVE:
            return False
        return self.expires_at is None or at < self.expires_at


class BlacklistDevice(Base):
    __tablename__ = "blacklist_devices"
    __table_args__ = (Index("uq_blacklist_devices_pair", "entry_id", "device_hash", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("blacklist_entries.id"))
    #: Keyed hash of the device id.
    device_hash: Mapped[str] = mapped_column(String(64), index=True)


class BlacklistEvent(Base):
    """The history of an entry: listed, appealed, appeal rejected, lifted, expired. Append-only."""

    __tablename__ = "blacklist_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("blacklist_entries.id"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")


class TipStatus(StrEnum):
    #: Charged to the viewer, held before crediting the streamer.
    HELD = "held"
    #: Credited to the streamer after the hold period.
    CREDITED = "credited"
    #: Returned to the viewer (the streamer was sanctioned for a violation in the session).
    REFUNDED = "refunded"


class Tip(Base):
    """A gift a viewer sent in a live session."""

    __tablename__ = "tips"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("uq_tips_viewer_key", "viewer_id", "idempotency_key", unique=True),
        Index("ix_tips_viewer_sent", "viewer_id", "sent_at"),
        Index("ix_tips_session", "session_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    viewer_id: Mapped[int] = mapped_column(ForeignKey("viewers.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"))
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id"))
    streamer_id: Mapped[int] = mapped_column(ForeignKey("streamers.id"), index=True)
    gift_id: Mapped[int] = mapped_column(BigInteger)
    #: What the viewer paid, in fen.
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    status: Mapped[TipStatus] = mapped_column(enum_column(TipStatus, "tip_status"))
    #: The client's key: a retried request returns the same tip instead of charging twice.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the hold ends and the tip may be credited to the streamer.
    credit_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    credited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_reason: Mapped[str | None] = mapped_column(Text)
    #: The caps and totals the tip was checked against, as JSON.
    inputs: Mapped[str] = mapped_column(Text)


class TipRefusal(Base):
    """A gift refused (nothing charged), with the reason and what was checked."""

    __tablename__ = "tip_refusals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    viewer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    session_id: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    #: The error name (``TipOverDailyCap``, ``MinorMayNotTip``...).
    reason_code: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    inputs: Mapped[str] = mapped_column(Text)
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LegalHold(Base):
    """Data that must not be purged (an investigation, a lawsuit), by room, session or
    streamer; for one data class or (null) all."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        CheckConstraint(
            "room_id IS NOT NULL OR session_id IS NOT NULL OR streamer_id IS NOT NULL",
            name="has_scope",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    room_id: Mapped[int | None] = mapped_column(BigInteger)
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    streamer_id: Mapped[int | None] = mapped_column(BigInteger)
    data_class: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(100))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RetentionRun(Base):
    """One run of ``zhibo retention run``: when, as of which clock, and what it removed."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(64))
    #: JSON: per data class and target, rows/files removed and kept under hold.
    summary: Mapped[str] = mapped_column(Text)
    removed: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ViewerVerificationAction(StrEnum):
    #: The identity was verified (an adult, or a minor recorded as a minor).
    VERIFIED = "verified"
    #: The verification was refused (invalid number, provider, blacklist, another identity).
    REFUSED = "refused"
    #: An operator cleared the viewer's identity so another one may be verified.
    RESET = "reset"


class ViewerVerification(Base):
    """One real-name decision about a viewer (verified, refused, reset) with its inputs, the
    provider, the rule version and who asked. Never the clear number: its mask and keyed hash."""

    __tablename__ = "viewer_verifications"
    __table_args__ = (Index("ix_viewer_verifications_viewer_checked", "viewer_id", "checked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    viewer_id: Mapped[int] = mapped_column(ForeignKey("viewers.id"))
    action: Mapped[ViewerVerificationAction] = mapped_column(
        enum_column(ViewerVerificationAction, "viewer_verification_action")
    )
    provider: Mapped[str] = mapped_column(String(40))
    #: Why it was refused or reset (empty when verified).
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The facts decided on, as JSON (age, minor, region, blacklist entries, provider evidence).
    inputs: Mapped[str] = mapped_column(Text)
    rule_version: Mapped[str] = mapped_column(String(40))
    #: Who asked: ``viewer:{id}`` for the viewer themself, ``operator:{token}`` otherwise.
    actor: Mapped[str] = mapped_column(String(100))
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    is_minor: Mapped[bool | None] = mapped_column(Boolean)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PatrolShift(Base):
    """A reviewer's patrol shift: a compliance principal (its API token) on duty from
    ``starts_at`` to ``ends_at`` (null while on duty). Patrol coverage counts the reviewers
    whose shifts overlap each hour against the rooms online in it (1 per
    ``patrol_rooms_per_reviewer``)."""

    __tablename__ = "patrol_shifts"
    __table_args__ = (
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
        Index("ix_patrol_shifts_reviewer_start", "reviewer_token_id", "starts_at"),
        Index("ix_patrol_shifts_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The reviewer: an API token of role ``compliance``.
    reviewer_token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    #: The token's name when the shift was recorded (shown in rosters).
    reviewer_name: Mapped[str] = mapped_column(String(100), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
