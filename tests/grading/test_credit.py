"""Credit points: deductions per violation with their cause, recovery after clean days, the
points given back by a won appeal, and rights revoked at 0."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.grading import credit
from zhibo.grading.scoring_model import default_model
from zhibo.kit.errors import InvalidInput
from zhibo.models.grading import CreditCause, CreditChange, ViolationSeverity

RULES = default_model().credit
DAY0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


def _violate(
    db: Session, streamer_id: int, severity: str, at: datetime = DAY0, **kw: object
) -> int:
    return credit.record_violation(
        db,
        streamer_id=streamer_id,
        severity=severity,
        rule="absolute-terms@2026-11",
        occurred_at=at,
        rules=RULES,
        **kw,  # type: ignore[arg-type]
    ).id


def _sum_rule_holds(db: Session, streamer_id: int) -> None:
    total = db.scalar(
        select(func.coalesce(func.sum(CreditChange.delta_tenths), 0)).where(
            CreditChange.streamer_id == streamer_id
        )
    )
    assert credit.balance(db, streamer_id, RULES) == RULES.initial_tenths + (total or 0)


def test_deductions_follow_severity_and_record_the_cause(db: Session) -> None:
    streamer = b.streamer(db)
    assert credit.balance(db, streamer.id, RULES) == 120
    _violate(db, streamer.id, "minor")
    _violate(db, streamer.id, "serious")
    assert credit.balance(db, streamer.id, RULES) == 120 - 5 - 60
    changes = credit.history(db, streamer.id)
    assert [c.cause for c in changes] == [CreditCause.VIOLATION, CreditCause.VIOLATION]
    assert all(c.violation_id is not None and "violation" in c.note for c in changes)
    _sum_rule_holds(db, streamer.id)


def test_risk_rule_severities_are_accepted(db: Session) -> None:
    streamer = b.streamer(db)
    violation_id = _violate(db, streamer.id, "high")
    assert credit.balance(db, streamer.id, RULES) == 120 - 60
    assert credit.history(db, streamer.id)[0].violation_id == violation_id


def test_balance_never_goes_below_zero(db: Session) -> None:
    streamer = b.streamer(db)
    _violate(db, streamer.id, "serious")
    _violate(db, streamer.id, "critical")
    assert credit.balance(db, streamer.id, RULES) == 0
    _sum_rule_holds(db, streamer.id)


def test_points_out_of_range_are_refused(db: Session) -> None:
    streamer = b.streamer(db)
    with pytest.raises(InvalidInput, match="points_tenths"):
        _violate(db, streamer.id, "minor", points_tenths=500)
    with pytest.raises(InvalidInput, match="severity"):
        _violate(db, streamer.id, "cosmic")


def test_recovery_after_clean_days_and_faster_when_low(db: Session) -> None:
    high, low = b.streamer(db), b.streamer(db)
    _violate(db, high.id, "moderate")  # 12 → 10 points: 30 clean days per point
    _violate(db, low.id, "serious")  # 12 → 6 points: 7 clean days per point
    day = DAY0.date()
    assert credit.apply_recovery(db, day + timedelta(days=29), RULES) == 4  # low: days 7..28
    assert credit.balance(db, high.id, RULES) == 100
    assert credit.balance(db, low.id, RULES) == 100  # 60 + 4 × 10: back to 10 points
    credit.apply_recovery(db, day + timedelta(days=30), RULES)
    assert credit.balance(db, high.id, RULES) == 110
    # low is at 10 points now: its next point needs 30 days from its last recovery (day 28).
    assert credit.balance(db, low.id, RULES) == 100
    credit.apply_recovery(db, day + timedelta(days=58), RULES)
    assert credit.balance(db, low.id, RULES) == 110
    recoveries = [c for c in credit.history(db, low.id) if c.cause == CreditCause.RECOVERY]
    assert all("days without a violation" in c.note for c in recoveries)
    _sum_rule_holds(db, low.id)


def test_recovery_is_idempotent_and_capped(db: Session) -> None:
    streamer = b.streamer(db)
    _violate(db, streamer.id, "minor")
    end = DAY0.date() + timedelta(days=400)
    assert credit.apply_recovery(db, end, RULES) == 1
    assert credit.apply_recovery(db, end, RULES) == 0
    assert credit.balance(db, streamer.id, RULES) == 120


def test_a_new_violation_restarts_the_clean_period(db: Session) -> None:
    streamer = b.streamer(db)
    _violate(db, streamer.id, "minor")
    _violate(db, streamer.id, "minor", at=DAY0 + timedelta(days=20))  # 11 points: 30-day clock
    assert credit.apply_recovery(db, DAY0.date() + timedelta(days=40), RULES) == 0
    assert credit.apply_recovery(db, DAY0.date() + timedelta(days=50), RULES) == 1


def test_a_won_appeal_gives_the_points_back(db: Session) -> None:
    streamer = b.streamer(db)
    violation_id = _violate(db, streamer.id, "critical")
    assert credit.balance(db, streamer.id, RULES) == 0
    change = credit.restore_on_appeal(db, violation_id, at=DAY0 + timedelta(days=3), rules=RULES)
    assert change.cause == CreditCause.APPEAL_WON and change.delta_tenths == 120
    assert credit.balance(db, streamer.id, RULES) == 120
    with pytest.raises(credit.AppealAlreadyWon):
        credit.restore_on_appeal(db, violation_id, at=DAY0, rules=RULES)
    with pytest.raises(credit.ViolationNotFound):
        credit.restore_on_appeal(db, 999_999, at=DAY0, rules=RULES)
    _sum_rule_holds(db, streamer.id)


def test_violation_severity_enum_matches_the_model() -> None:
    assert set(RULES.deduction_tenths) == set(ViolationSeverity)
    assert date(2026, 1, 1) < DAY0.date()
