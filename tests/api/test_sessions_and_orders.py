"""Sessions and orders through the API: transitions, attribution, pagination."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.models import Role


def test_session_lifecycle_and_order_attribution(client: TestClient, db: Session) -> None:
    agency = b.partner(db)
    streamer = b.streamer(db, partner_row=agency, verified_at=b.T0)
    product = b.product(db, price_fen=12_900, stock=5)
    buyer = b.viewer(db)
    me = b.token(db, Role.STREAMER, streamer.id)
    operator = b.token(db, Role.OPERATOR)
    viewer = b.token(db, Role.VIEWER, buyer.id)
    db.commit()

    room = client.post(
        "/v1/rooms", json={"streamer_id": streamer.id, "title": "好物推荐"}, headers=me
    )
    assert room.status_code == 201 and room.json()["stream_key"].startswith("sk_")
    session = client.post(
        "/v1/sessions",
        json={
            "room_id": room.json()["id"],
            "title": "双11",
            "scheduled_start_at": "2026-11-11T12:00:00Z",
        },
        headers=me,
    ).json()
    sid = session["id"]
    naive = client.post(
        "/v1/sessions",
        json={
            "room_id": room.json()["id"],
            "title": "x",
            "scheduled_start_at": "2026-11-11T12:00:00",
        },
        headers=me,
    )
    assert naive.status_code == 422
    shelf = client.post(
        f"/v1/sessions/{sid}/shelf",
        json={"product_id": product.id, "commission_rate_bp": 2500, "slot_fee_fen": 50_000},
        headers=me,
    )
    assert shelf.status_code == 201, shelf.text

    early = client.post(
        "/v1/orders", json={"session_id": sid, "product_id": product.id}, headers=viewer
    )
    assert early.status_code == 409
    ended = client.post(f"/v1/sessions/{sid}/end", headers=me)
    assert ended.status_code == 409 and ended.json()["error"] == "SessionNotLive"
    assert client.post(f"/v1/sessions/{sid}/start", headers=me).json()["status"] == "live"

    order = client.post(
        "/v1/orders",
        json={"session_id": sid, "product_id": product.id, "quantity": 2},
        headers=viewer,
    )
    assert order.status_code == 201, order.text
    body = order.json()
    assert body["amount_fen"] == 25_800 and body["commission_rate_bp"] == 2500
    assert (body["streamer_id"], body["partner_id"], body["buyer_id"]) == (
        streamer.id,
        agency.id,
        buyer.id,
    )
    too_many = client.post(
        "/v1/orders",
        json={"session_id": sid, "product_id": product.id, "quantity": 4},
        headers=viewer,
    )
    assert too_many.status_code == 409 and too_many.json()["error"] == "OutOfStock"

    # Only enforcers suspend; the streamer may not.
    assert (
        client.post(f"/v1/sessions/{sid}/suspend", json={"reason": "x"}, headers=me).status_code
        == 403
    )
    suspended = client.post(
        f"/v1/sessions/{sid}/suspend", json={"reason": "虚假宣传"}, headers=operator
    )
    assert suspended.json()["status"] == "suspended"

    oid = body["id"]
    assert (
        client.post(f"/v1/orders/{oid}/deliver", headers=operator).json()["error"]
        == "OrderNotShipped"
    )
    for action in ("ship", "deliver", "confirm"):
        assert client.post(f"/v1/orders/{oid}/{action}", headers=operator).status_code == 200
    refund = client.post(f"/v1/orders/{oid}/refunds", json={"amount_fen": 30_000}, headers=operator)
    assert refund.status_code == 422 and refund.json()["error"] == "RefundExceedsAmount"
    refund = client.post(
        f"/v1/orders/{oid}/refunds",
        json={"amount_fen": 12_900, "reason": "退一件"},
        headers=operator,
    )
    assert refund.json()["refunded_fen"] == 12_900 and refund.json()["status"] == "confirmed"


def test_cursor_pagination_visits_every_row_once(client: TestClient, db: Session) -> None:
    brand = b.brand(db)
    category = b.category(db)
    made = {b.product(db, brand_row=brand, category_row=category).id for _ in range(23)}
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/products", params=params, headers=operator).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made)


def test_healthz_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["schema_current"] is True
    spec = client.get("/openapi.json").json()
    assert "/v1/orders" in spec["paths"] and "/v1/pool/search" in spec["paths"]


def test_a_manual_start_passes_the_same_checks_as_a_push(client: TestClient, db: Session) -> None:
    unverified = b.streamer(db)
    me = b.token(db, Role.STREAMER, unverified.id)
    db.commit()
    room = client.post("/v1/rooms", json={"streamer_id": unverified.id, "title": "t"}, headers=me)
    session = client.post(
        "/v1/sessions",
        json={
            "room_id": room.json()["id"],
            "title": "t",
            "scheduled_start_at": "2026-11-11T12:00:00Z",
        },
        headers=me,
    ).json()
    started = client.post(f"/v1/sessions/{session['id']}/start", headers=me)
    assert started.status_code == 403 and started.json()["error"] == "StreamerNotVerified"
    assert client.get(f"/v1/sessions/{session['id']}", headers=me).json()["status"] == "scheduled"
