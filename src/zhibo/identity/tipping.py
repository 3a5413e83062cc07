"""Tipping (gifts): only real-name verified adults tip, minors never; each tip is checked
against per-tip, per-day and per-month caps (the settings, and the lower caps the streamer's
level sets through ``zhibo.grading.service.tipping_caps_for``); past a daily threshold the
viewer gets a spending reminder; the streamer is credited only after a hold; tips of a session
in which the streamer was sanctioned for a violation are refunded. A refused gift charges
nothing and its refusal is recorded with the reason and the figures checked.

There are no tipping leaderboards: nothing here ranks tippers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo.config import get_settings
from zhibo.identity import blacklist, tip_ledger
from zhibo.identity.numbers import age_on
from zhibo.identity.schemas import TipIn
from zhibo.kit.errors import Conflict, Forbidden, NotFound
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import LiveSession, Viewer, ViewerDevice
from zhibo.models.identity import Tip, TipRefusal, TipStatus
from zhibo.models.session import SessionStatus

logger = logging.getLogger("zhibo.identity")

#: Recorded with every tip decision; bump it when the rules below change.
TIP_RULE_VERSION = "tipping-rules@2026-11"


class TipRefused(Forbidden):
    """A gift was refused; nothing was charged. The detail says why."""

    def __init__(self, detail: str, inputs: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.inputs = inputs or {}


class TipperNotVerified(TipRefused):
    """Only viewers with a verified real-name identity may tip."""


class MinorMayNotTip(TipRefused):
    """Minors may not tip."""


class TippingRestricted(TipRefused):
    """A risk measure (function restriction) withholds tipping from the viewer."""


class TipperBlacklisted(TipRefused):
    """The viewer's device is on the blacklist."""


class TipOverPerTipCap(TipRefused):
    """The gift is larger than one tip may be."""


class TipOverDailyCap(TipRefused):
    """The gift would take the viewer past the daily cap."""


class TipOverMonthlyCap(TipRefused):
    """The gift would take the viewer past the monthly cap."""


class SessionNotTippable(Conflict):
    """Gifts go only to a live session."""


class IdempotencyKeyReused(Conflict):
    """The idempotency key was already used for a different gift."""


@dataclass(frozen=True, slots=True)
class Caps:
    per_tip_fen: int
    per_day_fen: int
    per_month_fen: int
    source: str


@dataclass(frozen=True, slots=True)
class TipResult:
    tip: Tip
    day_total_fen: int
    month_total_fen: int
    reminder: str | None
    #: False when a retry returned the tip its key already made.
    created: bool


def windows(at: datetime) -> tuple[datetime, datetime, datetime, datetime]:
    """``(day_start, day_end, month_start, month_end)`` in UTC around ``at``, on the calendar of
    the setting ``tip_day_timezone``."""
    zone = ZoneInfo(get_settings().tip_day_timezone)
    local = at.astimezone(zone)
    day_start = datetime.combine(local.date(), time.min, tzinfo=zone)
    month_first = date(local.year, local.month, 1)
    next_month = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
    utc = ZoneInfo("UTC")
    return (
        day_start.astimezone(utc),
        (day_start + timedelta(days=1)).astimezone(utc),
        datetime.combine(month_first, time.min, tzinfo=zone).astimezone(utc),
        datetime.combine(next_month, time.min, tzinfo=zone).astimezone(utc),
    )


def _total(
    session: Session, viewer_id: int, start: datetime, end: datetime, streamer_id: int | None = None
) -> int:
    query = select(func.coalesce(func.sum(Tip.amount_fen), 0)).where(
        Tip.viewer_id == viewer_id,
        Tip.status != TipStatus.REFUNDED,
        Tip.sent_at >= start,
        Tip.sent_at < end,
    )
    if streamer_id is not None:
        query = query.where(Tip.streamer_id == streamer_id)
    return int(session.scalar(query) or 0)


def platform_caps() -> Caps:
    settings = get_settings()
    return Caps(
        settings.tip_max_per_tip_fen,
        settings.tip_max_per_day_fen,
        settings.tip_max_per_month_fen,
        "settings",
    )


def level_caps(session: Session, streamer_id: int) -> Caps | None:
    """The lower caps the streamer's level sets (``zhibo.grading``), if grading provides them."""
    try:
        from zhibo.grading.service import tipping_caps_for
    except ImportError:  # pragma: no cover - grading without level caps
        return None
    caps = tipping_caps_for(session, streamer_id)
    return Caps(
        caps.per_tip_fen,
        caps.per_day_fen,
        caps.per_month_fen,
        f"level {caps.level} ({caps.model_version})",
    )


def _refuse(
    session: Session, error: TipRefused, viewer_id: int, data: TipIn, at: datetime
) -> TipRefused:
    """Record the refusal in its own transaction (the caller's rolls back) and return it."""
    row = TipRefusal(
        viewer_id=viewer_id,
        session_id=data.session_id,
        amount_fen=data.amount_fen,
        reason_code=error.name,
        detail=str(error.detail),
        inputs=json.dumps(
            {**error.inputs, "rule_version": TIP_RULE_VERSION}, sort_keys=True, default=str
        ),
        refused_at=at,
    )
    with Session(session.get_bind().engine) as own:
        own.add(row)
        own.commit()
    logger.info("gift of viewer %s refused: %s", viewer_id, error.name)
    return error


def send_tip(
    session: Session, viewer_id: int, data: TipIn, at: datetime | None = None
) -> TipResult:
    now = ensure_utc(at, "at") if at is not None else utcnow()
    # Serialise one viewer's gifts so two at once cannot both fit under a cap (PostgreSQL).
    viewer = session.scalar(select(Viewer).where(Viewer.id == viewer_id).with_for_update())
    if viewer is None:
        raise NotFound(f"viewer: no viewer with id {viewer_id}")
    existing = session.scalar(
        select(Tip).where(Tip.viewer_id == viewer_id, Tip.idempotency_key == data.idempotency_key)
    )
    if existing is not None:
        if (existing.session_id, existing.amount_fen, existing.gift_id) != (
            data.session_id,
            data.amount_fen,
            data.gift_id,
        ):
            raise IdempotencyKeyReused(
                f"idempotency_key: already used for tip {existing.id} with other values"
            )
        # A retry re-posts the payment entry: a no-op when it is there, a repair if it is not.
        tip_ledger.post_paid(session, existing)
        day_start, day_end, month_start, month_end = windows(existing.sent_at)
        return TipResult(
            existing,
            _total(session, viewer_id, day_start, day_end),
            _total(session, viewer_id, month_start, month_end),
            None,
            created=False,
        )
    live = session.get(LiveSession, data.session_id)
    if live is None:
        raise NotFound(f"session_id: no session with id {data.session_id}")
    if live.status != SessionStatus.LIVE:
        raise SessionNotTippable(f"session_id: session {live.id} is {live.status}, not live")
    inputs: dict[str, Any] = {"amount_fen": data.amount_fen}
    if not viewer.real_name_verified:
        raise _refuse(
            session,
            TipperNotVerified(
                "viewer: only real-name verified adults may tip; this viewer has no verified "
                f"identity (verify with POST /v1/viewers/{viewer_id}/verification)",
                inputs,
            ),
            viewer_id,
            data,
            now,
        )
    age = age_on(viewer.birth_date, now.date()) if viewer.birth_date else None
    inputs["age"] = age
    if viewer.is_minor or (age is not None and age < 18):
        raise _refuse(
            session,
            MinorMayNotTip("viewer: minors may not tip (recorded as a minor)", inputs),
            viewer_id,
            data,
            now,
        )
    from zhibo.models.risk import SubjectKind
    from zhibo.risk.measures import restricted_functions

    if "tipping" in restricted_functions(session, SubjectKind.VIEWER, viewer_id, now):
        raise _refuse(
            session,
            TippingRestricted(
                "viewer: a function restriction (a risk measure) withholds tipping; see the "
                "viewer's risk notices",
                inputs,
            ),
            viewer_id,
            data,
            now,
        )
    devices = session.scalars(
        select(ViewerDevice.device_id).where(ViewerDevice.viewer_id == viewer_id)
    ).all()
    listed = blacklist.match(session, device_ids=devices, at=now)
    if listed:
        inputs["blacklist_entry_ids"] = [entry.id for entry in listed]
        raise _refuse(
            session,
            TipperBlacklisted(f"viewer: {blacklist.describe(listed[0])}", inputs),
            viewer_id,
            data,
            now,
        )

    day_start, day_end, month_start, month_end = windows(now)
    day = _total(session, viewer_id, day_start, day_end)
    month = _total(session, viewer_id, month_start, month_end)
    checks: list[tuple[Caps, int, int]] = [(platform_caps(), day, month)]
    level = level_caps(session, live.streamer_id)
    if level is not None:
        checks.append(
            (
                level,
                _total(session, viewer_id, day_start, day_end, live.streamer_id),
                _total(session, viewer_id, month_start, month_end, live.streamer_id),
            )
        )
    for caps, day_so_far, month_so_far in checks:
        figures = {
            **{key: value for key, value in inputs.items() if key != "checked"},
            "caps": caps.source,
            "per_tip_fen": caps.per_tip_fen,
            "per_day_fen": caps.per_day_fen,
            "per_month_fen": caps.per_month_fen,
            "day_before_fen": day_so_far,
            "month_before_fen": month_so_far,
        }
        inputs.setdefault("checked", []).append(figures)
        if data.amount_fen > caps.per_tip_fen:
            raise _refuse(
                session,
                TipOverPerTipCap(
                    f"amount_fen: {data.amount_fen} fen is over the per-tip cap of "
                    f"{caps.per_tip_fen} fen ({caps.source})",
                    figures,
                ),
                viewer_id,
                data,
                now,
            )
        if day_so_far + data.amount_fen > caps.per_day_fen:
            raise _refuse(
                session,
                TipOverDailyCap(
                    f"amount_fen: {day_so_far} fen tipped today; {data.amount_fen} more would pass "
                    f"the daily cap of {caps.per_day_fen} fen ({caps.source})",
                    figures,
                ),
                viewer_id,
                data,
                now,
            )
        if month_so_far + data.amount_fen > caps.per_month_fen:
            raise _refuse(
                session,
                TipOverMonthlyCap(
                    f"amount_fen: {month_so_far} fen tipped this month; {data.amount_fen} more "
                    f"would pass the monthly cap of {caps.per_month_fen} fen ({caps.source})",
                    figures,
                ),
                viewer_id,
                data,
                now,
            )

    settings = get_settings()
    tip = Tip(
        viewer_id=viewer_id,
        session_id=live.id,
        room_id=live.room_id,
        streamer_id=live.streamer_id,
        gift_id=data.gift_id,
        amount_fen=data.amount_fen,
        currency=data.currency,
        status=TipStatus.HELD,
        idempotency_key=data.idempotency_key,
        sent_at=now,
        credit_due_at=now + timedelta(hours=settings.tip_hold_hours),
        inputs=json.dumps(
            {**inputs, "rule_version": TIP_RULE_VERSION}, sort_keys=True, default=str
        ),
    )
    session.add(tip)
    session.flush()
    # The payment and its hold on the ledger, in the tip's transaction: both or neither.
    tip_ledger.post_paid(session, tip)
    day_total, month_total = day + data.amount_fen, month + data.amount_fen
    reminder = None
    threshold = settings.tip_reminder_day_fen
    if threshold and day_total >= threshold:
        reminder = (
            f"You have tipped {day_total / 100:.2f} yuan today "
            f"({month_total / 100:.2f} this month). Please tip within your means."
        )
    return TipResult(tip, day_total, month_total, reminder, created=True)


def credit_due(session: Session, at: datetime | None = None) -> list[Tip]:
    """Credit the streamer with tips whose hold has ended, posting ``tip:{id}:credited`` for
    each (less the platform's share, setting ``tip_platform_share_bp``)."""
    now = at or utcnow()
    due = session.scalars(
        select(Tip)
        .where(Tip.status == TipStatus.HELD, Tip.credit_due_at <= now)
        .order_by(Tip.id)
        .with_for_update()
    ).all()
    for tip in due:
        tip.status = TipStatus.CREDITED
        tip.credited_at = now
    session.flush()
    tip_ledger.post_credited(session, list(due))
    return list(due)


@dataclass(frozen=True, slots=True)
class RefundSummary:
    session_id: int
    refunded: int
    refunded_fen: int
    #: Of those, tips already credited to the streamer (to claw back).
    clawed_back: int


def refund_session_tips(
    session: Session,
    session_id: int,
    *,
    reason: str,
    at: datetime | None = None,
) -> RefundSummary:
    """Refund every tip of a session in which the streamer was sanctioned for a violation
    (held tips are never credited; credited ones are clawed back). Idempotent: refunded tips
    stay refunded. Each refund posts ``tip:{id}:refunded`` (see ``tip_ledger``). The risk
    engine calls this with its sanction's reference in ``reason``."""
    if not reason.strip():
        from zhibo.kit.errors import InvalidInput

        raise InvalidInput("reason: a refund needs the sanction it follows")
    now = at or utcnow()
    if session.get(LiveSession, session_id) is None:
        raise NotFound(f"session_id: no session with id {session_id}")
    tips = session.scalars(
        select(Tip)
        .where(Tip.session_id == session_id, Tip.status != TipStatus.REFUNDED)
        .order_by(Tip.id)
        .with_for_update()
    ).all()
    clawed = 0
    for tip in tips:
        clawed += tip.status == TipStatus.CREDITED
        tip.status = TipStatus.REFUNDED
        tip.refunded_at = now
        tip.refund_reason = reason
    session.flush()
    tip_ledger.post_refunded(session, list(tips))
    if tips:
        logger.info("session %s: %d tips refunded (%s)", session_id, len(tips), reason)
    return RefundSummary(session_id, len(tips), sum(t.amount_fen for t in tips), clawed)
