"""Each role sees only what it may: a streamer its own orders, a partner its streamers', a brand
its products'. Out-of-scope single resources answer 404, so their existence does not leak."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.models import Role
from zhibo.models.session import SessionStatus


@dataclass
class World:
    orders: dict[str, int]
    streamers: dict[str, int]
    partner_id: int
    other_partner_id: int
    brand_id: int
    buyer_id: int


@pytest.fixture
def world(db: Session) -> World:
    agency, other_agency = b.partner(db), b.partner(db)
    alice = b.streamer(db, partner_row=agency)
    bob = b.streamer(db, partner_row=other_agency)
    brand_a, brand_b = b.brand(db), b.brand(db)
    product_a = b.product(db, brand_row=brand_a)
    product_b = b.product(db, brand_row=brand_b)
    session_a = b.live_session(
        db, room_row=b.room(db, streamer_row=alice), status=SessionStatus.LIVE
    )
    session_b = b.live_session(db, room_row=b.room(db, streamer_row=bob), status=SessionStatus.LIVE)
    buyer = b.viewer(db)
    orders = {
        "alice_a": b.order(db, session_row=session_a, product_row=product_a, buyer=buyer).id,
        "bob_b": b.order(db, session_row=session_b, product_row=product_b).id,
    }
    db.commit()
    return World(
        orders, {"alice": alice.id, "bob": bob.id}, agency.id, other_agency.id, brand_a.id, buyer.id
    )


def order_ids(client: TestClient, headers: dict[str, str]) -> set[int]:
    response = client.get("/v1/orders", headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_streamer_sees_only_its_own_orders(client: TestClient, db: Session, world: World) -> None:
    alice = b.token(db, Role.STREAMER, world.streamers["alice"])
    db.commit()
    assert order_ids(client, alice) == {world.orders["alice_a"]}
    other = client.get(f"/v1/orders/{world.orders['bob_b']}", headers=alice)
    assert other.status_code == 404
    assert other.json()["error"] == "NotFound"
    assert client.get(f"/v1/orders/{world.orders['alice_a']}", headers=alice).status_code == 200


def test_partner_sees_its_streamers_and_their_orders(
    client: TestClient, db: Session, world: World
) -> None:
    agency = b.token(db, Role.PARTNER, world.partner_id)
    db.commit()
    assert order_ids(client, agency) == {world.orders["alice_a"]}
    listed = client.get("/v1/streamers", headers=agency).json()["items"]
    assert [s["id"] for s in listed] == [world.streamers["alice"]]
    bob = client.get(f"/v1/streamers/{world.streamers['bob']}", headers=agency)
    assert bob.status_code == 404


def test_brand_sees_orders_of_its_products_only(
    client: TestClient, db: Session, world: World
) -> None:
    brand = b.token(db, Role.BRAND, world.brand_id)
    db.commit()
    assert order_ids(client, brand) == {world.orders["alice_a"]}
    products = client.get("/v1/products", headers=brand).json()["items"]
    assert {p["brand_id"] for p in products} == {world.brand_id}


def test_viewer_sees_own_orders_and_may_not_list_streamers(
    client: TestClient, db: Session, world: World
) -> None:
    viewer = b.token(db, Role.VIEWER, world.buyer_id)
    db.commit()
    assert order_ids(client, viewer) == {world.orders["alice_a"]}
    response = client.get("/v1/streamers", headers=viewer)
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"


def test_global_roles_see_everything_but_only_operator_writes(
    client: TestClient, db: Session, world: World
) -> None:
    for role in (Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR):
        headers = b.token(db, role)
        db.commit()
        assert order_ids(client, headers) == set(world.orders.values())
    auditor = b.token(db, Role.AUDITOR)
    db.commit()
    response = client.post("/v1/brands", json={"name": "Auditor Brand"}, headers=auditor)
    assert response.status_code == 403


def test_streamer_cannot_act_for_another_streamer(
    client: TestClient, db: Session, world: World
) -> None:
    alice = b.token(db, Role.STREAMER, world.streamers["alice"])
    db.commit()
    response = client.post(
        "/v1/rooms", json={"streamer_id": world.streamers["bob"], "title": "hijack"}, headers=alice
    )
    assert response.status_code == 403
    assert "streamer_id" in response.json()["detail"]


def test_missing_and_bad_tokens_are_401(client: TestClient, world: World) -> None:
    assert client.get("/v1/orders").status_code == 401
    response = client.get("/v1/orders", headers={"Authorization": "Bearer zb_nope"})
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthenticated"


def test_revoked_token_is_refused(client: TestClient, db: Session, world: World) -> None:
    from zhibo.kit.auth import create_token, revoke_token

    clear, row = create_token(db, Role.OPERATOR, None)
    db.commit()
    headers = {"Authorization": f"Bearer {clear}"}
    assert client.get("/v1/me", headers=headers).json() == {"role": "operator", "subject_id": None}
    revoke_token(db, row.id)
    db.commit()
    assert client.get("/v1/me", headers=headers).status_code == 401
