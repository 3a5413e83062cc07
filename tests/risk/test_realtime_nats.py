"""NATS mode: a room notice the workers' risk hook makes reaches the API process's SSE
listeners of that room (the worker publishes it after its checkpoint)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import polars as pl
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.events.test_faults import NATS_URL, _nats_up
from tests.events.test_sse import _drop_stream
from tests.risk.test_realtime import T0, lure_rule, rule_set
from zhibo.config import Settings
from zhibo.events.service import EventService
from zhibo.events.worker import Worker
from zhibo.models import SessionStatus
from zhibo.risk import realtime

pytestmark = pytest.mark.timeout(120)


def test_a_workers_room_notice_reaches_the_api_listeners(
    engine: Engine, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _nats_up():
        pytest.skip("NATS is not reachable")
    if engine.dialect.name != "sqlite":
        pytest.skip("the NATS test runs once, on SQLite (the feed is the same)")
    rules = rule_set(lure_rule(measures=["viewer_notice"]))
    monkeypatch.setattr(
        realtime,
        "pipeline_hook",
        lambda engine: realtime.RealtimeRisk(engine, realtime.Context(rules=rules)),
    )
    room = b.room(db)
    live = b.live_session(db, room_row=room, status=SessionStatus.LIVE)
    db.commit()
    room_id, session_id = room.id, live.id
    unique = uuid.uuid4().hex[:8]
    stream, prefix = f"ZHIBONOTE{unique.upper()}", f"znote{unique}"
    names = {
        "metrics_subject": f"zhibo_live_test_{unique}.metrics",
        "notices_subject": f"zhibo_live_test_{unique}.notices",
    }
    nats_settings = settings.model_copy(update={"bus_url": NATS_URL})
    comment = {
        "event_id": f"lure-{unique}",
        "session_id": session_id,
        "room_id": room_id,
        "user_id": 901,
        "type": "comment",
        "ts": int(T0.timestamp() * 1000),
        "text": "想要的加V: abc12345",
    }

    async def scenario() -> dict[str, Any]:
        api = EventService(nats_settings, engine, stream=stream, subject_prefix=prefix, **names)
        worker = Worker(
            nats_settings,
            engine,
            set(range(nats_settings.events_partitions)),
            stream=stream,
            subject_prefix=prefix,
            consumer_prefix=prefix,
            **names,
        )
        running = asyncio.ensure_future(worker.run())
        try:
            listener = await api.subscribe(room_id)
            assert api.pipeline is None  # the API process only validates and publishes
            await api.ingest([pl.DataFrame([comment])], "test")
            while True:
                item = await asyncio.wait_for(listener.get(), 20)
                if item["event"] == "notice":
                    return dict(item["data"])
        finally:
            worker.stop.set()
            await running
            await api.close()
            await _drop_stream(stream)

    notice = asyncio.run(scenario())
    assert notice["kind"] == "viewer_notice"
    assert notice.get("room_id", room_id) == room_id


def test_a_notice_made_in_an_api_process_reaches_listeners_over_nats(
    engine: Engine, settings: Settings
) -> None:
    """An order's finding is decided in an API process: in NATS mode its notice goes out on the
    notices subject, so the listeners of every API process (this one too) get it."""
    from types import SimpleNamespace

    from zhibo.events.feed import forward_notices_to, publish_notice

    if not _nats_up():
        pytest.skip("NATS is not reachable")
    if engine.dialect.name != "sqlite":
        pytest.skip("the NATS test runs once, on SQLite (the feed is the same)")
    unique = uuid.uuid4().hex[:8]
    nats_settings = settings.model_copy(update={"bus_url": NATS_URL})
    names = {
        "metrics_subject": f"zhibo_live_test_{unique}.metrics",
        "notices_subject": f"zhibo_live_test_{unique}.notices",
    }

    async def scenario() -> list[dict[str, Any]]:
        stream, prefix = f"ZHIBOAPIN{unique.upper()}", f"zapin{unique}"
        this = EventService(nats_settings, engine, stream=stream, subject_prefix=prefix, **names)
        other = EventService(nats_settings, engine, stream=stream, subject_prefix=prefix, **names)
        state = SimpleNamespace(settings=nats_settings, engine=engine, events=this)
        try:
            here, there = await this.subscribe(5), await other.subscribe(5)
            with forward_notices_to(state):
                publish_notice(5, {"kind": "viewer_notice", "audience": "viewers"})
                got = [await asyncio.wait_for(queue.get(), 10) for queue in (here, there)]
            assert here.empty()  # delivered once, from the subject, not also locally
            return [item["data"] for item in got if item["event"] == "notice"]
        finally:
            await this.close()
            await other.close()
            await _drop_stream(stream)

    assert asyncio.run(scenario()) == [{"kind": "viewer_notice", "audience": "viewers"}] * 2
