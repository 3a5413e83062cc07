"""Metrics per streamer, room and partner over rolling 7/30/90-day windows, in one DuckDB job.

Inputs are columnar: the event lake's Parquet files (visits, unique viewers, follows, online
viewers), the orders (GMV, orders, buyers, refunds; a frame read from the database, or Parquet
files), and small frames of streamers, rooms, complaints, violations and credit balances. Every
metric is an integer: money in fen, rates in basis points, counts, days.

Windows end at the end of the ``as_of`` day (UTC) and reach back 7, 30 or 90 whole days, so
``as_of`` 2026-11-26 and 30 days covers 2026-10-28 00:00 to 2026-11-27 00:00.

Average online viewers of a session = total watch time / session length; watch time is
``Σ leave times − Σ enter times + (enters − leaves) · last event time`` (viewers still in the
room at the last event are counted to it), computed without pairing events row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from zhibo.grading.scoring_model import SEVERITIES, WINDOWS
from zhibo.kit.time import start_of_day

BP = 10_000


@dataclass
class Sources:
    """What grading reads. Frames are Polars (or Arrow); ``orders`` may instead be Parquet."""

    #: streamer_id, partner_id, status, created_at
    streamers: pl.DataFrame
    #: room_id, streamer_id
    rooms: pl.DataFrame
    #: streamer_id, room_id, partner_id, buyer_id, product_id, amount_fen, refunded_fen, paid_at
    orders: pl.DataFrame | Sequence[Path]
    #: Lake files (any Parquet with room_id, session_id, user_id, type, ts).
    event_files: Sequence[Path]
    #: streamer_id, received_at
    complaints: pl.DataFrame
    #: streamer_id, severity, occurred_at (overturned ones left out)
    violations: pl.DataFrame
    #: streamer_id, balance_tenths (streamers without a row have the initial points)
    credit: pl.DataFrame
    initial_credit_tenths: int = 120


@dataclass
class Metrics:
    streamers: pl.DataFrame
    rooms: pl.DataFrame
    partners: pl.DataFrame


def window_end(as_of: date) -> datetime:
    return start_of_day(as_of + timedelta(days=1))


def lake_files(lake_root: Path, as_of: date, days: int = max(WINDOWS)) -> list[Path]:
    """The lake's Parquet files for the ``days`` days up to and including ``as_of``."""
    files: list[Path] = []
    for offset in range(days):
        folder = Path(lake_root) / f"date={as_of - timedelta(days=offset):%Y-%m-%d}"
        if folder.is_dir():
            files.extend(sorted(folder.glob("hour=*/*.parquet")))
    return files


def _sum(expr: str, days: int) -> str:
    return f"COALESCE(SUM({expr}) FILTER (WHERE in{days}), 0)"


def _count(days: int) -> str:
    return f"COUNT(*) FILTER (WHERE in{days})"


def _flags(column: str) -> str:
    return ", ".join(f"{column} >= TIMESTAMPTZ '{{s{d}}}' AS in{d}" for d in WINDOWS)


def compute_metrics(sources: Sources, as_of: date, *, threads: int | None = None) -> Metrics:
    end = window_end(as_of)
    starts = {f"s{d}": (end - timedelta(days=d)).isoformat() for d in WINDOWS}
    stamps = {**starts, "end": end.isoformat()}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        _register(con, sources)
        streamers = _streamer_metrics(con, sources, as_of, stamps)
        rooms = _room_metrics(con, stamps)
    finally:
        con.close()
    partners = _partner_metrics(streamers)
    return Metrics(streamers=streamers, rooms=rooms, partners=partners)


def _register(con: duckdb.DuckDBPyConnection, sources: Sources) -> None:
    for name in ("streamers", "rooms", "complaints", "violations", "credit"):
        frame = getattr(sources, name)
        con.register(f"src_{name}", frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame)
    if isinstance(sources.orders, pl.DataFrame):
        con.register("src_orders", sources.orders.to_arrow())
    else:
        paths = [str(path) for path in sources.orders]
        if paths:
            con.execute(f"CREATE VIEW src_orders AS SELECT * FROM read_parquet({paths!r})")
        else:
            con.register("src_orders", _empty_orders())
    paths = [str(path) for path in sources.event_files]
    if paths:
        con.execute(
            "CREATE VIEW src_events AS SELECT room_id, session_id, user_id, type, ts "
            f"FROM read_parquet({paths!r})"
        )
    else:
        con.register("src_events", _empty_events())


def _empty_orders() -> pa.Table:
    return pa.table(
        {
            "streamer_id": pa.array([], pa.int64()),
            "room_id": pa.array([], pa.int64()),
            "partner_id": pa.array([], pa.int64()),
            "buyer_id": pa.array([], pa.int64()),
            "product_id": pa.array([], pa.int64()),
            "amount_fen": pa.array([], pa.int64()),
            "refunded_fen": pa.array([], pa.int64()),
            "paid_at": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )


def _empty_events() -> pa.Table:
    return pa.table(
        {
            "room_id": pa.array([], pa.int64()),
            "session_id": pa.array([], pa.int64()),
            "user_id": pa.array([], pa.int64()),
            "type": pa.array([], pa.string()),
            "ts": pa.array([], pa.timestamp("ms", tz="UTC")),
        }
    )


def _staging(con: duckdb.DuckDBPyConnection, stamps: dict[str, str]) -> None:
    """Orders and events in the 90-day window, and per-session and per-room aggregates."""
    s = stamps
    con.execute(
        f"""
        CREATE TEMP TABLE w_orders AS
        SELECT streamer_id, room_id, partner_id, buyer_id,
               amount_fen::BIGINT AS amount_fen, refunded_fen::BIGINT AS refunded_fen,
               {_flags("paid_at").format(**s)}, paid_at
        FROM src_orders
        WHERE paid_at >= TIMESTAMPTZ '{s["s90"]}' AND paid_at < TIMESTAMPTZ '{s["end"]}'
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE w_sessions AS
        SELECT ANY_VALUE(room_id) AS room_id, session_id,
               MIN(epoch_ms(ts)) AS first_ms, MAX(epoch_ms(ts)) AS last_ms,
               SUM(epoch_ms(ts)) FILTER (WHERE type = 'enter') AS enter_ms,
               SUM(epoch_ms(ts)) FILTER (WHERE type = 'leave') AS leave_ms,
               COUNT(*) FILTER (WHERE type = 'enter') AS enters,
               COUNT(*) FILTER (WHERE type = 'leave') AS leaves,
               COUNT(*) FILTER (WHERE type = 'follow') AS follows
        FROM src_events
        WHERE ts >= TIMESTAMPTZ '{s["s90"]}' AND ts < TIMESTAMPTZ '{s["end"]}'
        GROUP BY session_id  -- session ids are global; a session lives in one room
        """
    )
    session_flags = ", ".join(
        f"first_ms >= epoch_ms(TIMESTAMPTZ '{s[f's{d}']}') AS in{d}" for d in WINDOWS
    )
    con.execute(
        f"""
        CREATE TEMP TABLE w_session_watch AS
        SELECT room_id, session_id, follows, enters,
               GREATEST(COALESCE(leave_ms, 0) - COALESCE(enter_ms, 0)
                        + (enters - leaves) * last_ms, 0)::HUGEINT AS watch_ms,
               (last_ms - first_ms)::BIGINT AS live_ms,
               {session_flags}
        FROM w_sessions
        """
    )
    # Unique viewers per streamer: one pass over the enters, grouped by (streamer, viewer), keeping
    # the viewer's latest visit; a window counts the viewers whose latest visit falls in it.
    con.execute(
        f"""
        CREATE TEMP TABLE w_viewers AS
        SELECT r.streamer_id, e.user_id, MAX(e.ts) AS last_ts
        FROM src_events e JOIN src_rooms r ON r.room_id = e.room_id
        WHERE e.type = 'enter'
          AND e.ts >= TIMESTAMPTZ '{s["s90"]}' AND e.ts < TIMESTAMPTZ '{s["end"]}'
        GROUP BY r.streamer_id, e.user_id
        """
    )


def _streamer_metrics(
    con: duckdb.DuckDBPyConnection, sources: Sources, as_of: date, stamps: dict[str, str]
) -> pl.DataFrame:
    _staging(con, stamps)
    s = stamps
    order_cols = ",\n".join(
        f"{_sum('amount_fen', d)} AS gmv_fen_{d}d, "
        f"{_sum('amount_fen - refunded_fen', d)} AS net_gmv_fen_{d}d, "
        f"{_sum('refunded_fen', d)} AS refunded_fen_{d}d, "
        f"{_count(d)} AS orders_{d}d"
        for d in WINDOWS
    )
    buyer_cols = ", ".join(
        f"COUNT(*) FILTER (WHERE last_paid >= TIMESTAMPTZ '{s[f's{d}']}') AS buyers_{d}d"
        for d in WINDOWS
    )
    session_cols = ", ".join(
        f"{_sum('follows', d)} AS followers_gained_{d}d, {_sum('enters', d)} AS visits_{d}d, "
        f"{_sum('watch_ms', d)} AS watch_ms_{d}d, {_sum('live_ms', d)} AS live_ms_{d}d"
        for d in WINDOWS
    )
    viewer_cols = ", ".join(
        f"COUNT(*) FILTER (WHERE last_ts >= TIMESTAMPTZ '{s[f's{d}']}') AS unique_viewers_{d}d"
        for d in WINDOWS
    )
    complaint_cols = ", ".join(
        f"COUNT(*) FILTER (WHERE received_at >= TIMESTAMPTZ '{s[f's{d}']}') AS complaints_{d}d"
        for d in WINDOWS
    )
    violation_cols = ", ".join(
        f"COUNT(*) FILTER (WHERE occurred_at >= TIMESTAMPTZ '{s[f's{d}']}'"
        + (f" AND severity = '{severity}'" if severity else "")
        + f") AS violations{'_' + severity if severity else ''}_{d}d"
        for severity in ("", *SEVERITIES)
        for d in WINDOWS
    )
    derived = []
    for d in WINDOWS:
        derived += [
            f"COALESCE(om.gmv_fen_{d}d, 0) AS gmv_fen_{d}d",
            f"COALESCE(om.net_gmv_fen_{d}d, 0) AS net_gmv_fen_{d}d",
            f"COALESCE(om.orders_{d}d, 0) AS orders_{d}d",
            f"COALESCE(ob.buyers_{d}d, 0) AS buyers_{d}d",
            f"COALESCE(sm.followers_gained_{d}d, 0)::BIGINT AS followers_gained_{d}d",
            f"COALESCE(sm.visits_{d}d, 0)::BIGINT AS visits_{d}d",
            f"COALESCE(vm.unique_viewers_{d}d, 0) AS unique_viewers_{d}d",
            f"CASE WHEN COALESCE(sm.live_ms_{d}d, 0) > 0 "
            f"THEN (sm.watch_ms_{d}d // sm.live_ms_{d}d)::BIGINT ELSE 0 END "
            f"AS avg_online_viewers_{d}d",
            f"CASE WHEN COALESCE(vm.unique_viewers_{d}d, 0) > 0 "
            f"THEN LEAST(COALESCE(ob.buyers_{d}d, 0) * {BP} // vm.unique_viewers_{d}d, {BP}) "
            f"ELSE 0 END AS conversion_bp_{d}d",
            f"CASE WHEN COALESCE(om.gmv_fen_{d}d, 0) > 0 "
            f"THEN (om.refunded_fen_{d}d * {BP} // om.gmv_fen_{d}d)::BIGINT ELSE 0 END "
            f"AS refund_rate_bp_{d}d",
            f"COALESCE(cm.complaints_{d}d, 0) AS complaints_{d}d",
            f"CASE WHEN COALESCE(om.orders_{d}d, 0) > 0 "
            f"THEN LEAST(COALESCE(cm.complaints_{d}d, 0) * {BP} // om.orders_{d}d, {BP}) "
            f"WHEN COALESCE(cm.complaints_{d}d, 0) > 0 THEN {BP} ELSE 0 END "
            f"AS complaint_rate_bp_{d}d",
        ]
        for severity in ("", *SEVERITIES):
            name = f"violations{'_' + severity if severity else ''}_{d}d"
            derived.append(f"COALESCE(vl.{name}, 0) AS {name}")
    sql = f"""
        WITH om AS (
            SELECT streamer_id, {order_cols}
            FROM w_orders WHERE streamer_id IS NOT NULL GROUP BY streamer_id
        ),
        ob AS (
            SELECT streamer_id, {buyer_cols}
            FROM (SELECT streamer_id, buyer_id, MAX(paid_at) AS last_paid FROM w_orders
                  WHERE streamer_id IS NOT NULL GROUP BY streamer_id, buyer_id)
            GROUP BY streamer_id
        ),
        sm AS (
            SELECT r.streamer_id, {session_cols}
            FROM w_session_watch w JOIN src_rooms r ON r.room_id = w.room_id
            GROUP BY r.streamer_id
        ),
        vm AS (
            SELECT streamer_id, {viewer_cols} FROM w_viewers GROUP BY streamer_id
        ),
        cm AS (
            SELECT streamer_id, {complaint_cols} FROM src_complaints
            WHERE received_at >= TIMESTAMPTZ '{s["s90"]}'
              AND received_at < TIMESTAMPTZ '{s["end"]}'
            GROUP BY streamer_id
        ),
        vl AS (
            SELECT streamer_id, {violation_cols} FROM src_violations
            WHERE occurred_at >= TIMESTAMPTZ '{s["s90"]}'
              AND occurred_at < TIMESTAMPTZ '{s["end"]}'
            GROUP BY streamer_id
        )
        SELECT st.streamer_id, st.partner_id,
               {", ".join(derived)},
               COALESCE(cr.balance_tenths, {int(sources.initial_credit_tenths)})::BIGINT
                   AS credit_points_tenths,
               CASE WHEN st.status = 'active' THEN 1 ELSE 0 END AS identity_verified,
               GREATEST(DATE '{as_of.isoformat()}' - CAST(st.created_at AS DATE), 0)::BIGINT
                   AS tenure_days
        FROM src_streamers st
        LEFT JOIN om ON om.streamer_id = st.streamer_id
        LEFT JOIN ob ON ob.streamer_id = st.streamer_id
        LEFT JOIN sm ON sm.streamer_id = st.streamer_id
        LEFT JOIN vm ON vm.streamer_id = st.streamer_id
        LEFT JOIN cm ON cm.streamer_id = st.streamer_id
        LEFT JOIN vl ON vl.streamer_id = st.streamer_id
        LEFT JOIN src_credit cr ON cr.streamer_id = st.streamer_id
        ORDER BY st.streamer_id
    """
    frame = pl.from_arrow(con.sql(sql).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    metric_columns = [c for c in frame.columns if c not in ("streamer_id", "partner_id")]
    return frame.with_columns(pl.col(metric_columns).cast(pl.Int64))


def _room_metrics(con: duckdb.DuckDBPyConnection, stamps: dict[str, str]) -> pl.DataFrame:
    """30-day GMV and average online viewers per room: the key-room inputs."""
    sql = """
        WITH og AS (
            SELECT room_id, COALESCE(SUM(amount_fen) FILTER (WHERE in30), 0) AS gmv_fen_30d
            FROM w_orders WHERE room_id IS NOT NULL GROUP BY room_id
        ),
        so AS (
            SELECT room_id,
                   COALESCE(SUM(watch_ms) FILTER (WHERE in30), 0) AS watch_ms,
                   COALESCE(SUM(live_ms) FILTER (WHERE in30), 0) AS live_ms
            FROM w_session_watch GROUP BY room_id
        )
        SELECT r.room_id, r.streamer_id,
               COALESCE(og.gmv_fen_30d, 0)::BIGINT AS gmv_fen_30d,
               CASE WHEN COALESCE(so.live_ms, 0) > 0 THEN (so.watch_ms // so.live_ms)::BIGINT
                    ELSE 0 END AS avg_online_viewers_30d
        FROM src_rooms r
        LEFT JOIN og ON og.room_id = r.room_id
        LEFT JOIN so ON so.room_id = r.room_id
        ORDER BY r.room_id
    """
    frame = pl.from_arrow(con.sql(sql).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _partner_metrics(streamers: pl.DataFrame) -> pl.DataFrame:
    sums = [
        f"{name}_{d}d"
        for d in WINDOWS
        for name in (
            "gmv_fen",
            "net_gmv_fen",
            "orders",
            "buyers",
            "violations",
            *(f"violations_{severity}" for severity in SEVERITIES),
        )
    ]
    grouped = (
        streamers.filter(pl.col("partner_id").is_not_null())
        .group_by("partner_id")
        .agg(
            *[pl.col(name).sum() for name in sums],
            *[
                (pl.col(f"gmv_fen_{d}d") - pl.col(f"net_gmv_fen_{d}d")).sum().alias(f"_ref_{d}")
                for d in WINDOWS
            ],
            *[
                (pl.col(f"gmv_fen_{d}d") > 0).sum().cast(pl.Int64).alias(f"active_streamers_{d}d")
                for d in WINDOWS
            ],
            pl.len().cast(pl.Int64).alias("streamers"),
        )
    )
    rates = [
        pl.when(pl.col(f"gmv_fen_{d}d") > 0)
        .then(pl.col(f"_ref_{d}") * BP // pl.col(f"gmv_fen_{d}d"))
        .otherwise(0)
        .cast(pl.Int64)
        .alias(f"refund_rate_bp_{d}d")
        for d in WINDOWS
    ]
    return (
        grouped.with_columns(rates)
        .drop([f"_ref_{d}" for d in WINDOWS])
        .with_columns(pl.all().exclude("partner_id").cast(pl.Int64))
        .sort("partner_id")
    )
