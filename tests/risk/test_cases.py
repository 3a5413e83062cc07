"""Cases: graduated sanctions by severity and repetition, the review queue, appeals that
reverse sanctions and restore credit points, notices with what the rules require, the
append-only audit log, and who may see and decide what over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.grading import credit
from zhibo.grading.recommendation import traffic_limits_in_force
from zhibo.grading.service import active_model
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, InvalidInput
from zhibo.models import Role, Streamer, StreamerStatus
from zhibo.models.risk import (
    CaseNotAppealable,
    CaseNotPending,
    CaseStatus,
    MeasureStatus,
    RiskAuditEntry,
    RiskCase,
    RiskMeasure,
    RiskNotice,
    SubjectKind,
)
from zhibo.risk import cases
from zhibo.risk.cases import AppealTooLate, Context, Detected
from zhibo.risk.measures import expire_due
from zhibo.risk.rules import RuleSet, parse_rules
from zhibo.risk.schemas import Finding

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
COMPLIANCE = Principal(role=Role.COMPLIANCE, token_id=1)


def rules(severity: str = "medium", measures: list[str] | None = None) -> RuleSet:
    return parse_rules(
        {
            "schema_version": 1,
            "version": "test",
            "rules": [
                {
                    "id": "false_advertising.absolute_terms",
                    "version": 4,
                    "detector": "banned_terms",
                    "state": "active",
                    "severity": severity,
                    "measures": measures if measures is not None else ["prompt", "warning"],
                    "legal_basis": "《广告法》第九条第三项",
                    "description": "Absolute terms.",
                    "parameters": {"categories": ["absolute_grade"], "fields": ["transcript"]},
                }
            ],
        }
    )


def detected(ruleset: RuleSet, streamer_id: int, room_id: int, key: str) -> Detected:
    rule = ruleset.rules[0]
    return Detected(
        finding=Finding.of(rule, entity_type="transcript", entity_id=key, evidence={"t": key}),
        dedup_key=f"{rule.key}:{key}",
        room_id=room_id,
        session_id=None,
        subject_kind=SubjectKind.STREAMER,
        subject_id=streamer_id,
        event_at=T0,
        summary=f"said 国家级 in room {room_id} ({key})",
    )


def balance(db: Session, streamer_id: int) -> int:
    return credit.balance(db, streamer_id, active_model().credit)


def kinds(db: Session, case: RiskCase) -> dict[str, MeasureStatus]:
    rows = db.scalars(select(RiskMeasure).where(RiskMeasure.case_id == case.id)).all()
    return {row.kind: row.status for row in rows}


def test_repetition_escalates_along_the_ladder(db: Session) -> None:
    streamer = b.streamer(db)
    room = b.room(db, streamer_row=streamer)
    ruleset = rules()
    ctx = Context(rules=ruleset)
    steps = []
    for day in range(4):
        at = T0 + timedelta(days=day)
        got = cases.record(db, detected(ruleset, streamer.id, room.id, f"d{day}"), ctx, at=at)
        assert got is not None and got.case is not None and got.opened
        steps.append((got.case.repetition, kinds(db, got.case)))
    # A second finding within the merge window joins the case: no new sanction.
    again = cases.record(
        db,
        detected(ruleset, streamer.id, room.id, "d3b"),
        ctx,
        at=T0 + timedelta(days=3, minutes=5),
    )
    assert again is not None and not again.opened and again.measures == []
    assert [repetition for repetition, _ in steps] == [0, 1, 2, 3]
    first, second, third, fourth = (measures for _, measures in steps)
    assert set(first) == {"prompt", "warning", "credit_deduction"}
    assert "function_restriction" in second and "function_restriction" not in first
    assert third["publishing_suspension"] == MeasureStatus.APPLIED
    assert fourth == third  # beyond the ladder: its last step
    db.flush()
    assert db.get(Streamer, streamer.id).status == StreamerStatus.SUSPENDED  # type: ignore[union-attr]
    # The publishing suspensions end after their 30 days (once: running again changes nothing).
    assert len(expire_due(db, T0 + timedelta(days=32))) == 1  # the later one still runs
    assert db.get(Streamer, streamer.id).status == StreamerStatus.SUSPENDED  # type: ignore[union-attr]
    assert len(expire_due(db, T0 + timedelta(days=40))) == 1
    assert expire_due(db, T0 + timedelta(days=41)) == []
    assert db.get(Streamer, streamer.id).status == StreamerStatus.ACTIVE  # type: ignore[union-attr]
    # Four moderate deductions (default 2 points each) out of 12.
    assert balance(db, streamer.id) == 120 - 4 * active_model().credit.deduction_tenths["moderate"]


def test_a_won_appeal_reverses_the_sanctions_and_restores_credit(db: Session) -> None:
    streamer = b.streamer(db)
    room = b.room(db, streamer_row=streamer)
    ruleset = rules(severity="high", measures=["review", "warning", "publishing_suspension"])
    ctx = Context(rules=ruleset)
    got = cases.record(db, detected(ruleset, streamer.id, room.id, "x"), ctx, at=T0)
    assert got is not None and got.case is not None
    case = got.case
    assert case.status == CaseStatus.PENDING_REVIEW and kinds(db, case) == {}
    queue = cases.list_cases(db, COMPLIANCE, queue=True)
    assert [row.id for row in queue] == [case.id]

    cases.decide(
        db, COMPLIANCE, case.id, confirm=True, reason="heard on the recording", ctx=ctx, at=T0
    )
    applied = kinds(db, case)
    assert applied["credit_deduction"] == MeasureStatus.APPLIED
    assert applied["publishing_suspension"] == MeasureStatus.APPLIED
    assert balance(db, streamer.id) < 120
    assert db.get(Streamer, streamer.id).status == StreamerStatus.SUSPENDED  # type: ignore[union-attr]
    sanction = db.scalars(
        select(RiskNotice).where(RiskNotice.case_id == case.id, RiskNotice.kind == "sanction")
    ).all()
    assert {n.title for n in sanction} >= {"Credit points deducted", "Violation warning"}
    for notice in sanction:  # facts, reasons, rule and legal basis, duration, appeal channel
        assert notice.recipient_kind == "streamer" and notice.recipient_id == streamer.id
        assert "国家级" in notice.facts and "Absolute terms" in notice.reasons
        assert notice.rule_key == "false_advertising.absolute_terms@4"
        assert notice.legal_basis == "《广告法》第九条第三项"
        assert notice.duration and f"{case.id}" in notice.appeal_channel

    me = Principal(role=Role.STREAMER, subject_id=streamer.id)
    with pytest.raises(Forbidden):
        cases.decide_appeal(db, me, case.id, won=True, reason="me")
    cases.appeal(db, me, case.id, statement="I said 国家级 of the museum, not the goods", at=T0)
    cases.decide_appeal(
        db, COMPLIANCE, case.id, won=True, reason="context: a museum's name", ctx=ctx, at=T0
    )
    db.flush()
    assert case.status == CaseStatus.OVERTURNED
    assert set(kinds(db, case).values()) == {MeasureStatus.REVERSED}
    assert balance(db, streamer.id) == 120
    assert db.get(Streamer, streamer.id).status == StreamerStatus.ACTIVE  # type: ignore[union-attr]
    actions = [e.action for e in db.scalars(select(RiskAuditEntry).order_by(RiskAuditEntry.id))]
    assert actions[:2] == ["finding.recorded", "case.opened"]
    assert actions[-2:] == ["measure.reversed", "appeal.won"] and "case.confirmed" in actions
    with pytest.raises(CaseNotAppealable):
        cases.appeal(db, me, case.id, statement="again", at=T0)


def test_a_lost_appeal_keeps_the_sanctions_and_appeals_close(db: Session) -> None:
    streamer = b.streamer(db)
    room = b.room(db, streamer_row=streamer)
    ruleset = rules()
    ctx = Context(rules=ruleset)
    got = cases.record(db, detected(ruleset, streamer.id, room.id, "y"), ctx, at=T0)
    assert got is not None and got.case is not None and got.case.status == CaseStatus.SANCTIONED
    me = Principal(role=Role.STREAMER, subject_id=streamer.id)
    with pytest.raises(AppealTooLate):
        cases.appeal(db, me, got.case.id, statement="late", at=T0 + timedelta(days=31))
    cases.appeal(db, me, got.case.id, statement="it was a joke", at=T0 + timedelta(days=1))
    cases.decide_appeal(db, COMPLIANCE, got.case.id, won=False, reason="no context", ctx=ctx)
    assert got.case.status == CaseStatus.SANCTIONED
    assert kinds(db, got.case)["credit_deduction"] == MeasureStatus.APPLIED


def test_a_dismissed_case_lifts_its_real_time_traffic_limit(db: Session) -> None:
    streamer = b.streamer(db)
    room = b.room(db, streamer_row=streamer)
    ruleset = rules(severity="high", measures=["traffic_limit", "review"])
    ctx = Context(rules=ruleset)
    got = cases.record(db, detected(ruleset, streamer.id, room.id, "z"), ctx, at=T0)
    assert got is not None and got.case is not None
    assert [m.kind for m in got.measures] == ["traffic_limit"]
    assert len(traffic_limits_in_force(db, [room.id], at=T0)) == 1
    with pytest.raises(InvalidInput):
        cases.decide(db, COMPLIANCE, got.case.id, confirm=False, reason=" ", ctx=ctx)
    cases.decide(db, COMPLIANCE, got.case.id, confirm=False, reason="a fan club", ctx=ctx, at=T0)
    assert traffic_limits_in_force(db, [room.id], at=T0 + timedelta(seconds=1)) == []
    assert got.case.status == CaseStatus.DISMISSED and got.case.decided_by == "compliance#1"
    with pytest.raises(CaseNotPending):
        cases.decide(db, COMPLIANCE, got.case.id, confirm=True, reason="changed my mind", ctx=ctx)


def test_the_audit_log_is_append_only(db: Session) -> None:
    streamer = b.streamer(db)
    room = b.room(db, streamer_row=streamer)
    ruleset = rules()
    cases.record(db, detected(ruleset, streamer.id, room.id, "a"), Context(rules=ruleset), at=T0)
    db.commit()
    assert db.scalar(select(RiskAuditEntry.id).limit(1)) is not None
    for statement in (
        "UPDATE risk_audit_log SET reason = 'rewritten'",
        "DELETE FROM risk_audit_log",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            db.execute(text(statement))
        db.rollback()
    assert "rewritten" not in {e.reason for e in db.scalars(select(RiskAuditEntry))}


@pytest.fixture
def world(db: Session) -> dict[str, Any]:
    agency = b.partner(db)
    mine, other = b.streamer(db, partner_row=agency), b.streamer(db)
    room, other_room = b.room(db, streamer_row=mine), b.room(db, streamer_row=other)
    ruleset = rules(severity="high", measures=["review", "warning"])
    ctx = Context(rules=ruleset)
    case = cases.record(db, detected(ruleset, mine.id, room.id, "m"), ctx)
    other_case = cases.record(db, detected(ruleset, other.id, other_room.id, "o"), ctx)
    assert case is not None and case.case and other_case is not None and other_case.case
    headers = {
        "streamer": b.token(db, Role.STREAMER, mine.id),
        "compliance": b.token(db, Role.COMPLIANCE),
        "auditor": b.token(db, Role.AUDITOR),
        "partner": b.token(db, Role.PARTNER, agency.id),
        "brand": b.token(db, Role.BRAND, b.brand(db).id),
    }
    db.commit()
    return {"case": case.case.id, "other": other_case.case.id, "me": mine.id, **headers}


def test_roles_over_http(client: TestClient, world: dict[str, Any]) -> None:
    mine, other = world["case"], world["other"]
    listed = client.get("/v1/risk/cases", headers=world["streamer"])
    assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [mine]
    assert client.get(f"/v1/risk/cases/{other}", headers=world["streamer"]).status_code == 404
    assert client.get("/v1/risk/cases", headers=world["brand"]).status_code == 403
    # A partner reads its streamers' cases (not others'), and decides nothing.
    theirs = client.get("/v1/risk/cases", headers=world["partner"]).json()
    assert [c["id"] for c in theirs] == [mine]
    assert client.get(f"/v1/risk/cases/{other}", headers=world["partner"]).status_code == 404
    queue = client.get("/v1/risk/cases?queue=true", headers=world["auditor"]).json()
    assert {c["id"] for c in queue} == {mine, other}
    decision = {"decision": "confirm", "reason": "clear on the recording"}
    for who in ("streamer", "auditor", "partner"):
        refused = client.post(f"/v1/risk/cases/{mine}/decision", json=decision, headers=world[who])
        assert refused.status_code == 403, who
    done = client.post(
        f"/v1/risk/cases/{mine}/decision", json=decision, headers=world["compliance"]
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["case"]["status"] == "sanctioned" and body["findings"][0]["evidence"] == {"t": "m"}
    assert {m["kind"] for m in body["measures"]} >= {"warning", "credit_deduction"}
    assert [h["action"] for h in body["history"]][-1] == "case.confirmed"

    notices = client.get("/v1/risk/notices", headers=world["streamer"]).json()
    assert notices and {n["recipient_id"] for n in notices} == {world["me"]}
    assert (
        client.post(
            f"/v1/risk/cases/{other}/appeals",
            json={"statement": "not me"},
            headers=world["streamer"],
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/v1/risk/cases/{mine}/appeals", json={"statement": "x"}, headers=world["compliance"]
        ).status_code
        == 403
    )
    filed = client.post(
        f"/v1/risk/cases/{mine}/appeals", json={"statement": "wrong"}, headers=world["streamer"]
    )
    assert filed.status_code == 200 and filed.json()["status"] == "pending"
    won = client.post(
        f"/v1/risk/cases/{mine}/appeals/decision",
        json={"outcome": "won", "reason": "the recording was of another room"},
        headers=world["compliance"],
    )
    assert won.status_code == 200 and won.json()["status"] == "won"
    credit_after = client.get(f"/v1/streamers/{world['me']}/credit", headers=world["streamer"])
    assert credit_after.status_code == 200
    audit = client.get(f"/v1/risk/audit?case_id={mine}", headers=world["auditor"]).json()
    assert audit[-1]["action"] == "appeal.won"
    assert client.get("/v1/risk/audit", headers=world["streamer"]).status_code == 403


def test_the_command_line_lists_decides_and_decides_appeals(
    engine: Any, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from zhibo.risk import cases_cli
    from zhibo.risk.cli import risk_app

    monkeypatch.setattr(cases_cli, "ready_engine", lambda: engine)
    streamer = b.streamer(db)
    room = b.room(db, streamer_row=streamer)
    ruleset = rules(severity="high", measures=["review", "warning"])
    got = cases.record(db, detected(ruleset, streamer.id, room.id, "cli"), Context(rules=ruleset))
    assert got is not None and got.case is not None
    case_id = got.case.id
    db.commit()
    runner = CliRunner()

    listed = runner.invoke(risk_app, ["cases", "--queue", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [row["id"] for row in json.loads(listed.stdout)] == [case_id]
    assert (
        runner.invoke(risk_app, ["decide", str(case_id), "maybe", "--reason", "x"]).exit_code == 2
    )
    decided = runner.invoke(risk_app, ["decide", str(case_id), "confirm", "--reason", "seen"])
    assert decided.exit_code == 0, decided.output
    appeal = ["appeal", str(case_id), "--statement", "no", "--streamer", str(streamer.id)]
    assert runner.invoke(risk_app, appeal).exit_code == 0
    won = runner.invoke(risk_app, ["appeal-decide", str(case_id), "won", "--reason", "yes"])
    assert won.exit_code == 0, won.output
    shown = json.loads(runner.invoke(risk_app, ["case", str(case_id)]).stdout)
    assert shown["case"]["status"] == "overturned"
    assert [(h["action"], h["actor"]) for h in shown["history"]][-1] == (
        "appeal.won",
        "compliance:cli",
    )
    lines = runner.invoke(risk_app, ["audit", "--case", str(case_id)]).stdout.splitlines()
    assert json.loads(lines[-1])["action"] == "appeal.won"


def test_blacklisting_waits_for_an_identity_and_a_won_appeal_lifts_it(db: Session) -> None:
    from zhibo.models.identity import BlacklistEntry, BlacklistStatus

    known = b.streamer(db, id_number_hash="a" * 64, id_number_masked="1101**********0011")
    unknown = b.streamer(db)
    ruleset = rules(severity="critical", measures=[])
    ctx = Context(rules=ruleset)
    results = {}
    for person in (known, unknown):
        room = b.room(db, streamer_row=person)
        for day in (0, 1):  # the second critical case reaches the blacklist step
            at = T0 + timedelta(days=day)
            got = cases.record(
                db, detected(ruleset, person.id, room.id, f"{person.id}-{day}"), ctx, at=at
            )
            assert got is not None and got.case is not None
            if got.case.status == CaseStatus.PENDING_REVIEW:
                cases.decide(
                    db, COMPLIANCE, got.case.id, confirm=True, reason="seen", ctx=ctx, at=at
                )
        results[person.id] = got.case
    assert kinds(db, results[unknown.id])["blacklist"] == MeasureStatus.PENDING  # no identity yet
    listed = results[known.id]
    assert kinds(db, listed)["blacklist"] == MeasureStatus.APPLIED
    assert kinds(db, listed)["account_cancellation"] == MeasureStatus.APPLIED
    entry = db.scalars(select(BlacklistEntry).where(BlacklistEntry.streamer_id == known.id)).one()
    assert entry.source_ref == f"risk-case:{listed.id}" and entry.status == BlacklistStatus.ACTIVE
    me = Principal(role=Role.STREAMER, subject_id=known.id)
    cases.appeal(db, me, listed.id, statement="not me", at=T0 + timedelta(days=2))
    cases.decide_appeal(db, COMPLIANCE, listed.id, won=True, reason="a stolen account", ctx=ctx)
    db.flush()
    assert entry.status == BlacklistStatus.LIFTED
    # Back to what it was before the cancellation: the first case's publishing suspension.
    assert db.get(Streamer, known.id).status == StreamerStatus.SUSPENDED  # type: ignore[union-attr]


def test_a_streamer_sanctioned_for_a_session_gives_back_its_tips(db: Session) -> None:
    from dataclasses import replace

    from zhibo.identity import tipping
    from zhibo.identity.schemas import TipIn
    from zhibo.models import SessionStatus
    from zhibo.models.identity import Tip, TipStatus

    streamer = b.streamer(db, level=5)
    room = b.room(db, streamer_row=streamer)
    live = b.live_session(db, room_row=room, status=SessionStatus.LIVE)
    other = b.live_session(db, room_row=room, status=SessionStatus.LIVE)
    viewer = b.viewer(db)
    db.commit()
    for key, session_id in (("a", live.id), ("b", live.id), ("c", other.id)):
        tipping.send_tip(
            db,
            viewer.id,
            TipIn(session_id=session_id, gift_id=1, amount_fen=100, idempotency_key=key),
            at=T0,
        )
    db.commit()
    ruleset = rules()
    found = replace(detected(ruleset, streamer.id, room.id, "s1"), session_id=live.id)
    got = cases.record(db, found, Context(rules=ruleset), at=T0 + timedelta(minutes=1))
    assert got is not None and got.case is not None and got.measures
    statuses = {
        tip.session_id: tip.status for tip in db.scalars(select(Tip).order_by(Tip.id)).all()
    }
    assert statuses == {live.id: TipStatus.REFUNDED, other.id: TipStatus.HELD}
    audited = db.scalars(
        select(RiskAuditEntry).where(
            RiskAuditEntry.case_id == got.case.id, RiskAuditEntry.action == "tips.refunded"
        )
    ).all()
    assert len(audited) == 1 and '"refunded":2' in audited[0].inputs.replace(" ", "")
