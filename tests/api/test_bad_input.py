"""Bad input gets a 4xx naming the field and the reason, and nothing is written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.models import Product, Role


@pytest.fixture
def operator(db: Session) -> dict[str, str]:
    headers = b.token(db, Role.OPERATOR)
    db.commit()
    return headers


@pytest.fixture
def ids(db: Session) -> dict[str, int]:
    brand = b.brand(db)
    category = b.category(db)
    db.commit()
    return {"brand_id": brand.id, "category_id": category.id}


def product_body(ids: dict[str, int], **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        **ids,
        "external_id": "SKU-1",
        "title": "蓝牙耳机 Wireless Earbuds",
        "price_fen": 19900,
        "reference_price_fen": 25900,
        "commission_rate_bp": 1500,
        "stock": 10,
    }
    body.update(overrides)
    return body


def product_count(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Product)) or 0


def test_valid_product_is_created_with_price_history(
    client: TestClient, db: Session, operator: dict[str, str], ids: dict[str, int]
) -> None:
    response = client.post("/v1/products", json=product_body(ids), headers=operator)
    assert response.status_code == 201, response.text
    product_id = response.json()["id"]
    update = client.patch(f"/v1/products/{product_id}", json={"price_fen": 17900}, headers=operator)
    assert update.status_code == 200
    history = client.get(f"/v1/products/{product_id}/price-history", headers=operator).json()
    assert [row["price_fen"] for row in history] == [19900, 17900]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"price_fen": -1}, "price_fen"),
        ({"price_fen": 199.5}, "price_fen"),
        ({"price_fen": "199"}, "price_fen"),
        ({"commission_rate_bp": 10001}, "commission_rate_bp"),
        ({"commission_rate_bp": -5}, "commission_rate_bp"),
        ({"stock": -3}, "stock"),
        ({"title": ""}, "title"),
        ({"currency": "yuan"}, "currency"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_named(
    client: TestClient,
    db: Session,
    operator: dict[str, str],
    ids: dict[str, int],
    overrides: dict[str, object],
    field: str,
) -> None:
    response = client.post("/v1/products", json=product_body(ids, **overrides), headers=operator)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "InvalidInput"
    assert any(item["field"].endswith(field) for item in body["detail"]), body
    assert product_count(db) == 0


def test_unknown_category_and_brand_are_named(
    client: TestClient, db: Session, operator: dict[str, str], ids: dict[str, int]
) -> None:
    response = client.post(
        "/v1/products", json=product_body(ids, category_id=999_999), headers=operator
    )
    assert response.status_code == 422
    assert response.json()["error"] == "UnknownCategory"
    assert "category_id" in response.json()["detail"]
    response = client.post(
        "/v1/products", json=product_body(ids, brand_id=999_999), headers=operator
    )
    assert response.json()["error"] == "UnknownBrand"
    assert product_count(db) == 0


def test_duplicate_external_id_conflicts(
    client: TestClient, db: Session, operator: dict[str, str], ids: dict[str, int]
) -> None:
    assert client.post("/v1/products", json=product_body(ids), headers=operator).status_code == 201
    again = client.post("/v1/products", json=product_body(ids), headers=operator)
    assert again.status_code == 409
    assert again.json()["error"] == "DuplicateProduct"
    assert product_count(db) == 1


def test_invalid_enum_is_named(client: TestClient, operator: dict[str, str]) -> None:
    response = client.post("/v1/partners", json={"name": "X", "kind": "cartel"}, headers=operator)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body.kind"
    listing = client.get("/v1/sessions?status=exploded", headers=operator)
    assert listing.status_code == 422
    assert listing.json()["detail"][0]["field"] == "query.status"


def test_oversized_body_is_413_and_writes_nothing(
    client: TestClient, db: Session, operator: dict[str, str], ids: dict[str, int]
) -> None:
    body = product_body(ids, description="长" * 70_000)
    response = client.post("/v1/products", json=body, headers=operator)
    assert response.status_code == 413
    assert response.json()["error"] == "RequestTooLarge"
    assert product_count(db) == 0


def test_malformed_json_and_bad_cursor_are_4xx(
    client: TestClient, operator: dict[str, str]
) -> None:
    response = client.post(
        "/v1/brands", content=b"{not json", headers={**operator, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    response = client.get("/v1/products?cursor=garbage!!", headers=operator)
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidCursor"


def test_invalid_identity_number_is_refused_without_echoing_it(
    client: TestClient, operator: dict[str, str]
) -> None:
    number = "110101199003071234"  # wrong checksum
    response = client.post(
        "/v1/streamers", json={"display_name": "x", "id_number": number}, headers=operator
    )
    assert response.status_code == 422
    assert number not in response.text
    assert response.json()["detail"][0]["field"] == "body.id_number"


def test_streamer_personal_data_is_masked(client: TestClient, operator: dict[str, str]) -> None:
    from stdnum.cn import ric

    base = "11010519491231002"
    number = base + ric.calc_check_digit(base + "0")
    response = client.post(
        "/v1/streamers",
        json={
            "display_name": "小美",
            "real_name": "王小美",
            "id_number": number,
            "phone": "13812345678",
        },
        headers=operator,
    )
    assert response.status_code == 201, response.text
    text = response.text
    assert number not in text and "13812345678" not in text and "王小美" not in text
    body = response.json()
    assert body["id_number_masked"] == "1101**********" + number[-4:]
    assert body["phone_masked"] == "138****5678"
    assert body["birth_date"] == "1949-12-31"


def test_brand_credit_code_is_checksum_validated(
    client: TestClient, operator: dict[str, str]
) -> None:
    bad = client.post(
        "/v1/brands",
        json={"name": "假品牌", "social_credit_code": "91110000600037341X"},
        headers=operator,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "body.social_credit_code"
    good = client.post(
        "/v1/brands",
        json={"name": "真品牌", "social_credit_code": "91110000600037341L"},
        headers=operator,
    )
    assert good.status_code == 201, good.text
