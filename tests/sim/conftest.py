"""Fixtures: one simulated small platform shared by the whole module set, as DuckDB views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.sim.helpers import SMALL_SEED
from zhibo.sim import generate
from zhibo.sim.output import FILES


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim-small")
    generate(seed=SMALL_SEED, scale="small", out=out, progress=False)
    return out


@pytest.fixture(scope="session")
def sim_db(small_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in FILES:
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{small_dir / name}.parquet')"
        )
    yield con
    con.close()


@pytest.fixture(scope="session")
def manifest(small_dir: Path) -> dict[str, Any]:
    return json.loads((small_dir / "manifest.json").read_text())


@pytest.fixture(scope="session")
def labels(sim_db: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    relation = sim_db.sql("SELECT * FROM labels ORDER BY label_id")
    names = relation.columns
    rows = relation.fetchall()
    out = []
    for row in rows:
        record = dict(zip(names, row, strict=True))
        record["detail"] = json.loads(record["detail"])
        out.append(record)
    return out
