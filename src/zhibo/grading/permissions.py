"""What a streamer's level allows right now, and the level-change notices an account reads.

Permissions are read from ``streamers.level`` and the active grading model at request time, so
a level a run sets is visible here, in the pool's checks and in the recommendation listing as
soon as the run commits. Notices are the ``level_notifications`` rows of the runs, each with its
old and new level, the reason and the model version of the run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.grading import recommendation
from zhibo.grading.schemas import (
    NoticeOut,
    PermissionsOut,
    SettlementAccelerationOut,
    TrafficLimitOut,
)
from zhibo.grading.service import _model_of, _visible_streamer, active_model, unlocks_out
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden
from zhibo.kit.time import utcnow
from zhibo.models import LiveRoom, Role
from zhibo.models.grading import GradedKind, GradingRun, LevelNotification


def permissions(
    db: Session, principal: Principal, streamer_id: int, at: datetime | None = None
) -> PermissionsOut:
    """Everything the streamer's current level allows (scoped like the grade)."""
    streamer = _visible_streamer(db, principal, streamer_id)
    now = at or utcnow()
    model = active_model()
    level = streamer.level
    unlocks = model.unlocks(level)
    room_ids = list(db.scalars(select(LiveRoom.id).where(LiveRoom.streamer_id == streamer_id)))
    recommended = (
        list(
            db.scalars(
                recommendation.recommended_rooms_query(now)
                .where(LiveRoom.streamer_id == streamer_id)
                .with_only_columns(LiveRoom.id)
                .order_by(LiveRoom.id)
            )
        )
        if room_ids
        else []
    )
    limits = recommendation.traffic_limits_in_force(db, room_ids, now)
    return PermissionsOut(
        streamer_id=streamer_id,
        level=level,
        level_name=model.levels[level].name,
        model_version=model.version,
        rights_revoked=level == 0,
        unlocks=unlocks_out(unlocks),
        settlement=_settlement(db, level),
        recommended_room_ids=recommended,
        traffic_limits=[TrafficLimitOut.model_validate(row) for row in limits],
    )


def _settlement(db: Session, level: int) -> SettlementAccelerationOut:
    from zhibo.settlement.choices import active_policy

    policy = active_policy(db)
    return SettlementAccelerationOut(
        policy=policy.label,
        source=policy.acceleration_from,
        days=policy.acceleration_for(level),
    )


def notices(db: Session, kind: GradedKind, subject_id: int, limit: int = 100) -> list[NoticeOut]:
    """An account's level-change notices, newest first."""
    rows = db.execute(
        select(LevelNotification, GradingRun.as_of, GradingRun.model_version)
        .join(GradingRun, GradingRun.id == LevelNotification.run_id)
        .where(LevelNotification.kind == kind, LevelNotification.subject_id == subject_id)
        .order_by(GradingRun.as_of.desc(), LevelNotification.id.desc())
        .limit(limit)
    ).all()
    out = []
    for notice, as_of, version in rows:
        names = {level.level: level.name for level in _model_of(db, version).levels}
        out.append(
            NoticeOut(
                id=notice.id,
                kind=str(notice.kind),
                subject_id=notice.subject_id,
                as_of=as_of,
                from_level=notice.from_level,
                from_level_name=names.get(notice.from_level)
                if notice.from_level is not None
                else None,
                to_level=notice.to_level,
                to_level_name=names[notice.to_level],
                reason=notice.reason,
                model_version=version,
                created_at=notice.created_at,
            )
        )
    return out


def my_notices(db: Session, principal: Principal, limit: int = 100) -> list[NoticeOut]:
    """The calling streamer's or partner's own notices."""
    if principal.subject_id is None or principal.role not in (Role.STREAMER, Role.PARTNER):
        raise Forbidden("role: only streamers and partners have level notices of their own")
    kind = GradedKind.STREAMER if principal.role == Role.STREAMER else GradedKind.PARTNER
    return notices(db, kind, principal.subject_id, limit)


def streamer_notices(
    db: Session, principal: Principal, streamer_id: int, limit: int = 100
) -> list[NoticeOut]:
    """A streamer's notices: the streamer itself, its partner and global readers."""
    _visible_streamer(db, principal, streamer_id)
    return notices(db, GradedKind.STREAMER, streamer_id, limit)
