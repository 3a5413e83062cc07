"""HTTP endpoints for grades, level history, credit points, key rooms and leaderboards.

A streamer sees only its own grade, a partner its streamers', operators, compliance and
auditors everyone's; out-of-scope streamers answer 404.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhibo.grading import leaderboards, service
from zhibo.grading.schemas import (
    CreditOut,
    GradeExplanation,
    KeyRoomOut,
    Leaderboard,
    LevelHistoryItem,
    PartnerGradeExplanation,
)
from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, READERS, require
from zhibo.kit.auth import Principal
from zhibo.kit.time import utcnow
from zhibo.models import Role

router = APIRouter(prefix="/v1", tags=["grading"], responses=ERROR_RESPONSES)

Graded = Annotated[Principal, Depends(require(*READERS, Role.STREAMER, Role.PARTNER))]
Readers = Annotated[Principal, Depends(require(*READERS))]
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]


@router.get("/streamers/{streamer_id}/grade", response_model=GradeExplanation)
def get_grade(db: DB, principal: Graded, streamer_id: int) -> GradeExplanation:
    """The level, each metric's value, percentile and contribution, the gates that apply and
    the smallest changes that reach the next level."""
    return service.explain(db, principal, streamer_id)


@router.get("/streamers/{streamer_id}/grade/history", response_model=list[LevelHistoryItem])
def get_grade_history(
    db: DB,
    principal: Graded,
    streamer_id: int,
    limit: Annotated[int, Query(ge=1, le=1000)] = 90,
) -> list[LevelHistoryItem]:
    return service.level_history(db, principal, streamer_id, limit)


@router.get("/streamers/{streamer_id}/credit", response_model=CreditOut)
def get_credit(db: DB, principal: Graded, streamer_id: int) -> CreditOut:
    """Credit points and every change with its cause."""
    return service.credit_of(db, principal, streamer_id)


@router.get("/partners/{partner_id}/grade", response_model=PartnerGradeExplanation)
def get_partner_grade(db: DB, principal: Graded, partner_id: int) -> PartnerGradeExplanation:
    """A partner's level over its streamers: metrics, percentiles, contributions and the
    smallest changes that reach the next level."""
    return service.explain_partner(db, principal, partner_id)


@router.get("/grading/key-rooms", response_model=list[KeyRoomOut])
def get_key_rooms(db: DB, principal: Readers) -> list[KeyRoomOut]:
    """The real-time patrol queue."""
    return service.key_rooms(db)


@router.get("/leaderboards/{kind}", response_model=Leaderboard)
def get_leaderboard(
    db: DB,
    principal: Anyone,
    kind: str,
    metric: str = "gmv_fen",
    period_from: Annotated[date | None, Query(alias="from")] = None,
    period_to: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> Leaderboard:
    """Rooms, streamers, partners or brands ranked by a sales metric over a period (default:
    the last 30 days). Tipping leaderboards are refused: the rules ban them."""
    to_day = period_to or utcnow().date()
    from_day = period_from or to_day - timedelta(days=29)
    return leaderboards.leaderboard(db, kind, metric, from_day, to_day, limit)
