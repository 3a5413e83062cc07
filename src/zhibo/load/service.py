"""Load a directory written by ``zhibo simulate`` into the configured database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from zhibo.accounts.service import id_number_hash, mask_name, phone_hash
from zhibo.kit.errors import InvalidInput
from zhibo.kit.hashing import mask, mask_phone
from zhibo.models import (
    Brand,
    Category,
    LiveRoom,
    LiveSession,
    Order,
    Partner,
    PartnerContract,
    Product,
    ProductPriceHistory,
    Refund,
    ShelfItem,
    Streamer,
    Viewer,
    ViewerDevice,
)

Row = dict[str, Any]
BATCH_ROWS = 5_000


class MissingFile(InvalidInput):
    """A file the loader needs is not in the directory."""


class BadFile(InvalidInput):
    """A file lacks a column or holds a value the database refuses."""


def _streamer(row: Row) -> Row:
    id_number = row.pop("id_number", None)
    phone = row.pop("phone", None)
    real_name = row.pop("real_name", None)
    row["id_number_hash"] = id_number_hash(id_number) if id_number else None
    row["id_number_masked"] = mask(id_number) if id_number else None
    row["phone_hash"] = phone_hash(phone) if phone else None
    row["phone_masked"] = mask_phone(phone) if phone else None
    row["real_name_masked"] = mask_name(real_name) if real_name else None
    row["verified_at"] = row["created_at"] if row.get("status") != "pending" else None
    return row


def _product(row: Row) -> Row:
    row.setdefault("updated_at", row.get("created_at"))
    return row


@dataclass(frozen=True)
class FileSpec:
    file: str
    table: Table
    #: File column → table column.
    rename: dict[str, str]
    transform: Callable[[Row], Row] | None = None
    required: bool = True
    #: Files without an id column get the row number (1-based) as id, stable across loads.
    number_rows: bool = False
    #: Insert in this order (roots of a tree before their children).
    sort_by: tuple[str, ...] = ()


def _t(model: Any) -> Table:
    return model.__table__


SPECS: tuple[FileSpec, ...] = (
    FileSpec("categories.parquet", _t(Category), {"category_id": "id"}, sort_by=("path",)),
    FileSpec("brands.parquet", _t(Brand), {"brand_id": "id"}),
    FileSpec("partners.parquet", _t(Partner), {"partner_id": "id"}),
    FileSpec("streamers.parquet", _t(Streamer), {"streamer_id": "id"}, _streamer),
    FileSpec("contracts.parquet", _t(PartnerContract), {"contract_id": "id"}),
    FileSpec("viewers.parquet", _t(Viewer), {"viewer_id": "id"}),
    FileSpec("viewer_devices.parquet", _t(ViewerDevice), {}, number_rows=True),
    FileSpec("products.parquet", _t(Product), {"product_id": "id"}, _product),
    FileSpec(
        "price_history.parquet", _t(ProductPriceHistory), {}, number_rows=True, required=False
    ),
    FileSpec("rooms.parquet", _t(LiveRoom), {"room_id": "id"}),
    FileSpec("sessions.parquet", _t(LiveSession), {"session_id": "id"}),
    FileSpec("shelf.parquet", _t(ShelfItem), {}, number_rows=True),
    FileSpec("orders.parquet", _t(Order), {"order_id": "id"}),
    FileSpec("refunds.parquet", _t(Refund), {"refund_id": "id"}, required=False),
)


def _insert_ignoring_existing(connection: Connection, table: Table, rows: list[Row]) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(dialect)
    connection.execute(statement, rows)


def _batches(parquet: pq.ParquetFile, spec: FileSpec) -> Iterator[list[Row]]:
    columns = set(spec.table.columns.keys())
    row_number = 0
    table_data: pa.Table | None = None
    if spec.sort_by:
        table_data = parquet.read().sort_by([(name, "ascending") for name in spec.sort_by])
        batches = table_data.to_batches(BATCH_ROWS)
    else:
        batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    for batch in batches:
        rows = []
        for raw in batch.to_pylist():
            row_number += 1
            row = {spec.rename.get(key, key): value for key, value in raw.items()}
            if spec.transform is not None:
                row = spec.transform(row)
            if spec.number_rows and "id" not in row:
                row["id"] = row_number
            unknown = set(row) - columns
            for key in unknown:
                del row[key]
            rows.append(row)
        yield rows


def _reset_sequence(connection: Connection, table: Table) -> None:
    """After explicit ids, PostgreSQL's serial must move past them (SQLite needs nothing)."""
    if connection.dialect.name != "postgresql":
        return
    name = table.name
    connection.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
        )
    )


def load_directory(engine: Engine, directory: Path, progress: bool = True) -> dict[str, int]:
    """Load every known file of ``directory``; returns the row count per table afterwards.

    One transaction: a file the database refuses leaves the database as it was.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise MissingFile(f"directory: {directory} does not exist")
    present = []
    for spec in SPECS:
        path = directory / spec.file
        if path.exists():
            present.append((spec, pq.ParquetFile(path)))
        elif spec.required:
            raise MissingFile(f"{spec.file}: missing from {directory}")
    total = sum(file.metadata.num_rows for _, file in present)
    counts: dict[str, int] = {}
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with (
        Progress(*columns, disable=not progress, transient=False) as bar,
        engine.begin() as connection,
    ):
        task = bar.add_task("loading", total=total)
        for spec, parquet in present:
            bar.update(task, description=f"loading {spec.table.name}")
            try:
                for rows in _batches(parquet, spec):
                    _insert_ignoring_existing(connection, spec.table, rows)
                    bar.advance(task, len(rows))
            except (KeyError, TypeError, ValueError) as exc:
                raise BadFile(f"{spec.file}: {exc}") from exc
            except Exception as exc:
                if type(exc).__module__.startswith("sqlalchemy"):
                    reason = str(getattr(exc, "orig", exc)).splitlines()[0]
                    raise BadFile(f"{spec.file}: refused by the database: {reason}") from exc
                raise
            _reset_sequence(connection, spec.table)
            counts[spec.table.name] = (
                connection.scalar(select(func.count()).select_from(spec.table)) or 0
            )
    return counts
