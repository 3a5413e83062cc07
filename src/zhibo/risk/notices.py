"""What people are told. Every sanction sends its person a notice with the facts, the reasons,
the rule (id and version) and its legal basis, the duration and the appeal channel (the 2026
Measures; DOMAIN.md §5: no "no idea what the violation was"). Real-time measures also reach the
room's event stream: a pop-up prompt to the streamer, a risk notice to the viewers.

Notices are rows first; the room-stream copy is published after the commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.events.feed import publish_notice
from zhibo.models.risk import RiskCase, RiskMeasure, RiskNotice
from zhibo.risk.effects import after_commit

#: What each measure means, as a notice title.
TITLES = {
    "prompt": "Risk prompt: please correct this now",
    "viewer_notice": "Risk notice: trade only on the platform",
    "warning": "Violation warning",
    "traffic_limit": "Traffic limit: your room is out of recommendation listings",
    "suspension": "Your live stream was suspended",
    "credit_deduction": "Credit points deducted",
    "function_restriction": "Functions restricted",
    "publishing_suspension": "Publishing suspended: you may not go live",
    "account_cancellation": "Account cancelled",
    "reregistration_ban": "Re-registration banned",
    "blacklist": "Placed on the blacklist",
}

#: The risk notice every viewer of a room gets (against trading off the platform).
VIEWER_MESSAGE = (
    "For your safety, buy only through the platform: do not add contacts, pay or trade "
    "privately. Off-platform deals are not protected by refunds or complaints."
)


def duration_text(starts_at: datetime, ends_at: datetime | None, permanent: bool) -> str:
    if ends_at is not None:
        return f"until {ends_at.isoformat()}"
    return "permanent (until an appeal is won)" if permanent else "until reviewed"


def sanction_notice(
    db: Session,
    *,
    case: RiskCase,
    measure: RiskMeasure,
    facts: str,
    reasons: str,
    legal_basis: str,
    appeal_channel: str,
    at: datetime,
    permanent: bool = False,
) -> RiskNotice:
    """The notice of one sanction to the case's person (a room measure: to the room's
    streamer, who is the case's person when the room is sanctioned)."""
    notice = RiskNotice(
        recipient_kind=str(case.subject_kind),
        recipient_id=case.subject_id,
        kind="sanction",
        case_id=case.id,
        measure_id=measure.id,
        room_id=case.room_id,
        title=TITLES.get(measure.kind, measure.kind),
        facts=facts,
        reasons=reasons,
        rule_key=case.rule_key,
        legal_basis=legal_basis,
        duration=duration_text(measure.starts_at, measure.ends_at, permanent),
        ends_at=measure.ends_at,
        appeal_channel=appeal_channel.format(case_id=case.id),
        created_at=at,
    )
    db.add(notice)
    db.flush()
    return notice


def decision_notice(
    db: Session,
    *,
    case: RiskCase,
    kind: str,
    title: str,
    facts: str,
    reasons: str,
    legal_basis: str,
    appeal_channel: str,
    at: datetime,
) -> RiskNotice:
    """A reviewer's or an appeal's decision, told to the case's person."""
    notice = RiskNotice(
        recipient_kind=str(case.subject_kind),
        recipient_id=case.subject_id,
        kind=kind,
        case_id=case.id,
        room_id=case.room_id,
        title=title,
        facts=facts,
        reasons=reasons,
        rule_key=case.rule_key,
        legal_basis=legal_basis,
        appeal_channel=appeal_channel,
        created_at=at,
    )
    db.add(notice)
    db.flush()
    return notice


def room_notice(
    db: Session,
    *,
    kind: str,
    room_id: int,
    streamer_id: int | None,
    case: RiskCase | None,
    measure: RiskMeasure | None,
    message: str,
    rule_key: str,
    legal_basis: str,
    event_at: datetime | None,
    at: datetime,
    extra: dict[str, Any] | None = None,
) -> RiskNotice:
    """A notice on the room's event stream: ``prompt`` (to the streamer, stored for them too),
    ``viewer_notice`` (to everyone watching), ``traffic_limit`` or ``suspension`` (to the
    streamer). Stored now, published on the stream after the commit."""
    to_viewers = kind == "viewer_notice"
    notice = RiskNotice(
        recipient_kind="room" if to_viewers or streamer_id is None else "streamer",
        recipient_id=room_id if to_viewers or streamer_id is None else streamer_id,
        kind=kind,
        case_id=case.id if case else None,
        measure_id=measure.id if measure else None,
        room_id=room_id,
        title=TITLES.get(kind, kind),
        facts=message,
        reasons=f"rule {rule_key}" if rule_key else "",
        rule_key=rule_key,
        legal_basis=legal_basis,
        ends_at=measure.ends_at if measure else None,
        duration=duration_text(at, measure.ends_at, False) if measure else "",
        created_at=at,
    )
    db.add(notice)
    db.flush()
    payload = {
        "notice_id": notice.id,
        "kind": kind,
        "audience": "viewers" if to_viewers else "streamer",
        "room_id": room_id,
        "title": notice.title,
        "message": message,
        "rule": rule_key,
        "legal_basis": legal_basis,
        "case_id": notice.case_id,
        "ends_at": notice.ends_at.isoformat() if notice.ends_at else None,
        "event_at": event_at.isoformat() if event_at else None,
        "decided_at": at.isoformat(),
        **(extra or {}),
    }
    after_commit(db, lambda: publish_notice(room_id, payload))
    return notice


def notices_for(
    db: Session, recipient_kind: str | None, recipient_id: int | None, limit: int = 200
) -> Sequence[RiskNotice]:
    query = select(RiskNotice).order_by(RiskNotice.id.desc()).limit(limit)
    if recipient_kind is not None:
        query = query.where(
            RiskNotice.recipient_kind == recipient_kind, RiskNotice.recipient_id == recipient_id
        )
    return db.scalars(query).all()
