"""Real-time risk: what the risk hook costs the embedded event pipeline, and risk evaluation's
own rate, on one simulated day (``small``, seed 3, ``days=1``; override with
``ZHIBO_BENCH_RISK_RT_DAYS``).

1. The pipeline (decode, dedup, metrics, lake, SQLite checkpoint every 8 messages of 65,536
   events, as ``bench/events_pipeline.py``) without hooks and with the real-time risk hook
   (built-in rules: comment text rules, like storms, brushing over order events), same events,
   same run; the ratio of CPU times is the hook's overhead. Findings are recorded in the
   database, as in production.
2. Risk evaluation alone (``RealtimeRisk.evaluate`` over the same messages, decoded
   beforehand, no database): events per second of CPU time, against the baseline of the same
   run's pipeline without hooks.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import polars as pl
import pyarrow.parquet as pq

from bench.events_pipeline import COMMIT_EVERY, PARTITIONS, _median, _messages, _timed
from zhibo.events import repository
from zhibo.events.pipeline import Pipeline
from zhibo.events.validation import decode_ipc
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, unit_of_work
from zhibo.risk.realtime import RealtimeRisk, pipeline_hook
from zhibo.sim.generator import generate

REPEAT = 3
DAYS = int(os.environ.get("ZHIBO_BENCH_RISK_RT_DAYS", "1"))


def pipeline_run(
    messages: list[tuple[int, bytes]],
    folder: Path,
    with_risk: bool,
    sessions: dict[int, tuple[int, datetime]],
) -> tuple[float, float, int]:
    runs = []
    findings = 0
    for _ in range(REPEAT):
        run_dir = folder / uuid.uuid4().hex
        engine = make_engine(f"sqlite:///{run_dir / 'zhibo.db'}")
        migrate.upgrade(engine)
        with unit_of_work(engine) as db:  # the rooms, as ingestion creates them
            repository.create_placeholders(db, sessions, datetime.now(UTC))
        hooks = [pipeline_hook(engine)] if with_risk else []
        pipeline = Pipeline(engine, run_dir, partitions=set(range(PARTITIONS)), hooks=hooks)
        pipeline.recover()

        def run(pipeline: Pipeline = pipeline) -> None:
            for index, (partition, payload) in enumerate(messages, 1):
                pipeline.handle(partition, payload)
                if index % COMMIT_EVERY == 0:
                    pipeline.checkpoint()
            pipeline.checkpoint()

        runs.append(_timed(run))
        if hooks:
            risk = hooks[0]
            assert isinstance(risk, RealtimeRisk)
            findings = risk.stats.findings
        pipeline.close()
        engine.dispose()
    wall, cpu = _median(runs)
    return wall, cpu, findings


def evaluate_only(messages: list[tuple[int, bytes]]) -> tuple[float, float]:
    tables = [decode_ipc(payload) for _, payload in messages]

    def run() -> None:
        risk = RealtimeRisk(None)
        for table in tables:
            risk.evaluate(table)

    return _median([_timed(run) for _ in range(REPEAT)])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zhibo-bench-risk-rt-") as tmp:
        folder = Path(tmp)
        generate(seed=3, scale="small", out=folder / "sim", days=DAYS, progress=False)
        events = pq.read_table(folder / "sim" / "events.parquet").drop(["currency"])
        n = events.num_rows
        comments = sum(1 for kind in events.column("type").to_pylist() if kind == "comment")
        messages = _messages(events)
        frame = pl.from_arrow(events.select(["session_id", "room_id", "ts"]))
        assert isinstance(frame, pl.DataFrame)
        sessions = {
            session: (room, first)
            for session, room, first in frame.group_by("session_id")
            .agg(pl.col("room_id").first(), pl.col("ts").min())
            .iter_rows()
        }
        base_wall, base_cpu, _ = pipeline_run(messages, folder, False, sessions)
        risk_wall, risk_cpu, findings = pipeline_run(messages, folder, True, sessions)
        _eval_wall, eval_cpu = evaluate_only(messages)
    print(f"{n:,} events ({comments:,} comments), {len(messages)} messages, median of {REPEAT}")
    print(
        f"pipeline without hooks: {n / base_cpu:,.0f} events/s per core "
        f"({base_cpu:.2f} s CPU, {base_wall:.2f} s wall)"
    )
    print(
        f"pipeline with the risk hook: {n / risk_cpu:,.0f} events/s per core "
        f"({risk_cpu:.2f} s CPU, {risk_wall:.2f} s wall), {findings:,} findings recorded; "
        f"CPU ratio with/without {risk_cpu / base_cpu:.2f}"
    )
    print(
        f"risk evaluation alone: {n / eval_cpu:,.0f} events/s per core ({eval_cpu:.2f} s CPU); "
        f"target >= 500,000"
    )


if __name__ == "__main__":
    main()
