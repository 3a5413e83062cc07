"""What grading takes and returns: run summaries, explanations, level history, credit,
leaderboards, permissions, level-change notices and campaigns."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from zhibo.kit.schemas import InSchema, UtcDatetime
from zhibo.models.category import RiskClass


class RunSummary(BaseModel):
    as_of: date
    model_version: str
    #: Streamers per level, "0".."5".
    levels: dict[str, int]
    #: Partners per level.
    partner_levels: dict[str, int]
    key_rooms: int
    #: Accounts whose level changed (one notice each).
    notifications: int
    credit_recoveries: int
    seconds: float


class TippingCapsOut(BaseModel):
    per_tip_fen: int
    per_day_fen: int
    per_month_fen: int


class UnlocksOut(BaseModel):
    risk_classes: list[RiskClass]
    shelf_size: int
    recommendation_traffic: bool
    campaigns: bool
    settlement_acceleration_days: int
    tipping_caps: TippingCapsOut


class MetricExplanation(BaseModel):
    metric: str
    label: str
    value: int
    #: Percentile within the platform, 0..10000 basis points (higher is always better here).
    percentile_bp: int
    weight: int
    better: str
    #: This metric's part of the score, in basis points (rounded down).
    contribution_bp: int


class GateExplanation(BaseModel):
    name: str
    description: str
    metric: str
    value: int
    max_level: int
    #: True when this gate is the one holding the level down.
    capping: bool


class Change(BaseModel):
    metric: str
    current: int
    required: int
    delta: int
    text: str


class Counterfactual(BaseModel):
    """A set of changes that together reach ``target_level``."""

    target_level: int
    changes: list[Change]
    text: str


class Explanation(BaseModel):
    as_of: date
    model_version: str
    level: int
    level_name: str
    previous_level: int | None
    score_bp: int
    level_by_score: int
    reason: str
    metrics: list[MetricExplanation]
    gates_applied: list[GateExplanation]
    counterfactuals: list[Counterfactual]
    #: One line, e.g. "+12,000.00 yuan GMV in 30 days, or a refund rate in 30 days of at most
    #: 7.99 %".
    next_level_hint: str | None


class GradeExplanation(Explanation):
    """A streamer's grade: what it unlocks, and its credit points."""

    streamer_id: int
    credit_points_tenths: int
    unlocks: UnlocksOut


class PartnerGradeExplanation(Explanation):
    """A partner's grade, over its streamers (partners have no gates or unlocks)."""

    partner_id: int


class LevelHistoryItem(BaseModel):
    as_of: date
    level: int | None
    previous_level: int | None
    score_bp: int
    gate: str | None
    reason: str
    model_version: str


class CreditChangeOut(BaseModel):
    id: int
    delta_tenths: int
    balance_tenths: int
    cause: str
    violation_id: int | None
    occurred_at: datetime
    note: str


class CreditOut(BaseModel):
    streamer_id: int
    balance_tenths: int
    rights_revoked: bool
    changes: list[CreditChangeOut]


class KeyRoomOut(BaseModel):
    room_id: int
    streamer_id: int
    gmv_fen_30d: int
    avg_online_viewers_30d: int
    retention_days: int
    reason: str


class LeaderboardEntry(BaseModel):
    rank: int
    id: int
    name: str
    value: int


class Leaderboard(BaseModel):
    kind: str
    metric: str
    period_from: date
    period_to: date
    entries: list[LeaderboardEntry] = Field(default_factory=list)


class TrafficLimitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    room_id: int
    limited_from: datetime
    limited_until: datetime
    reason: str
    source_ref: str | None
    set_by: str


class SettlementAccelerationOut(BaseModel):
    """How much sooner this streamer is paid under the settlement policy in force."""

    #: The active settlement policy (``name@version``).
    policy: str
    #: ``grading``: the policy applies the level's ``settlement_acceleration_days``;
    #: ``policy``: the policy carries its own per-level days (or none).
    source: str
    #: Days sooner than the schedule that apply to this streamer now.
    days: int


class PermissionsOut(BaseModel):
    """Everything the streamer's current level allows, under the active grading model."""

    streamer_id: int
    level: int
    level_name: str
    model_version: str
    #: Level 0: no selling, no shelf, no recommendation, no campaigns, no tips.
    rights_revoked: bool
    unlocks: UnlocksOut
    settlement: SettlementAccelerationOut
    #: The streamer's rooms recommended right now (live, eligible, not traffic-limited).
    recommended_room_ids: list[int]
    #: Traffic limits holding any of its rooms out of recommendations now.
    traffic_limits: list[TrafficLimitOut]


class NoticeOut(BaseModel):
    """A level change told to the account: old and new level, why, under which model."""

    id: int
    kind: str
    subject_id: int
    as_of: date
    from_level: int | None
    from_level_name: str | None
    to_level: int
    to_level_name: str
    reason: str
    model_version: str
    created_at: datetime


class CampaignCreate(InSchema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    starts_at: UtcDatetime
    ends_at: UtcDatetime


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime


class EnrolmentCreate(InSchema):
    streamer_id: int
    #: Enrol one session; leave out to enrol the streamer (all its sessions in the campaign).
    session_id: int | None = None


class EnrolmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    streamer_id: int
    session_id: int | None
    #: The level that allowed the enrolment, under ``model_version``.
    level: int
    model_version: str
    enrolled_at: datetime
