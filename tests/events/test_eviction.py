"""Evicting ended sessions: the engine forgets them (memory follows the sessions in play, not
every session ever seen), and a late event for an evicted session is still counted exactly,
its state rebuilt from the lake."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.events.conftest import recompute_from_lake
from tests.events.test_metrics import FIELDS
from zhibo.config import Settings
from zhibo.events.engine import MetricsEngine, SessionSnapshot
from zhibo.events.service import EventService, get_session_metrics
from zhibo.kit.db import unit_of_work
from zhibo.kit.time import utcnow
from zhibo.models import LiveSession

T0 = 1_793_500_000_000
MINUTE = 60_000


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    from zhibo.events.schemas import EVENT_SCHEMA

    columns = {name: [row.get(name) for row in rows] for name in EVENT_SCHEMA.names}
    columns["ts"] = pa.array(columns["ts"], pa.int64()).cast(EVENT_SCHEMA.field("ts").type)
    return pa.Table.from_pydict(columns, schema=EVENT_SCHEMA)


def _session_events(session_id: int, users: int, prefix: str = "") -> list[dict[str, Any]]:
    """Viewers entering, liking, leaving (some), ordering, over a few minutes."""
    rows: list[dict[str, Any]] = []
    room_id = session_id * 10
    for user in range(1, users + 1):
        base = T0 + user * 7_000

        def event(kind: str, at: int, user: int = user, **extra: Any) -> None:
            rows.append(
                {
                    "event_id": f"{prefix}{session_id}-{user}-{kind}-{at}",
                    "session_id": session_id,
                    "room_id": room_id,
                    "user_id": user,
                    "type": kind,
                    "ts": at,
                    **extra,
                }
            )

        event("enter", base)
        event("like", base + 1_000, count=user % 3 + 1)
        if user % 2:
            event("leave", base + 2 * MINUTE)
        if user % 3 == 0:
            event("order", base + MINUTE, product_id=1, amount_fen=100 * user)
    return rows


def _snapshot(engine: MetricsEngine, session_id: int) -> SessionSnapshot:
    snapshot = engine.session(session_id)
    assert snapshot is not None
    return snapshot


def test_evicting_a_session_forgets_it_and_leaves_the_others_exact() -> None:
    engine = MetricsEngine()
    a, b = _session_events(1, 40), _session_events(2, 30)
    engine.apply(_table(a + b))
    engine.take_dirty()
    before_b = _snapshot(engine, 2)
    sizes = (len(engine.seen), engine.viewers.size, engine.minute_index.size)

    assert engine.evict([1, 999]) == 1

    assert list(engine.sessions()) == [2] and engine.session(1) is None
    assert len(engine.seen) == sizes[0] - len(a)
    assert engine.viewers.size == sizes[1] - 40
    assert engine.minute_index.size < sizes[2]
    assert _snapshot(engine, 2) == before_b
    # Session 2 goes on exactly as if 1 had never been there.
    more = _session_events(2, 45, prefix="more-")[-30:]
    reference = MetricsEngine()
    reference.apply(_table(b))
    for target in (engine, reference):
        applied = target.apply(_table(more + b[:5]))
        assert applied.duplicates == 5
    assert _snapshot(engine, 2) == _snapshot(reference, 2)
    # Replaying an evicted session's events rebuilds it exactly.
    engine.apply(_table(a))
    full = MetricsEngine()
    full.apply(_table(a))
    assert _snapshot(engine, 1) == _snapshot(full, 1)


def test_evict_refuses_while_changes_are_pending() -> None:
    engine = MetricsEngine()
    engine.apply(_table(_session_events(1, 3)))
    with pytest.raises(RuntimeError):
        engine.evict([1])


def test_memory_follows_the_sessions_in_play_not_the_sessions_seen() -> None:
    engine = MetricsEngine()
    peak = 0
    for session_id in range(1, 301):
        engine.apply(_table(_session_events(session_id, 20)))
        engine.take_dirty()
        engine.evict([session_id - 1])  # the previous session ended
        peak = max(peak, engine.nbytes)
        assert len(engine.session_ids) == 1 and engine.viewers.size == 20
    assert len(engine.seen) == len(_session_events(300, 20))
    # Capacity is reused, never grown past the high-water mark of two sessions.
    assert engine.nbytes == peak


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.from_dicts(rows, infer_schema_length=None)


def test_late_events_of_an_evicted_session_count_exactly(
    engine: Engine, settings: Settings, db: Session
) -> None:
    first, second = _session_events(1, 60), _session_events(2, 30)
    # Late for session 1: new viewers, leaves of viewers still in, orders, and duplicates of
    # events counted before the eviction (resent by a client, redelivered by the bus).
    late_rows = _session_events(1, 90, prefix="late-")[len(_session_events(1, 60)) :]
    late_rows += [
        {**row, "event_id": f"late-leave-{row['user_id']}", "type": "leave", "ts": T0 + 10 * MINUTE}
        for row in first
        if row["type"] == "enter" and row["user_id"] % 2 == 0
    ]
    duplicates = first[::7]

    async def scenario() -> tuple[int, int, int, int]:
        service = EventService(settings, engine)
        try:
            await service.start()
            assert service.pipeline is not None
            pipeline = service.pipeline
            pipeline.evict_ended_after_s = pipeline.evict_every_s = 0.0
            await service.ingest([_frame(first + second)], "test")
            with unit_of_work(engine) as work:
                row = work.get(LiveSession, 1)
                assert row is not None
                row.end(utcnow() - timedelta(minutes=5))
            # The next checkpoint evicts the ended session (the live one stays).
            await service.ingest([_frame(_session_events(2, 35, prefix="b-")[-10:])], "test")
            assert set(pipeline.metrics.session_ids) == {2} and pipeline.evicted == 1
            result = await service.ingest([_frame(late_rows + duplicates)], "test")
            reloaded = pipeline.reloaded
            # ...and once the late events are in, it is evicted again.
            evicted_again = 1 not in pipeline.metrics.session_ids
            return result.accepted, result.duplicates, reloaded, int(evicted_again)
        finally:
            await service.close()

    accepted, duplicate_count, reloaded, evicted_again = asyncio.run(scenario())
    assert (accepted, duplicate_count) == (len(late_rows), len(duplicates))
    assert reloaded == 1 and evicted_again == 1
    expected = recompute_from_lake(settings.data_dir)
    with unit_of_work(engine) as work:
        for session_id, want in expected.items():
            got = get_session_metrics(work, session_id).model_dump()
            assert {f: got[f] for f in FIELDS} == {f: want[f] for f in FIELDS}, session_id
    assert expected[1]["unique_viewers"] == 90


def test_the_seen_set_forgets_a_tags_keys_and_keeps_the_rest() -> None:
    from zhibo.events.hashset import U64Set

    keys = np.arange(0, 5_000, dtype=np.uint64)  # 0 and 1 are the empty and tombstone marks
    seen = U64Set(1 << 4)  # tiny: many collisions, probes run over tombstones
    assert seen.add(keys, keys % 5).all()
    assert seen.discard_tagged(np.array([0, 3])) == 2_000
    assert len(seen) == 3_000
    again = seen.add(keys, keys % 5)
    # The discarded keys are new again; the others (found past tombstones) are not.
    assert np.array_equal(again, np.isin(keys % 5, [0, 3]))
    assert len(seen) == 5_000
    for _ in range(20):  # discarding and re-adding recycles the tombstones, it never grows
        seen.discard_tagged(np.array([0, 3]))
        seen.add(keys, keys % 5)
    assert seen.nbytes == U64Set(1 << 14).nbytes and len(seen) == 5_000


def test_a_restart_replays_the_lake_without_holding_ended_sessions(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zhibo.events import pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "RECOVERY_EVICT_FILES", 1)
    ended, live = _session_events(1, 40), _session_events(2, 40)
    parts = [ended[:50] + live[:50], ended[50:] + live[50:80], live[80:]]
    late = _session_events(1, 50, prefix="late-")[len(ended) :] + ended[::9]

    async def first_run() -> None:
        service = EventService(settings, engine)
        try:
            for part in parts:  # one lake file each
                await service.ingest([_frame(part)], "test")
        finally:
            await service.close()

    async def restarted() -> tuple[set[int], int, int]:
        service = EventService(settings, engine)
        try:
            await service.start()
            assert service.pipeline is not None
            service.pipeline.evict_every_s = 1e9  # only the replay evicts here
            await service.ingest([_frame(live[:3])], "test")  # recovers first: all duplicates
            held = set(service.pipeline.metrics.session_ids)
            result = await service.ingest([_frame(late)], "test")
            return held, result.accepted, result.duplicates
        finally:
            await service.close()

    asyncio.run(first_run())
    with unit_of_work(engine) as work:
        row = work.get(LiveSession, 1)
        assert row is not None
        row.end(utcnow())
    held, accepted, duplicate_count = asyncio.run(restarted())
    assert held == {2}
    assert (accepted, duplicate_count) == (len(late) - len(ended[::9]), len(ended[::9]))
    expected = recompute_from_lake(settings.data_dir)
    with unit_of_work(engine) as work:
        for session_id, want in expected.items():
            got = get_session_metrics(work, session_id).model_dump()
            assert {f: got[f] for f in FIELDS} == {f: want[f] for f in FIELDS}, session_id
    assert expected[1]["unique_viewers"] == 50
