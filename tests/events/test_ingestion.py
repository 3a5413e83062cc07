"""Ingestion by HTTP (JSON, NDJSON, Arrow IPC through the client SDK) and by the command line:
dead letters with reasons, valid events of a batch kept, IPs hashed, placeholders created."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import builders as b
from zhibo.client import ZhiboClient
from zhibo.config import Settings
from zhibo.models import DeadLetter, LiveSession, Role

T0 = 1_793_500_000_000  # 2026-11-01, epoch ms


def event(n: int, kind: str = "enter", **fields: Any) -> dict[str, Any]:
    row = {
        "event_id": f"t{n}",
        "session_id": 501,
        "room_id": 77,
        "user_id": 1000 + n % 7,
        "device_id": f"dv{n:016x}",
        "ip": f"10.0.0.{n % 250}",
        "type": kind,
        "ts": T0 + n * 1000,
    }
    row.update(fields)
    return row


BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    (event(100, "teleport"), "bad_type"),
    (event(101, "order", product_id=5, amount_fen=-1), "negative_amount"),
    ({k: v for k, v in event(102).items() if k != "event_id"}, "missing_event_id"),
    ({k: v for k, v in event(103).items() if k != "user_id"}, "missing_user_id"),
    (event(104, session_id="abc"), "missing_session_id"),
    (event(105, ts="2026-11-01 09:00:00+08:00"), "bad_ts"),
    (event(106, ts="yesterday"), "bad_ts"),
    (event(107, "comment", text="好" * 501), "oversized_comment"),
    (event(108, "order", amount_fen=100), "missing_product_id"),
    (event(109, "gift"), "missing_gift_id"),
    (event(110, "like", count=0), "bad_count"),
    (event(111, room_id=78), "room_mismatch"),
]


def _good_rows() -> list[dict[str, Any]]:
    return [
        event(1),
        event(2),
        event(3, "like", count=5),
        event(4, "like"),
        event(5, "comment", text="好看"),
        event(6, "add_to_cart", product_id=9),
        event(7, "order", product_id=9, amount_fen=12_900, ts="2026-11-01T00:00:07.5Z"),
        event(8, "leave"),
    ]


def test_http_json_batch_keeps_valid_and_dead_letters_invalid(
    client: TestClient, db: Session
) -> None:
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    rows = _good_rows() + [row for row, _ in BAD_ROWS]
    response = client.post("/v1/events", json=rows, headers=operator)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (8, 0, len(BAD_ROWS))
    reasons = {r["row"]: r["reason"] for r in body["rejections"]}
    assert reasons == {8 + i: reason for i, (_, reason) in enumerate(BAD_ROWS)}

    stored = db.scalars(select(DeadLetter).order_by(DeadLetter.row_number)).all()
    assert [d.reason for d in stored] == [reason for _, reason in BAD_ROWS]
    for letter in stored:
        payload = json.loads(letter.payload)
        assert not str(payload.get("ip", "")).startswith("10.0.0."), "IPs are never kept clear"
    session = db.get(LiveSession, 501)
    assert session is not None and session.room_id == 77  # placeholder created on the fly

    # Duplicates (the same batch again, as NDJSON) have no second effect.
    ndjson = b"\n".join(orjson.dumps(row) for row in _good_rows()) + b"\nnot json\n"
    again = client.post(
        "/v1/events", content=ndjson, headers={**operator, "Content-Type": "application/x-ndjson"}
    ).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 8, 1)
    assert again["rejections"][0]["reason"] == "malformed_event"

    metrics = client.get("/v1/rooms/77/metrics", headers=operator).json()
    session_metrics = metrics["session"]
    assert session_metrics["enters"] == 2 and session_metrics["likes"] == 6
    assert session_metrics["orders"] == 1 and session_metrics["gmv_fen"] == 12_900
    assert session_metrics["unique_viewers"] == 2 and session_metrics["buyers"] == 1
    assert sum(m["enters"] for m in metrics["minutes"]) == 2
    live = client.get("/v1/live-rooms?sort=gmv", headers=operator).json()
    assert live[0]["room_id"] == 77 and live[0]["gmv_fen"] == 12_900


def test_client_sdk_arrow_fast_path(client: TestClient, db: Session) -> None:
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    token = operator["Authorization"].removeprefix("Bearer ")
    rows = [event(n, "like", count=2) for n in range(1, 2001)]
    rows.append(event(5000, "gift"))  # missing gift_id
    sdk = ZhiboClient(token=token, http=client)  # type: ignore[arg-type]
    result = sdk.send_events(rows, rows_per_request=700)
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (2000, 0, 1)
    assert result["rejections"][0] == {
        "row": 2000,
        "reason": "missing_gift_id",
        "event_id": "t5000",
    }
    assert sdk.send_events(rows[:10])["duplicates"] == 10
    assert sdk.room_metrics(77)["session"]["likes"] == 4000


def test_ingestion_requires_an_operator_and_a_known_format(client: TestClient, db: Session) -> None:
    viewer = b.token(db, Role.VIEWER, b.viewer(db).id)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    assert client.post("/v1/events", json=[event(1)], headers=viewer).status_code == 403
    refused = client.post(
        "/v1/events", content=b"x", headers={**operator, "Content-Type": "text/plain"}
    )
    assert refused.status_code == 422


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhibo.config import get_settings

    monkeypatch.setenv("ZHIBO_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ZHIBO_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_ingest_with_mapping_and_metrics(cli_env: None, tmp_path: Path, db: Session) -> None:
    from zhibo.cli import app

    path = tmp_path / "events.ndjson"
    rows = [{("kind" if k == "type" else k): v for k, v in row.items()} for row in _good_rows()]
    rows.append({"event_id": "x", "kind": "enter"})
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in rows))
    runner = CliRunner()
    result = runner.invoke(app, ["events", "ingest", str(path), "--map", "kind=type", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"accepted": 8, "duplicates": 0, "rejected": 1}
    again = runner.invoke(app, ["events", "ingest", str(path), "--map", "kind=type", "--json"])
    assert json.loads(again.stdout) == {"accepted": 0, "duplicates": 8, "rejected": 1}
    shown = runner.invoke(app, ["rooms", "metrics", "--session", "501", "--json"])
    assert shown.exit_code == 0, shown.output
    metrics = json.loads(shown.stdout)
    assert metrics["unique_viewers"] == 2 and metrics["likes"] == 6 and metrics["buyers"] == 1
    assert metrics["peak_online"] == 2 and metrics["comments"] == 1
    missing = runner.invoke(app, ["rooms", "metrics", "--session", "999", "--json"])
    assert missing.exit_code == 2
