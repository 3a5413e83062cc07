"""Publishing over HTTP: ``POST /v1/products/batch`` and
``PUT /v1/brands/{brand_id}/products/{product_id}``, as an operator and as a brand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.models import Brand, Category, Product, ProductPriceHistory, Role, SearchOutbox


@dataclass
class World:
    acme: int
    other: int
    operator: dict[str, str]
    acme_token: dict[str, str]


@pytest.fixture
def world(db: Session) -> World:
    acme, other = b.brand(db, name="Acme"), b.brand(db, name="Other")
    beauty = b.category(db, name="beauty")
    b.category(db, name="skincare", parent=beauty)
    world = World(acme.id, other.id, b.token(db, Role.OPERATOR), b.token(db, Role.BRAND, acme.id))
    db.commit()
    return world


def item(product_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "brand": "Acme",
        "category": "beauty/skincare",
        "title": f"Cream {product_id}",
        "description": "",
        "price_fen": 9900,
        "reference_price_fen": None,
        "commission_rate_bp": 2000,
        "stock": 10,
    } | changes


def count(db: Session, model: Any) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_operator_batch_lands_good_rows_and_names_bad_ones(
    client: TestClient, db: Session, world: World
) -> None:
    items = [
        item("A1"),
        item("A2", price_fen=-1, title=""),
        item("A3", price_fen=12.5),
        item("A4", brand=world.other),  # by id
        item("A5", colour="red"),
        item("A1"),
    ]
    response = client.post("/v1/products/batch", json={"items": items}, headers=world.operator)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "imported": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 4,
        "rejects": [
            {"row": 2, "field": "title", "reason": "required"},
            {"row": 2, "field": "price_fen", "reason": "must be >= 0"},
            {"row": 3, "field": "price_fen", "reason": "must be an integer number of fen"},
            {"row": 5, "field": "colour", "reason": "unknown field"},
            {
                "row": 6,
                "field": "product_id",
                "reason": "duplicate of row 1 (same brand and product_id); the first is kept",
            },
        ],
    }
    owners = {row[0]: row[1] for row in db.execute(select(Product.external_id, Product.brand_id))}
    assert owners == {"A1": world.acme, "A4": world.other}

    again = client.post("/v1/products/batch", json={"items": items[:1]}, headers=world.operator)
    assert again.json()["unchanged"] == 1


def test_a_brand_publishes_only_its_own_products(
    client: TestClient, db: Session, world: World
) -> None:
    items = [item("A1"), item("A2", brand=str(world.acme)), item("O1", brand="Other")]
    response = client.post("/v1/products/batch", json={"items": items}, headers=world.acme_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["imported"], body["rejected"]) == (2, 1)
    assert body["rejects"] == [
        {"row": 3, "field": "brand", "reason": "a brand may publish only its own products"}
    ]
    assert count(db, Product) == 2


BAD_BATCHES: list[tuple[dict[str, Any], int, str]] = [
    ({"items": [item("N1", brand="New")], "create_missing": True}, 403, "Forbidden"),
    ({"items": [{}] * 1_001}, 422, "InvalidInput"),  # over the 1,000 items
    ({"items": [item("X1"), "not an object"]}, 422, "InvalidInput"),
    ({"items": [item("X1")], "create_missing": "yes"}, 422, "InvalidInput"),
    ({"rows": [item("X1")]}, 422, "InvalidInput"),
]


def test_a_bad_request_writes_nothing(client: TestClient, db: Session, world: World) -> None:
    for body, status, error in BAD_BATCHES:
        headers = world.acme_token if status == 403 else world.operator
        response = client.post("/v1/products/batch", json=body, headers=headers)
        assert response.status_code == status, response.text
        assert response.json()["error"] == error
    assert (count(db, Product), count(db, Brand), count(db, Category)) == (0, 2, 2)
    assert count(db, SearchOutbox) == 0


def test_operator_may_create_missing_brands_and_categories(
    client: TestClient, db: Session, world: World
) -> None:
    items = [item("N1", brand="Newco", category="home/kitchen")]
    body = {"items": items, "create_missing": True}
    response = client.post("/v1/products/batch", json=body, headers=world.operator)
    assert response.json()["imported"] == 1, response.text
    assert db.scalar(select(Category.id).where(Category.path == "home")) is not None
    assert db.scalar(select(Brand.id).where(Brand.name == "Newco")) is not None


def put_body(**changes: Any) -> dict[str, Any]:
    body = item("x", **changes)
    for key in ("product_id", "brand"):
        body.pop(key)
    return body


def test_put_creates_then_replaces_one_product(
    client: TestClient, db: Session, world: World
) -> None:
    url = f"/v1/brands/{world.acme}/products/SKU-1"
    created = client.put(url, json=put_body(), headers=world.acme_token)
    assert created.status_code == 201, created.text
    assert created.json()["external_id"] == "SKU-1"
    assert created.json()["brand_id"] == world.acme

    same = client.put(url, json=put_body(), headers=world.acme_token)
    assert same.status_code == 200 and same.json()["id"] == created.json()["id"]
    history = count(db, ProductPriceHistory)

    repriced = client.put(url, json=put_body(price_fen=8800), headers=world.operator)
    assert repriced.status_code == 200 and repriced.json()["price_fen"] == 8800
    assert count(db, ProductPriceHistory) == history + 1

    slashed = client.put(
        f"/v1/brands/{world.acme}/products/a/b", json=put_body(), headers=world.operator
    )
    assert slashed.status_code == 201 and slashed.json()["external_id"] == "a/b"


def test_put_refuses_with_the_field_and_writes_nothing(
    client: TestClient, db: Session, world: World
) -> None:
    cases: list[tuple[int, dict[str, Any], int, str, str]] = [
        (world.other, {}, 403, "Forbidden", "brand_id: a brand may publish only its own"),
        (424242, {}, 403, "Forbidden", "brand_id: a brand may publish only its own"),
        (world.acme, {"category": "nowhere"}, 422, "UnknownCategory", "category: no category"),
        (world.acme, {"price_fen": -1}, 422, "InvalidInput", ""),
        (world.acme, {"price_fen": 99.5}, 422, "InvalidInput", ""),
        (world.acme, {"title": "t" * 501}, 422, "InvalidInput", ""),
    ]
    for brand_id, changes, status, error, detail in cases:
        url = f"/v1/brands/{brand_id}/products/SKU-1"
        response = client.put(url, json=put_body(**changes), headers=world.acme_token)
        assert response.status_code == status, response.text
        assert response.json()["error"] == error
        assert str(response.json()["detail"]).startswith(detail)
    missing = client.put(
        "/v1/brands/424242/products/SKU-1", json=put_body(), headers=world.operator
    )
    assert (missing.status_code, missing.json()["error"]) == (404, "NotFound")
    assert (count(db, Product), count(db, Category)) == (0, 2)
