"""Grading at platform scale: 1,000,000 streamers from 100,000,000 orders and events.

Synthetic data, generated vectorised with NumPy and Arrow (never the ORM) and cached under
``/var/tmp/zhibo-grading/<scale>``: 90 % viewer events in the lake's layout (one Parquet file
per day, 90 days) and 10 % orders (Parquet), skewed like a real platform (a few rooms draw most
viewers and sales). Small frames (streamers, rooms, violations, complaints, credit) are built in
memory as the database would return them.

Timed, in a fresh process so the peak memory is the grading's alone: the whole batch of
``zhibo grade run`` minus the database, i.e. metrics (DuckDB over the Parquet), grades with
explanations and counterfactuals (Polars/NumPy), and the results written as Parquet. Target:
≤ 120 s and ≤ 8 GB peak RSS.

    python -m bench.grading_run                       # 1M streamers, 100M rows
    python -m bench.grading_run --streamers 100000 --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CACHE = Path(os.environ.get("ZHIBO_BENCH_GRADING_CACHE", "/var/tmp/zhibo-grading"))
AS_OF = date(2026, 11, 26)
DAYS = 90
TARGET_SECONDS = 120
TARGET_GB = 8
EVENT_TYPES = ["enter", "leave", "like", "comment", "follow", "share", "add_to_cart"]
#: Share of each event type (enters and leaves pair up; likes and comments dominate the rest).
EVENT_WEIGHTS = [0.22, 0.20, 0.30, 0.15, 0.04, 0.04, 0.05]


def _folder(streamers: int, rows: int) -> Path:
    return CACHE / f"s{streamers}-r{rows}"


def _skewed(rng: np.random.Generator, size: int, population: int) -> np.ndarray:
    """Ids 1..population drawn with a heavy tail (Pareto ranks: a few ids get most draws)."""
    ranks = (rng.pareto(1.2, size) * population / 50).astype(np.int64) % population
    # Spread the popular ranks over the id space so id order carries no information.
    return (ranks * 2_654_435_761 % population) + 1


def generate(streamers: int, rows: int) -> Path:
    folder = _folder(streamers, rows)
    done = folder / "DONE"
    if done.exists():
        return folder
    rng = np.random.default_rng(2021)
    end = datetime.combine(AS_OF + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    start_ms = int((end - timedelta(days=DAYS)).timestamp() * 1000)
    order_rows = rows // 10
    event_rows = rows - order_rows
    viewers = max(streamers * 20, 1000)
    lake = folder / "lake"
    per_day = event_rows // DAYS
    day_ms = 86_400_000
    sessions_per_room_day = 1
    for day in range(DAYS):
        count = per_day + (event_rows - per_day * DAYS if day == DAYS - 1 else 0)
        room = _skewed(rng, count, streamers)
        session = room * 1000 + day * sessions_per_room_day
        types = rng.choice(len(EVENT_TYPES), count, p=EVENT_WEIGHTS).astype(np.int32)
        ts = start_ms + day * day_ms + rng.integers(0, day_ms, count)
        # Leaves come after their enter: shift leave times by a watch time of up to an hour.
        user = rng.integers(1, viewers + 1, count)
        day_start = datetime.fromtimestamp((start_ms + day * day_ms) / 1000, UTC)
        table = pa.table(
            {
                "room_id": pa.array(room, pa.int64()),
                "session_id": pa.array(session, pa.int64()),
                "user_id": pa.array(user, pa.int64()),
                "type": pa.DictionaryArray.from_arrays(pa.array(types), pa.array(EVENT_TYPES)).cast(
                    pa.string()
                ),
                "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            }
        )
        target = lake / f"date={day_start:%Y-%m-%d}" / "hour=00"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target / "bench-p000-000000000000.parquet", compression="snappy")
    orders_dir = folder / "orders"
    orders_dir.mkdir(parents=True, exist_ok=True)
    chunk = 5_000_000
    written = 0
    part = 0
    while written < order_rows:
        count = min(chunk, order_rows - written)
        streamer = _skewed(rng, count, streamers)
        amount = (rng.lognormal(9.0, 1.0, count)).astype(np.int64) + 100
        refunded = np.where(rng.random(count) < 0.08, amount, 0)
        paid = start_ms + rng.integers(0, DAYS * day_ms, count)
        table = pa.table(
            {
                "streamer_id": pa.array(streamer, pa.int64()),
                "room_id": pa.array(streamer, pa.int64()),
                "partner_id": pa.array(streamer % max(streamers // 100, 1) + 1, pa.int64()),
                "buyer_id": pa.array(rng.integers(1, viewers + 1, count), pa.int64()),
                "product_id": pa.array(rng.integers(1, 1_000_000, count), pa.int64()),
                "amount_fen": pa.array(amount, pa.int64()),
                "refunded_fen": pa.array(refunded, pa.int64()),
                "paid_at": pa.array(paid * 1000, pa.timestamp("us", tz="UTC")),
            }
        )
        pq.write_table(table, orders_dir / f"orders-{part:03d}.parquet", compression="snappy")
        written += count
        part += 1
    done.write_text(json.dumps({"streamers": streamers, "rows": rows}))
    return folder


def _small_frames(streamers: int) -> dict[str, object]:
    import polars as pl

    rng = np.random.default_rng(7)
    ids = np.arange(1, streamers + 1, dtype=np.int64)
    created = datetime(2026, 11, 26, tzinfo=UTC) - timedelta(days=1)
    tenure = rng.integers(0, 1500, streamers)
    status = np.where(rng.random(streamers) < 0.97, "active", "pending")
    violators = rng.choice(ids, streamers // 50, replace=False)
    severities = rng.choice(
        ["minor", "moderate", "serious", "critical"], len(violators), p=[0.6, 0.3, 0.08, 0.02]
    )
    occurred = rng.integers(0, 90, len(violators))
    base = datetime.combine(AS_OF, datetime.min.time(), tzinfo=UTC)
    return {
        "streamers": pl.DataFrame(
            {
                "streamer_id": ids,
                "partner_id": ids % max(streamers // 100, 1) + 1,
                "status": status,
                "tenure": tenure,
            }
        )
        .with_columns((pl.lit(created) - pl.duration(days=pl.col("tenure"))).alias("created_at"))
        .drop("tenure"),
        "rooms": pl.DataFrame({"room_id": ids, "streamer_id": ids}),
        "violations": pl.DataFrame(
            {
                "streamer_id": violators,
                "severity": severities,
                "occurred_at": [base - timedelta(days=int(d)) for d in occurred],
            }
        ),
        "complaints": pl.DataFrame(
            {
                "streamer_id": _skewed(rng, streamers // 2, streamers),
            }
        ).with_columns(received_at=pl.lit(base - timedelta(days=1))),
        "credit": pl.DataFrame(
            {"streamer_id": violators, "balance_tenths": rng.integers(0, 120, len(violators))}
        ),
    }


def _store_in_sqlite(folder: Path, graded: object, model: object) -> float:
    """Seconds to store every result and notice in a fresh SQLite file, as ``zhibo grade run``
    does (the schema is built first, untimed)."""
    from zhibo.grading import repository
    from zhibo.grading.service import result_rows
    from zhibo.kit import migrate
    from zhibo.kit.db import make_engine, session_factory
    from zhibo.kit.time import utcnow

    path = folder / "results.db"
    for leftover in folder.glob("results.db*"):
        leftover.unlink()
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    started = time.perf_counter()
    with session_factory(engine)() as db:
        repository.record_model(db, model)  # type: ignore[arg-type]
        run_row, _ = repository.start_run(db, AS_OF, model.version)  # type: ignore[attr-defined]
        rows, notices = result_rows(graded, run_row.id, {}, model.version, utcnow())  # type: ignore[arg-type, attr-defined]
        repository.insert_results(db, rows)
        repository.insert_notifications(db, notices)
        db.commit()
    engine.dispose()
    return time.perf_counter() - started


def timed_run(
    streamers: int, rows: int, threads: int | None, store_db: bool = False
) -> dict[str, float]:
    """The measured part (run in its own process)."""
    import polars as pl

    from zhibo.grading.metrics import Sources, compute_metrics, lake_files
    from zhibo.grading.scoring_model import default_model
    from zhibo.grading.service import grade_population

    folder = _folder(streamers, rows)
    frames = _small_frames(streamers)
    model = default_model()
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    sources = Sources(
        streamers=frames["streamers"],  # type: ignore[arg-type]
        rooms=frames["rooms"],  # type: ignore[arg-type]
        orders=sorted((folder / "orders").glob("*.parquet")),
        event_files=lake_files(folder / "lake", AS_OF),
        complaints=frames["complaints"],  # type: ignore[arg-type]
        violations=frames["violations"],  # type: ignore[arg-type]
        credit=frames["credit"],  # type: ignore[arg-type]
    )
    metrics = compute_metrics(sources, AS_OF, threads=threads)
    metrics_done = time.perf_counter()
    graded = grade_population(metrics, model)
    graded_done = time.perf_counter()
    out = folder / "results"
    out.mkdir(exist_ok=True)
    graded.streamers.write_parquet(out / "streamers.parquet")
    graded.partners.write_parquet(out / "partners.parquet")
    graded.rooms.write_parquet(out / "rooms.parquet")
    finished = time.perf_counter()
    store_s = _store_in_sqlite(folder, graded, model) if store_db else None
    levels = graded.streamers.group_by("level").len().sort("level")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss
    return {
        "streamers": graded.streamers.height,
        "metrics_s": round(metrics_done - started, 2),
        "grade_s": round(graded_done - metrics_done, 2),
        "write_s": round(finished - graded_done, 2),
        "total_s": round(finished - started, 2),
        "store_sqlite_s": None if store_s is None else round(store_s, 2),  # type: ignore[dict-item]
        "peak_gb": round(peak_kb / 1024 / 1024, 2),
        # CPU seconds of the whole process (all DuckDB threads): with other jobs on the machine,
        # wall time overstates what the job needs.
        "cpu_s": round(usage.ru_utime + usage.ru_stime - cpu_before, 1),
        "load_1min": round(os.getloadavg()[0], 1),
        "key_rooms": int(graded.rooms["is_key_room"].sum()),
        "levels": {str(lv): int(n) for lv, n in levels.iter_rows()},  # type: ignore[dict-item]
        "_pl": pl.__version__,  # type: ignore[dict-item]
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streamers", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=100_000_000, help="orders + events")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    parser.add_argument(
        "--store-db", action="store_true", help="also store all results in a fresh SQLite file"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else [])
    if args.measure:
        print(json.dumps(timed_run(args.streamers, args.rows, args.threads, args.store_db)))
        return
    began = time.perf_counter()
    folder = generate(args.streamers, args.rows)
    print(f"data: {folder} (generated or cached in {time.perf_counter() - began:.1f} s)")
    command = [
        sys.executable,
        "-m",
        "bench.grading_run",
        "--measure",
        f"--streamers={args.streamers}",
        f"--rows={args.rows}",
    ]
    if args.threads:
        command.append(f"--threads={args.threads}")
    if args.store_db:
        command.append("--store-db")
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures.pop("_pl", None)
    print(json.dumps(figures, indent=1))
    print(
        f"grading {figures['streamers']:,} streamers from {args.rows:,} orders+events: "
        f"{figures['total_s']:.1f} s end to end (target ≤ {TARGET_SECONDS} s), "
        f"peak {figures['peak_gb']:.2f} GB (target ≤ {TARGET_GB} GB); "
        f"{figures['cpu_s']:.0f} CPU s, load {figures['load_1min']}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
