"""Platform campaigns: operators open them; a streamer enrols itself or one of its sessions only
if its level unlocks ``campaigns`` in the active grading model. Each enrolment records the level
and the model version that allowed it; a refusal names the level, the levels that may and the
model version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.grading.schemas import CampaignCreate, EnrolmentCreate
from zhibo.grading.service import active_model, levels_with
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.time import utcnow
from zhibo.models import LiveSession, Role, SessionStatus, Streamer
from zhibo.models.grading import Campaign, CampaignEnrolment


class CampaignsNotUnlocked(Conflict):
    """The streamer's level does not unlock platform campaigns; ``detail`` names the level, the
    levels that may enrol and the model version."""


class CampaignsRestricted(Forbidden):
    """A risk measure (function restriction) withholds campaigns from the streamer."""


class CampaignClosed(Conflict):
    """The campaign has ended: nothing more can enrol."""


class AlreadyEnrolled(Conflict):
    """The streamer (or that session) is already enrolled in the campaign."""


def create_campaign(db: Session, data: CampaignCreate, at: datetime | None = None) -> Campaign:
    if data.ends_at <= data.starts_at:
        raise InvalidInput("ends_at: must be after starts_at")
    row = Campaign(
        name=data.name,
        description=data.description,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        created_at=at or utcnow(),
    )
    db.add(row)
    db.flush()
    return row


def list_campaigns(db: Session) -> Sequence[Campaign]:
    return db.scalars(select(Campaign).order_by(Campaign.starts_at.desc(), Campaign.id)).all()


def _campaign(db: Session, campaign_id: int) -> Campaign:
    row = db.get(Campaign, campaign_id)
    if row is None:
        raise NotFound(f"campaign_id: no campaign with id {campaign_id}")
    return row


def enrol(
    db: Session,
    principal: Principal,
    campaign_id: int,
    data: EnrolmentCreate,
    at: datetime | None = None,
) -> CampaignEnrolment:
    """Enrol a streamer (or one of its sessions) in a campaign, if its level may."""
    if principal.role == Role.STREAMER and principal.subject_id != data.streamer_id:
        raise Forbidden("streamer_id: a streamer enrols only itself")
    now = at or utcnow()
    campaign = _campaign(db, campaign_id)
    if campaign.ends_at <= now:
        raise CampaignClosed(f"campaign_id: campaign {campaign_id} ended {campaign.ends_at}")
    streamer = db.get(Streamer, data.streamer_id)
    if streamer is None:
        raise InvalidInput(f"streamer_id: no streamer with id {data.streamer_id}")
    if data.session_id is not None:
        live = db.get(LiveSession, data.session_id)
        if live is None or live.streamer_id != streamer.id:
            raise InvalidInput(
                f"session_id: streamer {streamer.id} has no session with id {data.session_id}"
            )
        if live.status == SessionStatus.ENDED:
            raise Conflict(f"session_id: session {live.id} has ended")
    model = active_model()
    allowed = levels_with("campaigns", model)
    if streamer.level not in allowed:
        may = ", ".join(f"L{level}" for level in sorted(allowed)) or "no level"
        raise CampaignsNotUnlocked(
            f"streamer_id: streamer {streamer.id} is level {streamer.level}; platform campaigns "
            f"are open to {may} (model {model.version})"
        )
    from zhibo.models.risk import SubjectKind
    from zhibo.risk.measures import restricted_functions

    if "campaigns" in restricted_functions(db, SubjectKind.STREAMER, streamer.id, now):
        raise CampaignsRestricted(
            f"streamer_id: streamer {streamer.id} is under a function restriction (a risk "
            "measure) that withholds campaigns; see its risk notices"
        )
    duplicate = db.scalar(
        select(CampaignEnrolment.id).where(
            CampaignEnrolment.campaign_id == campaign_id,
            CampaignEnrolment.streamer_id == streamer.id,
            CampaignEnrolment.session_id.is_(None)
            if data.session_id is None
            else CampaignEnrolment.session_id == data.session_id,
        )
    )
    if duplicate is not None:
        what = "streamer" if data.session_id is None else f"session {data.session_id}"
        raise AlreadyEnrolled(f"{what} is already enrolled in campaign {campaign_id}")
    row = CampaignEnrolment(
        campaign_id=campaign_id,
        streamer_id=streamer.id,
        session_id=data.session_id,
        level=streamer.level,
        model_version=model.version,
        enrolled_at=now,
    )
    db.add(row)
    db.flush()
    return row


def enrolments(db: Session, principal: Principal, campaign_id: int) -> Sequence[CampaignEnrolment]:
    """A campaign's enrolments: all for global readers, a streamer's own, a partner's
    streamers'."""
    _campaign(db, campaign_id)
    query = select(CampaignEnrolment).where(CampaignEnrolment.campaign_id == campaign_id)
    if principal.role == Role.STREAMER:
        query = query.where(CampaignEnrolment.streamer_id == principal.subject_id)
    elif principal.role == Role.PARTNER:
        query = query.join(Streamer, Streamer.id == CampaignEnrolment.streamer_id).where(
            Streamer.partner_id == principal.subject_id
        )
    elif not principal.is_global:
        raise Forbidden(f"role {principal.role} may not read campaign enrolments")
    return db.scalars(query.order_by(CampaignEnrolment.id)).all()
