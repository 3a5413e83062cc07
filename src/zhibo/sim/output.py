"""File formats: one Arrow schema per Parquet file, deterministic writing, and the manifest.

Writing is byte-for-byte reproducible: fixed compression and page options, no timestamps in
metadata, rows in a defined order. ``docs/data-formats.md`` documents every column."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from zhibo.kit.files import open_for_writing, refuse_symlink

CURRENCY = "CNY"
TS = pa.timestamp("ms", tz="UTC")
NULL = -1

# Salts keep device, IP and address hashes apart even for equal numbers.
DEVICE_SALT = 0x5EED_D3F1_CE00_0001
IP_SALT = 0x5EED_1F00_0000_0002
ADDRESS_SALT = 0x5EED_ADD7_E550_0003

WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_size": 1 << 20,
}
ROW_GROUP_ROWS = 1_000_000


def _f(name: str, type_: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable)


SCHEMAS: dict[str, pa.Schema] = {
    "categories": pa.schema(
        [
            _f("category_id", pa.int64()),
            _f("parent_id", pa.int64(), True),
            _f("name", pa.string()),
            _f("path", pa.string()),
            _f("risk_class", pa.string()),
        ]
    ),
    "brands": pa.schema(
        [
            _f("brand_id", pa.int64()),
            _f("name", pa.string()),
            _f("social_credit_code", pa.string()),
            _f("new_brand_date", pa.date32(), True),
            _f("status", pa.string()),
            _f("created_at", TS),
        ]
    ),
    "products": pa.schema(
        [
            _f("product_id", pa.int64()),
            _f("brand_id", pa.int64()),
            _f("category_id", pa.int64()),
            _f("external_id", pa.string()),
            _f("title", pa.string()),
            _f("description", pa.string()),
            _f("price_fen", pa.int64()),
            _f("reference_price_fen", pa.int64(), True),
            _f("currency", pa.string()),
            _f("commission_rate_bp", pa.int32()),
            _f("stock", pa.int32()),
            _f("status", pa.string()),
            _f("sales_30d", pa.int64()),
            _f("created_at", TS),
        ]
    ),
    "price_history": pa.schema(
        [
            _f("product_id", pa.int64()),
            _f("price_fen", pa.int64()),
            _f("reference_price_fen", pa.int64(), True),
            _f("currency", pa.string()),
            _f("commission_rate_bp", pa.int32()),
            _f("stock", pa.int32()),
            _f("effective_at", TS),
        ]
    ),
    "partners": pa.schema(
        [
            _f("partner_id", pa.int64()),
            _f("name", pa.string()),
            _f("kind", pa.string()),
            _f("social_credit_code", pa.string()),
            _f("created_at", TS),
        ]
    ),
    "streamers": pa.schema(
        [
            _f("streamer_id", pa.int64()),
            _f("display_name", pa.string()),
            _f("real_name", pa.string()),
            _f("id_number", pa.string()),
            _f("phone", pa.string()),
            _f("birth_date", pa.date32()),
            _f("partner_id", pa.int64(), True),
            _f("status", pa.string()),
            _f("is_virtual", pa.bool_()),
            _f("followers", pa.int64()),
            _f("created_at", TS),
        ]
    ),
    "contracts": pa.schema(
        [
            _f("contract_id", pa.int64()),
            _f("partner_id", pa.int64()),
            _f("streamer_id", pa.int64()),
            _f("partner_share_bp", pa.int32()),
            _f("valid_from", TS),
        ]
    ),
    "viewers": pa.schema(
        [
            _f("viewer_id", pa.int64()),
            _f("account_created_at", TS),
            _f("real_name_verified", pa.bool_()),
            _f("is_minor", pa.bool_()),
            _f("birth_date", pa.date32(), True),
        ]
    ),
    "viewer_devices": pa.schema([_f("viewer_id", pa.int64()), _f("device_id", pa.string())]),
    "rooms": pa.schema(
        [
            _f("room_id", pa.int64()),
            _f("streamer_id", pa.int64()),
            _f("title", pa.string()),
            _f("created_at", TS),
        ]
    ),
    "sessions": pa.schema(
        [
            _f("session_id", pa.int64()),
            _f("room_id", pa.int64()),
            _f("streamer_id", pa.int64()),
            _f("title", pa.string()),
            _f("status", pa.string()),
            _f("scheduled_start_at", TS),
            _f("started_at", TS, True),
            _f("ended_at", TS, True),
        ]
    ),
    "shelf": pa.schema(
        [
            _f("session_id", pa.int64()),
            _f("product_id", pa.int64()),
            _f("commission_rate_bp", pa.int32()),
            _f("slot_fee_fen", pa.int64()),
            _f("currency", pa.string()),
            _f("position", pa.int32()),
        ]
    ),
    "orders": pa.schema(
        [
            _f("order_id", pa.int64()),
            _f("buyer_id", pa.int64()),
            _f("product_id", pa.int64()),
            _f("quantity", pa.int32()),
            _f("unit_price_fen", pa.int64()),
            _f("amount_fen", pa.int64()),
            _f("currency", pa.string()),
            _f("commission_rate_bp", pa.int32()),
            _f("session_id", pa.int64()),
            _f("room_id", pa.int64()),
            _f("streamer_id", pa.int64()),
            _f("partner_id", pa.int64(), True),
            _f("status", pa.string()),
            _f("paid_at", TS),
            _f("shipped_at", TS, True),
            _f("delivered_at", TS, True),
            _f("confirmed_at", TS, True),
            _f("refunded_fen", pa.int64()),
            _f("refunded_at", TS, True),
            _f("device_id", pa.string()),
            _f("address_hash", pa.string()),
        ]
    ),
    "refunds": pa.schema(
        [
            _f("refund_id", pa.int64()),
            _f("order_id", pa.int64()),
            _f("amount_fen", pa.int64()),
            _f("currency", pa.string()),
            _f("reason", pa.string()),
            _f("refunded_at", TS),
        ]
    ),
    "events": pa.schema(
        [
            _f("event_id", pa.string()),
            _f("session_id", pa.int64()),
            _f("room_id", pa.int64()),
            _f("user_id", pa.int64()),
            _f("device_id", pa.string()),
            _f("ip", pa.string()),
            _f("type", pa.string()),
            _f("ts", TS),
            _f("text", pa.string(), True),
            _f("count", pa.int32(), True),
            _f("product_id", pa.int64(), True),
            _f("amount_fen", pa.int64(), True),
            _f("currency", pa.string(), True),
            _f("gift_id", pa.int64(), True),
        ]
    ),
    "blacklist": pa.schema(
        [
            _f("entry_id", pa.int64()),
            _f("id_number", pa.string()),
            _f("phone", pa.string()),
            _f("device_ids", pa.list_(pa.field("item", pa.string(), nullable=False))),
            _f("reason", pa.string()),
            _f("legal_basis", pa.string()),
            _f("listed_at", TS),
            _f("expires_at", TS, True),
        ]
    ),
    "labels": pa.schema(
        [
            _f("label_id", pa.int64()),
            _f("tactic", pa.string()),
            _f("entity_type", pa.string()),
            _f("entity_id", pa.int64()),
            _f("session_id", pa.int64(), True),
            _f("user_ids", pa.list_(pa.field("item", pa.int64(), nullable=False))),
            _f("window_start", TS),
            _f("window_end", TS, True),
            _f("detail", pa.string()),
        ]
    ),
}
#: Files in the order they are written (and listed in the manifest).
FILES = tuple(SCHEMAS)


def ids(n: int) -> pa.Array:
    return pa.array(np.arange(1, n + 1, dtype=np.int64))


def ts_array(values: np.ndarray) -> pa.Array:
    """Millisecond timestamps; ``NULL`` (-1) becomes null."""
    values = np.asarray(values, dtype=np.int64)
    return pa.array(values, type=TS, mask=values == NULL)


def date_array(days: np.ndarray) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=days == NULL)


def nullable(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """Integers with ``NULL`` (-1) as null."""
    values = np.asarray(values)
    return pa.array(values, type=type_, mask=values == NULL)


def strings(values: list[str]) -> pa.Array:
    return pa.array(values, type=pa.string())


def constant(value: str, n: int) -> pa.Array:
    return pa.array(np.full(n, value, dtype=object), type=pa.string())


def codes(names: tuple[str, ...], values: np.ndarray) -> pa.Array:
    """Enum codes to their lowercase names."""
    return pa.array(names, type=pa.string()).take(pa.array(np.asarray(values, dtype=np.int64)))


def table(name: str, columns: dict[str, Any]) -> pa.Table:
    schema = SCHEMAS[name]
    missing = set(schema.names) ^ set(columns)
    if missing:
        raise ValueError(f"{name}: columns do not match the schema: {sorted(missing)}")
    arrays = [columns[f.name] for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def write(path: Path, data: pa.Table) -> None:
    pq.write_table(
        data, refuse_symlink(path, "--out"), row_group_size=ROW_GROUP_ROWS, **WRITE_OPTIONS
    )


class StreamWriter:
    """A Parquet file written in chunks (the event stream), with the same options."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self.rows = 0
        self._writer = pq.ParquetWriter(
            refuse_symlink(path, "--out"), SCHEMAS[name], **WRITE_OPTIONS
        )

    def write(self, data: pa.Table) -> None:
        if data.num_rows:
            self._writer.write_table(data, row_group_size=ROW_GROUP_ROWS)
            self.rows += data.num_rows

    def close(self) -> None:
        self._writer.close()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(path: Path, info: dict[str, Any]) -> None:
    with open_for_writing(path, "--out", binary=True) as handle:
        handle.write(orjson.dumps(info, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
