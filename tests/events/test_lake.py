"""The lake's files: one per batch and UTC hour, each hour's rows in their batch order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zhibo.events.lake import Lake


def _batch(hours_offsets: list[float]) -> pa.Table:
    start = datetime(2026, 11, 1, 10, 30, tzinfo=UTC)
    times = [start + timedelta(hours=offset) for offset in hours_offsets]
    return pa.table(
        {
            "event_id": [f"e{n}" for n in range(len(times))],
            "ts": pa.array(times, pa.timestamp("ms", tz="UTC")),
        }
    )


@pytest.mark.parametrize(
    "offsets",
    [
        [0, 0.1, 0.2],  # one hour
        [0, 0.2, 0.6, 0.7, 1.6, 2.9],  # in time order, four hours
        [1.6, 0, 0.7, 2.9, 0.2, 0.6, 1.7, 0.1],  # out of order
    ],
    ids=["one-hour", "in-order", "out-of-order"],
)
def test_every_hour_gets_its_rows_in_batch_order(tmp_path: Path, offsets: list[float]) -> None:
    lake = Lake(tmp_path)
    batch = _batch(offsets)
    lake.write(batch, "pipeline", 3, 42)
    lake.flush()
    files = sorted(tmp_path.glob("date=*/hour=*/*.parquet"))
    assert {path.name for path in files} == {"pipeline-p003-000000000042.parquet"}
    written: dict[str, list[str]] = {}
    for path in files:
        table = pq.read_table(path)
        hours = {moment.strftime("%Y-%m-%d %H") for moment in table.column("ts").to_pylist()}
        assert hours == {f"{path.parent.parent.name[5:]} {path.parent.name[5:]}"}
        written[path.parent.name] = table.column("event_id").to_pylist()
    expected: dict[str, list[str]] = {}
    for event_id, moment in zip(
        batch.column("event_id").to_pylist(), batch.column("ts").to_pylist(), strict=True
    ):
        expected.setdefault(f"hour={moment:%H}", []).append(event_id)
    assert written == expected
    lake.close()
