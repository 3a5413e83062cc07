"""What comes in and out of the goals: the editable definitions and the computed progress."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from zhibo.kit.schemas import Fen, InSchema

#: 100 million yuan in fen.
HUNDRED_MILLION_YUAN_FEN = 100_000_000 * 100


class GoalKey(StrEnum):
    #: Live rooms whose sales this year are over the room threshold (100M yuan).
    ROOMS = "rooms"
    #: Ecological partners (agencies, live bases, service providers) over 100M yuan.
    PARTNERS = "partners"
    #: Paid professional streamers (see ``GoalDefinitions``).
    STREAMERS = "streamers"
    #: Brands whose first sale on the platform fell in this year.
    BRANDS = "brands"


class GoalDefinitions(InSchema):
    """The targets and what counts towards them. Defaults: DOMAIN.md §1 (Taobao Live, 2021)."""

    #: The goal year; ``None`` means the current year (in ``timezone``).
    year: int | None = Field(default=None, ge=2000, le=2100)
    #: The zone whose calendar decides the year and its days.
    timezone: str = "Asia/Shanghai"
    rooms_target: int = Field(default=2_000, ge=1)
    #: A room counts once its sales this year (paid, less refunds) reach this, in fen.
    room_sales_threshold_fen: Fen = HUNDRED_MILLION_YUAN_FEN
    partners_target: int = Field(default=200, ge=1)
    #: A partner counts once its streamers' sales this year (less refunds) reach this, in fen.
    partner_sales_threshold_fen: Fen = HUNDRED_MILLION_YUAN_FEN
    streamers_target: int = Field(default=1_000_000, ge=1)
    #: "Professional": real-name verified (if required) and at least this many sessions
    #: started this year.
    streamer_min_sessions: int = Field(default=10, ge=0, le=10_000)
    streamer_must_be_verified: bool = True
    #: "Paid": received a payout this year (``payout``: a payout batch paid more than 0 fen)
    #: or earned commission this year (``commission``: a sale not fully refunded).
    streamer_paid_by: Literal["payout", "commission"] = "payout"
    brands_target: int = Field(default=1_000, ge=1)
    #: The trailing window, in days, whose pace is projected to the end of the year.
    run_rate_days: int = Field(default=28, ge=1, le=366)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class GoalDefinitionsChange(InSchema):
    definitions: GoalDefinitions
    #: Why the targets changed (kept with the version).
    reason: str = Field(default="", max_length=500)


class FieldChange(BaseModel):
    """One definition's value before and after a change."""

    old: int | str | bool | None
    new: int | str | bool | None


class GoalVersion(BaseModel):
    version: int
    definitions: GoalDefinitions
    changed_by: str
    changed_at: datetime
    reason: str = ""
    #: What this version changed from the one before: field → old and new value.
    changes: dict[str, FieldChange] = Field(default_factory=dict)


class GoalMember(BaseModel):
    """One subject behind a number: a room, partner, streamer or brand."""

    id: int
    name: str
    #: Sales this year in fen (rooms, partners); sessions this year (streamers); 0 (brands).
    value: int
    #: The local day it started to count (crossed the threshold, qualified, first sold).
    counted_on: date | None
    counts: bool


class TrendPoint(BaseModel):
    day: date
    count: int


class GoalProgress(BaseModel):
    key: GoalKey
    target: int
    count: int
    #: count / target in basis points, capped at 10000.
    progress_bp: int
    #: Expected count on the last day of the year at the trailing run rate.
    projected: int
    #: The cumulative count at the end of each day of the year so far.
    trend: list[TrendPoint]
    #: Who counts, largest first (up to the requested limit).
    members: list[GoalMember]
    #: The closest not yet counting (rooms, partners, streamers), largest first.
    candidates: list[GoalMember]


class GoalsOut(BaseModel):
    year: int
    timezone: str
    as_of: datetime
    year_start: date
    year_end: date
    definitions_version: int
    definitions: GoalDefinitions
    goals: list[GoalProgress]
