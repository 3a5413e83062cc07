"""A function restriction (a risk measure) is enforced where the functions live: a restricted
streamer may not enrol in campaigns and its rooms leave the recommended listing; a restricted
viewer may not tip. A reversed (appealed) or lapsed restriction withholds nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.identity import tipping
from zhibo.identity.schemas import TipIn
from zhibo.models import Role
from zhibo.models.risk import MeasureStatus, RiskMeasure, SubjectKind
from zhibo.models.session import SessionStatus
from zhibo.risk.measures import STREAMER_FUNCTIONS, VIEWER_FUNCTIONS, restricted_functions


def _restrict(
    db: Session, kind: SubjectKind, target_id: int, starts: datetime, days: int = 7
) -> RiskMeasure:
    functions = STREAMER_FUNCTIONS if kind == SubjectKind.STREAMER else VIEWER_FUNCTIONS
    measure = RiskMeasure(
        kind="function_restriction",
        target_kind=str(kind),
        target_id=target_id,
        status=MeasureStatus.APPLIED,
        starts_at=starts,
        ends_at=starts + timedelta(days=days),
        detail=orjson.dumps({"functions": list(functions)}).decode(),
    )
    db.add(measure)
    db.commit()
    return measure


def test_a_restricted_streamer_loses_campaigns_and_recommendation_until_reversed(
    client: TestClient, db: Session
) -> None:
    now = datetime.now(UTC)
    streamer = b.streamer(db, level=5)
    room = b.room(db, streamer_row=streamer)
    b.live_session(db, room_row=room, status=SessionStatus.LIVE)
    operator, own = b.token(db, Role.OPERATOR), b.token(db, Role.STREAMER, streamer.id)
    db.commit()
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "双十二",
            "starts_at": (now - timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=7)).isoformat(),
        },
        headers=operator,
    ).json()["id"]

    def recommended() -> list[int]:
        answer = client.get("/v1/rooms/recommended", headers=operator)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert recommended() == [room.id]
    measure = _restrict(db, SubjectKind.STREAMER, streamer.id, now - timedelta(hours=1))
    assert restricted_functions(db, SubjectKind.STREAMER, streamer.id, now) == {
        "campaigns",
        "recommendation",
    }
    assert recommended() == []
    refused = client.post(
        f"/v1/campaigns/{campaign}/enrolments", json={"streamer_id": streamer.id}, headers=own
    )
    assert refused.status_code == 403 and refused.json()["error"] == "CampaignsRestricted"
    assert "function restriction" in refused.json()["detail"]
    # A won appeal reverses the measure: everything is back at once.
    measure.status = MeasureStatus.REVERSED
    db.commit()
    assert recommended() == [room.id]
    accepted = client.post(
        f"/v1/campaigns/{campaign}/enrolments", json={"streamer_id": streamer.id}, headers=own
    )
    assert accepted.status_code == 201, accepted.text


def test_a_restricted_viewer_may_not_tip_until_the_restriction_lapses(db: Session) -> None:
    at = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
    streamer = b.streamer(db, level=5)
    live = b.live_session(db, room_row=b.room(db, streamer_row=streamer), status=SessionStatus.LIVE)
    viewer = b.viewer(db)
    db.commit()
    _restrict(db, SubjectKind.VIEWER, viewer.id, at - timedelta(days=1), days=3)

    def tip(when: datetime, key: str) -> tipping.TipResult:
        return tipping.send_tip(
            db,
            viewer.id,
            TipIn(session_id=live.id, gift_id=1, amount_fen=100, idempotency_key=key),
            at=when,
        )

    with pytest.raises(tipping.TippingRestricted, match="function restriction"):
        tip(at, "a")
    db.rollback()
    # Two days later the restriction has lapsed.
    assert tip(at + timedelta(days=2, hours=1), "b").tip.amount_fen == 100


def test_a_restricted_viewers_comments_are_dead_letters(client: TestClient, db: Session) -> None:
    from sqlalchemy import select

    from zhibo.models import DeadLetter

    now = datetime.now(UTC)
    live = b.live_session(db, status=SessionStatus.LIVE)
    muted, other = b.viewer(db), b.viewer(db)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    _restrict(db, SubjectKind.VIEWER, muted.id, now - timedelta(hours=1))

    def comment(n: int, user_id: int, kind: str = "comment") -> dict[str, object]:
        return {
            "event_id": f"r-{n}",
            "session_id": live.id,
            "room_id": live.room_id,
            "user_id": user_id,
            "type": kind,
            "ts": int(now.timestamp() * 1000),
            **({"text": "好看"} if kind == "comment" else {}),
        }

    batch = [comment(1, other.id), comment(2, muted.id), comment(3, muted.id, "enter")]
    answer = client.post("/v1/events", json=batch, headers=operator)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    (rejection,) = body["rejections"]
    assert (rejection["row"], rejection["reason"], rejection["event_id"]) == (
        1,
        "comments_restricted",
        "r-2",
    )
    letters = db.scalars(select(DeadLetter)).all()
    assert [(d.reason, d.row_number, '"r-2"' in d.payload) for d in letters] == [
        ("comments_restricted", 1, True)
    ]
