"""The command line (`zhibo grade run --json`, `zhibo grade explain ID --json`), key live rooms
and leaderboards (API and CLI; tipping boards refused)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from tests.grading.world import AS_OF, build
from tests.processes import zhibo
from zhibo.grading import service
from zhibo.grading.scoring_model import default_model
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, session_factory
from zhibo.models import LiveRoom, Role

SALES = [0, 5_000, 20_000, 80_000, 300_000, 1_000_000]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_factory(engine)() as db:
        build(db, SALES)
        db.commit()
    engine.dispose()
    return {**os.environ, "ZHIBO_DATABASE_URL": url, "ZHIBO_DATA_DIR": str(tmp_path / "data")}


def test_run_and_explain_on_the_command_line(cli_env: dict[str, str]) -> None:
    ran = zhibo("grade", "run", "--as-of", AS_OF.isoformat(), "--json", env=cli_env)
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert sum(summary["levels"].values()) == len(SALES)
    assert summary["as_of"] == AS_OF.isoformat()
    again = json.loads(
        zhibo("grade", "run", "--as-of", AS_OF.isoformat(), "--json", env=cli_env).stdout
    )
    assert again["levels"] == summary["levels"]
    explained = zhibo("grade", "explain", "2", "--json", env=cli_env)
    assert explained.returncode == 0, explained.stderr
    body = json.loads(explained.stdout)
    assert body["streamer_id"] == 2
    assert all({"value", "percentile_bp", "contribution_bp"} <= set(m) for m in body["metrics"])
    assert "gates_applied" in body and "counterfactuals" in body
    if body["level"] < 5:
        assert body["counterfactuals"] and body["next_level_hint"]
    missing = zhibo("grade", "explain", "999", "--json", env=cli_env)
    assert missing.returncode == 2 and "NotFound" in missing.stderr
    board = zhibo(
        "grade",
        "leaderboard",
        "streamers",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--json",
        env=cli_env,
    )
    assert board.returncode == 0, board.stderr
    assert json.loads(board.stdout)["entries"][0]["value"] == max(SALES)
    tipping = zhibo("grade", "leaderboard", "streamers", "--metric", "gift_fen", env=cli_env)
    assert tipping.returncode == 2 and "TippingLeaderboardForbidden" in tipping.stderr


def test_key_rooms_follow_the_thresholds(db: Session, tmp_path: Path) -> None:
    world = build(db, SALES)
    model = default_model()
    document = model.document()
    document["version"] = "key-rooms-test"
    document["key_rooms"]["min_gmv_fen_30d"] = 300_000
    custom = type(model).model_validate(document)
    service.run(db, AS_OF, lake_root=tmp_path / "lake", model=custom)
    key = {room.id for room in db.query(LiveRoom).filter(LiveRoom.is_key_room)}
    expected = {
        world.rooms[s.id].id
        for s, sales in zip(world.streamers, SALES, strict=True)
        if sales >= 300_000
    }
    assert key == expected
    queue = service.key_rooms(db)
    # Busiest first: no viewers here, so by GMV.
    assert [r.room_id for r in queue] == [
        world.rooms[world.streamers[5].id].id,
        world.rooms[world.streamers[4].id].id,
    ]
    assert all(r.retention_days >= 1095 and "GMV" in r.reason for r in queue)
    rooms = {room.id: room for room in db.query(LiveRoom)}
    assert {service.retention_days(room, custom) for room in rooms.values()} == {60, 1095}


@pytest.mark.parametrize("kind", ["rooms", "streamers", "partners", "brands"])
def test_leaderboards_by_gmv(client: TestClient, db: Session, kind: str) -> None:
    world = build(db, SALES)
    headers = b.token(db, Role.STREAMER, world.streamers[0].id)
    db.commit()
    response = client.get(
        f"/v1/leaderboards/{kind}",
        params={"metric": "gmv_fen", "from": "2026-11-01", "to": "2026-11-30"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    values = [e["value"] for e in entries]
    assert values == sorted(values, reverse=True)
    if kind in ("rooms", "streamers"):
        assert values == sorted([s for s in SALES if s], reverse=True)
    else:
        assert values == [sum(SALES)]
    assert [e["rank"] for e in entries] == list(range(1, len(entries) + 1))


def test_a_period_without_sales_is_an_empty_board(client: TestClient, db: Session) -> None:
    build(db, SALES)
    headers = b.token(db, Role.OPERATOR)
    db.commit()
    response = client.get(
        "/v1/leaderboards/streamers",
        params={"from": "2025-01-01", "to": "2025-01-31"},
        headers=headers,
    )
    assert response.status_code == 200 and response.json()["entries"] == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"metric": "gift_fen"}, "TippingLeaderboardForbidden"),
        ({"metric": "tips"}, "TippingLeaderboardForbidden"),
        ({"metric": "likes"}, "InvalidInput"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "InvalidInput"),
    ],
)
def test_bad_leaderboards_are_refused(
    client: TestClient, db: Session, params: dict[str, str], error: str
) -> None:
    headers = b.token(db, Role.OPERATOR)
    db.commit()
    response = client.get("/v1/leaderboards/streamers", params=params, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == error
