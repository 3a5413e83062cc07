"""POST /v1/orders with an Idempotency-Key: a retried order is the same order, placed once."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.kit.db import session_factory
from zhibo.models import LedgerEntry, Order, Product, Role
from zhibo.models.session import SessionStatus


def _world(db: Session, stock: int = 10) -> tuple[int, int, dict[str, str], dict[str, str]]:
    product = b.product(db, price_fen=5_000, stock=stock)
    live = b.live_session(db, status=SessionStatus.LIVE)
    b.shelf_item(db, session_row=live, product_row=product)
    buyer = b.viewer(db)
    other = b.viewer(db)
    tokens = b.token(db, Role.VIEWER, buyer.id), b.token(db, Role.VIEWER, other.id)
    db.commit()
    return live.id, product.id, *tokens


def _count(db: Session, model: type) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_a_retry_with_the_same_key_returns_the_first_order(client: TestClient, db: Session) -> None:
    sid, pid, buyer, other = _world(db)
    order = {"session_id": sid, "product_id": pid, "quantity": 2}
    first = client.post("/v1/orders", json=order, headers={**buyer, "Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    entries = _count(db, LedgerEntry)
    again = client.post("/v1/orders", json=order, headers={**buyer, "Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert _count(db, Order) == 1 and _count(db, LedgerEntry) == entries
    assert db.get(Product, pid).stock == 8  # type: ignore[union-attr]

    # The same key for another order is refused, naming the header and the first order.
    changed = client.post(
        "/v1/orders", json={**order, "quantity": 3}, headers={**buyer, "Idempotency-Key": "k-1"}
    )
    assert changed.status_code == 409 and changed.json()["error"] == "IdempotencyKeyReused"
    assert "Idempotency-Key" in str(changed.json()["detail"])
    # Keys are per buyer; no key means a new order every time.
    theirs = client.post("/v1/orders", json=order, headers={**other, "Idempotency-Key": "k-1"})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    client.post("/v1/orders", json=order, headers=buyer)
    client.post("/v1/orders", json=order, headers=buyer)
    assert _count(db, Order) == 4
    long = client.post("/v1/orders", json=order, headers={**buyer, "Idempotency-Key": "x" * 101})
    assert long.status_code == 422


def test_a_retry_is_answered_even_after_the_stock_ran_out(client: TestClient, db: Session) -> None:
    sid, pid, buyer, _ = _world(db, stock=1)
    order = {"session_id": sid, "product_id": pid}
    first = client.post("/v1/orders", json=order, headers={**buyer, "Idempotency-Key": "last"})
    assert first.status_code == 201
    again = client.post("/v1/orders", json=order, headers={**buyer, "Idempotency-Key": "last"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_concurrent_requests_with_one_key_place_one_order(
    engine: Engine, settings: Settings
) -> None:
    with session_factory(engine)() as db:
        sid, pid, buyer, _ = _world(db, stock=100)
    app = create_app(settings, engine)
    results: list[tuple[int, int]] = []

    def place() -> None:
        with TestClient(app) as client:
            response = client.post(
                "/v1/orders",
                json={"session_id": sid, "product_id": pid},
                headers={**buyer, "Idempotency-Key": "race"},
            )
            results.append((response.status_code, response.json()["id"]))

    threads = [threading.Thread(target=place) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [201] * 6
    assert len({order_id for _, order_id in results}) == 1
    with session_factory(engine)() as db:
        assert _count(db, Order) == 1
        assert db.get(Product, pid).stock == 99  # type: ignore[union-attr]
