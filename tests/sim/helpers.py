"""Shared helpers for the simulator tests."""

from __future__ import annotations

from typing import Any

import duckdb

from zhibo.sim import Scale

#: A platform small enough to generate twice in a test within a few seconds.
TINY = Scale(
    name="tiny",
    products=2_000,
    brands=120,
    streamers=60,
    partners=6,
    viewers=5_000,
    days=2,
    events_target=40_000,
    tactic_factor=0.3,
)
SMALL_SEED = 2021


def scalar(sim_db: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> Any:
    result = sim_db.execute(sql, list(params)).fetchall()
    assert len(result) == 1
    return result[0][0]


def rows(sim_db: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return sim_db.execute(sql, list(params)).fetchall()
