"""Blacklist evasion, tipping caps at their exact boundaries, minors, refunds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import builders as b
from tests.identity.conftest import make_id
from zhibo.identity import blacklist, tipping
from zhibo.identity.schemas import TipIn, VerificationIn
from zhibo.identity.service import verify_streamer
from zhibo.models import Role, ViewerDevice
from zhibo.models.identity import TipRefusal, TipStatus
from zhibo.models.session import SessionStatus

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
FACTS = {
    "facts": "fabricated orders in sessions 3-9",
    "reasons": "order brushing",
    "legal_basis": "Measures for Online Livestreaming Marketing art. 18",
    "appeal_channel": "appeals@zhibo within 30 days",
    "listed_by": "cmp-wang",
}


def test_blacklisted_identity_cannot_register_a_new_account(
    client: TestClient, db: Session
) -> None:
    operator = b.token(db, Role.OPERATOR)
    number = make_id("19900101", sequence="777")
    entry = blacklist.add(db, id_number=number, duration_days=30, at=NOW, **FACTS)
    db.commit()
    again = client.post(
        "/v1/streamers", json={"display_name": "new face", "id_number": number}, headers=operator
    )
    assert again.status_code == 403 and again.json()["error"] == "Blacklisted"
    assert "order brushing" in again.json()["detail"] and number not in again.text
    # Another number, but the listed phone: refused at verification.
    fresh = b.streamer(db)
    db.commit()
    blacklist.add(db, phone="13700001111", at=NOW, **FACTS)
    db.commit()
    with pytest.raises(blacklist.Blacklisted):
        verify_streamer(
            db,
            fresh.id,
            VerificationIn(
                id_number=make_id("19910101"),
                phone="137-0000-1111",
                attested_by="op",
                document_ref="d",
            ),
        )
    db.rollback()
    # Lifted on appeal: the person may register again, and the history says why.
    blacklist.appeal(db, entry.id, statement="wrongly matched", actor="applicant")
    blacklist.lift(db, entry.id, reason="appeal upheld", actor="cmp-zhao")
    db.commit()
    ok = client.post(
        "/v1/streamers", json={"display_name": "cleared", "id_number": number}, headers=operator
    )
    assert ok.status_code == 201, ok.text
    actions = [event.action for event in blacklist.history(db, entry.id)]
    assert actions == ["listed", "appealed", "appeal_won"]


def test_entries_expire_after_their_duration(db: Session) -> None:
    number = make_id("19900101")
    entry = blacklist.add(db, id_number=number, duration_days=10, at=NOW, **FACTS)
    assert blacklist.match(db, id_number=number, at=NOW + timedelta(days=9, hours=23))
    assert not blacklist.match(db, id_number=number, at=NOW + timedelta(days=10))
    assert blacklist.expire_due(db, NOW + timedelta(days=10)) == [entry]
    assert [e.action for e in blacklist.history(db, entry.id)] == ["listed", "expired"]


def _world(db: Session, level: int = 5):  # type: ignore[no-untyped-def]
    streamer = b.streamer(db, level=level)
    live = b.live_session(db, room_row=b.room(db, streamer_row=streamer), status=SessionStatus.LIVE)
    db.commit()
    return live


_keys = iter(range(10**6))


def _tip(db: Session, viewer_id: int, session_id: int, amount: int, at: datetime = NOW):  # type: ignore[no-untyped-def]
    return tipping.send_tip(
        db,
        viewer_id,
        TipIn(
            session_id=session_id, gift_id=1, amount_fen=amount, idempotency_key=f"k{next(_keys)}"
        ),
        at=at,
    )


def test_caps_hold_at_their_exact_boundaries(db: Session, configure) -> None:  # type: ignore[no-untyped-def]
    configure(
        tip_max_per_tip_fen=1000,
        tip_max_per_day_fen=2500,
        tip_max_per_month_fen=4000,
        tip_reminder_day_fen=2000,
    )
    live = _world(db)
    viewer = b.viewer(db)
    db.commit()
    with pytest.raises(tipping.TipOverPerTipCap):
        _tip(db, viewer.id, live.id, 1001)
    db.rollback()
    first = _tip(db, viewer.id, live.id, 1000)  # exactly the per-tip cap
    assert first.reminder is None and first.tip.status == TipStatus.HELD
    second = _tip(db, viewer.id, live.id, 1000)
    assert second.reminder is not None and second.day_total_fen == 2000
    db.commit()
    with pytest.raises(tipping.TipOverDailyCap, match="2000 fen tipped today"):
        _tip(db, viewer.id, live.id, 501)
    db.rollback()
    assert _tip(db, viewer.id, live.id, 500).day_total_fen == 2500  # exactly the daily cap
    db.commit()
    # The Beijing day turns at 16:00 UTC; the month cap still counts all of it.
    tomorrow = NOW + timedelta(hours=12)
    assert _tip(db, viewer.id, live.id, 1000, tomorrow).day_total_fen == 1000
    assert _tip(db, viewer.id, live.id, 500, tomorrow).month_total_fen == 4000
    db.commit()
    with pytest.raises(tipping.TipOverMonthlyCap):
        _tip(db, viewer.id, live.id, 1, tomorrow)
    db.rollback()
    refusals = db.scalars(select(TipRefusal.reason_code).order_by(TipRefusal.id)).all()
    assert refusals == ["TipOverPerTipCap", "TipOverDailyCap", "TipOverMonthlyCap"]


def test_level_caps_are_lower_for_new_streamers(db: Session) -> None:
    live = _world(db, level=1)  # the default model: level 1 caps one tip at 10,000 fen
    viewer = b.viewer(db)
    db.commit()
    assert _tip(db, viewer.id, live.id, 10_000).tip.amount_fen == 10_000
    db.commit()
    with pytest.raises(tipping.TipOverPerTipCap, match="level 1"):
        _tip(db, viewer.id, live.id, 10_001)
    db.rollback()


def test_minors_unverified_and_blacklisted_devices_are_refused(
    client: TestClient, db: Session
) -> None:
    live = _world(db)
    minor = b.viewer(db, is_minor=True)
    unverified = b.viewer(db)
    unverified.real_name_verified = False
    listed = b.viewer(db)
    db.add(ViewerDevice(viewer_id=listed.id, device_id="dev-farm-1"))
    blacklist.add(db, phone="13700002222", device_ids=["dev-farm-1"], at=NOW, **FACTS)
    db.commit()
    cases = [
        (b.token(db, Role.VIEWER, viewer.id), error)
        for viewer, error in (
            (minor, "MinorMayNotTip"),
            (unverified, "TipperNotVerified"),
            (listed, "TipperBlacklisted"),
        )
    ]
    db.commit()
    for headers, error in cases:
        answer = client.post(
            "/v1/gifts",
            json={"session_id": live.id, "gift_id": 1, "amount_fen": 100, "idempotency_key": "a"},
            headers=headers,
        )
        assert answer.status_code == 403 and answer.json()["error"] == error, answer.text
    assert db.scalar(select(TipRefusal.id).where(TipRefusal.viewer_id == minor.id))


def test_gift_api_is_idempotent_and_tips_refund_after_a_sanction(
    client: TestClient, db: Session
) -> None:
    live = _world(db)
    viewer = b.viewer(db)
    headers = b.token(db, Role.VIEWER, viewer.id)
    db.commit()
    body = {"session_id": live.id, "gift_id": 7, "amount_fen": 300, "idempotency_key": "g1"}
    first = client.post("/v1/gifts", json=body, headers=headers)
    again = client.post("/v1/gifts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = _tip(db, viewer.id, live.id, 200, datetime.now(UTC))
    credited = tipping.credit_due(db, datetime.now(UTC) + timedelta(hours=72))
    assert {t.id for t in credited} == {first.json()["id"], other.tip.id}
    summary = tipping.refund_session_tips(db, live.id, reason="risk case 12: false advertising")
    assert (summary.refunded, summary.refunded_fen, summary.clawed_back) == (2, 500, 2)
    assert tipping.refund_session_tips(db, live.id, reason="again").refunded == 0


def test_blacklist_and_legal_hold_endpoints(client: TestClient, db: Session) -> None:
    compliance = b.token(db, Role.COMPLIANCE)
    viewer_headers = b.token(db, Role.VIEWER, b.viewer(db).id)
    room = b.room(db)
    db.commit()
    number = make_id("19900101", sequence="888")
    body = {**FACTS, "id_number": number, "duration_days": 90, "device_ids": ["d-1"]}
    assert client.post("/v1/blacklist", json=body, headers=viewer_headers).status_code == 403
    made = client.post("/v1/blacklist", json=body, headers=compliance)
    assert made.status_code == 201, made.text
    entry = made.json()
    assert number not in made.text and entry["id_number_masked"].endswith(number[-4:])
    missing = client.post("/v1/blacklist", json={**body, "appeal_channel": ""}, headers=compliance)
    assert missing.status_code == 422
    decision = {"reason": "identity mix-up", "actor": "cmp-zhao"}
    lifted = client.post(f"/v1/blacklist/{entry['id']}/lift", json=decision, headers=compliance)
    assert lifted.json()["status"] == "lifted"
    again = client.post(f"/v1/blacklist/{entry['id']}/lift", json=decision, headers=compliance)
    assert again.status_code == 409 and again.json()["error"] == "EntryNotActive"
    history = client.get(f"/v1/blacklist/{entry['id']}/history", headers=compliance).json()
    assert [event["action"] for event in history] == ["listed", "appeal_won"]
    hold = client.post(
        "/v1/legal-holds",
        json={"room_id": room.id, "reason": "court order 5", "placed_by": "legal"},
        headers=compliance,
    )
    assert hold.status_code == 201, hold.text
    released = client.post(f"/v1/legal-holds/{hold.json()['id']}/release", headers=compliance)
    assert released.json()["released_at"] is not None
    empty = client.post(
        "/v1/legal-holds", json={"reason": "x", "placed_by": "legal"}, headers=compliance
    )
    assert empty.status_code == 422
