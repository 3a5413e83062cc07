"""The real-time risk engine: comments, like storms and brushing seen in the live pipeline's
batches and on placed orders, shadow rules that never act, idempotent replays, and measures
(prompt, viewer notice, traffic limit, stream suspension) on the room."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.events import feed
from zhibo.events.schemas import EVENT_SCHEMA
from zhibo.grading.recommendation import traffic_limits_in_force
from zhibo.kit.auth import Principal
from zhibo.live.media import DropOutcome, RecordingMediaServer
from zhibo.models import LiveSession, Role, SessionStatus
from zhibo.models.risk import (
    CaseStatus,
    MeasureStatus,
    RiskCase,
    RiskFinding,
    RiskMeasure,
    RiskNotice,
    SubjectKind,
)
from zhibo.orders import service as orders
from zhibo.orders.schemas import OrderCreate
from zhibo.risk import realtime
from zhibo.risk.cases import Context
from zhibo.risk.realtime import RealtimeRisk
from zhibo.risk.rules import RuleSet, parse_rules

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LURE = "加V: abc12345 私聊更便宜"


def rule_set(*rules: dict[str, Any]) -> RuleSet:
    return parse_rules({"schema_version": 1, "version": "test", "rules": list(rules)})


def lure_rule(state: str = "active", measures: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": "off_platform.contact",
        "version": 3,
        "detector": "off_platform_lure",
        "state": state,
        "severity": "medium",
        "measures": measures or ["viewer_notice", "prompt"],
        "legal_basis": "basis",
        "parameters": {"kinds": ["wechat", "qq", "phone"], "fields": ["comment"]},
    }


def storm_rule(
    state: str = "active", measures: list[str] | None = None, severity: str = "medium"
) -> dict[str, Any]:
    return {
        "id": "fake_engagement.like_storm",
        "version": 2,
        "detector": "like_storm",
        "state": state,
        "severity": severity,
        "measures": measures or ["prompt", "traffic_limit", "suspension"],
        "legal_basis": "basis",
        "parameters": {"window_seconds": 60, "min_likes": 500, "max_accounts": 3},
    }


def events(rows: list[dict[str, Any]]) -> pa.Table:
    full = [
        {name: row.get(name) for name in EVENT_SCHEMA.names} | {"ip": None, "device_id": None}
        for row in rows
    ]
    return pa.Table.from_pylist(full, schema=EVENT_SCHEMA)


def comment(event_id: str, live: LiveSession, user_id: int, text: str, at: datetime) -> dict:
    return {
        "event_id": event_id,
        "session_id": live.id,
        "room_id": live.room_id,
        "user_id": user_id,
        "type": "comment",
        "ts": at,
        "text": text,
    }


def likes(live: LiveSession, users: list[int], each: int, at: datetime, tag: str) -> list[dict]:
    return [
        {
            "event_id": f"{tag}-{user}-{n}",
            "session_id": live.id,
            "room_id": live.room_id,
            "user_id": user,
            "type": "like",
            "ts": at + timedelta(milliseconds=n),
            "count": 10,
        }
        for user in users
        for n in range(each)
    ]


@pytest.fixture
def published() -> Iterator[list[tuple[int, dict[str, Any]]]]:
    got: list[tuple[int, dict[str, Any]]] = []

    def sink(room_id: int, notice: dict[str, Any]) -> None:
        got.append((room_id, notice))

    feed.NOTICE_SINKS.append(sink)
    yield got
    feed.NOTICE_SINKS.remove(sink)


@pytest.fixture
def live(db: Session) -> LiveSession:
    row = b.live_session(db, status=SessionStatus.LIVE)
    row.record_publisher("live", "42")
    db.commit()
    return row


def engine_for(engine: Engine, rules: RuleSet) -> tuple[RealtimeRisk, RecordingMediaServer]:
    media = RecordingMediaServer(outcome=DropOutcome.DROPPED)
    return RealtimeRisk(engine, Context(rules=rules, media=media)), media


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_shadow_rules_record_findings_and_never_apply_measures(
    engine: Engine, db: Session, live: LiveSession, published: list[Any]
) -> None:
    measures = ["viewer_notice", "prompt", "warning", "credit_deduction", "suspension"]
    risk, media = engine_for(
        engine,
        rule_set(
            lure_rule("shadow", measures), storm_rule("shadow", measures, severity="critical")
        ),
    )
    batch = events([comment("c1", live, 7, LURE, T0), *likes(live, [1, 2], 30, T0, "l")])
    risk(batch)
    db.expire_all()
    findings = db.scalars(select(RiskFinding).order_by(RiskFinding.id)).all()
    assert {f.rule_id for f in findings} == {"off_platform.contact", "fake_engagement.like_storm"}
    assert {f.rule_state for f in findings} == {"shadow"}
    assert count(db, RiskCase) == count(db, RiskMeasure) == count(db, RiskNotice) == 0
    assert db.get(LiveSession, live.id).status == SessionStatus.LIVE  # type: ignore[union-attr]
    assert media.drops == [] and published == []
    assert traffic_limits_in_force(db, [live.room_id]) == []


def test_a_lure_comment_warns_the_viewers_and_prompts_the_streamer(
    engine: Engine, db: Session, live: LiveSession, published: list[Any]
) -> None:
    risk, _ = engine_for(engine, rule_set(lure_rule()))
    batch = events([comment("c1", live, 7, LURE, T0), comment("c2", live, 8, "好看 最近很火", T0)])
    risk(batch)
    kinds = {notice["kind"]: notice for room, notice in published if room == live.room_id}
    assert set(kinds) == {"viewer_notice", "prompt"}
    assert kinds["viewer_notice"]["audience"] == "viewers"
    assert kinds["prompt"]["audience"] == "streamer"
    assert (
        "加V" in kinds["prompt"]["message"] and kinds["prompt"]["rule"] == "off_platform.contact@3"
    )
    db.expire_all()
    case = db.scalars(select(RiskCase)).one()
    # The commenter is the case's person; medium severity and no review: decided at once.
    assert (case.subject_kind, case.subject_id) == (SubjectKind.VIEWER, 7)
    assert case.status == CaseStatus.SANCTIONED and case.decided_by == "system"
    by_kind = {m.kind: m for m in db.scalars(select(RiskMeasure))}
    assert by_kind["warning"].status == MeasureStatus.APPLIED
    # Credit points are a streamer's: recorded as not applicable, not silently dropped.
    assert by_kind["credit_deduction"].status == MeasureStatus.NOT_APPLICABLE
    warning = db.scalars(
        select(RiskNotice).where(RiskNotice.kind == "sanction", RiskNotice.recipient_id == 7)
    ).one()
    assert warning.legal_basis == "basis" and str(case.id) in warning.appeal_channel
    assert "abc12345" in warning.facts and warning.rule_key == "off_platform.contact@3"


def test_a_like_storm_suspends_the_stream_and_limits_traffic(
    engine: Engine, db: Session, live: LiveSession, published: list[Any]
) -> None:
    risk, media = engine_for(engine, rule_set(storm_rule()))
    # 1,200 likes from 60 accounts is no storm; 600 likes from 2 accounts (later) is.
    risk(events(likes(live, list(range(100, 160)), 2, T0, "crowd")))
    assert count(db, RiskFinding) == 0
    risk(events(likes(live, [1, 2], 30, T0 + timedelta(minutes=5), "bots")))
    db.expire_all()
    # The two hopping windows holding the burst both see it; they join one case.
    findings = db.scalars(select(RiskFinding)).all()
    assert {(f.user_ids, f.room_id) for f in findings} == {("[1,2]", live.room_id)}
    session = db.get(LiveSession, live.id)
    assert session is not None and session.status == SessionStatus.SUSPENDED
    assert media.drops == [("live", f"session-{live.id}", "42")]
    assert [limit.room_id for limit in traffic_limits_in_force(db, [live.room_id])] == [
        live.room_id
    ]
    kinds = [notice["kind"] for _, notice in published]
    assert {"prompt", "traffic_limit", "suspension"} <= set(kinds)
    case = db.scalars(select(RiskCase)).one()
    assert case.subject_kind == SubjectKind.STREAMER and case.subject_id == session.streamer_id


def test_a_batch_shown_again_records_nothing_new(
    engine: Engine, db: Session, live: LiveSession, published: list[Any]
) -> None:
    risk, _ = engine_for(engine, rule_set(lure_rule()))
    batch = events([comment("c1", live, 7, LURE, T0)])
    risk(batch)
    first = (count(db, RiskFinding), count(db, RiskMeasure), len(published))
    risk(batch)  # at-least-once delivery: the same batch again
    assert (count(db, RiskFinding), count(db, RiskMeasure), len(published)) == first == (1, 4, 2)


def test_order_brushing_in_the_pipeline_and_on_placed_orders(
    engine: Engine, db: Session, live: LiveSession, published: list[Any]
) -> None:
    rules = rule_set(
        {
            "id": "order_brushing.concentration",
            "version": 1,
            "detector": "order_concentration",
            "state": "active",
            "severity": "high",
            "measures": ["review", "prompt", "traffic_limit"],
        }
    )
    risk, _ = engine_for(engine, rules)
    buyers = [5, 5, 6, 5, 5, 5]
    orders_ = [
        {
            "event_id": f"o{n}",
            "session_id": live.id,
            "room_id": live.room_id,
            "user_id": buyer,
            "type": "order",
            "ts": T0 + timedelta(minutes=n),
            "product_id": 1,
            "amount_fen": 100,
        }
        for n, buyer in enumerate(buyers)
    ]
    risk(events(orders_[:2]))  # 2 orders / 1 buyer
    risk(events(orders_[2:4]))  # at most 4 orders / 2 buyers in any hour
    assert count(db, RiskFinding) == 0
    risk(events(orders_[4:]))  # 6 orders / 2 buyers within the hour: brushing
    db.expire_all()
    case = db.scalars(select(RiskCase)).one()
    assert case.status == CaseStatus.PENDING_REVIEW and "severity high" in case.review_reason
    finding = db.scalars(select(RiskFinding)).one()
    assert finding.user_ids == "[5]"

    # The same rule on placed orders, in the order's own transaction.
    realtime.ORDER_CONTEXT = Context(rules=rules, media=RecordingMediaServer())
    try:
        product = b.product(db)
        b.shelf_item(db, session_row=live, product_row=product)
        buyer = b.viewer(db)
        operator = Principal(role=Role.OPERATOR)
        for minute in range(3):
            orders.place_order(
                db,
                operator,
                OrderCreate(session_id=live.id, product_id=product.id, buyer_id=buyer.id),
                at=T0 + timedelta(hours=3, minutes=minute),
            )
        db.commit()
    finally:
        realtime.ORDER_CONTEXT = None
    placed = db.scalars(select(RiskFinding).where(RiskFinding.source == "realtime")).all()
    assert len(placed) == 2 and placed[-1].user_ids == f"[{buyer.id}]"
    assert any(notice["kind"] == "prompt" for _, notice in published)


def test_room_notices_go_out_only_after_the_commit(
    engine: Engine, live: LiveSession, published: list[Any]
) -> None:
    from zhibo.kit.db import session_factory
    from zhibo.risk.cases import Detected, record
    from zhibo.risk.schemas import Finding

    rules = rule_set(lure_rule())
    ctx = Context(rules=rules, media=RecordingMediaServer())

    def finding(key: str) -> Detected:
        return Detected(
            finding=Finding.of(rules.rules[0], entity_type="comment", entity_id=key),
            dedup_key=key,
            room_id=live.room_id,
            session_id=live.id,
            subject_kind=SubjectKind.VIEWER,
            subject_id=7,
            event_at=T0,
            summary="a lure",
        )

    session = session_factory(engine)()
    try:
        assert record(session, finding("a"), ctx) is not None
        assert published == []  # decided, not committed: nothing on the stream yet
        session.rollback()
        assert published == []  # rolled back: never
        assert record(session, finding("b"), ctx) is not None
        session.commit()
        assert sorted(notice["kind"] for _, notice in published) == ["prompt", "viewer_notice"]
    finally:
        session.close()


def test_a_storm_close_to_the_threshold_goes_to_a_reviewer(
    engine: Engine, db: Session, live: LiveSession, published: list[Any]
) -> None:
    risk, _ = engine_for(engine, rule_set(storm_rule(measures=["prompt"])))
    crowd = [{**row, "count": 1} for row in likes(live, list(range(100, 280)), 1, T0, "crowd")]
    risk(events([*crowd, *likes(live, [1, 2, 3], 28, T0, "bots")]))  # 840 of 1,020: 82%
    db.expire_all()
    case = db.scalars(select(RiskCase)).one()
    assert case.status == CaseStatus.PENDING_REVIEW and "uncertain" in case.review_reason
    # The prompt still goes out at once; sanctions wait for the reviewer.
    assert [notice["kind"] for _, notice in published] == ["prompt"]
    assert {m.kind for m in db.scalars(select(RiskMeasure))} == {"prompt"}


def test_a_batch_spanning_hours_loses_no_early_storm(
    engine: Engine, db: Session, live: LiveSession, published: list[Any]
) -> None:
    risk, _ = engine_for(engine, rule_set(storm_rule(measures=["prompt"])))
    later = likes(live, list(range(100, 110)), 1, T0 + timedelta(hours=3), "later")
    risk(events([*likes(live, [1, 2], 30, T0, "bots"), *later]))  # one file-sized batch
    assert count(db, RiskFinding) >= 1
