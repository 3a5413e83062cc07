"""The reconnect grace: a push that drops keeps its session live for
``ZHIBO_PUBLISH_RECONNECT_GRACE_SECONDS``; a push of the room within it resumes the session, and
a session whose push does not return ends as of the moment the push ended (the sweep, or the
next push or read of it). Time passing is simulated by back-dating ``publisher_left_at``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.live.test_media_hooks import (
    ALLOWED,
    SECRET,
    _client,
    publish,
    publish_done,
    reread,
    stage,
)
from zhibo.config import Settings
from zhibo.kit.db import session_factory
from zhibo.kit.time import utcnow
from zhibo.live.media import DropOutcome, RecordingMediaServer
from zhibo.live.tasks import SessionSweeper, sweep_abandoned_sessions, sweep_interval
from zhibo.models import LiveRoom, LiveSession, Role
from zhibo.models.session import SessionEndReason, SessionNotLive, SessionStatus

GRACE = timedelta(seconds=60)


@pytest.fixture
def media() -> RecordingMediaServer:
    return RecordingMediaServer(DropOutcome.DROPPED)


@pytest.fixture
def grace_hooks(
    engine: Engine, settings: Settings, media: RecordingMediaServer
) -> Iterator[TestClient]:
    """The hooks with a 60 s reconnect grace (the sweep thread runs too, every 15 s)."""
    configured = settings.model_copy(
        update={"media_hook_secret": SecretStr(SECRET), "publish_reconnect_grace_seconds": 60}
    )
    with _client(engine, configured, media) as client:
        yield client


def back_date_departure(engine: Engine, session_id: int, seconds: float) -> datetime:
    """Pretend the push left ``seconds`` earlier than recorded; the new departure time."""
    with session_factory(engine)() as fresh:
        row = fresh.get(LiveSession, session_id)
        assert row is not None and row.publisher_left_at is not None
        assert row.started_at is not None
        row.started_at -= timedelta(seconds=seconds)
        row.publisher_left_at -= timedelta(seconds=seconds)
        left = row.publisher_left_at
        fresh.commit()
    return left


def sessions_of_room(engine: Engine, room_id: int) -> int:
    with session_factory(engine)() as fresh:
        count = fresh.scalar(
            select(func.count()).select_from(LiveSession).where(LiveSession.room_id == room_id)
        )
        return count or 0


def test_a_drop_keeps_the_session_live_and_a_reconnect_within_the_grace_resumes_it(
    grace_hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED

    done = publish_done(grace_hooks, clientid="7")

    assert done.status_code == 200, done.text
    assert done.json()["ended"] is False and done.json()["reconnecting"] is True
    assert done.json()["session_id"] == setup.session_id
    waiting = reread(engine, setup.session_id)
    assert waiting.status == SessionStatus.LIVE and waiting.publisher_left_at is not None
    reader = b.token(db, Role.OPERATOR)
    db.commit()
    shown = grace_hooks.get(f"/v1/sessions/{setup.session_id}", headers=reader).json()
    assert shown["status"] == "live" and shown["reconnecting"] is True
    assert shown["publisher_left_at"] is not None
    # A repeated publish_done keeps the first departure time.
    assert publish_done(grace_hooks, clientid="7").json()["reconnecting"] is True
    assert reread(engine, setup.session_id).publisher_left_at == waiting.publisher_left_at

    back = publish(grace_hooks, clientid="8")

    assert back.status_code == ALLOWED, back.text
    assert back.json()["session_id"] == setup.session_id and back.json()["reconnect"] is True
    resumed = reread(engine, setup.session_id)
    assert resumed.status == SessionStatus.LIVE and resumed.publisher_left_at is None
    # The new connection is the one a suspension would cut; the gone one is not dropped.
    assert (resumed.publish_app, resumed.publish_client_id) == ("live", "8")
    assert media.drops == []
    assert sessions_of_room(engine, setup.room_id) == 1
    shown = grace_hooks.get(f"/v1/sessions/{setup.session_id}", headers=reader).json()
    assert shown["reconnecting"] is False and shown["publisher_left_at"] is None
    # Nothing the sweep should end.
    assert sweep_abandoned_sessions(engine, GRACE, utcnow() + GRACE) == []


def test_a_push_that_does_not_return_ends_at_the_moment_it_left_after_the_sweep(
    grace_hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    assert publish_done(grace_hooks, clientid="7").json()["reconnecting"] is True
    # Within the grace the sweep leaves it live.
    assert sweep_abandoned_sessions(engine, GRACE) == []
    assert reread(engine, setup.session_id).status == SessionStatus.LIVE

    left = back_date_departure(engine, setup.session_id, 61)
    assert sweep_abandoned_sessions(engine, GRACE) == [setup.session_id]

    ended = reread(engine, setup.session_id)
    assert ended.status == SessionStatus.ENDED
    assert ended.ended_at == left == ended.publisher_left_at
    assert ended.end_reason == SessionEndReason.RECONNECT_GRACE_EXPIRED
    # A second sweep has nothing more to do.
    assert sweep_abandoned_sessions(engine, GRACE) == []


def test_reading_a_session_whose_grace_ran_out_ends_it(
    grace_hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    publish_done(grace_hooks, clientid="7")
    left = back_date_departure(engine, setup.session_id, 61)
    reader = b.token(db, Role.OPERATOR)
    db.commit()

    shown = grace_hooks.get(f"/v1/sessions/{setup.session_id}", headers=reader).json()

    assert shown["status"] == "ended" and shown["reconnecting"] is False
    assert shown["end_reason"] == "reconnect_grace_expired"
    assert datetime.fromisoformat(shown["ended_at"]) == left
    assert reread(engine, setup.session_id).status == SessionStatus.ENDED  # committed


def test_a_push_after_the_grace_is_refused_without_a_scheduled_session(
    grace_hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    publish_done(grace_hooks, clientid="7")
    left = back_date_departure(engine, setup.session_id, 61)

    late = publish(grace_hooks, clientid="8")

    assert late.status_code == 409 and late.json()["error"] == "NoScheduledSession", late.text
    # The push ended the abandoned session on the way, though it was refused.
    ended = reread(engine, setup.session_id)
    assert ended.status == SessionStatus.ENDED and ended.ended_at == left
    assert sweep_abandoned_sessions(engine, GRACE) == []


def test_a_push_after_the_grace_starts_the_next_scheduled_session(
    grace_hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    publish_done(grace_hooks, clientid="7")
    left = back_date_departure(engine, setup.session_id, 61)
    room = db.get(LiveRoom, setup.room_id)
    assert room is not None
    following = b.live_session(db, room_row=room).id
    db.commit()

    late = publish(grace_hooks, clientid="8")

    assert late.status_code == ALLOWED, late.text
    assert late.json()["session_id"] == following and late.json()["reconnect"] is False
    old = reread(engine, setup.session_id)
    assert old.status == SessionStatus.ENDED and old.ended_at == left
    assert old.end_reason == SessionEndReason.RECONNECT_GRACE_EXPIRED
    assert reread(engine, following).status == SessionStatus.LIVE


def test_a_reconnect_within_the_grace_does_not_start_the_next_scheduled_session(
    grace_hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    publish_done(grace_hooks, clientid="7")
    back_date_departure(engine, setup.session_id, 59)
    room = db.get(LiveRoom, setup.room_id)
    assert room is not None
    following = b.live_session(db, room_row=room).id
    db.commit()

    back = publish(grace_hooks, clientid="8")

    assert back.status_code == ALLOWED and back.json()["session_id"] == setup.session_id
    assert reread(engine, following).status == SessionStatus.SCHEDULED


def test_a_session_suspended_during_the_grace_refuses_the_reconnect(
    grace_hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    publish_done(grace_hooks, clientid="7")
    compliance = b.token(db, Role.COMPLIANCE)
    db.commit()

    suspended = grace_hooks.post(
        f"/v1/sessions/{setup.session_id}/suspend",
        json={"reason": "诱导场外交易"},
        headers=compliance,
    )

    assert suspended.status_code == 200, suspended.text
    # The push had already left: there is nothing on air to cut.
    assert suspended.json()["stream_cut"] is None and media.drops == []
    back = publish(grace_hooks, clientid="8")
    assert back.status_code == 403 and back.json()["error"] == "SessionIsSuspended", back.text
    # The sweep ends only live sessions: the suspension stands until it is resumed or ended.
    back_date_departure(engine, setup.session_id, 61)
    assert sweep_abandoned_sessions(engine, GRACE) == []
    assert reread(engine, setup.session_id).status == SessionStatus.SUSPENDED

    # Resumed, the streamer gets the grace again from the resumption.
    resumed = grace_hooks.post(f"/v1/sessions/{setup.session_id}/resume", headers=compliance)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "live" and resumed.json()["reconnecting"] is True
    assert sweep_abandoned_sessions(engine, GRACE) == []
    assert publish(grace_hooks, clientid="9").json()["session_id"] == setup.session_id


def test_with_no_grace_a_push_end_ends_the_session_at_once(
    engine: Engine, settings: Settings, media: RecordingMediaServer, db: Session
) -> None:
    configured = settings.model_copy(
        update={"media_hook_secret": SecretStr(SECRET), "publish_reconnect_grace_seconds": 0}
    )
    setup = stage(db)
    with _client(engine, configured, media) as client:
        assert publish(client, clientid="7").status_code == ALLOWED
        done = publish_done(client, clientid="7").json()
        assert done["ended"] is True and done["reconnecting"] is False
        assert publish(client, clientid="8").json()["error"] == "NoScheduledSession"
    ended = reread(engine, setup.session_id)
    assert ended.status == SessionStatus.ENDED and ended.publisher_left_at is None
    assert ended.end_reason == SessionEndReason.PUBLISHER_LEFT


def test_the_background_sweeper_ends_abandoned_sessions_and_stops(
    grace_hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    publish_done(grace_hooks, clientid="7")
    back_date_departure(engine, setup.session_id, 61)
    sweeper = SessionSweeper(engine, GRACE, interval=0.05)

    sweeper.start()
    try:
        deadline = time.monotonic() + 5
        while reread(engine, setup.session_id).status != SessionStatus.ENDED:
            assert time.monotonic() < deadline, "the sweeper did not end the session"
            time.sleep(0.05)
    finally:
        sweeper.stop()

    assert not sweeper._thread.is_alive()


def test_the_sweep_interval_follows_the_grace() -> None:
    assert sweep_interval(timedelta(seconds=2)) == 1.0
    assert sweep_interval(timedelta(seconds=20)) == 5.0
    assert sweep_interval(timedelta(seconds=600)) == 15.0


def test_only_a_live_session_can_lose_its_publisher() -> None:
    at = utcnow()
    scheduled = LiveSession(status=SessionStatus.SCHEDULED, scheduled_start_at=at)
    with pytest.raises(SessionNotLive):
        scheduled.publisher_left(at)
    live = LiveSession(status=SessionStatus.SCHEDULED, scheduled_start_at=at)
    live.start(at)
    with pytest.raises(SessionNotLive):
        live.end_abandoned()  # its publisher has not left
    live.publisher_left(at + timedelta(seconds=5))
    assert live.reconnecting
    assert not live.reconnect_grace_expired(at + timedelta(seconds=64), GRACE)
    assert live.reconnect_grace_expired(at + timedelta(seconds=65), GRACE)
    live.end_abandoned()
    assert live.ended_at == at + timedelta(seconds=5) and not live.reconnecting


def test_the_sweep_command_ends_abandoned_sessions(
    grace_hooks: TestClient,
    db: Session,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    import json

    from typer.testing import CliRunner

    from zhibo.cli import app
    from zhibo.config import get_settings
    from zhibo.kit.db import clear_engines

    setup = stage(db)
    assert publish(grace_hooks, clientid="7").status_code == ALLOWED
    assert publish_done(grace_hooks, clientid="7").json()["reconnecting"] is True
    back_date_departure(engine, setup.session_id, 61)
    monkeypatch.setenv("ZHIBO_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ZHIBO_PUBLISH_RECONNECT_GRACE_SECONDS", "60")
    get_settings.cache_clear()
    clear_engines()
    request.addfinalizer(clear_engines)
    request.addfinalizer(get_settings.cache_clear)
    result = CliRunner().invoke(app, ["rooms", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ended_sessions": [setup.session_id]}
    assert reread(engine, setup.session_id).status == SessionStatus.ENDED
