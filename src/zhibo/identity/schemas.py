"""What comes in and out of identity. Personal data goes in clear and comes out masked."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from zhibo.kit.schemas import Currency, Fen, InSchema, OutSchema
from zhibo.models.identity import (
    BlacklistStatus,
    CheckPurpose,
    TipStatus,
    ViewerVerificationAction,
)


class VerificationIn(InSchema):
    #: Resident identity number; stored encrypted, hashed and masked, never returned.
    id_number: str = Field(min_length=1, max_length=40, repr=False)
    phone: str | None = Field(default=None, max_length=20, repr=False)
    real_name: str | None = Field(default=None, min_length=1, max_length=50, repr=False)
    #: The operator who checked the person against the document.
    attested_by: str = Field(min_length=1, max_length=100)
    #: Reference to the checked document (a scan's id), never the number.
    document_ref: str = Field(min_length=1, max_length=200)


class ConsentIn(InSchema):
    guardian_name: str = Field(min_length=1, max_length=50, repr=False)
    guardian_id_number: str = Field(min_length=1, max_length=40, repr=False)
    relationship: str = Field(min_length=1, max_length=40)
    document_ref: str = Field(min_length=1, max_length=200)
    recorded_by: str = Field(min_length=1, max_length=100)


class ConsentOut(OutSchema):
    id: int
    streamer_id: int
    guardian_name_masked: str
    guardian_id_masked: str
    relationship: str
    document_ref: str
    recorded_by: str
    recorded_at: datetime
    valid_until: date
    revoked_at: datetime | None


class IdentityCheckOut(OutSchema):
    id: int
    streamer_id: int
    purpose: CheckPurpose
    provider: str
    passed: bool
    reason: str
    inputs: str
    rule_version: str
    attested_by: str | None
    checked_at: datetime


class VerificationOut(OutSchema):
    streamer_id: int
    id_number_masked: str | None
    phone_masked: str | None
    birth_date: date | None
    verified_at: datetime | None
    check: IdentityCheckOut


class RoomHostOut(OutSchema):
    room_id: int
    streamer_id: int
    display_name: str
    #: Virtual (AI) hosts are labelled to viewers.
    is_virtual_host: bool
    host_label: str | None


class BlacklistIn(InSchema):
    streamer_id: int | None = None
    id_number: str | None = Field(default=None, max_length=40, repr=False)
    phone: str | None = Field(default=None, max_length=20, repr=False)
    device_ids: list[str] = Field(default_factory=list, max_length=100)
    facts: str = Field(min_length=1, max_length=5000)
    reasons: str = Field(min_length=1, max_length=2000)
    legal_basis: str = Field(min_length=1, max_length=2000)
    appeal_channel: str = Field(min_length=1, max_length=500)
    #: Null: until lifted.
    duration_days: int | None = Field(default=None, gt=0, le=36500)
    listed_by: str = Field(min_length=1, max_length=100)
    source_ref: str | None = Field(default=None, max_length=200)


class BlacklistOut(OutSchema):
    id: int
    id_number_masked: str | None
    phone_masked: str | None
    streamer_id: int | None
    facts: str
    reasons: str
    legal_basis: str
    appeal_channel: str
    listed_at: datetime
    expires_at: datetime | None
    status: BlacklistStatus
    lifted_at: datetime | None
    lift_reason: str | None
    listed_by: str
    source_ref: str | None


class BlacklistDecisionIn(InSchema):
    reason: str = Field(min_length=1, max_length=2000)
    actor: str = Field(min_length=1, max_length=100)


class BlacklistEventOut(OutSchema):
    id: int
    entry_id: int
    action: str
    at: datetime
    actor: str
    note: str


class TipIn(InSchema):
    session_id: int
    gift_id: int = Field(ge=1)
    amount_fen: Fen = Field(gt=0)
    currency: Currency = "CNY"
    #: The client's key for this gift: a retry with the same key charges once.
    idempotency_key: str = Field(min_length=1, max_length=64)


class TipOut(OutSchema):
    id: int
    viewer_id: int
    session_id: int
    streamer_id: int
    gift_id: int
    amount_fen: int
    currency: str
    status: TipStatus
    sent_at: datetime
    credit_due_at: datetime
    credited_at: datetime | None
    refunded_at: datetime | None
    refund_reason: str | None


class TipSent(TipOut):
    #: A spending reminder once the day's tips pass the threshold; null otherwise.
    reminder: str | None
    #: What the viewer has tipped today and this month, this tip included, in fen.
    day_total_fen: int
    month_total_fen: int


class LegalHoldIn(InSchema):
    room_id: int | None = None
    session_id: int | None = None
    streamer_id: int | None = None
    data_class: str | None = Field(default=None, max_length=40)
    reason: str = Field(min_length=1, max_length=2000)
    placed_by: str = Field(min_length=1, max_length=100)


class LegalHoldOut(OutSchema):
    id: int
    room_id: int | None
    session_id: int | None
    streamer_id: int | None
    data_class: str | None
    reason: str
    placed_by: str
    placed_at: datetime
    released_at: datetime | None


class ViewerVerificationIn(InSchema):
    #: Resident identity number; stored encrypted, hashed and masked, never returned.
    id_number: str = Field(min_length=1, max_length=40, repr=False)
    #: The name on the ID, for the verification provider (not stored).
    real_name: str | None = Field(default=None, min_length=1, max_length=50, repr=False)
    phone: str | None = Field(default=None, max_length=20, repr=False)
    #: Operators only: who checked the person against the document, and its reference.
    attested_by: str | None = Field(default=None, min_length=1, max_length=100)
    document_ref: str | None = Field(default=None, min_length=1, max_length=200)


class ViewerResetIn(InSchema):
    reason: str = Field(min_length=1, max_length=2000)


class ViewerDecisionOut(OutSchema):
    id: int
    viewer_id: int
    action: ViewerVerificationAction
    provider: str
    reason: str
    inputs: str
    rule_version: str
    actor: str
    id_number_masked: str | None
    is_minor: bool | None
    checked_at: datetime


class ViewerVerificationOut(OutSchema):
    viewer_id: int
    real_name_verified: bool
    #: Recorded as a minor: may never tip while under 18.
    is_minor: bool
    age: int
    id_number_masked: str
    #: Whether the viewer may tip now (a verified adult); caps and restrictions still apply.
    may_tip: bool
    decision: ViewerDecisionOut


class PatrolShiftIn(InSchema):
    #: The reviewer (an API token of role ``compliance``); a compliance caller may leave it out
    #: for themself.
    reviewer_token_id: int | None = None
    starts_at: datetime
    #: Null: on duty until the shift is ended.
    ends_at: datetime | None = None


class PatrolShiftEndIn(InSchema):
    ends_at: datetime | None = None


class PatrolShiftOut(OutSchema):
    id: int
    reviewer_token_id: int
    reviewer_name: str
    starts_at: datetime
    ends_at: datetime | None
    created_by: str
    created_at: datetime


class PatrolHourOut(OutSchema):
    hour: datetime
    online_rooms: int
    key_rooms: int
    reviewers: int
    reviewers_required: int
    meets_rule: bool
    #: Rooms the reviewers on duty can patrol (``reviewers × rooms_per_reviewer``), key rooms
    #: first; what is left is uncovered.
    key_rooms_uncovered: int
    rooms_uncovered: int


class PatrolCoverageOut(OutSchema):
    rooms_per_reviewer: int
    hours: list[PatrolHourOut]
    hours_meeting_rule: int
    hours_with_rooms: int
