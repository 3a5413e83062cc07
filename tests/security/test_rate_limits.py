"""Per-token rate limits on event ingestion and pool search: memory counters in one process,
Redis counters shared by several (docs/security.md)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from tests import builders as b
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.kit.db import session_factory
from zhibo.models import Role

REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
def tokens(sqlite_engine: Engine) -> dict[str, dict[str, str]]:
    db = session_factory(sqlite_engine)()
    streamer = b.streamer(db)
    headers = {
        "operator": b.token(db, Role.OPERATOR),
        "other_operator": b.token(db, Role.OPERATOR),
        "streamer": b.token(db, Role.STREAMER, streamer.id),
        "viewer": b.token(db, Role.VIEWER, b.viewer(db).id),
    }
    db.commit()
    db.close()
    return headers


@pytest.fixture
def make_client(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(
            database_url=str(sqlite_engine.url),
            data_dir=tmp_path / "data",
            **overrides,
        )
        client = TestClient(create_app(settings, sqlite_engine))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _search(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/v1/pool/search", params={"q": "面霜"}, headers=headers)


def _ingest(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post("/v1/events", json=[], headers=headers)


def _assert_limited(response: Any, scope: str) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "RateLimited"
    assert body["detail"]["scope"] == scope
    assert body["detail"]["field"] == "Authorization"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["detail"]["retry_after_seconds"] == retry_after


def test_search_is_limited_per_token_in_memory(
    make_client: Callable[..., TestClient], tokens: dict[str, dict[str, str]]
) -> None:
    client = make_client(rate_limit_search="3/minute")
    for _ in range(3):
        assert _search(client, tokens["streamer"]).status_code == 200
    _assert_limited(_search(client, tokens["streamer"]), "search")
    # Another token has its own allowance.
    assert _search(client, tokens["operator"]).status_code == 200
    # A role that may not search is refused before it counts (and is never 429).
    for _ in range(5):
        assert _search(client, tokens["viewer"]).status_code == 403


def test_ingestion_is_limited_per_token(
    make_client: Callable[..., TestClient], tokens: dict[str, dict[str, str]]
) -> None:
    client = make_client(rate_limit_ingest="2/minute")
    assert _ingest(client, tokens["operator"]).status_code == 200
    assert _ingest(client, tokens["operator"]).status_code == 200
    _assert_limited(_ingest(client, tokens["operator"]), "ingest")
    assert _ingest(client, tokens["other_operator"]).status_code == 200
    # Search has its own limit, untouched by ingestion.
    assert _search(client, tokens["operator"]).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [{"rate_limit_search": "0"}, {"rate_limit_search": ""}, {"rate_limit_enabled": False}],
)
def test_zero_empty_or_disabled_means_unlimited(
    make_client: Callable[..., TestClient],
    tokens: dict[str, dict[str, str]],
    overrides: dict[str, Any],
) -> None:
    client = make_client(**{"rate_limit_ingest": "1/minute", **overrides})
    for _ in range(8):
        assert _search(client, tokens["streamer"]).status_code == 200
    if overrides.get("rate_limit_enabled") is False:
        for _ in range(3):
            assert _ingest(client, tokens["operator"]).status_code == 200


def test_a_bad_rate_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="rate_limit_search"):
        Settings(rate_limit_search="lots per hour")


def test_429_is_documented_on_the_limited_operations(
    make_client: Callable[..., TestClient],
) -> None:
    spec = make_client().get("/openapi.json").json()
    for path, method in (("/v1/pool/search", "get"), ("/v1/events", "post")):
        response = spec["paths"][path][method]["responses"]["429"]
        assert "Retry-After" in response["headers"]
    assert "429" not in spec["paths"]["/v1/products"]["get"]["responses"]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    if not _redis_up():
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    import redis

    prefix = f"zhibo-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    keys = list(connection.scan_iter(match=f"{prefix}*"))
    if keys:
        connection.delete(*keys)
    assert not list(connection.scan_iter(match=f"{prefix}*"))
    connection.close()


def test_redis_counters_are_shared_by_api_processes(
    make_client: Callable[..., TestClient],
    tokens: dict[str, dict[str, str]],
    redis_prefix: str,
) -> None:
    import redis

    shared = {
        "rate_limit_storage": REDIS_URL,
        "rate_limit_prefix": redis_prefix,
        "rate_limit_search": "3/minute",
        "rate_limit_ingest": "2/minute",
    }
    first, second = make_client(**shared), make_client(**shared)
    assert _search(first, tokens["streamer"]).status_code == 200
    assert _search(second, tokens["streamer"]).status_code == 200
    assert _search(first, tokens["streamer"]).status_code == 200
    _assert_limited(_search(second, tokens["streamer"]), "search")
    assert _ingest(second, tokens["operator"]).status_code == 200
    assert _ingest(first, tokens["operator"]).status_code == 200
    _assert_limited(_ingest(second, tokens["operator"]), "ingest")
    connection = redis.Redis.from_url(REDIS_URL)
    assert list(connection.scan_iter(match=f"{redis_prefix}*")), "the counters are in Redis"
    connection.close()


def test_an_unreachable_store_lets_requests_through(
    make_client: Callable[..., TestClient],
    tokens: dict[str, dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(rate_limit_storage="redis://127.0.0.1:1", rate_limit_search="1/minute")
    for _ in range(3):
        assert _search(client, tokens["streamer"]).status_code == 200
    assert "rate limit store unavailable" in caplog.text
