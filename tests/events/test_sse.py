"""The SSE stream of a room end to end: a real HTTP server (uvicorn in a thread), a client
reading ``/v1/rooms/{id}/stream`` while events are posted, and the auth scoping of the stream.
Then NATS mode: workers publish committed metric snapshots, and an API process that applies
nothing itself still pushes them to its listeners (real NATS JetStream)."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import polars as pl
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.events.test_faults import NATS_URL, _nats_up
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.events.service import EventService
from zhibo.events.worker import Worker
from zhibo.models import Role

T0 = 1_793_500_000_000

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture
def server(engine: Engine, settings: Settings) -> Iterator[Server]:
    """zhibo's app served by uvicorn over real HTTP, in a thread of this process."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the HTTP end-to-end test runs once, on SQLite (the stream is the same)")
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, engine),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", running, thread)
    finally:
        running.should_exit = True
        thread.join(timeout=10)


class StreamReader:
    """Reads an SSE stream in a thread; each event lands in ``events`` as (kind, data)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.status: int | None = None
        self.connected = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=60))
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                if response.status_code != 200:
                    self.connected.set()
                    return
                kind = ""
                for line in response.iter_lines():
                    if line == ": connected":
                        self.connected.set()
                    elif line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        self.events.put((kind, json.loads(line.removeprefix("data: "))))
        except httpx.HTTPError:
            pass  # closed by close()

    def next(self, kind: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            got_kind, data = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if got_kind == kind:
                return data

    def wait_until(self, check: Any, timeout: float = 10) -> Any:
        """The first ``metrics`` update for which ``check(data)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.next("metrics", timeout=max(0.01, deadline - time.monotonic()))
            if check(data):
                return data

    def close(self) -> None:
        self._client.close()
        self._thread.join(timeout=5)


def _events(
    session_id: int, room_id: int, kind: str, users: range, prefix: str, **extra: Any
) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{user}",
            "session_id": session_id,
            "room_id": room_id,
            "user_id": user,
            "type": kind,
            "ts": T0 + user,
            **extra,
        }
        for user in users
    ]


def test_metric_updates_reach_the_rooms_stream_over_http(server: Server, db: Session) -> None:
    partner = b.partner(db)
    owner = b.streamer(db, partner_row=partner)
    room = b.room(db, streamer_row=owner)
    live = b.live_session(db, room_row=room)
    other_room = b.room(db)
    operator = b.token(db, Role.OPERATOR)
    streamer = b.token(db, Role.STREAMER, owner.id)
    agency = b.token(db, Role.PARTNER, partner.id)
    db.commit()

    reader = StreamReader(f"{server.url}/v1/rooms/{room.id}/stream", streamer)
    others = StreamReader(f"{server.url}/v1/rooms/{other_room.id}/stream", operator)
    try:
        assert reader.connected.wait(10) and reader.status == 200
        assert others.connected.wait(10) and others.status == 200
        with httpx.Client(base_url=server.url, timeout=10) as api:
            posted = api.post(
                "/v1/events",
                json=_events(live.id, room.id, "enter", range(1, 6), "e"),
                headers=operator,
            )
            assert posted.status_code == 200 and posted.json()["accepted"] == 5, posted.text
            first = reader.wait_until(lambda data: data["unique_viewers"] == 5)
            assert first["session_id"] == live.id and first["room_id"] == room.id
            assert first["online_now"] == 5 and first["enters"] == 5

            likes = _events(live.id, room.id, "like", range(1, 4), "l")
            assert api.post("/v1/events", json=likes, headers=operator).status_code == 200
            second = reader.wait_until(lambda data: data["likes"] == 3)
            assert second["unique_viewers"] == 5

            # A partner follows its streamers' rooms too, from the moment it is connected.
            follower = StreamReader(f"{server.url}/v1/rooms/{room.id}/stream", agency)
            try:
                assert follower.connected.wait(10) and follower.status == 200
                leaves = _events(live.id, room.id, "leave", range(1, 3), "x")
                assert api.post("/v1/events", json=leaves, headers=operator).status_code == 200
                seen = follower.wait_until(lambda data: data["online_now"] == 3)
                assert seen["leaves"] == 2
            finally:
                follower.close()
        # Another room's stream got none of this room's updates.
        assert others.events.empty()
    finally:
        reader.close()
        others.close()


@pytest.mark.parametrize("who", ["other streamer", "other partner", "viewer", "brand"])
def test_only_the_room_its_partner_and_the_platform_may_follow_it(
    server: Server, db: Session, who: str
) -> None:
    room = b.room(db, streamer_row=b.streamer(db, partner_row=b.partner(db)))
    headers = {
        "other streamer": lambda: b.token(db, Role.STREAMER, b.streamer(db).id),
        "other partner": lambda: b.token(db, Role.PARTNER, b.partner(db).id),
        "viewer": lambda: b.token(db, Role.VIEWER, b.viewer(db).id),
        "brand": lambda: b.token(db, Role.BRAND, b.brand(db).id),
    }[who]()
    db.commit()
    with httpx.Client(base_url=server.url, timeout=10) as api:
        refused = api.get(f"/v1/rooms/{room.id}/stream", headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "Forbidden"
        operator = b.token(db, Role.OPERATOR)
        db.commit()
        missing = api.get("/v1/rooms/987654/stream", headers=operator)
        assert missing.status_code == 404
        assert api.get(f"/v1/rooms/{room.id}/stream").status_code == 401


def test_in_nats_mode_the_api_streams_the_workers_metric_snapshots(
    engine: Engine, settings: Settings
) -> None:
    if not _nats_up():
        pytest.skip("NATS is not reachable")
    if engine.dialect.name != "sqlite":
        pytest.skip("the NATS test runs once, on SQLite (the feed is the same)")
    unique = uuid.uuid4().hex[:8]
    stream, prefix = f"ZHIBOSSE{unique.upper()}", f"zsse{unique}"
    feed = f"zhibo_live_test_{unique}.metrics"
    nats_settings = settings.model_copy(update={"bus_url": NATS_URL})

    def frame(kind: str, users: range, room_id: int, session_id: int, **extra: Any) -> pl.DataFrame:
        rows = _events(session_id, room_id, kind, users, f"{kind}{room_id}", **extra)
        return pl.DataFrame(rows)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], bool]:
        api = EventService(
            nats_settings, engine, stream=stream, subject_prefix=prefix, metrics_subject=feed
        )
        worker = Worker(
            nats_settings,
            engine,
            set(range(nats_settings.events_partitions)),
            stream=stream,
            subject_prefix=prefix,
            consumer_prefix=prefix,
            metrics_subject=feed,
        )
        running = asyncio.ensure_future(worker.run())
        try:
            listener = await api.subscribe(7)
            # The API process only validates and publishes: it has no pipeline of its own.
            assert api.pipeline is None
            await api.ingest([frame("enter", range(1, 9), 7, 70)], "test")
            await api.ingest([frame("enter", range(1, 4), 8, 80)], "test")
            first = await _next_metrics(listener, lambda data: data["unique_viewers"] == 8)
            await api.ingest(
                [frame("order", range(1, 3), 7, 70, amount_fen=9900, product_id=5)], "test"
            )
            second = await _next_metrics(listener, lambda data: data["orders"] == 2)
            # Room 8's snapshots went to no listener of room 7.
            others = any(item["data"]["room_id"] != 7 for item in _drain(listener))
            return first, second, others
        finally:
            worker.stop.set()
            await running
            await api.close()
            await _drop_stream(stream)

    first, second, others = asyncio.run(scenario())
    assert first["session_id"] == 70 and first["enters"] == 8
    assert second["buyers"] == 2 and second["conversion"] == 0.25
    assert second["gmv_fen"] == 19800
    assert not others


async def _next_metrics(listener: asyncio.Queue[dict[str, Any]], check: Any) -> dict[str, Any]:
    while True:
        item = await asyncio.wait_for(listener.get(), 20)
        assert item["data"]["room_id"] == 7
        if item["event"] == "metrics" and check(item["data"]):
            return dict(item["data"])


def _drain(listener: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    while not listener.empty():
        items.append(listener.get_nowait())
    return items


async def _drop_stream(stream: str) -> None:
    import nats

    connection = await nats.connect(NATS_URL)
    try:
        await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()
