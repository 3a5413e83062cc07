"""``GET /v1/pool/search`` end to end: hits from the index, data from the database, the caller's
scope, the one error model, and changes searchable within two seconds."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.models import BrandStatus, ProductStatus, Role
from zhibo.models.category import RiskClass

FRESHNESS_SECONDS = 2.0


@pytest.fixture
def pool(db: Session) -> dict[str, Any]:
    beauty = b.category(db, name="beauty", risk_class=RiskClass.MEDIUM)
    skincare = b.category(db, name="skincare", parent=beauty, risk_class=RiskClass.MEDIUM)
    pets = b.category(db, name="pets", risk_class=RiskClass.LOW)
    bags = b.category(db, name="bags", risk_class=RiskClass.LOW)
    health = b.category(db, name="health", risk_class=RiskClass.RESTRICTED)
    acme = b.brand(db, name="Acme")
    miao = b.brand(db, name="喵星")
    banned = b.brand(db, name="Banned", status=BrandStatus.BLACKLISTED)
    rows = {
        "cream": b.product(
            db,
            brand_row=acme,
            category_row=skincare,
            title="Acme 保湿面霜 Moisturiser 50ml",
            price_fen=9_900,
            commission_rate_bp=2_000,
            external_id="ACME-CREAM",
        ),
        "cream2": b.product(
            db,
            brand_row=acme,
            category_row=skincare,
            title="修护面霜 Repair Cream",
            price_fen=19_900,
            commission_rate_bp=3_500,
            sales_30d=40,
        ),
        "catfood": b.product(
            db,
            brand_row=miao,
            category_row=pets,
            title="猫罐头 成猫 Cat Food 12罐",
            price_fen=5_900,
            commission_rate_bp=1_500,
            sales_30d=900,
        ),
        "tote": b.product(
            db, brand_row=acme, category_row=bags, title="Tote Bag 帆布包", price_fen=4_900
        ),
        "fishoil": b.product(
            db, brand_row=miao, category_row=health, title="深海鱼油 Fish Oil", price_fen=12_900
        ),
        "delisted": b.product(
            db,
            brand_row=acme,
            category_row=skincare,
            title="面霜 旧款",
            status=ProductStatus.DELISTED,
        ),
        "banned": b.product(db, brand_row=banned, category_row=skincare, title="面霜 仿冒"),
    }
    headers = b.token(db, Role.OPERATOR)
    db.commit()
    return {
        "headers": headers,
        "ids": {k: v.id for k, v in rows.items()},
        "acme": acme.id,
        "skincare": skincare.id,
        "beauty": beauty.id,
    }


def search(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    response = client.get("/v1/pool/search", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: Any) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_hits_filters_sorts_pages_and_facets(client: TestClient, pool: dict[str, Any]) -> None:
    page = search(client, pool["headers"], q="保湿 面霜")
    assert ids(page) == [pool["ids"]["cream"]]
    [hit] = page["items"]
    assert hit["product_id"] == "ACME-CREAM"
    assert hit["brand"] == {"id": pool["acme"], "name": "Acme"}
    assert hit["category"] == {"id": pool["skincare"], "path": "beauty/skincare"}
    assert (hit["price_fen"], hit["commission_rate_bp"], hit["currency"]) == (9_900, 2_000, "CNY")
    assert {"title", "description", "reference_price_fen", "stock", "sales_30d"} <= hit.keys()
    assert page["total"] == 1 and page["total_exact"]
    # Delisted products and blacklisted brands are not in the pool.
    found = ids(search(client, pool["headers"], q="面霜", limit=100))
    assert sorted(found) == sorted([pool["ids"]["cream"], pool["ids"]["cream2"]])

    headers, named = pool["headers"], pool["ids"]
    assert ids(search(client, headers, q="Tote Bag")) == [named["tote"]]
    assert ids(search(client, headers, q="Acme 猫罐头")) == []
    by_path = search(client, headers, category="beauty", sort="commission")
    assert ids(by_path) == [named["cream2"], named["cream"]]
    assert ids(search(client, headers, category=str(pool["beauty"]), sort="price")) == [
        named["cream"],
        named["cream2"],
    ]
    assert set(ids(search(client, headers, brand="喵星"))) == {named["catfood"], named["fishoil"]}
    assert ids(
        search(client, headers, min_price_fen=5_000, max_price_fen=10_000, sort="price")
    ) == [
        named["catfood"],
        named["cream"],
    ]
    assert ids(search(client, headers, min_commission_bp=3_000)) == [named["cream2"]]
    everything = ids(search(client, headers, sort="sales", limit=100))
    pages: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "sales", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = search(client, headers, **params)
        pages += ids(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == everything and len(everything) == 5
    faceted = search(client, headers, facets="true")
    assert {f["category"]["path"]: f["count"] for f in faceted["facets"]} == {
        "beauty": 2,
        "pets": 1,
        "bags": 1,
        "health": 1,
    }


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"category": "no/such"}, "category"),
    ({"category": "999999"}, "category"),
    ({"category": "9" * 30}, "category"),
    ({"brand": "123456789012345678901234567890"}, "brand"),
    ({"max_price_fen": 10**30}, "max_price_fen"),
    ({"brand": "Nobody"}, "brand"),
    ({"min_price_fen": 500, "max_price_fen": 100}, "min_price_fen"),
    ({"min_price_fen": -1}, "min_price_fen"),
    ({"min_commission_bp": 10_001}, "min_commission_bp"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"sort": "newest"}, "sort"),
    ({"cursor": "eyJhZnRlciI6IDF9"}, "cursor"),
    ({"q": "((("}, "q"),
    ({"q": "AND OR"}, "q"),
    ({"q": "面霜\x07"}, "q"),
    ({"q": "面霜" * 150}, "q"),
]


def test_bad_input_is_a_named_4xx(client: TestClient, pool: dict[str, Any]) -> None:
    for params, field in BAD_INPUT:
        response = client.get("/v1/pool/search", params=params, headers=pool["headers"])
        assert response.status_code == 422, (params, response.text)
        body = response.json()
        assert set(body) == {"error", "detail"}
        assert isinstance(body["detail"], str), body
        assert body["detail"].startswith(f"{field}: "), (params, body)


def test_each_caller_searches_its_scope(
    client: TestClient, db: Session, pool: dict[str, Any]
) -> None:
    viewer = b.token(db, Role.VIEWER, b.viewer(db).id)
    db.commit()
    assert client.get("/v1/pool/search", headers=viewer).status_code == 403
    assert client.get("/v1/pool/search").status_code == 401

    # A streamer sees what its level may sell (zhibo.catalog.policy), unless it asks for all.
    named = pool["ids"]
    junior = b.token(db, Role.STREAMER, b.streamer(db, level=1).id)
    senior = b.token(db, Role.STREAMER, b.streamer(db, level=5).id)
    db.commit()
    low_risk = {named["catfood"], named["tote"]}
    assert set(ids(search(client, junior, limit=100))) == low_risk
    assert set(ids(search(client, junior, limit=100, sellable_only="false"))) == set(
        ids(search(client, senior, limit=100))
    )
    assert named["fishoil"] in ids(search(client, senior, q="Fish Oil"))
    assert ids(search(client, junior, q="Fish Oil")) == []

    # A brand searches its own products.
    headers = b.token(db, Role.BRAND, pool["acme"])
    db.commit()
    found = ids(search(client, headers, limit=100))
    assert sorted(found) == sorted(
        [pool["ids"]["cream"], pool["ids"]["cream2"], pool["ids"]["tote"]]
    )
    other = client.get("/v1/pool/search", params={"brand": "喵星"}, headers=headers)
    assert other.status_code == 403


def _until(check: Any, seconds: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not searchable in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_changes_are_searchable_within_two_seconds(
    client: TestClient, pool: dict[str, Any]
) -> None:
    headers, cream = pool["headers"], pool["ids"]["cream"]
    search(client, headers, q="面霜")  # the index exists and is followed from here on
    patch = client.patch(f"/v1/products/{cream}", json={"price_fen": 777}, headers=headers)
    assert patch.status_code == 200, patch.text
    _until(lambda: cream in ids(search(client, headers, max_price_fen=800)), FRESHNESS_SECONDS)

    client.patch(f"/v1/products/{cream}", json={"commission_rate_bp": 9_000}, headers=headers)
    _until(
        lambda: ids(search(client, headers, min_commission_bp=8_000)) == [cream],
        FRESHNESS_SECONDS,
    )
    client.patch(f"/v1/products/{cream}", json={"stock": 0}, headers=headers)
    _until(
        lambda: cream not in ids(search(client, headers, q="面霜", in_stock="true")),
        FRESHNESS_SECONDS,
    )
    client.patch(f"/v1/products/{cream}", json={"status": "delisted"}, headers=headers)
    _until(lambda: cream not in ids(search(client, headers, q="面霜")), FRESHNESS_SECONDS)
