"""HTTP endpoints for grades, level history, credit points, permissions, level-change notices,
key rooms, campaigns, leaderboards and complaints.

A streamer sees only its own grade, permissions and notices, a partner its streamers',
operators, compliance and auditors everyone's; out-of-scope streamers answer 404.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from zhibo.grading import campaigns, complaints, leaderboards, permissions, service
from zhibo.grading.schemas import (
    CampaignCreate,
    CampaignOut,
    CreditOut,
    EnrolmentCreate,
    EnrolmentOut,
    GradeExplanation,
    KeyRoomOut,
    Leaderboard,
    LevelHistoryItem,
    NoticeOut,
    PartnerGradeExplanation,
    PermissionsOut,
)
from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, READERS, ReadDB, require
from zhibo.kit.auth import Principal
from zhibo.kit.pagination import Page
from zhibo.kit.time import utcnow
from zhibo.models import Role
from zhibo.models.grading import ComplaintStatus

router = APIRouter(prefix="/v1", tags=["grading"], responses=ERROR_RESPONSES)

Graded = Annotated[Principal, Depends(require(*READERS, Role.STREAMER, Role.PARTNER))]
#: A partner's grade: the platform and the partner itself (its streamers are refused, 403).
PartnerGraded = Annotated[Principal, Depends(require(*READERS, Role.PARTNER))]
Readers = Annotated[Principal, Depends(require(*READERS))]
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
Accounts = Annotated[Principal, Depends(require(Role.STREAMER, Role.PARTNER))]
Operators = Annotated[Principal, Depends(require(Role.OPERATOR))]
Enrollers = Annotated[Principal, Depends(require(Role.OPERATOR, Role.STREAMER))]
NoticeLimit = Annotated[int, Query(ge=1, le=1000)]
Filers = Annotated[Principal, Depends(require(*complaints.FILERS))]
ComplaintReaders = Annotated[Principal, Depends(require(*complaints.LISTERS))]
Deciders = Annotated[Principal, Depends(require(*complaints.DECIDERS))]


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


@router.get("/streamers/{streamer_id}/permissions", response_model=PermissionsOut)
def get_permissions(db: DB, principal: Graded, streamer_id: int) -> PermissionsOut:
    """What the streamer's current level allows now: category risk classes, shelf size,
    recommendation traffic (and its rooms recommended or traffic-limited now), campaigns,
    settlement acceleration under the policy in force, tipping caps."""
    return permissions.permissions(db, principal, streamer_id)


@router.get("/streamers/{streamer_id}/notices", response_model=list[NoticeOut])
def get_streamer_notices(
    db: DB, principal: Graded, streamer_id: int, limit: NoticeLimit = 100
) -> list[NoticeOut]:
    """The streamer's level-change notices, newest first."""
    return permissions.streamer_notices(db, principal, streamer_id, limit)


@router.get("/me/notices", response_model=list[NoticeOut])
def get_my_notices(db: DB, principal: Accounts, limit: NoticeLimit = 100) -> list[NoticeOut]:
    """The calling streamer's (or partner's) own level-change notices: old and new level,
    reason and model version, newest first."""
    return permissions.my_notices(db, principal, limit)


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
def create_campaign(db: DB, principal: Operators, body: CampaignCreate) -> CampaignOut:
    return CampaignOut.model_validate(campaigns.create_campaign(db, body))


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(db: DB, principal: Anyone) -> list[CampaignOut]:
    return [CampaignOut.model_validate(row) for row in campaigns.list_campaigns(db)]


@router.post("/campaigns/{campaign_id}/enrolments", response_model=EnrolmentOut, status_code=201)
def enrol(db: DB, principal: Enrollers, campaign_id: int, body: EnrolmentCreate) -> EnrolmentOut:
    """Enrol a streamer, or one of its sessions; refused (``CampaignsNotUnlocked``) unless the
    streamer's level unlocks campaigns."""
    return EnrolmentOut.model_validate(campaigns.enrol(db, principal, campaign_id, body))


@router.get("/campaigns/{campaign_id}/enrolments", response_model=list[EnrolmentOut])
def list_enrolments(db: DB, principal: Graded, campaign_id: int) -> list[EnrolmentOut]:
    return [
        EnrolmentOut.model_validate(row) for row in campaigns.enrolments(db, principal, campaign_id)
    ]


@router.get("/partners/{partner_id}/grade", response_model=PartnerGradeExplanation)
def get_partner_grade(db: DB, principal: PartnerGraded, partner_id: int) -> PartnerGradeExplanation:
    """A partner's level over its streamers: metrics, percentiles, contributions and the
    smallest changes that reach the next level."""
    return service.explain_partner(db, principal, partner_id)


@router.get("/grading/key-rooms", response_model=list[KeyRoomOut])
def get_key_rooms(db: ReadDB, principal: Readers) -> list[KeyRoomOut]:
    """The real-time patrol queue."""
    return service.key_rooms(db)


@router.get("/leaderboards/{kind}", response_model=Leaderboard)
def get_leaderboard(
    db: ReadDB,
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


@router.post("/complaints", response_model=complaints.ComplaintOut, status_code=201)
def file_complaint(
    db: DB, principal: Filers, body: complaints.ComplaintIn
) -> complaints.ComplaintOut:
    """A viewer complains about a streamer, room or order it took part in (bought or tipped);
    operators and compliance file on someone's behalf. Bad references: 422 naming the field."""
    row = complaints.file_complaint(db, principal, body)
    return complaints.present(principal, [row])[0]


@router.get("/complaints", response_model=Page[complaints.ComplaintOut])
def list_complaints(
    db: DB,
    principal: ComplaintReaders,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    status: ComplaintStatus | None = None,
    streamer_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    overdue: bool | None = None,
) -> Page[complaints.ComplaintOut]:
    """Complaints the caller may see, oldest first: staff all, a streamer those about itself
    and a partner those about its streamers (without the complainant), a viewer its own.
    ``overdue=true``: only those still open past the feedback deadline
    (``ZHIBO_COMPLAINT_DEADLINE_HOURS``)."""
    items, next_cursor = complaints.list_complaints(
        db, principal, cursor, limit, status, streamer_id, overdue
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post("/complaints/{complaint_id}/resolve", response_model=complaints.ComplaintOut)
def resolve_complaint(
    db: DB,
    principal: Deciders,
    complaint_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: complaints.ComplaintDecision,
) -> complaints.ComplaintOut:
    """Decide a complaint once (``resolved`` or ``rejected``, with the resolution); a second
    decision is ``ComplaintAlreadyDecided`` (409). Rejected complaints stop counting in grading."""
    row = complaints.decide(db, principal, complaint_id, body)
    return complaints.present(principal, [row])[0]
