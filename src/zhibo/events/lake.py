"""The event lake: accepted events as Parquet under ``<data_dir>/lake/events``, partitioned by
``date=YYYY-MM-DD/hour=HH`` (UTC). The grading and risk work read it (DuckDB, Polars).

The lake is also the pipeline's log: each batch is written under a name derived from its
consumer, bus partition and position (``<consumer>-p007-000000000042.parquet``), to a
temporary file renamed into place, *before* its effects are committed. A worker that restarts
deletes the files past its committed position and replays the rest to rebuild its state, so a
batch delivered again rewrites the same file with the same rows: every event lies in the lake
exactly once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from zhibo.events.schemas import EVENT_SCHEMA

_NAME = re.compile(
    r"^(?P<consumer>[a-z0-9_]+)-p(?P<partition>\d{3})-(?P<position>\d{12})\.parquet$"
)


def lake_root(data_dir: Path) -> Path:
    return Path(data_dir) / "lake" / "events"


@dataclass(frozen=True)
class LakeFile:
    path: Path
    consumer: str
    partition: int
    position: int


class Lake:
    """Writes batches (in a background thread: pyarrow releases the GIL while it encodes) and
    lists and reads the files of a consumer's partitions."""

    def __init__(self, root: Path, *, compression: str = "snappy") -> None:
        self.root = Path(root)
        self.compression = compression
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake")
        self._pending: list[Future[None]] = []

    def file_name(self, consumer: str, partition: int, position: int) -> str:
        return f"{consumer}-p{partition:03d}-{position:012d}.parquet"

    def write(self, table: pa.Table, consumer: str, partition: int, position: int) -> None:
        """Queue the batch's files; ``flush`` waits for them. At most a few batches wait, so
        a slow disk slows the producer instead of filling memory."""
        if table.num_rows == 0:
            return
        if len(self._pending) >= 4:
            self._pending.pop(0).result()
        name = self.file_name(consumer, partition, position)
        self._pending.append(self._executor.submit(self._write_now, table, name))

    def _write_now(self, table: pa.Table, name: str) -> None:
        hours = pl.from_arrow(table.column("ts")).dt.truncate("1h")  # type: ignore[union-attr]
        if not hours.is_sorted():
            # Rows of one hour together (stable): one copy, then every hour is a slice.
            order = np.argsort(hours.to_physical().to_numpy(), kind="stable")
            table = table.take(pa.array(order))
            hours = hours.gather(order)
        # Events mostly arrive in time order: each hour's rows are a slice, nothing is copied.
        runs = hours.rle()
        start = 0
        for hour, length in zip(runs.struct.field("value"), runs.struct.field("len"), strict=True):
            self._write_part(table.slice(start, length), hour, name)
            start += length

    def _write_part(self, table: pa.Table, hour: object, name: str) -> None:
        folder = self.root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        temporary = folder / f".{name}.tmp"
        pq.write_table(
            table,
            temporary,
            compression=self.compression,
            use_dictionary=["device_id", "ip", "type", "text"],
            write_statistics=["session_id", "room_id", "ts"],
        )
        os.replace(temporary, target)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        self.flush()
        self._executor.shutdown()

    def files(
        self, consumer: str | None = None, partitions: set[int] | None = None
    ) -> list[LakeFile]:
        found: list[LakeFile] = []
        if not self.root.is_dir():
            return found
        for path in self.root.glob("date=*/hour=*/*.parquet"):
            match = _NAME.match(path.name)
            if match is None:
                continue
            item = LakeFile(
                path, match["consumer"], int(match["partition"]), int(match["position"])
            )
            if consumer is not None and item.consumer != consumer:
                continue
            if partitions is not None and item.partition not in partitions:
                continue
            found.append(item)
        return sorted(found, key=lambda f: (f.partition, f.position, str(f.path)))

    def read(self, files: list[LakeFile]) -> Iterator[tuple[LakeFile, pa.Table]]:
        for item in files:
            yield item, pq.read_table(item.path, schema=EVENT_SCHEMA)

    def read_sessions(
        self, files: list[LakeFile], session_ids: set[int], first_ms: int, last_ms: int
    ) -> pa.Table:
        """The events of ``session_ids`` in ``files``, looking only in the hour folders from
        ``first_ms`` to ``last_ms`` (each file's session_id statistics skip the rest)."""
        first_hour = first_ms // _HOUR_MS * _HOUR_MS
        wanted = [item for item in files if first_hour <= _hour_ms(item.path) <= last_ms]
        filters = [("session_id", "in", sorted(session_ids))]
        tables = [pq.read_table(item.path, schema=EVENT_SCHEMA, filters=filters) for item in wanted]
        return pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()


_HOUR_MS = 3_600_000


def _hour_ms(path: Path) -> int:
    """Epoch milliseconds of a lake file's hour folder (``date=2026-11-11/hour=20``)."""
    day = path.parent.parent.name.removeprefix("date=")
    hour = int(path.parent.name.removeprefix("hour="))
    moment = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)
    return int(moment.timestamp() * 1000)
