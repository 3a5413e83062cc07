"""Ledger postings/s through ``zhibo.ledger.post`` on PostgreSQL and SQLite.

    .venv/bin/python -m bench.ledger_postings [--batches 8] [--entries 10000] [--only sqlite]

Method: batches of ``--entries`` commission-like entries, 4 postings each (brand payable
debited; streamer commission, partner share and platform fee credited) over 2,000 streamers,
200 partners and 1,000 brands, are built as ``Entry`` objects before timing (that is the
caller's work). Each batch is then timed from ``post()`` to commit: validation, content
hashes, account resolution, idempotency (unique keys, hashes compared for keys already
present) and the balance check are all inside the timing. The Python process's CPU time
over those batches, divided by their wall time, says how much of it is client work (the
rest is the database, or waiting for a core). The first batch warms up (creates
the accounts) and is not counted; the figure is the median over the others. The same batches
are then posted again: every entry is a duplicate (the idempotent re-post rate). Last,
``check`` runs once over the whole ledger (one timing; ``--batches 50`` makes 2M postings).

Baselines in the same run, on the same rows: PostgreSQL binary COPY (SQLite ``executemany``)
of the posting rows (entry_id, line, account_id, amount_fen, currency) with ``write_row``,
(a) into a plain table without indexes or constraints, (b) into a table with the postings'
primary key and account index. (a) is raw write speed; (b) is the floor any code writing
indexed postings meets here. The ratios say how much of each the ledger keeps.

PostgreSQL gets a fresh database (``ZHIBO_BENCH_PG_ADMIN_URL``, default the local server),
dropped at the end; SQLite a temporary file.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from bench.common import scratch_postgres
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, session_factory
from zhibo.ledger import Entry, Posting, check, post

POSTINGS_PER_ENTRY = 4
SEED = 11


def make_batches(batches: int, entries: int) -> list[list[Entry]]:
    """Commission entries: brand pays; streamer, partner and platform are credited."""
    rng = random.Random(SEED)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for b in range(batches):
        batch = []
        for i in range(entries):
            order_id = b * entries + i + 1
            gross = rng.randrange(100, 50_000)
            fee = gross // 10
            partner = gross // 5
            streamer = gross - fee - partner
            batch.append(
                Entry(
                    key=f"order:{order_id}:commission",
                    kind="commission",
                    postings=(
                        Posting(f"brand_payable:{rng.randrange(1_000)}", gross),
                        Posting(f"commission_payable:streamer:{rng.randrange(2_000)}", -streamer),
                        Posting(f"commission_payable:partner:{rng.randrange(200)}", -partner),
                        Posting("platform_fee_revenue", -fee),
                    ),
                    effective_at=start + timedelta(seconds=order_id),
                    order_id=order_id,
                    ref="bench",
                )
            )
        out.append(batch)
    return out


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def measure_ledger(engine: Engine, batches: list[list[Entry]]) -> dict[str, float]:
    factory = session_factory(engine)

    def post_batch(batch: list[Entry]) -> Callable[[], object]:
        def run() -> object:
            with factory() as session:
                result = post(session, batch)
                session.commit()
            return result

        return run

    first = _timed(post_batch(batches[0]))
    cpu_started = time.process_time()
    fresh = [_timed(post_batch(batch)) for batch in batches[1:]]
    cpu = time.process_time() - cpu_started
    again = [_timed(post_batch(batch)) for batch in batches[1:]]
    postings = len(batches[0]) * POSTINGS_PER_ENTRY
    with factory() as session:
        started = time.perf_counter()
        report = check(session)
        check_s = time.perf_counter() - started
    assert report.balanced, report.problems
    return {
        "check_s": check_s,
        "check_postings": report.postings,
        "client_cpu_share": cpu / sum(fresh),
        "warmup_postings_per_s": postings / first,
        "postings_per_s": postings / statistics.median(fresh),
        "best_postings_per_s": postings / min(fresh),
        "duplicate_postings_per_s": postings / statistics.median(again),
    }


def _raw_rows(batches: list[list[Entry]]) -> list[list[tuple[int, int, int, int, str]]]:
    accounts: dict[str, int] = {}
    out = []
    entry_id = 0
    for batch in batches:
        rows = []
        for entry in batch:
            entry_id += 1
            for line, posting in enumerate(entry.postings):
                account = accounts.setdefault(posting.account, len(accounts) + 1)
                rows.append((entry_id, line, account, posting.amount_fen, posting.currency))
        out.append(rows)
    return out


RAW_DDL = (
    "CREATE TABLE bench_raw_postings (entry_id bigint NOT NULL, line smallint NOT NULL, "
    "account_id bigint NOT NULL, amount_fen bigint NOT NULL, currency varchar(3) NOT NULL)"
)
#: The same table with ledger_postings' primary key and account index: the floor a posting
#: table with those indexes can reach here, whatever the code in front of it.
INDEXED_DDL = (
    RAW_DDL.replace("bench_raw_postings", "bench_indexed_postings")[:-1]
    + ", PRIMARY KEY (entry_id, line))",
    "CREATE INDEX ix_bench_indexed_account ON bench_indexed_postings (account_id)",
)


def baseline_postgresql(engine: Engine, batches: list[list[Entry]], table: str) -> float:
    rows = _raw_rows(batches)
    with engine.begin() as connection:
        for ddl in (RAW_DDL, *INDEXED_DDL):
            if table in ddl:
                connection.exec_driver_sql(ddl)
    times = []
    for batch in rows[1:]:
        raw = engine.raw_connection()
        try:
            started = time.perf_counter()
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int2", "int8", "int8", "text"])
                for row in batch:
                    copy.write_row(row)
            raw.commit()
            times.append(time.perf_counter() - started)
        finally:
            raw.close()
    return len(rows[0]) / statistics.median(times)


def baseline_sqlite(engine: Engine, batches: list[list[Entry]], table: str) -> float:
    rows = _raw_rows(batches)
    with engine.begin() as connection:
        for ddl in (RAW_DDL, *INDEXED_DDL):
            if table in ddl:
                connection.exec_driver_sql(ddl)
    times = []
    for batch in rows[1:]:
        raw = engine.raw_connection()
        try:
            started = time.perf_counter()
            cursor = raw.cursor()
            cursor.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)", batch)
            raw.commit()
            times.append(time.perf_counter() - started)
        finally:
            raw.close()
    return len(rows[0]) / statistics.median(times)


def run_postgresql(batches: list[list[Entry]]) -> dict[str, float]:
    with scratch_postgres("zhibo_bench_ledger") as engine:
        figures = measure_ledger(engine, batches)
        figures["baseline_postings_per_s"] = baseline_postgresql(
            engine, batches, "bench_raw_postings"
        )
        figures["indexed_postings_per_s"] = baseline_postgresql(
            engine, batches, "bench_indexed_postings"
        )
        return figures


def run_sqlite(batches: list[list[Entry]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'ledger.db'}")
        try:
            migrate.upgrade(engine)
            figures = measure_ledger(engine, batches)
            figures["baseline_postings_per_s"] = baseline_sqlite(
                engine, batches, "bench_raw_postings"
            )
            figures["indexed_postings_per_s"] = baseline_sqlite(
                engine, batches, "bench_indexed_postings"
            )
            return figures
        finally:
            engine.dispose()


def report(name: str, figures: dict[str, float]) -> None:
    rate = figures["postings_per_s"]
    raw = figures["baseline_postings_per_s"]
    indexed = figures["indexed_postings_per_s"]
    how = "binary COPY" if name == "PostgreSQL" else "executemany"
    lines = [
        f"{name}: post() {rate:,.0f} postings/s (median; best "
        f"{figures['best_postings_per_s']:,.0f}; first batch, accounts created: "
        f"{figures['warmup_postings_per_s']:,.0f})",
        f"  Python (client) CPU time / wall time of those batches: "
        f"{figures['client_cpu_share']:.0%}",
        f"  ledger check over all {figures['check_postings']:,.0f} postings: "
        f"{figures['check_s']:.2f} s",
        f"  re-post of the same batches (all duplicates): "
        f"{figures['duplicate_postings_per_s']:,.0f} postings/s",
        f"  baseline, raw {how} of the same posting rows, no indexes: {raw:,.0f} postings/s "
        f"→ post() is {rate / raw:.2f}× of it",
        f"  baseline, raw {how} into a table with the postings' primary key and account "
        f"index: {indexed:,.0f} postings/s → {rate / indexed:.2f}×",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="the first is a warm-up")
    parser.add_argument("--entries", type=int, default=10_000, help="entries per batch")
    parser.add_argument("--only", choices=["postgresql", "sqlite"], default=None)
    # `python -m bench` calls main() with no arguments: defaults then, not bench's own argv.
    args = parser.parse_args(argv if argv is not None else [])
    batches = make_batches(max(args.batches, 2), args.entries)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)", flush=True)
    print(
        f"{len(batches)} batches × {args.entries:,} entries × {POSTINGS_PER_ENTRY} postings "
        f"({args.entries * POSTINGS_PER_ENTRY:,} postings per batch)",
        flush=True,
    )
    if args.only in (None, "postgresql"):
        report("PostgreSQL", run_postgresql(batches))
    if args.only in (None, "sqlite"):
        report("SQLite", run_sqlite(batches))
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
