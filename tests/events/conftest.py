"""Fixtures for the events domain: settings with a temporary lake, a small simulated event
stream, and the independent DuckDB recomputation the metrics are checked against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.sim.generator import generate


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        database_url=str(engine.url.render_as_string(hide_password=False)),
        data_dir=tmp_path / "data",
        events_partitions=4,
    )


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def sim_events(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """One simulated day (~150,000 events, ~200 sessions)."""
    out = tmp_path_factory.mktemp("sim")
    generate(5, "small", out, days=1, progress=False)
    return pq.read_table(out / "events.parquet").drop(["currency"])


COUNTS = """
    count(*) FILTER (type = 'enter') AS enters,
    count(*) FILTER (type = 'leave') AS leaves,
    coalesce(sum(coalesce(count, 1)) FILTER (type = 'like'), 0) AS likes,
    count(*) FILTER (type = 'comment') AS comments,
    count(*) FILTER (type = 'share') AS shares,
    count(*) FILTER (type = 'follow') AS follows,
    count(*) FILTER (type = 'add_to_cart') AS add_to_carts,
    count(*) FILTER (type = 'order') AS orders,
    coalesce(sum(amount_fen) FILTER (type = 'order'), 0) AS gmv_fen,
    count(*) FILTER (type = 'gift') AS gifts,
    coalesce(sum(amount_fen) FILTER (type = 'gift'), 0) AS gift_fen,
    count(DISTINCT user_id) FILTER (type = 'enter') AS unique_viewers,
    count(DISTINCT user_id) FILTER (type = 'order') AS buyers,
    max(epoch_ms(ts)) AS last_ms
"""

RECOMPUTE = """
WITH ev AS (SELECT * FROM read_parquet('{glob}', hive_partitioning = false)),
totals AS (SELECT session_id, {counts} FROM ev GROUP BY session_id),
per_user AS (
    SELECT session_id, user_id,
        min(epoch_ms(ts)) FILTER (type = 'enter') AS started,
        max(epoch_ms(ts)) AS last_move,
        max(epoch_ms(ts)) FILTER (type = 'leave') AS last_leave
    FROM ev WHERE type IN ('enter', 'leave') GROUP BY session_id, user_id
),
visits AS (
    SELECT p.session_id, p.started,
        CASE WHEN p.last_leave = p.last_move THEN p.last_leave END AS ended,
        t.last_ms
    FROM per_user p JOIN totals t USING (session_id) WHERE p.started IS NOT NULL
),
watch AS (
    SELECT session_id, sum(coalesce(ended, last_ms) - started)::BIGINT AS watch_ms,
        count(*) FILTER (ended IS NULL) AS online_now
    FROM visits GROUP BY session_id
),
minutes AS (
    SELECT session_id, minute, count(*) AS online FROM (
        SELECT session_id,
            unnest(generate_series(started // 60000, coalesce(ended, last_ms) // 60000)) AS minute
        FROM visits
    ) GROUP BY session_id, minute
),
peaks AS (SELECT session_id, max(online) AS peak_online FROM minutes GROUP BY session_id)
SELECT t.*, coalesce(w.watch_ms, 0) AS watch_ms, coalesce(w.online_now, 0) AS online_now,
    coalesce(p.peak_online, 0) AS peak_online
FROM totals t LEFT JOIN watch w USING (session_id) LEFT JOIN peaks p USING (session_id)
ORDER BY session_id
"""


def recompute_from_lake(data_dir: Path) -> dict[int, dict[str, Any]]:
    """Metrics per session from the lake's Parquet files, by SQL written independently of the
    engine (same definitions, ``docs/data-formats.md``)."""
    glob = str(data_dir / "lake" / "events" / "**" / "*.parquet")
    with duckdb.connect() as connection:
        frame = pl.from_arrow(
            connection.sql(RECOMPUTE.format(glob=glob, counts=COUNTS)).to_arrow_table()
        )
    assert isinstance(frame, pl.DataFrame)
    result = {}
    for row in frame.iter_rows(named=True):
        viewers = row["unique_viewers"]
        row["avg_watch_seconds"] = round(row["watch_ms"] / viewers / 1000, 3) if viewers else 0.0
        result[row["session_id"]] = row
    return result


def lake_event_ids(data_dir: Path) -> pl.Series:
    glob = str(data_dir / "lake" / "events" / "**" / "*.parquet")
    with duckdb.connect() as connection:
        table = connection.sql(
            f"SELECT event_id FROM read_parquet('{glob}', hive_partitioning = false)"
        ).to_arrow_table()
    return pl.Series(table.column("event_id"))
