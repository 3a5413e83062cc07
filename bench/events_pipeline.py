"""Viewer events, embedded: end-to-end events/s from encoded batches (Arrow IPC, as they travel
on the bus) to metrics + lake, against two baselines measured in the same run on the same
events: a plain Python loop over dicts decoded with orjson doing the same counting, and Polars
computing the same per-session metrics from the whole file in one batch. Also p50/p99 latency
from an event's arrival (an ``ingest`` call) to its effect on committed metrics, and memory with
10,000 rooms live at once.

Method: one simulated week (``small``, seed 3, ~1M events), in event-time order, in IPC
messages of 65,536 rows (one partition, as in-process). Each figure is the median of
``REPEAT`` runs. "per core" is events per second of CPU time of this process (the lake
writer runs in a second thread), so it does not improve by using both cores; "wall" is
elapsed time. The pipeline commits its metrics (SQLite) and positions once per
``COMMIT_EVERY`` messages, as a worker does per fetch.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core per worker process

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from zhibo.events.pipeline import Pipeline
from zhibo.events.validation import encode_ipc
from zhibo.kit import migrate
from zhibo.kit.db import make_engine
from zhibo.sim.generator import generate

REPEAT = 3
ROWS_PER_MESSAGE = 65_536
PARTITIONS = 1  # the in-process default: one pipeline applies every room
COMMIT_EVERY = 8


def _messages(events: pa.Table) -> list[tuple[int, bytes]]:
    frame = pl.from_arrow(events)
    assert isinstance(frame, pl.DataFrame)
    parts = frame.with_columns((pl.col("room_id") % PARTITIONS).alias("_p")).partition_by(
        "_p", as_dict=True, include_key=False
    )
    messages = []
    for (partition,), part in sorted(parts.items()):
        arrow = part.to_arrow()
        for start in range(0, arrow.num_rows, ROWS_PER_MESSAGE):
            messages.append((int(partition), encode_ipc(arrow.slice(start, ROWS_PER_MESSAGE))))
    return messages


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def embedded(messages: list[tuple[int, bytes]], folder: Path) -> tuple[float, float]:
    runs = []
    for _ in range(REPEAT):
        run_dir = folder / uuid.uuid4().hex
        engine = make_engine(f"sqlite:///{run_dir / 'zhibo.db'}")
        migrate.upgrade(engine)
        pipeline = Pipeline(engine, run_dir, partitions=set(range(PARTITIONS)), hooks=[])
        pipeline.recover()

        def run(pipeline: Pipeline = pipeline) -> None:
            for index, (partition, payload) in enumerate(messages, 1):
                pipeline.handle(partition, payload)
                if index % COMMIT_EVERY == 0:
                    pipeline.checkpoint()
            pipeline.checkpoint()

        runs.append(_timed(run))
        pipeline.close()
        engine.dispose()
    return _median(runs)


def dict_loop(lines: list[bytes]) -> tuple[float, float]:
    """The same metrics with dicts and sets, one event at a time (decoding included)."""

    def run() -> None:
        seen: set[str] = set()
        counters: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        minutes: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        viewers: dict[int, set[int]] = defaultdict(set)
        buyers: dict[int, set[int]] = defaultdict(set)
        visits: dict[tuple[int, int], list[int]] = {}
        last: dict[int, int] = {}
        for line in lines:
            event = orjson.loads(line)
            if event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            session, kind, ts = event["session_id"], event["type"], event["ts"]
            units = (event.get("count") or 1) if kind == "like" else 1
            counters[session][kind] += units
            minutes[(session, ts // 60_000)][kind] += units
            if ts > last.get(session, 0):
                last[session] = ts
            if kind == "enter":
                viewers[session].add(event["user_id"])
            elif kind == "order":
                buyers[session].add(event["user_id"])
                counters[session]["gmv_fen"] += event["amount_fen"]
            if kind in ("enter", "leave"):
                visit = visits.setdefault((session, event["user_id"]), [2**62, 0, 0])
                if kind == "enter" and ts < visit[0]:
                    visit[0] = ts
                if ts >= visit[1]:
                    visit[1], visit[2] = ts, kind == "leave"

    return _median([_timed(run) for _ in range(REPEAT)])


def polars_batch(events: pa.Table) -> tuple[float, float]:
    """Polars, the whole file in one batch: counts, distinct viewers/buyers, visits."""

    def run() -> None:
        frame = pl.from_arrow(events)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.unique("event_id", keep="first").with_columns(
            pl.col("ts").dt.epoch("ms").alias("ms")
        )
        kind = pl.col("type")
        frame.group_by("session_id").agg(
            *((kind == t).sum().alias(t) for t in ("enter", "leave", "comment", "order")),
            pl.col("count").fill_null(1).filter(kind == "like").sum().alias("likes"),
            pl.col("amount_fen").filter(kind == "order").sum().alias("gmv_fen"),
            pl.col("user_id").filter(kind == "enter").n_unique().alias("unique_viewers"),
            pl.col("user_id").filter(kind == "order").n_unique().alias("buyers"),
        )
        frame.group_by("session_id", pl.col("ms") // 60_000).agg(pl.len())
        frame.filter(kind.is_in(["enter", "leave"])).group_by("session_id", "user_id").agg(
            pl.col("ms").filter(kind == "enter").min().alias("first_enter"),
            pl.col("ms").max().alias("last"),
        )

    return _median([_timed(run) for _ in range(REPEAT)])


def latency(events: pa.Table, folder: Path, rate: int) -> tuple[float, float, float]:
    """Events arrive in batches of 2,000 at ``rate`` events/s for ~10 s; each ``ingest`` call
    validates, publishes, applies and commits before it returns. Latency of an event = commit
    time - arrival of its batch (waiting included when the pipeline falls behind)."""
    import asyncio

    from zhibo.config import Settings
    from zhibo.events.service import EventService

    run_dir = folder / f"latency-{rate}"
    engine = make_engine(f"sqlite:///{run_dir / 'zhibo.db'}")
    migrate.upgrade(engine)
    settings = Settings(database_url=str(engine.url), data_dir=run_dir)
    frame = pl.from_arrow(events.slice(0, rate * 10))
    assert isinstance(frame, pl.DataFrame)
    batch = 2_000
    latencies: list[float] = []

    async def run() -> None:
        service = EventService(settings, engine)
        await service.start()
        started = time.perf_counter()
        for index, start in enumerate(range(0, frame.height, batch)):
            arrival = started + index * batch / rate
            now = time.perf_counter()
            if now < arrival:
                await asyncio.sleep(arrival - now)
            await service.ingest([frame.slice(start, batch)], "bench")
            done = time.perf_counter()
            latencies.extend([done - arrival] * min(batch, frame.height - start))
        await service.close()

    asyncio.run(run())
    engine.dispose()
    values = np.array(latencies)
    return float(np.median(values)), float(np.percentile(values, 99)), frame.height / rate


def ten_thousand_rooms(folder: Path) -> tuple[int, int, int]:
    """10,000 sessions live at once: 60 viewers each enter, like and comment for an hour."""
    rng = np.random.default_rng(1)
    rooms, viewers = 10_000, 60
    n = rooms * viewers
    session = np.repeat(np.arange(1, rooms + 1), viewers)
    user = rng.integers(1, 2_000_000, n)
    start = 1_793_500_000_000 + rng.integers(0, 3_600_000, n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pipeline = Pipeline(None, folder / "rooms", partitions={0}, hooks=[])
    total = 0
    for kind, offset in (("enter", 0), ("like", 60_000), ("comment", 120_000), ("like", 180_000)):
        table = pa.table(
            {
                "event_id": pa.array([f"{kind}{offset}-{i}" for i in range(n)]),
                "session_id": session,
                "room_id": session,
                "user_id": user,
                "device_id": pa.nulls(n, pa.string()),
                "ip": pa.nulls(n, pa.string()),
                "type": pa.array([kind] * n),
                "ts": pa.array(start + offset, pa.timestamp("ms", tz="UTC")),
                "text": pa.array(["好"] * n if kind == "comment" else [None] * n, pa.string()),
                "count": pa.nulls(n, pa.int32()),
                "product_id": pa.nulls(n, pa.int64()),
                "amount_fen": pa.nulls(n, pa.int64()),
                "gift_id": pa.nulls(n, pa.int64()),
            }
        )
        for chunk in table.to_batches(65_536):
            pipeline.apply(0, pa.Table.from_batches([chunk]))
        total += n
    pipeline.checkpoint()
    pipeline.close()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    live = sum(1 for _ in pipeline.metrics.sessions())
    return live, pipeline.metrics.nbytes, (after - before) * 1024 + 0 * total


def rooms_report() -> None:
    with tempfile.TemporaryDirectory(prefix="zhibo-bench-rooms-") as tmp:
        live, state_bytes, _ = ten_thousand_rooms(Path(tmp))
    # VmHWM, not ru_maxrss: after fork + exec, ru_maxrss still holds the parent's peak.
    status = Path("/proc/self/status").read_text()
    peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    peak *= 1024
    print(
        f"{live:,} live rooms at once (60 viewers each, 2.4M events): engine state "
        f"{state_bytes / 2**20:,.0f} MiB, peak RSS of the process {peak / 2**20:,.0f} MiB"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zhibo-bench-events-") as tmp:
        folder = Path(tmp)
        generate(seed=3, scale="small", out=folder / "sim", progress=False)
        events = pq.read_table(folder / "sim" / "events.parquet").drop(["currency"])
        n = events.num_rows
        messages = _messages(events)
        lines = [
            orjson.dumps({**row, "ts": int(row["ts"].timestamp() * 1000)})
            for row in events.to_pylist()
        ]
        print(f"{n:,} events, {len(messages)} IPC messages, {len(lines):,} JSON lines")

        ours_wall, ours_cpu = embedded(messages, folder)
        print(f"embedded: {n / ours_cpu:,.0f} events/s per core", flush=True)
        _loop_wall, loop_cpu = dict_loop(lines)
        print(f"loop: {n / loop_cpu:,.0f} events/s per core", flush=True)
        polars_wall, polars_cpu = polars_batch(events)
        print(
            f"embedded pipeline (IPC -> metrics + lake + SQLite commits): "
            f"{n / ours_cpu:,.0f} events/s per core (CPU), {n / ours_wall:,.0f} events/s wall"
        )
        print(
            f"plain Python dict loop (orjson decode + counting): {n / loop_cpu:,.0f} events/s "
            f"per core; pipeline / loop = {loop_cpu / ours_cpu:.2f}x"
        )
        print(
            f"Polars one-batch recomputation (whole file, no lake): {n / polars_cpu:,.0f} "
            f"events/s per core, {n / polars_wall:,.0f} wall"
        )
        for rate in (20_000, 50_000):
            p50, p99, span = latency(events, folder, rate)
            print(
                f"event-to-metric latency, {rate:,} events/s offered for {span:.0f} s in "
                f"batches of 2,000: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms",
                flush=True,
            )
        # In a fresh process, so that its peak RSS is the pipeline's, not this benchmark's.
        report = subprocess.run(
            [
                sys.executable,
                "-c",
                "from bench.events_pipeline import rooms_report; rooms_report()",
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout.strip()
        print(report)


if __name__ == "__main__":
    main()
