"""The read replica (``ZHIBO_DATABASE_READ_URL``): leaderboards, key rooms and statement listings
read it, everything else (tokens included) the primary; unset, they read the primary. Here the
"replica" is another database with other content, so where each answer came from shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.conftest import sqlite_copy
from tests.grading.world import AS_OF, build
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.grading import service
from zhibo.grading.scoring_model import default_model
from zhibo.kit.db import get_engine, session_factory
from zhibo.models import Role

SALES = [0, 40_000, 900_000]
BOARD = {"metric": "gmv_fen", "from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def replica_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A second database: a graded platform with sales (the primary has none of it)."""
    url = sqlite_copy(sqlite_template, tmp_path, "replica.db")
    engine = get_engine(url)
    with session_factory(engine)() as db:
        build(db, SALES)
        document = default_model().document()
        document["version"] = "replica-test"
        document["key_rooms"]["min_gmv_fen_30d"] = 300_000  # the 900,000 fen room is key
        model = type(default_model()).model_validate(document)
        service.run(db, AS_OF, lake_root=tmp_path / "lake", model=model)
        db.commit()
    yield url
    engine.dispose()


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_bounded_reads_come_from_the_replica_and_the_rest_from_the_primary(
    engine: Engine, db: Session, settings: Settings, replica_url: str
) -> None:
    operator = b.token(db, Role.OPERATOR)  # tokens live in the primary only
    db.commit()
    replicated = settings.model_copy(update={"database_read_url": replica_url})
    replica = get_engine(replica_url)
    on_primary, on_replica = _statements(engine), _statements(replica)
    with TestClient(create_app(replicated, engine)) as client:
        board = client.get("/v1/leaderboards/streamers", params=BOARD, headers=operator)
        assert board.status_code == 200, board.text
        assert [e["value"] for e in board.json()["entries"]] == [900_000, 40_000]
        rooms = client.get("/v1/grading/key-rooms", headers=operator)
        assert rooms.status_code == 200 and len(rooms.json()) == 1, rooms.text
        statements = client.get(
            "/v1/settlement/statements",
            params={"payee_kind": "streamer", "payee_id": 3},
            headers=operator,
        )
        assert statements.status_code == 200, statements.text
        sessions = client.get("/v1/live-rooms", headers=operator)  # not a replica endpoint
        assert sessions.status_code == 200
        ready = client.get("/readyz").json()
        assert ready["checks"]["database_read"] == "ok"
    replica_sql = "\n".join(on_replica).lower()
    primary_sql = "\n".join(on_primary).lower()
    assert "payout_batches" in replica_sql or "statement" in replica_sql
    assert "grade_results" in replica_sql and "orders" in replica_sql
    assert "api_tokens" in primary_sql and "api_tokens" not in replica_sql
    for table in ("grade_results", "payout_batches", "from orders"):
        assert table not in primary_sql, table


def test_without_a_read_url_the_same_endpoints_read_the_primary(
    client: TestClient, db: Session, replica_url: str
) -> None:
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    board = client.get("/v1/leaderboards/streamers", params=BOARD, headers=operator)
    assert board.status_code == 200 and board.json()["entries"] == []
    assert client.get("/v1/grading/key-rooms", headers=operator).json() == []
    assert client.get("/readyz").json()["checks"]["database_read"] == "skipped"
