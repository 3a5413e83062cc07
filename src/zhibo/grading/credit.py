"""Credit points: 12 per streamer (in tenths), deducted per violation, earned back after clean
days, given back when an appeal is won; at 0 the streamer's selling rights are revoked (the
scoring model's ``credit_exhausted`` gate puts it at L0).

Every change is a ``CreditChange`` row with its cause; nothing is updated or deleted. The
balance is the last row's ``balance_tenths`` (or the model's initial points), which always
equals the initial points plus the sum of the deltas.

The risk engine records violations through ``record_violation`` and appeals call
``restore_on_appeal``; grading runs call ``apply_recovery`` before computing metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo.grading.metrics import window_end
from zhibo.grading.scoring_model import CreditRules
from zhibo.kit.errors import Conflict, InvalidInput, NotFound
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import Streamer
from zhibo.models.grading import CreditCause, CreditChange, Violation, ViolationSeverity

#: The risk engine's rule severities (``zhibo.risk.rules.Severity``) → violation severities.
RISK_SEVERITY = {
    "low": ViolationSeverity.MINOR,
    "medium": ViolationSeverity.MODERATE,
    "high": ViolationSeverity.SERIOUS,
    "critical": ViolationSeverity.CRITICAL,
}


class ViolationNotFound(NotFound):
    """No violation with this id."""


class AppealAlreadyWon(Conflict):
    """The violation was already overturned; its points were given back then."""


def balance(db: Session, streamer_id: int, rules: CreditRules) -> int:
    """Current credit points of a streamer, in tenths."""
    last = db.scalar(
        select(CreditChange.balance_tenths)
        .where(CreditChange.streamer_id == streamer_id)
        .order_by(CreditChange.id.desc())
        .limit(1)
    )
    return rules.initial_tenths if last is None else last


def balances(db: Session) -> dict[int, int]:
    """Streamer → balance, for every streamer whose points ever changed (one query)."""
    latest = (
        select(CreditChange.streamer_id, func.max(CreditChange.id).label("last_id"))
        .group_by(CreditChange.streamer_id)
        .subquery()
    )
    rows = db.execute(
        select(CreditChange.streamer_id, CreditChange.balance_tenths).join(
            latest, CreditChange.id == latest.c.last_id
        )
    )
    return {streamer_id: value for streamer_id, value in rows}


def _append(
    db: Session,
    streamer_id: int,
    delta: int,
    cause: CreditCause,
    at: datetime,
    rules: CreditRules,
    *,
    violation_id: int | None = None,
    note: str = "",
    current: int | None = None,
) -> CreditChange:
    before = balance(db, streamer_id, rules) if current is None else current
    row = CreditChange(
        streamer_id=streamer_id,
        delta_tenths=delta,
        balance_tenths=before + delta,
        cause=cause,
        violation_id=violation_id,
        occurred_at=at,
        note=note,
    )
    db.add(row)
    db.flush()
    return row


def record_violation(
    db: Session,
    *,
    streamer_id: int,
    severity: ViolationSeverity | str,
    rule: str,
    occurred_at: datetime,
    rules: CreditRules,
    room_id: int | None = None,
    source_ref: str | None = None,
    points_tenths: int | None = None,
) -> Violation:
    """Record a confirmed violation and deduct its points (never below 0). ``severity`` is a
    violation severity or a risk rule's (``low``/``medium``/``high``/``critical``)."""
    if db.get(Streamer, streamer_id) is None:
        raise NotFound(f"streamer_id: no streamer with id {streamer_id}")
    try:
        severity = RISK_SEVERITY.get(str(severity)) or ViolationSeverity(severity)
    except ValueError as exc:
        choices = ", ".join(s.value for s in ViolationSeverity)
        raise InvalidInput(f"severity: {severity!r} is not one of {choices}") from exc
    points = rules.deduction_tenths[severity] if points_tenths is None else points_tenths
    if not 0 <= points <= 120:
        raise InvalidInput(f"points_tenths: {points} is outside 0..120 (0 to 12 points)")
    when = ensure_utc(occurred_at, "occurred_at")
    violation = Violation(
        streamer_id=streamer_id,
        room_id=room_id,
        severity=severity,
        rule=rule,
        occurred_at=when,
        source_ref=source_ref,
        points_tenths=points,
        recorded_at=utcnow(),
    )
    db.add(violation)
    db.flush()
    current = balance(db, streamer_id, rules)
    deducted = min(points, current)
    _append(
        db,
        streamer_id,
        -deducted,
        CreditCause.VIOLATION,
        when,
        rules,
        violation_id=violation.id,
        note=f"{severity} violation of {rule}",
        current=current,
    )
    return violation


def restore_on_appeal(
    db: Session, violation_id: int, *, at: datetime, rules: CreditRules, note: str = ""
) -> CreditChange:
    """A won appeal: the violation no longer counts and the points it took are given back
    (up to the initial points). The streamer's level follows at the next grading run."""
    violation = db.get(Violation, violation_id)
    if violation is None:
        raise ViolationNotFound(f"violation_id: no violation with id {violation_id}")
    if violation.overturned_at is not None:
        raise AppealAlreadyWon(f"violation_id: violation {violation_id} was already overturned")
    when = ensure_utc(at, "at")
    violation.overturned_at = when
    taken = -sum(
        db.scalars(
            select(CreditChange.delta_tenths).where(
                CreditChange.violation_id == violation_id,
                CreditChange.cause == CreditCause.VIOLATION,
            )
        )
    )
    current = balance(db, violation.streamer_id, rules)
    back = max(0, min(taken, rules.initial_tenths - current))
    return _append(
        db,
        violation.streamer_id,
        back,
        CreditCause.APPEAL_WON,
        when,
        rules,
        violation_id=violation_id,
        note=note or f"appeal won against violation {violation_id}",
        current=current,
    )


def apply_recovery(db: Session, as_of: date, rules: CreditRules) -> int:
    """Give back points for every clean stretch that ended by the end of ``as_of``.

    A stretch starts at the streamer's last counted violation or last recovery; it lasts
    ``clean_days`` (``clean_days_when_low`` while the balance is under ``low_below_tenths``).
    Recoveries are dated when their stretch ended, so running again for the same day (or an
    earlier one) adds nothing. Returns the number of recoveries recorded.
    """
    end = window_end(as_of)
    owed = {sid: value for sid, value in balances(db).items() if value < rules.initial_tenths}
    if not owed:
        return 0
    ids: Sequence[int] = list(owed)
    last_violation = dict(
        db.execute(
            select(Violation.streamer_id, func.max(Violation.occurred_at))
            .where(Violation.streamer_id.in_(ids), Violation.overturned_at.is_(None))
            .group_by(Violation.streamer_id)
        ).all()
    )
    last_recovery = dict(
        db.execute(
            select(CreditChange.streamer_id, func.max(CreditChange.occurred_at))
            .where(CreditChange.streamer_id.in_(ids), CreditChange.cause == CreditCause.RECOVERY)
            .group_by(CreditChange.streamer_id)
        ).all()
    )
    added = 0
    for streamer_id in sorted(ids):
        starts = [t for t in (last_violation.get(streamer_id), last_recovery.get(streamer_id)) if t]
        if not starts:
            continue
        start = _utc(max(starts))
        current = owed[streamer_id]
        while current < rules.initial_tenths:
            low = current < rules.low_below_tenths
            due = start + timedelta(days=rules.clean_days_when_low if low else rules.clean_days)
            if due > end:
                break
            gain = min(rules.recovery_tenths, rules.initial_tenths - current)
            days = rules.clean_days_when_low if low else rules.clean_days
            _append(
                db,
                streamer_id,
                gain,
                CreditCause.RECOVERY,
                due,
                rules,
                note=f"{days} days without a violation",
                current=current,
            )
            current += gain
            start = due
            added += 1
    return added


def _utc(value: datetime) -> datetime:
    # SQLite's MAX() over a UTC column comes back without the column type's processing.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return ensure_utc(value) if value.tzinfo else value.replace(tzinfo=UTC)


def history(db: Session, streamer_id: int) -> list[CreditChange]:
    return list(
        db.scalars(
            select(CreditChange)
            .where(CreditChange.streamer_id == streamer_id)
            .order_by(CreditChange.id)
        )
    )
