"""Foundation figures: simulator speed, bulk-load speed against a row-at-a-time baseline, and
the `zhibo demo` set-up time (which the foundation issue bounds at 3 minutes).

Method: every figure is the median of ``REPEAT`` runs in this process. The loader's baseline
is the obvious alternative measured in the same run: one INSERT statement per row on the same
database, over the same rows (the first ``BASELINE_ROWS`` orders), so the ratio shows what the
batched, multi-row load buys. PostgreSQL figures are skipped when it is not reachable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import create_engine, insert, text

from bench.common import median_seconds
from zhibo.kit import migrate
from zhibo.kit.db import make_engine
from zhibo.load.service import SPECS, load_directory
from zhibo.sim.generator import generate

REPEAT = 3
BASELINE_ROWS = 5_000
PG_ADMIN = os.environ.get("ZHIBO_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _fresh_sqlite(folder: Path) -> str:
    return f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}"


def _fresh_pg() -> tuple[str, str] | None:
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"zhibo_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception:
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name


def _drop_pg(name: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _load_figures(label: str, make_url: object, sim_dir: Path, rows_total: int) -> None:
    urls: list[str] = []

    def fresh() -> None:
        url = make_url()  # type: ignore[operator]
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        urls.append(url)

    def load() -> None:
        engine = make_engine(urls[-1])
        load_directory(engine, sim_dir, progress=False)
        engine.dispose()

    seconds = median_seconds(load, repeat=REPEAT, setup=fresh)

    # Baseline: the same loader's rows for orders, but one INSERT per row.
    order_spec = next(spec for spec in SPECS if spec.table.name == "orders")
    fresh()
    engine = make_engine(urls[-1])
    load_directory(engine, sim_dir, progress=False)  # parents of orders must exist
    orders = pq.read_table(sim_dir / order_spec.file).slice(0, BASELINE_ROWS).to_pylist()
    rows = []
    for raw in orders:
        row = {order_spec.rename.get(k, k): v for k, v in raw.items()}
        row = {k: v for k, v in row.items() if k in order_spec.table.columns}
        row["id"] += 1_000_000_000  # beside the loaded orders; each run is rolled back
        rows.append(row)

    def per_row() -> None:
        with engine.connect() as connection:
            for row in rows:
                connection.execute(insert(order_spec.table), row)
            connection.rollback()

    def batched() -> None:
        with engine.connect() as connection:
            connection.execute(insert(order_spec.table), rows)
            connection.rollback()

    per_row_s = median_seconds(per_row, repeat=REPEAT)
    batched_s = median_seconds(batched, repeat=REPEAT)
    engine.dispose()
    print(
        f"{label:<10} full load: {seconds:6.2f} s for {rows_total:,} rows "
        f"= {rows_total / seconds:,.0f} rows/s (median of {REPEAT})"
    )
    print(
        f"{label:<10} {len(rows):,} orders: one INSERT per row "
        f"{len(rows) / per_row_s:,.0f} rows/s, "
        f"batched {len(rows) / batched_s:,.0f} rows/s: {per_row_s / batched_s:.1f}x"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zhibo-bench-") as tmp:
        folder = Path(tmp)
        sim_dir = folder / "platform"
        counts: dict[str, int] = {}

        def simulate() -> None:
            counts.update(generate(seed=1, scale="small", out=sim_dir, progress=False))

        sim_s = median_seconds(simulate, repeat=REPEAT)
        events = counts.get("events", 0)
        print(
            f"simulate small (seed 1): {sim_s:.2f} s median of {REPEAT}; "
            f"{events:,} events = {events / sim_s:,.0f} events/s"
        )
        loadable = sum(
            pq.ParquetFile(sim_dir / spec.file).metadata.num_rows
            for spec in SPECS
            if (sim_dir / spec.file).exists()
        )
        _load_figures("SQLite", lambda: _fresh_sqlite(folder), sim_dir, loadable)

        created: list[str] = []

        def pg_url() -> str:
            made = _fresh_pg()
            assert made is not None
            created.append(made[1])
            return made[0]

        probe = _fresh_pg()
        if probe is None:
            print("PostgreSQL not reachable: skipped")
        else:
            _drop_pg(probe[1])
            try:
                _load_figures("PostgreSQL", pg_url, sim_dir, loadable)
            finally:
                for name in created:
                    _drop_pg(name)

        # The demo's set-up, end to end, as a user runs it (without serving).
        demo_cwd = folder / "demo"
        demo_cwd.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBO_")}
        zhibo = Path(sys.executable).parent / "zhibo"
        started = time.perf_counter()
        subprocess.run(
            [str(zhibo), "demo", "--no-serve"],
            cwd=demo_cwd,
            env=env,
            check=True,
            capture_output=True,
        )
        demo_s = time.perf_counter() - started
        print(f"zhibo demo set-up: {demo_s:.1f} s (bound: 180 s) on {date.today()}")


if __name__ == "__main__":
    main()
