"""A level a grading run sets is visible at once in the streamer's permissions, the pool (risk
classes and shelf size) and the recommendation listing; the account reads its notice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from tests.grading.world import RECENT, World, build
from zhibo.catalog.selection import register_text_screen, text_screens, unregister_text_screen
from zhibo.grading import credit, service
from zhibo.grading.scoring_model import default_model
from zhibo.models import Role, Streamer
from zhibo.models.category import RiskClass

SALES = [0, 900, 3_000, 12_000, 40_000, 90_000, 250_000, 800_000, 2_000_000, 6_000_000]
VERSION = default_model().version


@pytest.fixture(autouse=True)
def no_screens(client: TestClient) -> Iterator[None]:
    installed = text_screens()
    for name in installed:
        unregister_text_screen(name)
    yield
    for name, screen in installed.items():
        register_text_screen(name, screen)


def _run(db: Session, tmp_path: Path, day: int = 26) -> None:
    """A daily run (a run of the same day again would replace that day's results and notices)."""
    service.run(db, date(2026, 11, day), lake_root=tmp_path / "lake")
    db.commit()
    db.expire_all()


def _violate(db: Session, streamer: Streamer, severity: str) -> None:
    credit.record_violation(
        db,
        streamer_id=streamer.id,
        severity=severity,
        rule="test-rule@1",
        occurred_at=RECENT,
        rules=default_model().credit,
    )


class View:
    """What the streamer sees through the API."""

    def __init__(self, client: TestClient, db: Session, world: World, streamer: Streamer):
        self.client, self.db, self.world, self.streamer = client, db, world, streamer
        self.headers = b.token(db, Role.STREAMER, streamer.id)
        db.commit()

    def permissions(self) -> Any:
        response = self.client.get(
            f"/v1/streamers/{self.streamer.id}/permissions", headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def recommended(self) -> list[int]:
        response = self.client.get("/v1/rooms/recommended", headers=self.headers)
        return [room["id"] for room in response.json()["items"]]

    def shelve(self, risk_class: RiskClass) -> Any:
        category = b.category(self.db, risk_class=risk_class)
        product = b.product(self.db, category_row=category)
        self.db.commit()
        live = self.world.sessions[self.streamer.id]
        return self.client.post(
            f"/v1/sessions/{live.id}/shelf", json={"product_id": product.id}, headers=self.headers
        )

    def fill_shelf_to(self, count: int) -> None:
        live = self.world.sessions[self.streamer.id]
        brand, category = b.brand(self.db), b.category(self.db)
        held = len(self.client.get(f"/v1/sessions/{live.id}/shelf", headers=self.headers).json())
        for _ in range(count - held):
            product = b.product(self.db, brand_row=brand, category_row=category)
            b.shelf_item(self.db, session_row=live, product_row=product)
        self.db.commit()


def test_a_level_change_is_visible_in_the_permissions_at_once(
    client: TestClient, db: Session, tmp_path: Path
) -> None:
    world = build(db, SALES)
    _run(db, tmp_path)
    top = world.streamers[-1]
    room = world.rooms[top.id].id
    view = View(client, db, world, top)
    before = view.permissions()
    assert before["level"] >= 3, before
    assert "high" in before["unlocks"]["risk_classes"]
    assert before["unlocks"]["shelf_size"] >= 100
    assert before["recommended_room_ids"] == [room] and room in view.recommended()
    assert view.shelve(RiskClass.HIGH).status_code == 201

    # A serious violation caps the level at 2: no high-risk categories, 60 products a shelf.
    _violate(db, top, "serious")
    _run(db, tmp_path, 27)
    capped = view.permissions()
    assert capped["level"] == 2 and capped["model_version"] == VERSION
    assert capped["unlocks"]["risk_classes"] == ["low", "medium"]
    assert capped["unlocks"]["shelf_size"] == 60
    refused = view.shelve(RiskClass.HIGH)
    assert refused.status_code == 409 and "high-risk" in refused.json()["detail"]
    view.fill_shelf_to(60)
    full = view.shelve(RiskClass.LOW)
    assert full.status_code == 409 and full.json()["error"] == "ShelfFull"
    assert "level 2 streamer may shelve is 60" in full.json()["detail"]
    assert capped["unlocks"]["recommendation_traffic"] is True
    assert room in view.recommended()

    # A critical violation takes every point: level 0 sells nothing and is not recommended.
    _violate(db, top, "critical")
    _run(db, tmp_path, 28)
    revoked = view.permissions()
    assert revoked["level"] == 0 and revoked["rights_revoked"] is True
    assert revoked["unlocks"]["risk_classes"] == [] and revoked["unlocks"]["shelf_size"] == 0
    assert revoked["unlocks"]["recommendation_traffic"] is False
    assert revoked["recommended_room_ids"] == [] and room not in view.recommended()
    assert view.shelve(RiskClass.LOW).json()["error"] == "ShelfFull"

    # Each change was noticed, with old and new level, reason and model version.
    notices = client.get("/v1/me/notices", headers=view.headers).json()
    assert [(n["from_level"], n["to_level"]) for n in notices] == [
        (2, 0),
        (before["level"], 2),
        (1, before["level"]),
    ]
    assert all(n["model_version"] == VERSION and n["reason"] for n in notices)
    assert "serious_violation_30d" in notices[1]["reason"]
    assert notices[0]["to_level_name"] == default_model().levels[0].name


def test_notices_are_each_accounts_own(client: TestClient, db: Session, tmp_path: Path) -> None:
    world = build(db, SALES[:5])
    _run(db, tmp_path)
    levels = {s.id: db.get(Streamer, s.id).level for s in world.streamers}  # type: ignore[union-attr]
    mine = next(s for s in world.streamers if levels[s.id] != 1)
    other = next(s for s in world.streamers if s.id != mine.id)
    headers = b.token(db, Role.STREAMER, mine.id)
    partner_headers = b.token(db, Role.PARTNER, world.partner.id)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    own = client.get("/v1/me/notices", headers=headers).json()
    assert {n["subject_id"] for n in own} == {mine.id} and own[0]["kind"] == "streamer"
    assert own[0]["to_level"] == db.get(Streamer, mine.id).level  # type: ignore[union-attr]
    assert client.get(f"/v1/streamers/{mine.id}/notices", headers=headers).json() == own
    assert client.get(f"/v1/streamers/{other.id}/notices", headers=headers).status_code == 404
    # The partner reads its own (partner) notice, and its streamers'.
    partner_own = client.get("/v1/me/notices", headers=partner_headers).json()
    assert [(n["kind"], n["subject_id"]) for n in partner_own] == [("partner", world.partner.id)]
    assert partner_own[0]["from_level"] is None and partner_own[0]["from_level_name"] is None
    assert client.get(f"/v1/streamers/{mine.id}/notices", headers=partner_headers).json() == own
    # Global readers have no notices of their own; they read an account's by its id.
    assert client.get("/v1/me/notices", headers=operator).status_code == 403
    assert client.get(f"/v1/streamers/{mine.id}/notices", headers=operator).json() == own
