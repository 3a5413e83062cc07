"""The nginx-rtmp hooks decide which pushes go on air; suspending a session cuts its push through
the media server; stream keys rotate. Both databases, a recording fake for the media server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.kit.db import session_factory
from zhibo.kit.hashing import token_hash
from zhibo.live.media import (
    DropOutcome,
    DropResult,
    NginxRtmp,
    RecordingMediaServer,
    RedactHookSecret,
    redact_hook_secret,
)
from zhibo.models import LiveRoom, LiveSession, Role
from zhibo.models.room import RoomStatus
from zhibo.models.session import SessionAlreadyEnded, SessionStatus
from zhibo.models.streamer import StreamerStatus

SECRET = "hook-secret-for-tests-0123456789"
#: An allowed push is answered with a redirect to the session's stream name.
ALLOWED = 302
KEY = "sk_test-key-0123456789abcdef"


@dataclass
class Stage:
    room_id: int
    streamer_id: int
    session_id: int


def hook(
    call: str = "publish", *, name: str = KEY, clientid: str = "7", app: str = "live"
) -> dict[str, str]:
    """The form nginx-rtmp posts (with the extras it adds: flashver, the push URL's args)."""
    form = {
        "app": app,
        "flashver": "FMLE/3.0 (compatible; Lavf59.27",
        "tcurl": f"rtmp://127.0.0.1:1935/{app}",
        "addr": "127.0.0.1",
        "clientid": clientid,
        "call": call,
        "name": name,
        "foo": "bar",
    }
    if call == "publish":
        form["type"] = "live"
    return form


def publish(client: TestClient, **fields: Any) -> httpx.Response:
    return client.post(
        f"/v1/media/on_publish?secret={SECRET}",
        data=hook("publish", **fields),
        follow_redirects=False,  # the redirect is for nginx-rtmp: it renames the stream
    )


def publish_done(client: TestClient, **fields: Any) -> httpx.Response:
    return client.post(
        f"/v1/media/on_publish_done?secret={SECRET}", data=hook("publish_done", **fields)
    )


def stage(
    db: Session,
    *,
    key: str = KEY,
    streamer_status: StreamerStatus = StreamerStatus.ACTIVE,
    verified: bool = True,
    room_status: RoomStatus = RoomStatus.ACTIVE,
    session_status: SessionStatus | None = SessionStatus.SCHEDULED,
) -> Stage:
    """A room with ``key`` whose streamer may go live, and one session of it."""
    streamer = b.streamer(db, status=streamer_status, verified_at=b.T0 if verified else None)
    room = b.room(db, streamer_row=streamer)
    room.stream_key_hash = token_hash(key)
    room.status = room_status
    session_id = 0
    if session_status is not None:
        session_id = b.live_session(db, room_row=room, status=session_status).id
    db.commit()
    return Stage(room_id=room.id, streamer_id=streamer.id, session_id=session_id)


def reread(engine: Engine, session_id: int) -> LiveSession:
    with session_factory(engine)() as fresh:
        row = fresh.get(LiveSession, session_id)
        assert row is not None
        return row


@pytest.fixture
def media() -> RecordingMediaServer:
    return RecordingMediaServer(DropOutcome.DROPPED)


def _client(
    engine: Engine, settings: Settings, media: RecordingMediaServer, **options: Any
) -> TestClient:
    app = create_app(settings, engine)
    app.state.media_server = media
    return TestClient(app, **options)


@pytest.fixture
def hooks(engine: Engine, settings: Settings, media: RecordingMediaServer) -> Iterator[TestClient]:
    """The API with a hook secret configured, its media server the recording fake, and no
    reconnect grace (a push's end ends its session: tests/live/test_reconnect.py has the grace)."""
    secured = settings.model_copy(
        update={"media_hook_secret": SecretStr(SECRET), "publish_reconnect_grace_seconds": 0}
    )
    with _client(engine, secured, media) as client:
        yield client


# -- on_publish: allowed -------------------------------------------------------------------------


def test_publish_starts_the_earliest_scheduled_session_and_records_the_publisher(
    hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    room = db.get(LiveRoom, setup.room_id)
    assert room is not None
    earlier = b.live_session(db, room_row=room)
    earlier.scheduled_start_at = b.T0 - timedelta(hours=1)
    db.commit()

    response = publish(hooks, clientid="41")

    assert response.status_code == ALLOWED, response.text
    # nginx-rtmp publishes the push under the Location's name: public, per session, not the key.
    assert response.headers["location"] == f"session-{earlier.id}"
    assert response.json() == {
        "allowed": True,
        "session_id": earlier.id,
        "room_id": setup.room_id,
        "reconnect": False,
        "stream_name": f"session-{earlier.id}",
    }
    started = reread(engine, earlier.id)
    assert started.status == SessionStatus.LIVE and started.started_at is not None
    assert (started.publish_app, started.publish_client_id) == ("live", "41")
    assert reread(engine, setup.session_id).status == SessionStatus.SCHEDULED


def test_a_reconnect_continues_the_live_session_and_drops_the_old_publisher(
    hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer
) -> None:
    setup = stage(db)
    assert publish(hooks, clientid="7").status_code == ALLOWED

    again = publish(hooks, clientid="9")

    assert again.status_code == ALLOWED, again.text
    assert again.json()["reconnect"] is True and again.json()["session_id"] == setup.session_id
    # nginx-rtmp keeps one publisher per stream: the old connection must not block the new one.
    # Named by the session's stream and the old connection: the new one (same name) stays.
    name = f"session-{setup.session_id}"
    assert media.drops == [("live", name, "7")]
    assert reread(engine, setup.session_id).publish_client_id == "9"
    # The replaced connection's publish_done arrives late: it does not end the session.
    late = publish_done(hooks, clientid="7")
    assert late.status_code == 200 and late.json() == {
        "session_id": None,
        "ended": False,
        "reconnecting": False,
        "publisher_left_at": None,
    }
    assert reread(engine, setup.session_id).status == SessionStatus.LIVE
    # A repeated on_publish of the same connection replaces nothing.
    assert publish(hooks, clientid="9").status_code == ALLOWED
    assert media.drops == [("live", name, "7")]


def test_a_session_started_through_the_api_takes_its_first_push(
    hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer
) -> None:
    setup = stage(db, session_status=SessionStatus.LIVE)
    response = publish(hooks, clientid="3")
    assert response.status_code == ALLOWED and response.json()["reconnect"] is True
    assert reread(engine, setup.session_id).publish_client_id == "3"
    assert media.drops == []


# -- on_publish: refused -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "status", "error"),
    [
        ({"room_status": RoomStatus.SUSPENDED}, 403, "RoomNotActive"),
        ({"room_status": RoomStatus.CLOSED}, 403, "RoomNotActive"),
        ({"streamer_status": StreamerStatus.PENDING}, 403, "StreamerNotVerified"),
        ({"streamer_status": StreamerStatus.SUSPENDED}, 403, "StreamerNotVerified"),
        ({"streamer_status": StreamerStatus.BANNED}, 403, "StreamerNotVerified"),
        ({"verified": False}, 403, "StreamerNotVerified"),
        ({"session_status": None}, 409, "NoScheduledSession"),
        ({"session_status": SessionStatus.ENDED}, 409, "NoScheduledSession"),
        ({"session_status": SessionStatus.SUSPENDED}, 403, "SessionIsSuspended"),
    ],
)
def test_publish_is_refused_with_the_reason(
    hooks: TestClient,
    db: Session,
    engine: Engine,
    options: dict[str, Any],
    status: int,
    error: str,
) -> None:
    setup = stage(db, **options)
    before = reread(engine, setup.session_id).status if setup.session_id else None

    response = publish(hooks)

    assert response.status_code == status, response.text
    assert response.json()["error"] == error and response.json()["detail"]
    if setup.session_id:
        after = reread(engine, setup.session_id)
        assert after.status == before and after.publish_client_id is None


@pytest.mark.parametrize("key", ["sk_not-the-key", ""])
def test_publish_with_an_unknown_key_is_refused(
    hooks: TestClient, db: Session, engine: Engine, key: str
) -> None:
    setup = stage(db)
    response = publish(hooks, name=key)
    assert response.status_code == 403 and response.json()["error"] == "UnknownStreamKey"
    assert reread(engine, setup.session_id).status == SessionStatus.SCHEDULED


def test_a_suspended_session_blocks_pushes_even_with_another_scheduled(
    hooks: TestClient, db: Session
) -> None:
    setup = stage(db, session_status=SessionStatus.SUSPENDED)
    room = db.get(LiveRoom, setup.room_id)
    b.live_session(db, room_row=room)
    db.commit()
    assert publish(hooks).json()["error"] == "SessionIsSuspended"


def test_decisions_are_logged_without_the_key(
    hooks: TestClient, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    stage(db)
    caplog.set_level(logging.INFO, logger="zhibo")
    assert publish(hooks, name="sk_wrong-key-abcdef").status_code == 403
    assert publish(hooks, clientid="5").status_code == ALLOWED
    assert publish_done(hooks, clientid="5").json()["ended"] is True

    messages = [record.getMessage() for record in caplog.records]
    assert any("on_publish refused: UnknownStreamKey" in message for message in messages)
    assert any("on_publish allowed: session" in message for message in messages)
    assert any("on_publish_done: session" in message for message in messages)
    for message in messages:
        assert KEY not in message and "sk_wrong-key-abcdef" not in message


# -- on_publish_done ----------------------------------------------------------------------------


def test_publish_done_ends_the_session_once(hooks: TestClient, db: Session, engine: Engine) -> None:
    setup = stage(db)
    assert publish(hooks, clientid="12").status_code == ALLOWED

    done = publish_done(hooks, clientid="12")

    assert done.status_code == 200 and done.json() == {
        "session_id": setup.session_id,
        "ended": True,
        "reconnecting": False,
        "publisher_left_at": None,
    }
    ended = reread(engine, setup.session_id)
    assert ended.status == SessionStatus.ENDED and ended.ended_at is not None
    assert ended.end_reason == "publisher_left" and ended.publisher_left_at is None
    again = publish_done(hooks, clientid="12")
    assert again.status_code == 200 and again.json()["ended"] is False
    assert reread(engine, setup.session_id).ended_at == ended.ended_at


@pytest.mark.parametrize("status", [SessionStatus.SUSPENDED, SessionStatus.ENDED])
def test_publish_done_leaves_suspended_and_ended_sessions_alone(
    hooks: TestClient, db: Session, engine: Engine, status: SessionStatus
) -> None:
    setup = stage(db, session_status=status)
    with session_factory(engine)() as fresh:
        row = fresh.get(LiveSession, setup.session_id)
        assert row is not None
        row.publish_app, row.publish_client_id = "live", "7"
        fresh.commit()
    before = reread(engine, setup.session_id)

    response = publish_done(hooks, clientid="7")

    assert response.status_code == 200 and response.json()["ended"] is False
    after = reread(engine, setup.session_id)
    assert (after.status, after.ended_at, after.suspended_at) == (
        before.status,
        before.ended_at,
        before.suspended_at,
    )


def test_publish_done_after_a_key_rotation_still_ends_the_session(
    hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    assert publish(hooks, clientid="8").status_code == ALLOWED
    assert hooks.post(f"/v1/rooms/{setup.room_id}/stream-key", headers=operator).status_code == 200

    done = publish_done(hooks, clientid="8")  # nginx still names the push by the old key

    assert done.json() == {
        "session_id": setup.session_id,
        "ended": True,
        "reconnecting": False,
        "publisher_left_at": None,
    }


def test_publish_done_of_another_rooms_key_ends_nothing(
    hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    stage(db, key="sk_other-room-key", session_status=None)
    assert publish(hooks, clientid="8").status_code == ALLOWED
    # Client ids restart with nginx: the same id under another room's key is another push.
    assert publish_done(hooks, clientid="8", name="sk_other-room-key").json()["ended"] is False
    assert reread(engine, setup.session_id).status == SessionStatus.LIVE


# -- the hook secret -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/media/on_publish", "/v1/media/on_publish_done"])
@pytest.mark.parametrize("query", ["", "?secret=wrong", f"?secret={SECRET}x", "?secret="])
def test_hooks_refuse_a_missing_or_wrong_secret(
    hooks: TestClient, db: Session, engine: Engine, path: str, query: str
) -> None:
    setup = stage(db)
    response = hooks.post(path + query, data=hook())
    assert response.status_code == 403 and response.json()["error"] == "MediaHookForbidden"
    assert reread(engine, setup.session_id).status == SessionStatus.SCHEDULED


def test_with_a_secret_configured_loopback_needs_it_too(
    engine: Engine, settings: Settings, media: RecordingMediaServer, db: Session
) -> None:
    stage(db)
    secured = settings.model_copy(update={"media_hook_secret": SecretStr(SECRET)})
    with _client(engine, secured, media, client=("127.0.0.1", 50000)) as client:
        assert client.post("/v1/media/on_publish", data=hook()).status_code == 403
        allowed = client.post(
            f"/v1/media/on_publish?secret={SECRET}", data=hook(), follow_redirects=False
        )
        assert allowed.status_code == ALLOWED


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1", ALLOWED), ("::1", ALLOWED), ("10.0.0.5", 403), ("testclient", 403)],
)
def test_without_a_secret_only_loopback_clients_may_call(
    engine: Engine,
    settings: Settings,
    media: RecordingMediaServer,
    db: Session,
    host: str,
    status: int,
) -> None:
    stage(db)
    assert settings.media_hook_secret is None
    with _client(engine, settings, media, client=(host, 50000)) as client:
        response = client.post("/v1/media/on_publish", data=hook(), follow_redirects=False)
    assert response.status_code == status, response.text


def test_an_empty_secret_setting_counts_as_none(
    engine: Engine, settings: Settings, media: RecordingMediaServer, db: Session
) -> None:
    stage(db)
    empty = settings.model_copy(update={"media_hook_secret": SecretStr("")})
    with _client(engine, empty, media) as client:
        assert client.post("/v1/media/on_publish?secret=", data=hook()).status_code == 403


def test_the_secret_is_redacted_from_access_logs() -> None:
    assert redact_hook_secret("/v1/media/on_publish?secret=abc&x=1") == (
        "/v1/media/on_publish?secret=***&x=1"
    )
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/v1/media/on_publish_done?secret={SECRET}", "1.0", 200),
        None,
    )
    assert RedactHookSecret().filter(record)
    assert SECRET not in record.getMessage() and "secret=***" in record.getMessage()


# -- the stream key ------------------------------------------------------------------------------


def test_rotating_the_stream_key_retires_the_old_one_at_once(
    hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    owner = b.token(db, Role.STREAMER, setup.streamer_id)
    db.commit()

    rotated = hooks.post(f"/v1/rooms/{setup.room_id}/stream-key", headers=owner)

    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["stream_key"]
    assert rotated.json()["room_id"] == setup.room_id and new_key.startswith("sk_")
    with session_factory(engine)() as fresh:
        room = fresh.get(LiveRoom, setup.room_id)
        assert room is not None and room.stream_key_hash == token_hash(new_key)
    assert publish(hooks).json()["error"] == "UnknownStreamKey"
    assert publish(hooks, name=new_key).status_code == ALLOWED
    shown = hooks.get(f"/v1/rooms/{setup.room_id}", headers=owner).json()
    assert new_key not in str(shown)


@pytest.mark.parametrize(
    ("role", "status"), [("operator", 200), ("other", 403), ("compliance", 403)]
)
def test_who_may_rotate_a_stream_key(
    hooks: TestClient, db: Session, role: str, status: int
) -> None:
    setup = stage(db)
    headers = {
        "operator": lambda: b.token(db, Role.OPERATOR),
        "other": lambda: b.token(db, Role.STREAMER, b.streamer(db).id),
        "compliance": lambda: b.token(db, Role.COMPLIANCE),
    }[role]()
    db.commit()
    response = hooks.post(f"/v1/rooms/{setup.room_id}/stream-key", headers=headers)
    assert response.status_code == status, response.text


def test_rotating_the_key_of_a_missing_room_is_404(hooks: TestClient, db: Session) -> None:
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    assert hooks.post("/v1/rooms/999999/stream-key", headers=operator).status_code == 404


# -- suspending cuts the stream ------------------------------------------------------------------


def suspend(client: TestClient, db: Session, session_id: int) -> httpx.Response:
    compliance = b.token(db, Role.COMPLIANCE)
    db.commit()
    return client.post(
        f"/v1/sessions/{session_id}/suspend", json={"reason": "诱导场外交易"}, headers=compliance
    )


def test_suspending_a_pushed_session_drops_its_publisher(
    hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer
) -> None:
    setup = stage(db)
    assert publish(hooks, clientid="21", app="show").status_code == ALLOWED

    response = suspend(hooks, db, setup.session_id)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "suspended" and response.json()["stream_cut"] is True
    assert media.drops == [("show", f"session-{setup.session_id}", "21")]
    # The cut push's publish_done leaves the suspension in place.
    assert publish_done(hooks, clientid="21", app="show").json()["ended"] is False
    assert reread(engine, setup.session_id).status == SessionStatus.SUSPENDED
    # ...and the streamer cannot push the session back on air.
    assert publish(hooks, clientid="22", app="show").json()["error"] == "SessionIsSuspended"


@pytest.mark.parametrize("outcome", [DropOutcome.FAILED, DropOutcome.NOT_FOUND])
def test_a_failed_cut_is_reported_not_a_500(
    hooks: TestClient,
    db: Session,
    engine: Engine,
    media: RecordingMediaServer,
    outcome: DropOutcome,
) -> None:
    setup = stage(db)
    assert publish(hooks).status_code == ALLOWED
    media.outcome = outcome

    response = suspend(hooks, db, setup.session_id)

    assert response.status_code == 200, response.text
    assert response.json()["stream_cut"] is False and response.json()["stream_cut_detail"]
    assert reread(engine, setup.session_id).status == SessionStatus.SUSPENDED


def test_a_session_without_a_push_has_nothing_to_cut(
    hooks: TestClient, db: Session, media: RecordingMediaServer
) -> None:
    setup = stage(db, session_status=SessionStatus.LIVE)
    response = suspend(hooks, db, setup.session_id)
    assert response.status_code == 200
    assert response.json()["stream_cut"] is None and media.drops == []


def test_the_cut_is_sent_after_the_suspension_is_committed(
    hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(hooks).status_code == ALLOWED
    seen: list[SessionStatus] = []

    class Inspecting:
        def drop_publisher(self, *, app: str, name: str, client_id: str) -> DropResult:
            seen.append(reread(engine, setup.session_id).status)  # another connection
            return DropResult(DropOutcome.DROPPED, "dropped")

    hooks.app.state.media_server = Inspecting()  # type: ignore[attr-defined]
    assert suspend(hooks, db, setup.session_id).status_code == 200
    assert seen == [SessionStatus.SUSPENDED]


def test_without_a_control_url_the_cut_is_reported_as_not_configured(
    engine: Engine, settings: Settings, db: Session
) -> None:
    setup = stage(db)
    secured = settings.model_copy(update={"media_hook_secret": SecretStr(SECRET)})
    with TestClient(create_app(secured, engine)) as client:
        assert publish(client).status_code == ALLOWED
        response = suspend(client, db, setup.session_id)
    assert response.json()["stream_cut"] is False
    assert "no media control URL" in response.json()["stream_cut_detail"]


# -- ending cuts the stream ----------------------------------------------------------------------


def end(client: TestClient, session_id: int, headers: dict[str, str]) -> httpx.Response:
    return client.post(f"/v1/sessions/{session_id}/end", headers=headers)


@pytest.mark.parametrize("who", ["operator", "streamer"])
def test_ending_a_pushed_session_drops_its_publisher_and_a_repush_is_refused(
    hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer, who: str
) -> None:
    setup = stage(db)
    headers = (
        b.token(db, Role.OPERATOR)
        if who == "operator"
        else b.token(db, Role.STREAMER, setup.streamer_id)
    )
    db.commit()
    assert publish(hooks, clientid="31").status_code == ALLOWED

    response = end(hooks, setup.session_id, headers)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ended" and response.json()["stream_cut"] is True
    assert media.drops == [("live", f"session-{setup.session_id}", "31")]
    # The cut push's publish_done changes nothing; the encoder's retry with the key is refused.
    assert publish_done(hooks, clientid="31").json()["ended"] is False
    retry = publish(hooks, clientid="32")
    assert retry.status_code == 409 and retry.json()["error"] == "NoScheduledSession"
    ended = reread(engine, setup.session_id)
    assert ended.status == SessionStatus.ENDED and ended.publish_client_id == "31"


def test_the_end_is_committed_before_the_cut(
    hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    assert publish(hooks).status_code == ALLOWED
    seen: list[SessionStatus] = []

    class Inspecting:
        def drop_publisher(self, *, app: str, name: str, client_id: str) -> DropResult:
            seen.append(reread(engine, setup.session_id).status)  # another connection
            return DropResult(DropOutcome.DROPPED, "dropped")

    hooks.app.state.media_server = Inspecting()  # type: ignore[attr-defined]
    assert end(hooks, setup.session_id, operator).status_code == 200
    assert seen == [SessionStatus.ENDED]


def test_ending_a_session_without_a_push_cuts_nothing(
    hooks: TestClient, db: Session, media: RecordingMediaServer
) -> None:
    setup = stage(db, session_status=SessionStatus.LIVE)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    response = end(hooks, setup.session_id, operator)
    assert response.status_code == 200
    assert response.json()["stream_cut"] is None and media.drops == []


def test_a_failed_cut_on_end_is_reported_and_the_end_stands(
    hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer
) -> None:
    setup = stage(db)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    assert publish(hooks).status_code == ALLOWED
    media.outcome = DropOutcome.FAILED
    response = end(hooks, setup.session_id, operator)
    assert response.status_code == 200
    assert response.json()["stream_cut"] is False and response.json()["stream_cut_detail"]
    assert reread(engine, setup.session_id).status == SessionStatus.ENDED


def test_another_streamer_cannot_end_the_session(
    hooks: TestClient, db: Session, engine: Engine, media: RecordingMediaServer
) -> None:
    setup = stage(db)
    other = b.token(db, Role.STREAMER, b.streamer(db).id)
    db.commit()
    assert publish(hooks).status_code == ALLOWED
    assert end(hooks, setup.session_id, other).status_code == 403
    assert media.drops == [] and reread(engine, setup.session_id).status == SessionStatus.LIVE


def test_publish_done_naming_the_stream_ends_that_session_only(
    hooks: TestClient, db: Session, engine: Engine
) -> None:
    setup = stage(db)
    assert publish(hooks, clientid="8").status_code == ALLOWED
    wrong = publish_done(hooks, clientid="8", name=f"session-{setup.session_id + 1}")
    assert wrong.json()["ended"] is False
    done = publish_done(hooks, clientid="8", name=f"session-{setup.session_id}")
    assert done.json() == {
        "session_id": setup.session_id,
        "ended": True,
        "reconnecting": False,
        "publisher_left_at": None,
    }


# -- the nginx-rtmp control client ---------------------------------------------------------------


def nginx(answer: httpx.Response | Exception, seen: list[httpx.Request]) -> NginxRtmp:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return NginxRtmp("http://media:8080/", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (httpx.Response(200, text="1"), DropOutcome.DROPPED),
        (httpx.Response(200, text="0"), DropOutcome.NOT_FOUND),
        (httpx.Response(404, text="not found"), DropOutcome.FAILED),
        (httpx.Response(200, text="<html>"), DropOutcome.FAILED),
        (httpx.ConnectError("refused"), DropOutcome.FAILED),
        (httpx.ReadTimeout("slow"), DropOutcome.FAILED),
    ],
)
def test_nginx_rtmp_drop_reads_the_control_answer(
    answer: httpx.Response | Exception, outcome: DropOutcome
) -> None:
    seen: list[httpx.Request] = []
    result = nginx(answer, seen).drop_publisher(app="live", name="session-5", client_id="42")
    assert result.outcome == outcome and result.dropped == (outcome == DropOutcome.DROPPED)
    (request,) = seen
    assert request.method == "GET" and request.url.path == "/control/drop/publisher"
    # Stream name and client id together: a client id nginx reused after a restart under
    # another stream matches nothing.
    assert dict(request.url.params) == {"app": "live", "name": "session-5", "clientid": "42"}


# -- the session's publisher, without a database -------------------------------------------------


def test_a_session_records_its_publisher_until_it_ends() -> None:
    row = LiveSession(status=SessionStatus.SCHEDULED, scheduled_start_at=b.T0)
    row.start(b.T0)
    row.record_publisher("live", "7")
    assert row.is_published_by("live", "7") and not row.is_published_by("live", "8")
    row.record_publisher("live", "8")
    assert row.is_published_by("live", "8")
    row.end(b.T0)
    with pytest.raises(SessionAlreadyEnded):
        row.record_publisher("live", "9")


def test_a_hook_without_a_client_id_is_refused(hooks: TestClient, db: Session) -> None:
    stage(db)
    response = hooks.post(f"/v1/media/on_publish?secret={SECRET}", data=hook(clientid="x; rm"))
    assert response.status_code == 422 and response.json()["error"] == "InvalidInput"
