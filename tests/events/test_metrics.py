"""Metrics equal an independent DuckDB recomputation from the lake, exactly: duplicates,
leave-before-enter, late (re-ordered) events and events for an ended session included."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.events.conftest import lake_event_ids, recompute_from_lake
from zhibo.config import Settings
from zhibo.events.schemas import COUNTER_FIELDS
from zhibo.events.service import EventService, get_session_metrics
from zhibo.kit.db import unit_of_work
from zhibo.kit.time import utcnow
from zhibo.models import LiveSession, SessionMetrics

FIELDS = (
    *COUNTER_FIELDS,
    "unique_viewers",
    "buyers",
    "online_now",
    "peak_online",
    "avg_watch_seconds",
)


def _ingest(settings: Settings, engine: Engine, frames: list[pl.DataFrame]) -> dict[str, int]:
    async def run() -> dict[str, int]:
        service = EventService(settings, engine)
        try:
            result = await service.ingest(frames, "test")
        finally:
            await service.close()
        return {"accepted": result.accepted, "duplicates": result.duplicates}

    return asyncio.run(run())


def _assert_matches_lake(engine: Engine, settings: Settings) -> dict[int, dict[str, object]]:
    expected = recompute_from_lake(settings.data_dir)
    with unit_of_work(engine) as db:
        stored = db.scalar(select(func.count()).select_from(SessionMetrics))
        assert stored == len(expected)
        for session_id, want in expected.items():
            got = get_session_metrics(db, session_id).model_dump()
            assert {f: got[f] for f in FIELDS} == {f: want[f] for f in FIELDS}, session_id
    return expected


def _scenario(events: pa.Table) -> tuple[pl.DataFrame, int]:
    """The simulated stream, disturbed: 3% duplicates, leave-before-enter for some users,
    and an extra leave after the session's last event for others."""
    frame = pl.from_arrow(events)
    assert isinstance(frame, pl.DataFrame)
    rng = np.random.default_rng(7)
    duplicates = frame.sample(fraction=0.03, seed=1)
    enters = frame.filter(pl.col("type") == "enter").sample(n=300, seed=2)
    early_leaves = enters.with_columns(
        (pl.col("event_id") + "-early").alias("event_id"),
        pl.lit("leave").alias("type"),
        (pl.col("ts") - pl.duration(seconds=30)).alias("ts"),
    )
    mixed = pl.concat([frame, duplicates, early_leaves], how="vertical_relaxed")
    order = rng.permutation(mixed.height)
    return mixed[order], duplicates.height


def test_metrics_equal_duckdb_recomputation(
    sim_events: pa.Table, engine: Engine, settings: Settings
) -> None:
    disturbed, duplicate_rows = _scenario(sim_events)
    # Late and re-ordered: shuffled rows, in batches of different sizes, across two runs.
    cut = disturbed.height // 3
    first = _ingest(settings, engine, [disturbed[:cut]])
    second = _ingest(settings, engine, [disturbed[cut : cut + 20_000], disturbed[cut + 20_000 :]])
    assert first["accepted"] + second["accepted"] == sim_events.num_rows + 300
    assert first["duplicates"] + second["duplicates"] == duplicate_rows
    expected = _assert_matches_lake(engine, settings)
    ids = lake_event_ids(settings.data_dir)
    assert ids.len() == ids.n_unique() == sim_events.num_rows + 300
    assert sum(row["enters"] for row in expected.values()) > 0

    # The same file again: no second effect.
    again = _ingest(settings, engine, [disturbed])
    assert again == {"accepted": 0, "duplicates": disturbed.height}
    _assert_matches_lake(engine, settings)


def test_ended_session_and_late_events_after_restart(
    sim_events: pa.Table, engine: Engine, settings: Settings, db: Session
) -> None:
    frame = pl.from_arrow(sim_events)
    assert isinstance(frame, pl.DataFrame)
    session_id = frame.group_by("session_id").len().sort("len")[-1, "session_id"]
    session = frame.filter(pl.col("session_id") == session_id).sort("ts")
    on_time, late = session[: session.height * 2 // 3], session[session.height * 2 // 3 :]
    _ingest(settings, engine, [on_time])
    row = db.get(LiveSession, session_id)
    assert row is not None
    row.end(utcnow() - timedelta(days=1))
    db.commit()
    # A restarted service (recovery from the lake) gets the late rest, shuffled, plus
    # a leave-before-enter for a new user who never enters.
    stray = late[:1].with_columns(
        pl.lit("stray-leave").alias("event_id"),
        pl.lit("leave").alias("type"),
        pl.lit(987_654_321, dtype=pl.Int64).alias("user_id"),
    )
    result = _ingest(settings, engine, [pl.concat([late, stray]).sample(fraction=1.0, seed=3)])
    assert result == {"accepted": late.height + 1, "duplicates": 0}
    expected = _assert_matches_lake(engine, settings)
    assert (
        expected[session_id]["unique_viewers"]
        == session.filter(pl.col("type") == "enter")["user_id"].n_unique()
    )


def test_two_processes_share_the_embedded_lake(
    sim_events: pa.Table, engine: Engine, settings: Settings
) -> None:
    """An API process and ``zhibo events ingest`` (two services here) take turns on one lake and
    database: each catches up from the lake when the other has committed since."""
    frame = pl.from_arrow(sim_events.slice(0, 60_000))
    assert isinstance(frame, pl.DataFrame)
    parts = [frame[:20_000], frame[20_000:40_000], frame[40_000:]]

    async def run() -> list[tuple[int, int]]:
        first, second = EventService(settings, engine), EventService(settings, engine)
        counts = []
        for service, part in ((first, parts[0]), (second, parts[1]), (first, parts[2])):
            result = await service.ingest([part, parts[1][:100]], "test")
            counts.append((result.accepted, result.duplicates))
        await first.close()
        await second.close()
        return counts

    counts = asyncio.run(run())
    assert counts == [(20_100, 0), (19_900, 200), (20_000, 100)]
    _assert_matches_lake(engine, settings)
    assert lake_event_ids(settings.data_dir).n_unique() == 60_000
