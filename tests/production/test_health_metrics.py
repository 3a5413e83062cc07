"""Liveness, readiness and Prometheus metrics: ``/readyz`` is 200 only when the database answers
at the head revision and NATS (when configured) answers, else 503 naming what failed; the NATS
answer is cached; ``/metrics`` counts requests by route template, observes latency, counts the
domain's events, orders, ledger entries and searches, is guarded by a token or loopback, and
sums several processes in multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.kit.db import make_engine
from zhibo.models import Role
from zhibo.models.session import SessionStatus
from zhibo.system import readiness


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_healthz_stays_and_readyz_is_ready_on_a_current_schema(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["schema_current"] is True
    ready = client.get("/readyz")  # no token: load balancers call it
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "database_read": "skipped", "nats": "skipped"},
        "failed": [],
    }


@pytest.mark.postgres
def test_readyz_is_503_when_the_schema_is_behind_on_postgresql(
    pg_database: str, tmp_path: Path
) -> None:
    engine = make_engine(pg_database)
    settings = Settings(database_url=pg_database, data_dir=tmp_path / "data")
    try:
        with TestClient(create_app(settings, engine)) as client:
            assert client.get("/readyz").status_code == 200
            with engine.begin() as connection:
                head = connection.scalar(text("SELECT version_num FROM alembic_version"))
                connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            try:
                behind = client.get("/readyz")
            finally:
                with engine.begin() as connection:
                    connection.execute(
                        text("UPDATE alembic_version SET version_num = :v"), {"v": head}
                    )
            assert behind.status_code == 503
            assert behind.json()["failed"] == ["schema"]
            assert behind.json()["checks"]["schema"] == f"at 0001, head is {head}"
    finally:
        engine.dispose()


def test_readyz_is_503_naming_an_unreachable_database(tmp_path: Path) -> None:
    url = "postgresql+psycopg://zhibo:s3cret-pw@127.0.0.1:1/zhibo"  # nothing listens on port 1
    settings = Settings(database_url=url, data_dir=tmp_path / "data")
    engine = make_engine(url)
    with TestClient(create_app(settings, engine)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database", "schema"]
    assert body["checks"]["database"] == "unreachable (OperationalError)"
    assert "s3cret-pw" not in response.text


def test_readyz_asks_nats_and_names_it_when_it_is_down(
    engine: Engine, tmp_path: Path, nats_url: str
) -> None:
    readiness.forget_nats_answers()
    from tests.production.conftest import free_port

    up = Settings(database_url=str(engine.url), data_dir=tmp_path / "d", bus_url=nats_url)
    with TestClient(create_app(up, engine)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["nats"] == "ok"
    down_url = f"nats://127.0.0.1:{free_port()}"
    down = up.model_copy(update={"bus_url": down_url})
    with TestClient(create_app(down, engine)) as client:
        refused = client.get("/readyz")
    assert refused.status_code == 503
    assert refused.json()["failed"] == ["nats"]
    assert refused.json()["checks"]["nats"].startswith("unreachable (")
    readiness.forget_nats_answers()


def test_the_nats_answer_is_cached_a_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    readiness.forget_nats_answers()
    asked: list[str] = []

    async def ask(url: str) -> str:
        asked.append(url)
        return "ok"

    monkeypatch.setattr(readiness, "_ask_nats", ask)
    url = "nats://cache-test:4222"

    async def probes() -> None:
        assert await readiness.check_nats(url) == "ok"
        assert await readiness.check_nats(url) == "ok"
        later = readiness._nats_answers[url].at + readiness.NATS_CACHE_SECONDS + 0.1
        assert await readiness.check_nats(url, now=later) == "ok"

    asyncio.run(probes())
    assert asked == [url, url]  # the second probe was answered from the cache
    readiness.forget_nats_answers()


def _metric_lines(client: TestClient, **headers: str) -> list[str]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text.splitlines()


def test_requests_are_counted_by_route_template_never_the_raw_path(loopback: TestClient) -> None:
    for room in (98765, 98766):
        assert loopback.get(f"/v1/rooms/{room}/metrics").status_code == 401
    assert loopback.get("/no/such/path/55555").status_code == 404
    lines = _metric_lines(loopback)
    route = 'route="/v1/rooms/{room_id}/metrics"'
    counted = [line for line in lines if line.startswith("zhibo_http_requests_total{")]
    assert any(route in line and 'status="401"' in line for line in counted)
    assert any('route="<unmatched>"' in line and 'status="404"' in line for line in counted)
    assert not any(number in "\n".join(lines) for number in ("98765", "98766", "55555"))
    assert (
        sample(
            "zhibo_http_requests_total",
            method="GET",
            route="/v1/rooms/{room_id}/metrics",
            status="401",
        )
        >= 2
    )
    buckets = [
        line
        for line in lines
        if line.startswith("zhibo_http_request_duration_seconds_bucket{") and route in line
    ]
    assert buckets and any('le="+Inf"' in line for line in buckets)


def test_metrics_need_the_token_when_one_is_set(engine: Engine, settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("m-token-123")})
    app = create_app(guarded, engine)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        assert client.get("/metrics").status_code == 401  # even from loopback
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "Unauthenticated"
        assert _metric_lines(client, Authorization="Bearer m-token-123")
    with TestClient(create_app(settings, engine)) as remote:  # client host "testclient"
        refused = remote.get("/metrics")
        assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"
    assert "/metrics" not in create_app(settings, engine).openapi()["paths"]


def test_domain_counters_follow_orders_ledger_events_and_searches(
    loopback: TestClient, db: Session
) -> None:
    live = b.live_session(db, status=SessionStatus.LIVE)
    product = b.product(db, price_fen=12_900)
    b.shelf_item(db, session_row=live, product_row=product)
    viewer = b.token(db, Role.VIEWER, b.viewer(db).id)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    before: dict[str, float] = {
        name: sample(name)
        for name in (
            "zhibo_orders_placed_total",
            "zhibo_ledger_entries_posted_total",
            "zhibo_events_accepted_total",
            "zhibo_pool_search_queries_total",
        )
    }
    order = loopback.post(
        "/v1/orders", json={"session_id": live.id, "product_id": product.id}, headers=viewer
    )
    assert order.status_code == 201, order.text
    events: list[dict[str, Any]] = [
        {
            "event_id": f"m{n}",
            "session_id": 9501,
            "room_id": 9077,
            "user_id": 1000 + n,
            "type": "enter",
            "ts": 1_793_500_000_000 + n,
        }
        for n in range(5)
    ]
    ingested = loopback.post("/v1/events", json=events + events[:2], headers=operator)
    assert ingested.status_code == 200 and ingested.json()["accepted"] == 5, ingested.text
    search = loopback.get("/v1/pool/search", params={"q": "x"}, headers=operator)
    assert search.status_code == 200, search.text
    assert sample("zhibo_orders_placed_total") - before["zhibo_orders_placed_total"] == 1
    assert sample("zhibo_ledger_entries_posted_total") > before["zhibo_ledger_entries_posted_total"]
    assert sample("zhibo_events_accepted_total") - before["zhibo_events_accepted_total"] == 5
    assert (
        sample("zhibo_pool_search_queries_total") - before["zhibo_pool_search_queries_total"] == 1
    )
    exposed = "\n".join(_metric_lines(loopback))
    for name in before:
        assert f"\n{name} " in exposed


INCREMENT = """
import sys
from zhibo.kit import metrics
metrics.ORDERS_PLACED.inc(int(sys.argv[1]))
metrics.HTTP_REQUESTS.labels("GET", "/v1/x", "200").inc()
"""


def test_multiprocess_mode_sums_every_process(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    for count in ("2", "3"):
        subprocess.run([sys.executable, "-c", INCREMENT, count], env=env, check=True, timeout=60)
    exposed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from zhibo.kit.metrics import exposition; print(exposition()[0].decode())",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "zhibo_orders_placed_total 5.0" in exposed
    assert 'zhibo_http_requests_total{method="GET",route="/v1/x",status="200"} 2.0' in exposed
    assert list(shared.glob("counter_*.db"))
