"""Viewer events through NATS JetStream with 2 worker processes: the simulated week is
published as Arrow IPC batches (LZ4, 6,000 events per message, under NATS's 1 MB limit) on 8
partition subjects; then two ``Worker`` processes (partitions split by index) consume, apply to
metrics, write the lake and commit to SQLite per fetch. Throughput = events / (last commit of
either worker - first message taken by either), so publishing is not counted; the publish rate
is printed separately. Skipped when NATS is not reachable at 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl

from zhibo.config import Settings
from zhibo.events.service import EventService
from zhibo.kit import migrate
from zhibo.kit.db import make_engine
from zhibo.sim.generator import generate

NATS_URL = os.environ.get("ZHIBO_BENCH_NATS", "nats://127.0.0.1:4222")

WORKER = """
import asyncio, json, sys
from zhibo.config import get_settings
from zhibo.kit.db import make_engine
from zhibo.events.worker import Worker, partitions_for
settings = get_settings()
index, stream, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
worker = Worker(settings, make_engine(settings.database_url),
                partitions_for(index, 2, settings.events_partitions),
                stream=stream, subject_prefix=prefix, consumer_prefix=prefix)
pipeline = asyncio.run(worker.run(idle_exit_seconds=2))
print(json.dumps({"first": worker.first_message_at, "last": worker.last_commit_at,
                  "events": pipeline.totals.accepted}))
"""


def _nats_up() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def main() -> None:
    if not _nats_up():
        print(f"NATS not reachable at {NATS_URL}: skipped")
        return
    with tempfile.TemporaryDirectory(prefix="zhibo-bench-nats-") as tmp:
        folder = Path(tmp)
        generate(seed=3, scale="small", out=folder / "sim", progress=False)
        frame = pl.read_parquet(folder / "sim" / "events.parquet").drop("currency")
        url = f"sqlite:///{folder / 'zhibo.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        settings = Settings(
            database_url=url, data_dir=folder / "data", bus_url=NATS_URL, events_partitions=8
        )
        unique = uuid.uuid4().hex[:8]
        stream, prefix = f"ZHIBOBENCH{unique.upper()}", f"zb{unique}"

        async def publish() -> float:
            service = EventService(settings, engine, stream=stream, subject_prefix=prefix)
            started = time.perf_counter()
            try:
                result = await service.ingest([frame], "bench")
            finally:
                await service.close()
            assert result.accepted == frame.height
            return time.perf_counter() - started

        async def drop() -> None:
            import nats

            connection = await nats.connect(NATS_URL)
            try:
                await connection.jetstream().delete_stream(stream)
            finally:
                await connection.close()

        try:
            publish_s = asyncio.run(publish())
            print(
                f"published {frame.height:,} events (validated, IPs hashed, placeholders) in "
                f"{publish_s:.1f} s = {frame.height / publish_s:,.0f} events/s"
            )
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("ZHIBO_")},
                "ZHIBO_DATABASE_URL": url,
                "ZHIBO_DATA_DIR": str(settings.data_dir),
                "ZHIBO_BUS_URL": NATS_URL,
                "ZHIBO_EVENTS_PARTITIONS": "8",
                "POLARS_MAX_THREADS": "1",
            }
            workers = [
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(i), stream, prefix],
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for i in range(2)
            ]
            reports = [
                json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in workers
            ]
            events = sum(r["events"] for r in reports)
            span = max(r["last"] for r in reports) - min(r["first"] for r in reports)
            assert events == frame.height, reports
            shares = ", ".join(f"{r['events']:,}" for r in reports)
            print(
                f"NATS JetStream, 2 worker processes: {events:,} events in {span:.1f} s = "
                f"{events / span:,.0f} events/s (per worker: {shares})"
            )
        finally:
            asyncio.run(drop())
            engine.dispose()


if __name__ == "__main__":
    main()
