"""Patrol coverage from reviewers' shifts, per hour, at the rule's exact boundaries (49, 50 and
51 rooms for one reviewer), key rooms first; shifts by API and CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import builders as b
from zhibo.identity import patrol
from zhibo.kit.auth import create_token
from zhibo.models import LiveRoom, LiveSession, Role, Streamer
from zhibo.models.session import SessionStatus

H0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _rooms(db: Session, spans: list[tuple[datetime, datetime]], keys: int = 0) -> None:
    """One room per span, with one session online during it; the first ``keys`` are key rooms."""
    streamers = [
        Streamer(display_name=f"s{i}", created_at=H0 - timedelta(days=9)) for i in range(len(spans))
    ]
    db.add_all(streamers)
    db.flush()
    rooms = [
        LiveRoom(streamer_id=s.id, title="r", created_at=H0, is_key_room=i < keys)
        for i, s in enumerate(streamers)
    ]
    db.add_all(rooms)
    db.flush()
    db.add_all(
        LiveSession(
            room_id=room.id,
            streamer_id=room.streamer_id,
            title="t",
            status=SessionStatus.ENDED,
            scheduled_start_at=start,
            started_at=start,
            ended_at=end,
        )
        for room, (start, end) in zip(rooms, spans, strict=True)
    )
    db.flush()


def _reviewer(db: Session, name: str = "cmp-wang") -> int:
    return create_token(db, Role.COMPLIANCE, None, name)[1].id


def test_one_reviewer_covers_49_and_50_rooms_not_51_key_rooms_first(db: Session) -> None:
    # Hour 0: 49 rooms; hour 1: 50; hour 2: 51; hour 3: only the key room, nobody on duty.
    spans = [(H0, H0 + 4 * HOUR)] + [(H0, H0 + 3 * HOUR)] * 48
    spans += [(H0 + HOUR, H0 + 3 * HOUR), (H0 + 2 * HOUR, H0 + 3 * HOUR)]
    _rooms(db, spans, keys=1)
    reviewer = _reviewer(db)
    # Exactly hours 0-2: the end at hour 3 does not reach into it.
    patrol.start_shift(
        db, reviewer_token_id=reviewer, starts_at=H0, ends_at=H0 + 3 * HOUR, created_by="t"
    )
    rows = patrol.coverage(db, H0, H0 + 4 * HOUR)
    assert [
        (r.online_rooms, r.key_rooms, r.reviewers, r.reviewers_required, r.meets_rule) for r in rows
    ] == [(49, 1, 1, 1, True), (50, 1, 1, 1, True), (51, 1, 1, 2, False), (1, 1, 0, 1, False)]
    assert [(r.key_rooms_uncovered, r.rooms_uncovered) for r in rows] == [
        (0, 0),
        (0, 0),
        (0, 1),
        (1, 1),
    ]
    # A second reviewer for hour 2 only: the rule is met again.
    patrol.start_shift(
        db,
        reviewer_token_id=_reviewer(db, "cmp-li"),
        starts_at=H0 + 2 * HOUR + timedelta(minutes=59),
        ends_at=H0 + 3 * HOUR + timedelta(seconds=0.5),
        created_by="t",
    )
    again = patrol.coverage(db, H0, H0 + 4 * HOUR)
    assert [r.reviewers for r in again] == [1, 1, 2, 1]
    assert again[2].meets_rule and again[3].meets_rule
    with pytest.raises(patrol.ShiftOverlaps):
        patrol.start_shift(db, reviewer_token_id=reviewer, starts_at=H0 + 2 * HOUR, created_by="t")


def test_shifts_by_api_and_cli_and_the_coverage_endpoint(
    client: TestClient, db: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rooms(db, [(H0, H0 + 2 * HOUR)])
    clear, compliance = create_token(db, Role.COMPLIANCE, None, "cmp-zhao")
    mine = {"Authorization": f"Bearer {clear}"}
    operator = b.token(db, Role.OPERATOR)
    _, auditor_token = create_token(db, Role.AUDITOR, None, "aud")
    db.commit()
    start = {"starts_at": H0.isoformat()}
    made = client.post("/v1/patrol/shifts", json=start, headers=mine)
    assert made.status_code == 201, made.text
    assert made.json()["reviewer_token_id"] == compliance.id and made.json()["ends_at"] is None
    assert client.post("/v1/patrol/shifts", json=start, headers=mine).status_code == 409
    # Operators name the reviewer, who must be a compliance principal.
    named = client.post(
        "/v1/patrol/shifts",
        json={**start, "reviewer_token_id": auditor_token.id},
        headers=operator,
    )
    assert named.status_code == 422 and named.json()["detail"].startswith("reviewer_token_id")
    ended = client.post(
        f"/v1/patrol/shifts/{made.json()['id']}/end",
        json={"ends_at": (H0 + HOUR).isoformat()},
        headers=mine,
    )
    assert ended.status_code == 200 and ended.json()["ends_at"].startswith("2026-11-20T09:00")
    query = {"from": H0.isoformat(), "to": (H0 + 2 * HOUR).isoformat()}
    answer = client.get("/v1/patrol/coverage", params=query, headers=operator)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["rooms_per_reviewer"] == 50
    assert [(h["online_rooms"], h["reviewers"], h["meets_rule"]) for h in got["hours"]] == [
        (1, 1, True),
        (1, 0, False),
    ]
    assert (got["hours_meeting_rule"], got["hours_with_rooms"]) == (1, 2)
    whole_day = client.get(
        "/v1/patrol/coverage", params={"from": "2026-11-20", "to": "2026-11-21"}, headers=operator
    )
    assert whole_day.status_code == 200 and len(whole_day.json()["hours"]) == 24
    assert whole_day.json()["hours_with_rooms"] == 2
    naive = {"from": "2026-11-20T08:00:00", "to": "2026-11-21"}
    assert client.get("/v1/patrol/coverage", params=naive, headers=operator).status_code == 422
    too_long = {"from": H0.isoformat(), "to": (H0 + timedelta(days=40)).isoformat()}
    assert client.get("/v1/patrol/coverage", params=too_long, headers=operator).status_code == 422

    # The CLI: start and end a shift for the second hour, then read the coverage.
    from zhibo.cli import app
    from zhibo.config import get_settings

    monkeypatch.setenv("ZHIBO_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()
    began = runner.invoke(
        app,
        [
            "patrol",
            "shift",
            "start",
            "--reviewer",
            str(compliance.id),
            "--at",
            (H0 + HOUR).isoformat(),
        ],
    )
    assert began.exit_code == 0, began.output
    stop = runner.invoke(
        app,
        [
            "patrol",
            "shift",
            "end",
            "--reviewer",
            str(compliance.id),
            "--at",
            (H0 + 2 * HOUR).isoformat(),
        ],
    )
    assert stop.exit_code == 0, stop.output
    assert json.loads(stop.stdout)["ends_at"].startswith("2026-11-20T10:00")
    shown = runner.invoke(
        app,
        [
            "patrol",
            "coverage",
            "--from",
            H0.isoformat(),
            "--to",
            (H0 + 2 * HOUR).isoformat(),
            "--json",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert [h["meets_rule"] for h in json.loads(shown.stdout)["hours"]] == [True, True]
    wrong = runner.invoke(app, ["patrol", "shift", "end", "--reviewer", str(compliance.id)])
    assert wrong.exit_code == 2  # no open shift left
