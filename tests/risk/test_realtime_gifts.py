"""Gift events in the live pipeline: viewer-side telemetry that moves no money, and that the
real-time engine's ``minors.tipping_realtime`` rule (shadow by default) flags when the viewer is
marked minor."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.risk.test_realtime import engine_for, events, rule_set
from zhibo.models import LiveSession, Role, SessionStatus
from zhibo.models.risk import RiskCase, RiskFinding, RiskMeasure
from zhibo.risk.realtime import REALTIME_GIFT_RULES, pipeline_hook
from zhibo.risk.rules import RuleState, default_rules

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def gift_rule(state: str = "shadow") -> dict[str, Any]:
    return {
        "id": "minors.tipping_realtime",
        "version": 1,
        "detector": "minor_tipping",
        "state": state,
        "severity": "high",
        "measures": ["prompt", "review"],
        "legal_basis": "basis",
        "parameters": {"adult_age": 18, "require_real_name": False},
    }


def gift(event_id: str, live: LiveSession, user_id: int, amount: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "session_id": live.id,
        "room_id": live.room_id,
        "user_id": user_id,
        "type": "gift",
        "ts": T0,
        "gift_id": 3,
        "amount_fen": amount,
    }


def _count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_the_default_rule_runs_in_real_time_in_shadow(engine: Engine) -> None:
    rule = default_rules().get("minors.tipping_realtime")
    assert rule.state == RuleState.SHADOW and rule.id in REALTIME_GIFT_RULES
    hook = pipeline_hook(engine)
    assert [r.id for r in hook.gift_rules] == ["minors.tipping_realtime"]  # not minors.tipping


def test_gift_events_by_minors_are_flagged_and_only_theirs(engine: Engine, db: Session) -> None:
    live = b.live_session(db, status=SessionStatus.LIVE)
    minor, adult = b.viewer(db, is_minor=True), b.viewer(db)
    db.commit()
    risk, _ = engine_for(engine, rule_set(gift_rule()))
    batch = events(
        [
            gift("g1", live, minor.id, 100),
            gift("g2", live, adult.id, 100),
            gift("g3", live, minor.id, 9_000_000),
            {**gift("c1", live, minor.id, 0), "type": "comment", "text": "hi"},
        ]
    )
    risk(batch)
    risk(batch)  # a replayed batch finds the same and records nothing new
    db.expire_all()
    [finding] = db.scalars(select(RiskFinding)).all()
    assert finding.rule_id == "minors.tipping_realtime" and finding.rule_state == "shadow"
    assert _count(db, RiskCase) == _count(db, RiskMeasure) == 0  # shadow: nothing applied
    assert risk.stats.findings == 1


def test_without_minors_nothing_is_found(engine: Engine, db: Session) -> None:
    live = b.live_session(db, status=SessionStatus.LIVE)
    adult = b.viewer(db)
    db.commit()
    risk, _ = engine_for(engine, rule_set(gift_rule()))
    assert (
        risk.evaluate(events([gift("g1", live, adult.id, 100), gift("g2", live, 10**9, 5)])) == []
    )


def test_a_minors_over_cap_gift_event_moves_no_money(client: TestClient, db: Session) -> None:
    live = b.live_session(db, status=SessionStatus.LIVE)
    minor = b.viewer(db, is_minor=True)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    posted = client.post(
        "/v1/events",
        json=[{**gift("big", live, minor.id, 10_000_000), "ts": int(T0.timestamp() * 1000)}],
        headers=operator,
    )
    assert posted.status_code == 200, posted.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        db.expire_all()
        if _count(db, RiskFinding):
            break
        time.sleep(0.05)
    # Seen by the risk hook (default rules: the real-time rule in shadow) ...
    assert [f.rule_id for f in db.scalars(select(RiskFinding))] == ["minors.tipping_realtime"]
    # ... and no money moved: no tip, no refusal to charge, nothing on the ledger.
    for table in ("tips", "ledger_entries", "ledger_postings"):
        assert db.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
