"""What a level unlocks is enforced: shelf size, recommendation traffic (and traffic limits),
campaigns and tipping caps, all read from the active grading model; the permissions endpoint
shows them, scoped like the grade."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.catalog.policy import default_policy
from zhibo.catalog.selection import register_text_screen, text_screens, unregister_text_screen
from zhibo.grading import service
from zhibo.grading.scoring_model import default_model
from zhibo.kit.errors import InvalidInput, NotFound
from zhibo.models import LiveSession, Role, ShelfItem, Streamer
from zhibo.models.category import RiskClass
from zhibo.models.grading import CampaignEnrolment, TrafficLimit
from zhibo.models.session import SessionStatus

VERSION = default_model().version


@pytest.fixture
def no_screens(client: TestClient) -> Iterator[None]:
    """Text screens (the risk service's, installed when the app starts) are not what these
    tests are about: take them out."""
    installed = text_screens()
    for name in installed:
        unregister_text_screen(name)
    yield
    for name, screen in installed.items():
        register_text_screen(name, screen)


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make a changed copy of the built-in model the active one (``ZHIBO_GRADING_MODEL_FILE``)."""

    def activate(version: str, change: Any) -> None:
        document = default_model().document()
        document["version"] = version
        change(document)
        path = tmp_path / f"{version}.json"
        path.write_text(json.dumps(document))
        monkeypatch.setenv("ZHIBO_GRADING_MODEL_FILE", str(path))
        service.grading_settings.cache_clear()

    yield activate
    monkeypatch.delenv("ZHIBO_GRADING_MODEL_FILE", raising=False)
    service.grading_settings.cache_clear()


def _session_of(db: Session, level: int) -> tuple[Streamer, LiveSession]:
    streamer = b.streamer(db, level=level)
    live = b.live_session(db, room_row=b.room(db, streamer_row=streamer))
    return streamer, live


def _fill(db: Session, live: LiveSession, count: int) -> None:
    brand, category = b.brand(db), b.category(db)
    for _ in range(count):
        b.shelf_item(
            db, session_row=live, product_row=b.product(db, brand_row=brand, category_row=category)
        )


def _add(client: TestClient, db: Session, streamer: Streamer, live: LiveSession) -> Any:
    product = b.product(db)
    headers = b.token(db, Role.STREAMER, streamer.id)
    db.commit()
    return client.post(
        f"/v1/sessions/{live.id}/shelf", json={"product_id": product.id}, headers=headers
    )


# --- one source of truth ----------------------------------------------------------------------


def test_the_pool_policy_is_the_grading_models_unlocks() -> None:
    policy = default_policy()
    assert policy.version == VERSION
    for level in range(6):
        unlocks = service.unlocks_for(level)
        assert policy.classes_for(level) == unlocks.risk_classes
        assert policy.shelf_size_for(level) == unlocks.shelf_size


def test_another_model_changes_the_pool_at_once(
    client: TestClient, db: Session, model_file: Any, no_screens: None
) -> None:
    def small(document: dict[str, Any]) -> None:
        document["levels"][1]["unlocks"]["shelf_size"] = 2

    model_file("test-small-shelves", small)
    streamer, live = _session_of(db, 1)
    _fill(db, live, 2)
    response = _add(client, db, streamer, live)
    assert response.status_code == 409, response.text
    assert "test-small-shelves" in response.json()["detail"]
    assert "is 2" in response.json()["detail"]


# --- shelf size -------------------------------------------------------------------------------


def test_a_full_shelf_refuses_naming_limit_level_and_model(
    client: TestClient, db: Session, no_screens: None
) -> None:
    limit = service.unlocks_for(1).shelf_size
    streamer, live = _session_of(db, 1)
    _fill(db, live, limit - 1)
    assert _add(client, db, streamer, live).status_code == 201
    response = _add(client, db, streamer, live)
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "ShelfFull"
    assert f"holds {limit} products" in body["detail"]
    assert f"level 1 streamer may shelve is {limit}" in body["detail"]
    assert VERSION in body["detail"]
    assert db.scalar(select(func.count()).select_from(ShelfItem)) == limit


def test_the_limit_is_the_levels(client: TestClient, db: Session, no_screens: None) -> None:
    # A shelf full for level 1 still has room for level 2.
    streamer, live = _session_of(db, 2)
    _fill(db, live, service.unlocks_for(1).shelf_size)
    assert _add(client, db, streamer, live).status_code == 201


def test_level_0_may_shelve_nothing(client: TestClient, db: Session, no_screens: None) -> None:
    streamer, live = _session_of(db, 0)
    response = _add(client, db, streamer, live)
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "ShelfFull"
    assert "level 0" in body["detail"] and "rights revoked" in body["detail"]
    assert VERSION in body["detail"]


# --- recommendation traffic -------------------------------------------------------------------


def _live_room(db: Session, level: int, status: SessionStatus = SessionStatus.LIVE) -> int:
    streamer = b.streamer(db, level=level)
    room = b.room(db, streamer_row=streamer)
    b.live_session(db, room_row=room, status=status)
    return int(room.id)


def _recommended(client: TestClient, db: Session) -> list[int]:
    headers = b.token(db, Role.VIEWER, b.viewer(db).id)
    db.commit()
    response = client.get("/v1/rooms/recommended", headers=headers)
    assert response.status_code == 200, response.text
    return [room["id"] for room in response.json()["items"]]


def test_only_live_rooms_of_eligible_levels_are_recommended(
    client: TestClient, db: Session
) -> None:
    assert not service.unlocks_for(1).recommendation_traffic
    assert service.unlocks_for(2).recommendation_traffic
    eligible = _live_room(db, 2)
    top = _live_room(db, 5)
    _live_room(db, 1)  # level 1 earns no recommendation traffic
    _live_room(db, 0)
    _live_room(db, 5, SessionStatus.SCHEDULED)  # not live
    _live_room(db, 5, SessionStatus.ENDED)
    assert _recommended(client, db) == [eligible, top]


def test_a_traffic_limit_drops_a_room_until_it_ends_or_is_lifted(
    client: TestClient, db: Session
) -> None:
    room = _live_room(db, 3)
    now = datetime.now(UTC)
    first = service.limit_traffic(
        db, room, until=now + timedelta(days=1), reason="brushing found", source_ref="case:7"
    )
    assert _recommended(client, db) == []
    # The same finding again extends its limit instead of stacking another.
    again = service.limit_traffic(
        db, room, until=now + timedelta(days=3), reason="brushing found", source_ref="case:7"
    )
    assert again.id == first.id and again.limited_until == now + timedelta(days=3)
    assert db.scalar(select(func.count()).select_from(TrafficLimit)) == 1
    assert service.lift_traffic_limit(db, room, source_ref="case:7") == 1
    assert _recommended(client, db) == [room]
    # A limit that has run out holds nothing.
    service.limit_traffic(
        db,
        room,
        until=now - timedelta(hours=1),
        reason="old",
        at=now - timedelta(days=2),
    )
    assert _recommended(client, db) == [room]


def test_traffic_limits_refuse_bad_input(db: Session) -> None:
    room = _live_room(db, 3)
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match="until"):
        service.limit_traffic(db, room, until=now - timedelta(seconds=1), reason="x", at=now)
    with pytest.raises(InvalidInput, match="reason"):
        service.limit_traffic(db, room, until=now + timedelta(days=1), reason=" ")
    with pytest.raises(NotFound, match="room_id"):
        service.limit_traffic(db, 999_999, until=now + timedelta(days=1), reason="x")


# --- campaigns --------------------------------------------------------------------------------


def _campaign(client: TestClient, db: Session, days: int = 7) -> int:
    headers = b.token(db, Role.OPERATOR)
    db.commit()
    now = datetime.now(UTC)
    response = client.post(
        "/v1/campaigns",
        json={
            "name": "双十二",
            "starts_at": (now - timedelta(days=2)).isoformat(),
            "ends_at": (now + timedelta(days=days)).isoformat(),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _enrol(client: TestClient, db: Session, campaign: int, streamer: Streamer, **body: Any) -> Any:
    headers = b.token(db, Role.STREAMER, streamer.id)
    db.commit()
    return client.post(
        f"/v1/campaigns/{campaign}/enrolments",
        json={"streamer_id": streamer.id, **body},
        headers=headers,
    )


def test_only_levels_that_unlock_campaigns_may_enrol(client: TestClient, db: Session) -> None:
    campaign = _campaign(client, db)
    low, high = b.streamer(db, level=2), b.streamer(db, level=3)
    refused = _enrol(client, db, campaign, low)
    assert refused.status_code == 409
    assert refused.json()["error"] == "CampaignsNotUnlocked"
    assert "level 2" in refused.json()["detail"] and "L3, L4, L5" in refused.json()["detail"]
    assert VERSION in refused.json()["detail"]
    accepted = _enrol(client, db, campaign, high)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["level"] == 3 and accepted.json()["model_version"] == VERSION
    live = b.live_session(db, room_row=b.room(db, streamer_row=high))
    session_enrolment = _enrol(client, db, campaign, high, session_id=live.id)
    assert session_enrolment.status_code == 201 and session_enrolment.json()["session_id"]
    duplicate = _enrol(client, db, campaign, high)
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "AlreadyEnrolled"
    assert db.scalar(select(func.count()).select_from(CampaignEnrolment)) == 2
    # A streamer sees its own enrolments only, and may not enrol another streamer.
    headers = b.token(db, Role.STREAMER, low.id)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    mine = client.get(f"/v1/campaigns/{campaign}/enrolments", headers=headers)
    assert mine.status_code == 200 and mine.json() == []
    everyone = client.get(f"/v1/campaigns/{campaign}/enrolments", headers=operator).json()
    assert [(e["streamer_id"], e["session_id"]) for e in everyone] == [
        (high.id, None),
        (high.id, live.id),
    ]
    other = client.post(
        f"/v1/campaigns/{campaign}/enrolments", json={"streamer_id": high.id}, headers=headers
    )
    assert other.status_code == 403


def test_enrolment_in_an_ended_campaign_or_of_anothers_session_is_refused(
    client: TestClient, db: Session
) -> None:
    ended = _campaign(client, db, days=-1)
    high = b.streamer(db, level=4)
    assert _enrol(client, db, ended, high).json()["error"] == "CampaignClosed"
    campaign = _campaign(client, db)
    _other, foreign = _session_of(db, 4)
    response = _enrol(client, db, campaign, high, session_id=foreign.id)
    assert response.status_code == 422 and "session_id" in response.json()["detail"]
    streamer_headers = b.token(db, Role.STREAMER, high.id)
    db.commit()
    assert client.post("/v1/campaigns", json={}, headers=streamer_headers).status_code == 403


# --- tipping caps -----------------------------------------------------------------------------


def test_tipping_caps_follow_the_level(db: Session) -> None:
    revoked, top = b.streamer(db, level=0), b.streamer(db, level=5)
    caps = service.tipping_caps_for(db, revoked.id)
    assert (caps.per_tip_fen, caps.per_day_fen, caps.per_month_fen) == (0, 0, 0)
    caps = service.tipping_caps_for(db, top.id)
    expected = service.unlocks_for(5).tipping_caps
    assert caps.per_tip_fen == expected.per_tip_fen > 0
    assert caps.per_month_fen == expected.per_month_fen
    assert (caps.level, caps.model_version) == (5, VERSION)
    with pytest.raises(NotFound):
        service.tipping_caps_for(db, 999_999)


# --- the permissions endpoint -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["self", "partner", "other_streamer", "operator", "viewer"])
def test_permissions_are_scoped_like_the_grade(client: TestClient, db: Session, who: str) -> None:
    partner = b.partner(db)
    target = b.streamer(db, level=3, partner_row=partner)
    room = b.room(db, streamer_row=target)
    b.live_session(db, room_row=room, status=SessionStatus.LIVE)
    headers = {
        "self": lambda: b.token(db, Role.STREAMER, target.id),
        "partner": lambda: b.token(db, Role.PARTNER, partner.id),
        "other_streamer": lambda: b.token(db, Role.STREAMER, b.streamer(db).id),
        "operator": lambda: b.token(db, Role.OPERATOR),
        "viewer": lambda: b.token(db, Role.VIEWER, b.viewer(db).id),
    }[who]()
    db.commit()
    response = client.get(f"/v1/streamers/{target.id}/permissions", headers=headers)
    if who == "other_streamer":
        assert response.status_code == 404
        return
    if who == "viewer":
        assert response.status_code == 403
        return
    assert response.status_code == 200, response.text
    body = response.json()
    unlocks = service.unlocks_for(3)
    assert body["level"] == 3 and body["model_version"] == VERSION
    assert body["rights_revoked"] is False
    assert body["unlocks"]["risk_classes"] == ["low", "medium", "high"]
    assert body["unlocks"]["shelf_size"] == unlocks.shelf_size
    assert body["unlocks"]["campaigns"] is True
    assert body["unlocks"]["tipping_caps"]["per_day_fen"] == unlocks.tipping_caps.per_day_fen
    assert body["recommended_room_ids"] == [room.id]
    assert body["settlement"]["policy"] == "reform-monthly-5@1"
    assert body["traffic_limits"] == []


def test_permissions_show_traffic_limits(client: TestClient, db: Session) -> None:
    room = _live_room(db, 4)
    streamer_id = db.scalar(select(Streamer.id).order_by(Streamer.id.desc()).limit(1))
    service.limit_traffic(
        db, room, until=datetime.now(UTC) + timedelta(days=1), reason="lure", source_ref="f:1"
    )
    headers = b.token(db, Role.STREAMER, streamer_id)
    db.commit()
    body = client.get(f"/v1/streamers/{streamer_id}/permissions", headers=headers).json()
    assert body["unlocks"]["recommendation_traffic"] is True
    assert body["recommended_room_ids"] == []
    assert [(row["room_id"], row["reason"]) for row in body["traffic_limits"]] == [(room, "lure")]


def test_level_0_permissions(client: TestClient, db: Session) -> None:
    revoked = b.streamer(db, level=0)
    headers = b.token(db, Role.STREAMER, revoked.id)
    db.commit()
    body = client.get(f"/v1/streamers/{revoked.id}/permissions", headers=headers).json()
    assert body["rights_revoked"] is True
    assert body["unlocks"]["risk_classes"] == [] and body["unlocks"]["shelf_size"] == 0
    assert body["unlocks"]["recommendation_traffic"] is False
    assert RiskClass.LOW not in default_policy().classes_for(0)
