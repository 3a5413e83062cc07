"""Settlement at scale: one ``zhibo settle run`` over N accrued, confirmed orders, end to end
(accrual scan and refund accrual, itemising from the queue of orders still to settle, payout
batches with their ledger entries; with ``--orders-status marked`` also the orders' status
update), on PostgreSQL and SQLite; then the next day's run with nothing new
(``next_run_seconds``: what the history costs later runs).

    .venv/bin/python -m bench.ledger_settlement                 # 1,000,000 orders, both
    .venv/bin/python -m bench.ledger_settlement --orders 200000 --only sqlite

Method: a fresh database (PostgreSQL: a new database on ``ZHIBO_BENCH_PG_ADMIN_URL``; SQLite: a
temporary file), migrated. Setup, not timed, is set-based SQL (no ORM): 200 partners, 5,000
streamers (levels 1-5) with contracts, rooms and sessions; N orders paid over November 2026 and
confirmed 3-9 days later; their commission rows computed in SQL with the same rounding rule as
``zhibo.settlement.commission`` (half up on non-negative amounts = half away from zero); 1 % of
orders partly refunded (refund rows only: the run's accrual applies them, through the Python
path and the ledger). Payment postings are not written (they belong to payment time, and are
measured by ``bench/ledger_postings``). Timed: ``run_settlement`` as of 2027-01-05 under
``reform-monthly-5``, which makes every order payable: wall seconds and orders/s, per phase.
``--orders-status unmarked`` runs with ``mark_orders_settled`` off (the items alone record what
was settled; orders keep their state). The baseline is the target of the issue: 1,000,000
orders in 30 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.common import scratch_postgres

PARTNERS = 200
STREAMERS = 5_000
TARGET_SECONDS = 30.0
TARGET_ORDERS = 1_000_000


def _series(dialect: str, n: str) -> str:
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS s(g)"
    return f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) SELECT g FROM s) AS s"  # noqa: E501


def _time(dialect: str, base: str, seconds_expr: str) -> str:
    """A UTC timestamp ``base`` + ``seconds_expr`` seconds, in the column's stored form."""
    if dialect == "postgresql":
        return f"(timestamptz '{base}+00' + ({seconds_expr}) * interval '1 second')"
    return f"(strftime('%Y-%m-%d %H:%M:%S', '{base}', '+' || ({seconds_expr}) || ' seconds') || '.000000')"  # noqa: E501


def populate(engine: Engine, orders: int) -> None:
    dialect = engine.dialect.name
    t0 = "2026-11-01 00:00:00"
    now = _time(dialect, t0, "0")
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO brands (id, name, status, created_at)"
                f" VALUES (1, 'b', 'active', {now})"
            )
        )
        db.execute(
            text("INSERT INTO categories (id, name, path, risk_class) VALUES (1, 'c', 'c', 'low')")
        )
        db.execute(
            text(
                "INSERT INTO products (id, brand_id, category_id, external_id, title, description,"
                " price_fen, currency, commission_rate_bp, stock, status, sales_30d, created_at,"
                f" updated_at) VALUES (1, 1, 1, 'p', 't', '', 9900, 'CNY', 2000, 0, 'active', 0,"
                f" {now}, {now})"
            )
        )
        db.execute(
            text(
                "INSERT INTO viewers (id, account_created_at, real_name_verified, is_minor)"
                f" VALUES (1, {now}, true, false)"
            )
        )
        db.execute(
            text(
                "INSERT INTO partners (id, name, kind, created_at) SELECT g, 'p' || g, 'agency',"
                f" {now} FROM {_series(dialect, str(PARTNERS))}"
            )
        )
        db.execute(
            text(
                "INSERT INTO streamers (id, display_name, partner_id, status, is_virtual,"
                " followers, level, created_at) SELECT g, 's' || g, g % :p + 1, 'active', false,"
                f" 0, g % 5 + 1, {now} FROM {_series(dialect, str(STREAMERS))}"
            ),
            {"p": PARTNERS},
        )
        db.execute(
            text(
                "INSERT INTO partner_contracts (partner_id, streamer_id, partner_share_bp,"
                " valid_from) SELECT g % :p + 1, g, 3000, '2020-01-01' FROM "
                + _series(dialect, str(STREAMERS))
            ),
            {"p": PARTNERS},
        )
        db.execute(
            text(
                "INSERT INTO live_rooms (id, streamer_id, title, status, is_key_room, created_at)"
                f" SELECT g, g, 'r', 'active', false, {now} FROM {_series(dialect, str(STREAMERS))}"
            )
        )
        db.execute(
            text(
                "INSERT INTO live_sessions (id, room_id, streamer_id, title, status,"
                f" scheduled_start_at) SELECT g, g, g, 's', 'ended', {now} FROM"
                f" {_series(dialect, str(STREAMERS))}"
            )
        )
        paid = _time(dialect, t0, "g * 2")
        confirmed = _time(dialect, t0, "g * 2 + 259200 + (g % 7) * 86400")
        db.execute(
            text(
                "INSERT INTO orders (id, buyer_id, product_id, quantity, unit_price_fen,"
                " amount_fen, currency, commission_rate_bp, session_id, room_id, streamer_id,"
                " partner_id, status, paid_at, confirmed_at, refunded_fen) SELECT g, 1, 1, 1,"
                " 5000 + g % 20000, 5000 + g % 20000, 'CNY', 2000, g % :s + 1, g % :s + 1,"
                f" g % :s + 1, (g % :s + 1) % :p + 1, 'confirmed', {paid}, {confirmed}, 0"
                f" FROM {_series(dialect, str(orders))}"
            ),
            {"s": STREAMERS, "p": PARTNERS},
        )
        db.execute(
            text(
                """
                INSERT INTO order_commissions (order_id, streamer_id, partner_id, brand_id,
                    amount_fen, currency, commission_rate_bp, platform_fee_bp, partner_share_bp,
                    tax_bp, commission_fen, platform_fee_fen, partner_fen, streamer_fen, tax_fen,
                    refunded_amount_fen, refunded_commission_fen, refunded_platform_fee_fen,
                    refunded_partner_fen, refunded_streamer_fen, refunded_tax_fen, paid_at)
                SELECT id, streamer_id, partner_id, 1, amount_fen, 'CNY', 2000, 1000, 3000, 2000,
                    c, f, p, c - f - p, ((c - f - p) * 2000 + 5000) / 10000, 0, 0, 0, 0, 0, 0,
                    paid_at
                FROM (
                    SELECT id, streamer_id, partner_id, amount_fen, paid_at, c, f,
                        ((c - f) * 3000 + 5000) / 10000 AS p
                    FROM (
                        SELECT id, streamer_id, partner_id, amount_fen, paid_at, c,
                            (c * 1000 + 5000) / 10000 AS f
                        FROM (
                            SELECT id, streamer_id, partner_id, amount_fen, paid_at,
                                (amount_fen * 2000 + 5000) / 10000 AS c
                            FROM orders
                        ) a
                    ) b
                ) d
                """
            )
        )
        # The queue of orders still to settle, as accrual writes it with each commission row.
        db.execute(
            text("INSERT INTO settlement_pending (order_id) SELECT order_id FROM order_commissions")
        )
        refunded_at = (
            "confirmed_at + interval '1 hour'"
            if dialect == "postgresql"
            else "strftime('%Y-%m-%d %H:%M:%S', confirmed_at, '+1 hours') || '.000000'"
        )
        db.execute(
            text(
                "INSERT INTO refunds (order_id, amount_fen, currency, reason, refunded_at)"
                f" SELECT id, amount_fen / 3, 'CNY', 'bench', {refunded_at} FROM orders"
                " WHERE id % 100 = 0"
            )
        )
        db.execute(
            text(
                f"UPDATE orders SET refunded_fen = amount_fen / 3, refunded_at = {refunded_at}"
                " WHERE id % 100 = 0"
            )
        )
        if dialect == "postgresql":
            for table in (
                "orders",
                "order_commissions",
                "settlement_pending",
                "streamers",
                "refunds",
            ):
                db.execute(text(f"ANALYZE {table}"))


def settle(engine: Engine, mark_orders: bool) -> dict[str, Any]:
    from zhibo.settlement.config import SettlementSettings
    from zhibo.settlement.policy import BUILT_IN
    from zhibo.settlement.run import run_settlement

    settings = SettlementSettings(
        chunk_orders=250_000, chunk_payees=10_000, mark_orders_settled=mark_orders
    )
    started = time.perf_counter()
    report = run_settlement(engine, date(2027, 1, 5), BUILT_IN["reform-monthly-5"], settings)
    seconds = time.perf_counter() - started
    # The next day's run, with nothing new: what history costs every later run.
    mark = time.perf_counter()
    run_settlement(engine, date(2027, 1, 6), BUILT_IN["reform-monthly-5"], settings)
    next_run = time.perf_counter() - mark
    return {
        "next_run_seconds": round(next_run, 2),
        "seconds": round(seconds, 2),
        "orders_settled": report.orders_settled,
        "orders_per_s": round(report.orders_settled / seconds),
        "batches": report.batches,
        "accrued_refunds": report.accrued_refunds,
        "phases": report.phases,
    }


def run_postgresql(orders: int, mark_orders: bool) -> dict[str, Any]:
    with scratch_postgres("zhibo_bench_settle") as engine:
        started = time.perf_counter()
        populate(engine, orders)
        setup = time.perf_counter() - started
        figures = settle(engine, mark_orders)
        figures["setup_seconds"] = round(setup, 1)
        return figures


def run_sqlite(orders: int, mark_orders: bool) -> dict[str, Any]:
    from zhibo.kit import migrate
    from zhibo.kit.db import make_engine

    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'bench.db'}")
        try:
            migrate.upgrade(engine)
            started = time.perf_counter()
            populate(engine, orders)
            setup = time.perf_counter() - started
            figures = settle(engine, mark_orders)
            figures["setup_seconds"] = round(setup, 1)
            return figures
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=TARGET_ORDERS)
    parser.add_argument("--only", choices=["postgresql", "sqlite"], default=None)
    parser.add_argument(
        "--orders-status",
        choices=["both", "marked", "unmarked"],
        default="unmarked",
        help="with or without also moving each order row to `settled` (mark_orders_settled; "
        "off by default: the settlement items and the pending queue hold the state)",
    )
    args = parser.parse_args(argv if argv is not None else [])
    print(
        f"baseline (target): {TARGET_ORDERS:,} orders in ≤ {TARGET_SECONDS:.0f} s "
        f"= {TARGET_ORDERS / TARGET_SECONDS:,.0f} orders/s"
    )
    for name, runner in (("postgresql", run_postgresql), ("sqlite", run_sqlite)):
        if args.only and args.only != name:
            continue
        variants = {"both": (True, False), "marked": (True,), "unmarked": (False,)}
        for mark in variants[args.orders_status]:
            figures = runner(args.orders, mark)
            label = "orders marked settled" if mark else "orders not marked"
            print(f"{name} ({label}): {args.orders:,} orders: {figures}", flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
