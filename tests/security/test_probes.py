"""Hostile input through the API: SQL-injection strings, path traversal and oversized values in
the pool search and in every free-text query parameter the OpenAPI document lists. Each is a
4xx or a normal answer, never a 5xx, and nothing in the database changes."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import builders as b
from tests.security.conftest import MISSING, World
from zhibo.kit.db import session_factory
from zhibo.models import Brand, Product, Role

SQL_INJECTION = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE products; --",
    "x' UNION SELECT token_hash, role FROM api_tokens --",
    "%' AND 1=0 UNION SELECT NULL --",
    "1) OR (1=1",
    "\\'; SELECT pg_sleep(5); --",
]
#: Query syntax of the search engine (tantivy) and of LIKE patterns, passed through literally.
ENGINE_SYNTAX = ["*:*", "title:* OR *", "%", "_", "[* TO *]", "a AND NOT b", '"unclosed', "(((("]
TRAVERSAL = ["../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd", "....//....//etc"]
ODD = ["", " ", "\u202eevil", "😀" * 50, "\x01\x1f", "=cmd|' /C calc'!A0"]
PROBES = SQL_INJECTION + ENGINE_SYNTAX + TRAVERSAL + ODD
LONG = "长" * 1_500  # 13.5 kB in the URL, past the search's 200 characters


def _counts(world: World) -> tuple[int, int]:
    with session_factory(world.engine)() as db:
        return (
            db.scalar(select(func.count()).select_from(Product)) or 0,
            db.scalar(select(func.count()).select_from(Brand)) or 0,
        )


def _assert_clean(response: Any, probe: str) -> None:
    assert response.status_code < 500, (probe, response.status_code, response.text[:300])
    if response.status_code >= 400 and response.headers["content-type"].startswith("application"):
        body = response.json()
        assert set(body) == {"error", "detail"}, body
    assert "root:x:0:0" not in response.text
    # A token's stored hash (64 hex digits) never comes back, whatever the probe asked for.
    assert not re.search(r"\b[0-9a-f]{64}\b", response.text), probe


def test_pool_search_takes_hostile_queries_and_filters_as_text(world: World) -> None:
    streamer = world.headers("streamer")
    before = _counts(world)
    baseline = world.client.get("/v1/pool/search", params={"q": "zzzz"}, headers=streamer)
    assert baseline.status_code == 200
    for probe in PROBES:
        for name in ("q", "category", "brand", "sort", "cursor"):
            response = world.client.get("/v1/pool/search", params={name: probe}, headers=streamer)
            _assert_clean(response, f"{name}={probe!r}")
            if name == "q" and response.status_code == 200 and probe in SQL_INJECTION:
                # The words are searched for, not run: no product title has them.
                assert response.json()["items"] == [], probe
    assert _counts(world) == before


def test_an_oversized_search_is_refused_quickly(world: World) -> None:
    started = time.perf_counter()
    response = world.client.get(
        "/v1/pool/search", params={"q": LONG}, headers=world.headers("streamer")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("q:")
    words = " ".join(f"w{i}" for i in range(2_000))
    response = world.client.get(
        "/v1/pool/search", params={"q": words}, headers=world.headers("streamer")
    )
    assert response.status_code == 422
    assert time.perf_counter() - started < 5


def _free_text_parameters(world: World) -> list[tuple[str, str]]:
    """(path, name) of every string query parameter of a GET operation."""
    spec = world.app.openapi()
    found = []
    for path, operations in spec["paths"].items():
        operation = operations.get("get")
        if operation is None or path.endswith("/stream"):
            continue
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if parameter["in"] == "query" and "string" in types and "enum" not in schema:
                found.append((path, parameter["name"]))
    return found


def test_every_free_text_query_parameter_takes_hostile_values(world: World) -> None:
    parameters = _free_text_parameters(world)
    assert len(parameters) >= 10, parameters  # the probe reaches the API's text parameters
    ids = world.own["operator"]
    before = _counts(world)
    for path, name in parameters:
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), MISSING)), path)
        for probe in [*SQL_INJECTION[:4], *TRAVERSAL[:2], "\x01", "長" * 1000]:
            response = world.client.get(
                url, params={name: probe}, headers=world.headers("operator")
            )
            _assert_clean(response, f"{path}?{name}={probe[:20]!r}")
    assert _counts(world) == before


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/../../../../etc/passwd",
        "/console/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/console/static/..%2f..%2f..%2fetc%2fpasswd",
        "/console/static//etc/passwd",
        "/console/static/%2fetc%2fpasswd",
    ],
)
def test_static_files_do_not_leave_their_folder(world: World, path: str) -> None:
    response = world.client.get(path)
    assert response.status_code in (400, 404), (path, response.status_code)
    assert "root:" not in response.text


def test_a_path_like_product_id_is_only_an_id(world: World, tmp_path: Any) -> None:
    ids = world.own["brand"]
    for product_id in ("../../etc/passwd", "/tmp/zhibo-probe", "..%2F..%2Fx"):
        response = world.client.put(
            f"/v1/brands/{ids['brand_id']}/products/{product_id}",
            json={
                "category": ids["category_path"],
                "title": "probe",
                "price_fen": 100,
                "commission_rate_bp": 100,
                "stock": 1,
            },
            headers=world.headers("brand"),
        )
        _assert_clean(response, product_id)
    from pathlib import Path

    assert not Path("/tmp/zhibo-probe").exists()


@pytest.mark.parametrize(
    "path", ["/v1/sessions/99999999999999999999999", "/v1/orders/-99999999999999999999999"]
)
def test_ids_past_the_databases_range_are_422_not_500(world: World, path: str) -> None:
    response = world.client.get(path, headers=world.headers("operator"))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "InvalidInput"
    assert "99999" not in response.text


def test_oversized_text_fields_are_refused_naming_the_field(world: World) -> None:
    response = world.client.post(
        "/v1/risk/check-text", json={"text": "a" * 20_001}, headers=world.headers("viewer")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body.text"


def test_nul_bytes_in_text_are_refused_or_kept_never_500(client: TestClient, db: Session) -> None:
    """On both databases (PostgreSQL text cannot hold NUL)."""
    operator = b.token(db, Role.OPERATOR)
    b.category(db, name="nul")
    brand = b.brand(db)
    db.commit()
    response = client.get("/v1/pool/search", params={"q": "a\x00b"}, headers=operator)
    assert response.status_code < 500, response.text
    response = client.get("/v1/brands", params={"cursor": "\x00"}, headers=operator)
    assert response.status_code < 500, response.text
    response = client.post(
        "/v1/products",
        json={
            "brand_id": brand.id,
            "category_id": 1,
            "external_id": "nul\x00id",
            "title": "nul\x00title",
            "price_fen": 100,
            "commission_rate_bp": 100,
        },
        headers=operator,
    )
    assert response.status_code < 500, response.text
    response = client.post("/v1/risk/check-text", json={"text": "加微信\x00abc"}, headers=operator)
    assert response.status_code == 200, response.text
