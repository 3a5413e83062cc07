"""At-least-once delivery with idempotent effects: a worker killed with SIGKILL in the middle
of a stream and restarted leaves metrics and lake with every event exactly once, on the
in-process set-up (the command line) and on NATS JetStream with two workers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.events.conftest import lake_event_ids, recompute_from_lake
from zhibo.config import Settings
from zhibo.events.service import EventService, get_session_metrics
from zhibo.kit.db import unit_of_work
from zhibo.models import EventPosition

NATS_URL = os.environ.get("ZHIBO_TEST_NATS_URL", "nats://127.0.0.1:4222")
ZHIBO = str(Path(sys.executable).parent / "zhibo")


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ZHIBO_DATABASE_URL": settings.database_url,
        "ZHIBO_DATA_DIR": str(settings.data_dir),
        "ZHIBO_EVENTS_PARTITIONS": str(settings.events_partitions),
        **extra,
    }


def _committed(engine: Engine) -> int:
    with unit_of_work(engine) as db:
        return db.scalar(select(func.count()).select_from(EventPosition)) or 0


def _kill_when_committed(process: subprocess.Popen[bytes], engine: Engine) -> None:
    deadline = time.monotonic() + 60
    while _committed(engine) == 0:
        assert process.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def _assert_exactly_once(engine: Engine, settings: Settings, total: int) -> None:
    ids = lake_event_ids(settings.data_dir)
    assert ids.len() == ids.n_unique() == total
    expected = recompute_from_lake(settings.data_dir)
    with unit_of_work(engine) as db:
        for session_id, want in expected.items():
            got = get_session_metrics(db, session_id).model_dump()
            for name in ("enters", "likes", "gmv_fen", "unique_viewers", "peak_online"):
                assert got[name] == want[name], (session_id, name)
            assert got["avg_watch_seconds"] == want["avg_watch_seconds"]


def test_sigkill_of_the_embedded_ingest_then_replay(
    sim_events: pa.Table, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the embedded fault test runs once, on SQLite (the pipeline is the same)")
    path = tmp_path / "events.parquet"
    pq.write_table(sim_events, path)
    command = [ZHIBO, "events", "ingest", str(path), "--json", "--batch-rows", "15000"]
    process = subprocess.Popen(command, env=_env(settings), stdout=subprocess.PIPE)
    _kill_when_committed(process, engine)
    done = subprocess.run(command, env=_env(settings), capture_output=True, check=True)
    counts = json.loads(done.stdout)
    assert counts["accepted"] + counts["duplicates"] == sim_events.num_rows
    assert counts["duplicates"] > 0 and counts["rejected"] == 0
    _assert_exactly_once(engine, settings, sim_events.num_rows)


def _nats_up() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


WORKER = """
import asyncio, sys
from zhibo.config import get_settings
from zhibo.kit.db import make_engine
from zhibo.events.worker import Worker, partitions_for
settings = get_settings()
index, of, stream, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
idle, fetch = float(sys.argv[5]), int(sys.argv[6])
worker = Worker(settings, make_engine(settings.database_url),
                partitions_for(index, of, settings.events_partitions),
                stream=stream, subject_prefix=prefix, consumer_prefix=prefix, fetch_messages=fetch)
asyncio.run(worker.run(idle_exit_seconds=idle))
"""


def test_sigkill_of_a_nats_worker_then_two_workers_finish(
    sim_events: pa.Table, engine: Engine, settings: Settings
) -> None:
    if not _nats_up():
        if os.environ.get("CI"):
            pytest.fail(f"NATS is not reachable at {NATS_URL} (CI needs it)")
        pytest.skip("NATS is not reachable")
    if engine.dialect.name != "sqlite":
        pytest.skip("the NATS fault test runs once, on SQLite (the pipeline is the same)")
    unique = uuid.uuid4().hex[:8]
    stream, prefix = f"ZHIBOEV{unique.upper()}", f"zev{unique}"
    nats_settings = settings.model_copy(update={"bus_url": NATS_URL})

    async def publish() -> int:
        service = EventService(
            nats_settings, engine, stream=stream, subject_prefix=prefix, rows_per_message_nats=4000
        )
        try:
            result = await service.ingest([sim_events_frame], "test")
        finally:
            await service.close()
        return result.accepted

    import polars as pl

    sim_events_frame = pl.from_arrow(sim_events)
    assert isinstance(sim_events_frame, pl.DataFrame)
    try:
        assert asyncio.run(publish()) == sim_events.num_rows
        env = _env(nats_settings, ZHIBO_BUS_URL=NATS_URL)
        first = subprocess.Popen(
            [sys.executable, "-c", WORKER, "0", "1", stream, prefix, "30", "1"], env=env
        )
        _kill_when_committed(first, engine)
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(i), "2", stream, prefix, "1", "16"],
                env=env,
            )
            for i in range(2)
        ]
        for process in workers:
            assert process.wait(timeout=120) == 0
        _assert_exactly_once(engine, settings, sim_events.num_rows)
    finally:

        async def drop() -> None:
            import nats

            connection = await nats.connect(NATS_URL)
            try:
                await connection.jetstream().delete_stream(stream)
            finally:
                await connection.close()

        asyncio.run(drop())
