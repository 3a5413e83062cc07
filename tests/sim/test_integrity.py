"""What the loader's database constraints will demand: keys, references, ranges and states."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.sim.helpers import scalar
from zhibo.sim.output import FILES, SCHEMAS

END = "TIMESTAMPTZ '2026-11-08 00:00:00+00'"

PRIMARY_KEYS = {
    "categories": "category_id",
    "brands": "brand_id",
    "products": "product_id",
    "partners": "partner_id",
    "streamers": "streamer_id",
    "contracts": "contract_id",
    "viewers": "viewer_id",
    "rooms": "room_id",
    "sessions": "session_id",
    "orders": "order_id",
    "refunds": "refund_id",
    "events": "event_id",
    "blacklist": "entry_id",
    "labels": "label_id",
}

# (child table, child column, parent table, parent column)
REFERENCES = [
    ("categories", "parent_id", "categories", "category_id"),
    ("products", "brand_id", "brands", "brand_id"),
    ("products", "category_id", "categories", "category_id"),
    ("price_history", "product_id", "products", "product_id"),
    ("streamers", "partner_id", "partners", "partner_id"),
    ("contracts", "partner_id", "partners", "partner_id"),
    ("contracts", "streamer_id", "streamers", "streamer_id"),
    ("viewer_devices", "viewer_id", "viewers", "viewer_id"),
    ("rooms", "streamer_id", "streamers", "streamer_id"),
    ("sessions", "room_id", "rooms", "room_id"),
    ("sessions", "streamer_id", "streamers", "streamer_id"),
    ("shelf", "session_id", "sessions", "session_id"),
    ("shelf", "product_id", "products", "product_id"),
    ("orders", "buyer_id", "viewers", "viewer_id"),
    ("orders", "product_id", "products", "product_id"),
    ("orders", "session_id", "sessions", "session_id"),
    ("orders", "room_id", "rooms", "room_id"),
    ("orders", "streamer_id", "streamers", "streamer_id"),
    ("orders", "partner_id", "partners", "partner_id"),
    ("refunds", "order_id", "orders", "order_id"),
    ("events", "session_id", "sessions", "session_id"),
    ("events", "room_id", "rooms", "room_id"),
    ("events", "user_id", "viewers", "viewer_id"),
    ("events", "product_id", "products", "product_id"),
    ("labels", "session_id", "sessions", "session_id"),
]


def test_files_match_their_schemas(small_dir: Path) -> None:
    for name in FILES:
        schema = pq.read_schema(small_dir / f"{name}.parquet")
        assert schema.remove_metadata().equals(SCHEMAS[name].remove_metadata()), name


def test_no_label_leaks_into_data_files() -> None:
    suspicious = ("tactic", "label", "fraud", "brush", "bot", "fake", "suspicious", "is_")
    allowed = {"is_minor", "is_virtual"}
    for name in FILES:
        if name == "labels":
            continue
        for field in SCHEMAS[name]:
            if field.name in allowed:
                continue
            assert not any(word in field.name for word in suspicious), (name, field.name)


@pytest.mark.parametrize(("table", "key"), sorted(PRIMARY_KEYS.items()))
def test_primary_keys_are_unique_and_dense(
    sim_db: duckdb.DuckDBPyConnection, table: str, key: str
) -> None:
    assert scalar(sim_db, f"SELECT count(DISTINCT {key}) = count(*) FROM {table}")
    if key != "event_id":
        assert scalar(sim_db, f"SELECT min({key}) = 1 AND max({key}) = count(*) FROM {table}")


@pytest.mark.parametrize(("child", "column", "parent", "key"), REFERENCES)
def test_references_exist(
    sim_db: duckdb.DuckDBPyConnection, child: str, column: str, parent: str, key: str
) -> None:
    missing = scalar(
        sim_db,
        f"SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {parent} p WHERE p.{key} = c.{column})",
    )
    assert missing == 0


def test_label_entities_and_users_exist(sim_db: duckdb.DuckDBPyConnection) -> None:
    tables = {
        "streamer": ("streamers", "streamer_id"),
        "session": ("sessions", "session_id"),
        "product": ("products", "product_id"),
    }
    for entity_type, (table, key) in tables.items():
        assert (
            scalar(
                sim_db,
                f"SELECT count(*) FROM labels l WHERE entity_type = ? AND NOT EXISTS "
                f"(SELECT 1 FROM {table} t WHERE t.{key} = l.entity_id)",
                entity_type,
            )
            == 0
        )
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM (SELECT unnest(user_ids) u FROM labels) WHERE u NOT IN "
            "(SELECT viewer_id FROM viewers)",
        )
        == 0
    )


def test_unique_pairs(sim_db: duckdb.DuckDBPyConnection) -> None:
    for table, columns in (
        ("viewer_devices", "viewer_id, device_id"),
        ("shelf", "session_id, product_id"),
        ("shelf", "session_id, position"),
        ("price_history", "product_id, effective_at"),
        ("rooms", "streamer_id"),
    ):
        dupes = scalar(
            sim_db,
            f"SELECT count(*) FROM (SELECT {columns} FROM {table} GROUP BY ALL "
            "HAVING count(*) > 1)",
        )
        assert dupes == 0, (table, columns)


def test_money_rates_and_counts_are_in_range(sim_db: duckdb.DuckDBPyConnection) -> None:
    checks = [
        "SELECT count(*) FROM products WHERE price_fen < 0 OR reference_price_fen < 0 OR stock < 0 "
        "OR sales_30d < 0 OR commission_rate_bp NOT BETWEEN 0 AND 10000 OR currency <> 'CNY'",
        "SELECT count(*) FROM price_history WHERE price_fen < 0 OR reference_price_fen < 0 "
        "OR stock < 0 OR commission_rate_bp NOT BETWEEN 0 AND 10000",
        "SELECT count(*) FROM shelf WHERE commission_rate_bp NOT BETWEEN 0 AND 10000 "
        "OR slot_fee_fen < 0",
        "SELECT count(*) FROM contracts WHERE partner_share_bp NOT BETWEEN 0 AND 10000",
        "SELECT count(*) FROM orders WHERE quantity < 1 OR unit_price_fen < 0 OR amount_fen < 0 "
        "OR amount_fen <> unit_price_fen * quantity OR refunded_fen < 0 "
        "OR refunded_fen > amount_fen OR commission_rate_bp NOT BETWEEN 0 AND 10000",
        "SELECT count(*) FROM refunds WHERE amount_fen <= 0",
        "SELECT count(*) FROM streamers WHERE followers < 0",
        "SELECT count(*) FROM events WHERE amount_fen < 0 OR count < 1",
    ]
    for sql in checks:
        assert scalar(sim_db, sql) == 0, sql


def test_order_states_agree_with_timestamps(sim_db: duckdb.DuckDBPyConnection) -> None:
    wrong = {
        "paid": "shipped_at IS NOT NULL OR delivered_at IS NOT NULL OR confirmed_at IS NOT NULL",
        "shipped": "shipped_at IS NULL OR delivered_at IS NOT NULL OR confirmed_at IS NOT NULL",
        "delivered": "delivered_at IS NULL OR shipped_at IS NULL OR confirmed_at IS NOT NULL",
        "confirmed": "confirmed_at IS NULL OR delivered_at IS NULL OR shipped_at IS NULL",
        "refunded": "refunded_at IS NULL OR refunded_fen <> amount_fen OR confirmed_at IS NOT NULL",
    }
    for status, condition in wrong.items():
        assert (
            scalar(
                sim_db, f"SELECT count(*) FROM orders WHERE status = ? AND ({condition})", status
            )
            == 0
        )
    assert (
        scalar(
            sim_db,
            f"""SELECT count(*) FROM orders
        WHERE shipped_at <= paid_at OR delivered_at <= shipped_at
        OR confirmed_at <= delivered_at OR refunded_at <= paid_at
        OR (refunded_fen > 0) <> (refunded_at IS NOT NULL)
        OR greatest(paid_at, shipped_at, delivered_at, confirmed_at, refunded_at) >= {END}""",
        )
        == 0
    )
    # Refund rows add up to what the orders say.
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM orders o FULL JOIN (SELECT order_id, sum(amount_fen) s, "
            "max(refunded_at) t FROM refunds GROUP BY 1) r USING (order_id) "
            "WHERE coalesce(r.s, 0) <> o.refunded_fen OR r.t IS DISTINCT FROM o.refunded_at",
        )
        == 0
    )


def test_orders_agree_with_sessions_shelves_streamers_and_prices(
    sim_db: duckdb.DuckDBPyConnection,
) -> None:
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM orders o JOIN sessions s USING (session_id) "
            "WHERE o.room_id <> s.room_id OR o.streamer_id <> s.streamer_id "
            "OR o.paid_at < s.started_at OR o.paid_at > coalesce(s.ended_at, " + END + ")",
        )
        == 0
    )
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM orders o JOIN streamers s USING (streamer_id) "
            "WHERE o.partner_id IS DISTINCT FROM s.partner_id",
        )
        == 0
    )
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM orders o LEFT JOIN shelf h USING (session_id, product_id) "
            "WHERE h.commission_rate_bp IS DISTINCT FROM o.commission_rate_bp",
        )
        == 0
    )
    # The unit price is the price in effect when the order was paid.
    assert (
        scalar(
            sim_db,
            """
        SELECT count(*) FROM orders o ASOF JOIN price_history h
        ON o.product_id = h.product_id AND o.paid_at >= h.effective_at
        WHERE h.price_fen <> o.unit_price_fen
        """,
        )
        == 0
    )
    # A product's current price, reference, commission and stock are its last history row.
    assert (
        scalar(
            sim_db,
            """
        SELECT count(*) FROM products p JOIN (
            SELECT * FROM price_history QUALIFY row_number() OVER
            (PARTITION BY product_id ORDER BY effective_at DESC) = 1
        ) h USING (product_id)
        WHERE p.price_fen <> h.price_fen OR p.stock <> h.stock
        OR p.reference_price_fen IS DISTINCT FROM h.reference_price_fen
        OR p.commission_rate_bp <> h.commission_rate_bp
        """,
        )
        == 0
    )


def test_session_states_agree_with_timestamps(sim_db: duckdb.DuckDBPyConnection) -> None:
    wrong = {
        "scheduled": "started_at IS NOT NULL OR ended_at IS NOT NULL",
        "live": f"started_at IS NULL OR ended_at IS NOT NULL OR started_at >= {END}",
        "ended": "started_at IS NULL OR ended_at IS NULL OR ended_at <= started_at",
        "suspended": "started_at IS NULL OR ended_at IS NULL OR ended_at <= started_at",
    }
    for status, condition in wrong.items():
        assert (
            scalar(
                sim_db, f"SELECT count(*) FROM sessions WHERE status = ? AND ({condition})", status
            )
            == 0
        )
    assert (
        scalar(sim_db, "SELECT count(*) FROM sessions WHERE started_at < scheduled_start_at") == 0
    )
    assert scalar(sim_db, f"SELECT count(*) FROM sessions WHERE ended_at >= {END}") == 0
    # Banned streamers do not stream; a suspended streamer's last session is suspended.
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM sessions JOIN streamers s USING (streamer_id) "
            "WHERE s.status = 'banned'",
        )
        == 0
    )


def test_events_are_ordered_and_well_formed(
    small_dir: Path, sim_db: duckdb.DuckDBPyConnection
) -> None:
    table = pq.read_table(small_dir / "events.parquet", columns=["ts", "event_id"])
    ts = table.column("ts").cast("int64").to_numpy()
    ids = np.array(table.column("event_id").to_pylist())
    assert (np.diff(ts) >= 0).all()
    same = np.flatnonzero(np.diff(ts) == 0)
    assert (ids[same] < ids[same + 1]).all()
    fields = {
        "text": "type = 'comment'",
        "count": "type = 'like'",
        "product_id": "type IN ('add_to_cart', 'order')",
        "amount_fen": "type IN ('order', 'gift')",
        "currency": "type IN ('order', 'gift')",
        "gift_id": "type = 'gift'",
    }
    for column, present_when in fields.items():
        assert (
            scalar(
                sim_db,
                f"SELECT count(*) FROM events WHERE ({column} IS NOT NULL) <> ({present_when})",
            )
            == 0
        ), column
    # Events happen inside their session, in its room, on one of the user's devices.
    assert (
        scalar(
            sim_db,
            f"""SELECT count(*) FROM events e JOIN sessions s USING (session_id)
        WHERE e.room_id <> s.room_id OR e.ts < s.started_at
        OR e.ts > coalesce(s.ended_at, {END}) OR e.ts >= {END}""",
        )
        == 0
    )
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM viewer_devices d "
            "WHERE d.viewer_id = e.user_id AND d.device_id = e.device_id)",
        )
        == 0
    )
    assert (
        scalar(
            sim_db, "SELECT count(*) FROM events WHERE NOT regexp_full_match(ip, '[0-9a-f]{16}')"
        )
        == 0
    )
    # Each viewer follows a room at most once.
    assert (
        scalar(
            sim_db,
            "SELECT count(*) FROM (SELECT user_id, room_id FROM events WHERE type = 'follow' "
            "GROUP BY 1, 2 HAVING count(*) > 1)",
        )
        == 0
    )
    # Visits: an enter before any other event of the user in the session.
    assert (
        scalar(
            sim_db,
            """SELECT count(*) FROM (
            SELECT session_id, user_id, min(ts) FILTER (WHERE type = 'enter') AS entered,
            min(ts) AS first, max(ts) FILTER (WHERE type = 'leave') AS left_at, max(ts) AS last
            FROM events GROUP BY 1, 2
        ) WHERE entered IS NULL OR entered > first OR left_at < last""",
        )
        == 0
    )


def test_every_order_event_is_an_order(sim_db: duckdb.DuckDBPyConnection) -> None:
    order_events = scalar(sim_db, "SELECT count(*) FROM events WHERE type = 'order'")
    assert order_events == scalar(sim_db, "SELECT count(*) FROM orders")
    matched = scalar(
        sim_db,
        """
        SELECT count(DISTINCT o.order_id) FROM events e JOIN orders o
        ON e.user_id = o.buyer_id AND e.session_id = o.session_id
        AND e.product_id = o.product_id AND e.amount_fen = o.amount_fen AND e.ts = o.paid_at
        AND e.device_id = o.device_id
        WHERE e.type = 'order'
        """,
    )
    assert matched == order_events
    # Carts come before the order they lead to.
    assert (
        scalar(
            sim_db,
            """SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM events e
        WHERE e.type = 'add_to_cart' AND e.user_id = o.buyer_id AND e.session_id = o.session_id
        AND e.product_id = o.product_id AND e.ts <= o.paid_at)""",
        )
        == 0
    )
