"""Decoding and validation of incoming events, vectorised: any input (JSON rows, NDJSON, CSV,
Parquet, Arrow IPC) becomes one table in the canonical schema with IPs hashed, plus the rows
refused with the first rule each broke. One rule, one reason:

``malformed_event`` (not a JSON object), ``missing_event_id``, ``bad_event_id`` (too long),
``missing_session_id`` / ``missing_room_id`` / ``missing_user_id`` (absent, not an integer or
not positive), ``bad_type``, ``missing_ts``, ``bad_ts`` (neither RFC 3339 UTC nor integer epoch
milliseconds), ``bad_count`` (a like count below 1), ``negative_amount``, ``missing_amount``
(order without ``amount_fen``), ``missing_product_id`` (add-to-cart or order), ``missing_gift_id``,
``missing_text`` (comment), ``oversized_comment``, ``bad_<field>`` (a payload field of the wrong
type).
"""

from __future__ import annotations

import hmac
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zhibo.config import get_settings
from zhibo.events.schemas import (
    EVENT_SCHEMA,
    EVENT_TYPES,
    FIELDS,
    INT_FIELDS,
    MAX_COMMENT_CHARS,
    MAX_ID_CHARS,
)
from zhibo.kit.errors import InvalidInput
from zhibo.kit.hashing import keyed_hash

_RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|\+00:00|\+0000)$"
_POLARS_SCHEMA = pl.from_arrow(EVENT_SCHEMA.empty_table()).schema  # type: ignore[union-attr]


@dataclass
class Rejection:
    row: int
    reason: str
    event_id: str | None
    payload: dict[str, Any]


@dataclass
class Normalised:
    """Valid events in ``EVENT_SCHEMA`` (IPs hashed) and the refused ones."""

    table: pa.Table
    rejected: list[Rejection] = field(default_factory=list)
    #: Input row number of each row of ``table``.
    row_numbers: list[int] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.table.num_rows + len(self.rejected)


class IpHasher:
    """Keyed hash of IP addresses (the first 16 hex digits of ``keyed_hash(ip, purpose="ip")``),
    cached: a batch hashes only addresses it has not seen."""

    def __init__(self, max_cached: int = 1_000_000) -> None:
        self._cache: dict[str, str] = {}
        self.max_cached = max_cached
        # The HMAC with the key already absorbed; each address continues a copy of it.
        probe = keyed_hash("", purpose="ip")
        self._base = hmac.new(get_settings().secret_key.get_secret_value().encode(), b"", "sha256")
        check = self._base.copy()
        check.update(b"ip\x00")
        if check.hexdigest() != probe:  # pragma: no cover - keyed_hash changed its recipe
            raise RuntimeError("IpHasher no longer matches zhibo.kit.hashing.keyed_hash")

    def one(self, ip: str) -> str:
        hashed = self._cache.get(ip)
        if hashed is None:
            mac = self._base.copy()
            mac.update(f"ip\x00{ip.strip()}".encode())
            hashed = mac.hexdigest()[:16]
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
            self._cache[ip] = hashed
        return hashed

    def column(self, ips: pl.Series) -> pl.Series:
        uniques = ips.drop_nulls().unique()
        if uniques.is_empty():
            return ips
        clear = uniques.to_list()
        hashed = [self.one(ip) for ip in clear]
        return ips.replace_strict(clear, hashed, default=None, return_dtype=pl.String)


# --- decoding ------------------------------------------------------------------------------


def rows_to_frame(rows: Sequence[Any]) -> tuple[pl.DataFrame, list[str | None]]:
    """Python rows (decoded JSON) to a frame; values of the wrong type become nulls and the
    row's first such problem is returned per row (None when none)."""
    problems: list[str | None] = [
        None if isinstance(row, dict) else "malformed_event" for row in rows
    ]
    dict_rows = [row if isinstance(row, dict) else {} for row in rows]
    columns: dict[str, pl.Series] = {}
    for name in FIELDS:
        values = [row.get(name) for row in dict_rows]
        if name == "ts":
            ts_ms = [v if type(v) is int else None for v in values]
            ts_text = [v if isinstance(v, str) else None for v in values]
            for index, value in enumerate(values):
                if value is not None and type(value) is not int and not isinstance(value, str):
                    problems[index] = problems[index] or "bad_ts"
            columns["ts_ms"] = pl.Series("ts_ms", ts_ms, dtype=pl.Int64)
            columns["ts"] = pl.Series("ts", ts_text, dtype=pl.String)
            continue
        if name in INT_FIELDS:
            good = [v if type(v) is int else None for v in values]
            for index, value in enumerate(values):
                if value is not None and type(value) is not int:
                    problems[index] = problems[index] or _type_reason(name)
            columns[name] = pl.Series(name, good, dtype=pl.Int64, strict=False)
        else:
            good_text = [v if isinstance(v, str) else None for v in values]
            for index, value in enumerate(values):
                if value is not None and not isinstance(value, str):
                    problems[index] = problems[index] or _type_reason(name)
            columns[name] = pl.Series(name, good_text, dtype=pl.String)
    return pl.DataFrame(columns), problems


def _type_reason(name: str) -> str:
    return f"missing_{name}" if name in ("session_id", "room_id", "user_id") else f"bad_{name}"


def decode_json(body: bytes) -> Sequence[Any]:
    """A JSON array of events."""
    try:
        rows = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"body: not JSON ({error})") from None
    if not isinstance(rows, list):
        raise InvalidInput("body: expected a JSON array of events")
    return rows


def decode_ndjson(body: bytes) -> Sequence[Any]:
    """One JSON object per line; a line that is not JSON becomes a malformed row."""
    rows: list[Any] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            rows.append(None)
    return rows


def decode_ipc(body: bytes) -> pa.Table:
    try:
        return pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidInput(f"body: not an Arrow IPC stream ({error})") from None


def encode_ipc(table: pa.Table, *, compress: bool = False) -> bytes:
    """An Arrow IPC stream; ``compress`` (LZ4 frames) for a bus with a message size limit."""
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4" if compress else None)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``file_column=field`` pairs to a rename mapping."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column or target not in FIELDS:
            raise InvalidInput(
                f"--map {pair!r}: expected file_column=field, field one of {', '.join(FIELDS)}"
            )
        mapping[column] = target
    return mapping


def read_file(
    path: Path, mapping: dict[str, str] | None = None, chunk_rows: int = 262_144
) -> Iterable[pl.DataFrame]:
    """Frames of a Parquet, CSV or NDJSON file, in chunks, with columns renamed by ``mapping``."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    mapping = mapping or {}
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield _rename(pl.from_arrow(pa.Table.from_batches([batch])), mapping)  # type: ignore[arg-type]
    elif suffix == ".csv":
        table = pacsv.read_csv(path)
        for batch in table.to_batches(chunk_rows):
            yield _rename(pl.from_arrow(pa.Table.from_batches([batch])), mapping)  # type: ignore[arg-type]
    elif suffix in (".ndjson", ".jsonl", ".json"):
        data = path.read_bytes()
        rows = decode_json(data) if data.lstrip()[:1] == b"[" else decode_ndjson(data)
        for start in range(0, len(rows), chunk_rows):
            chunk = [_rename_row(row, mapping) for row in rows[start : start + chunk_rows]]
            frame, problems = rows_to_frame(chunk)
            yield frame.with_columns(pl.Series("_problem", problems, dtype=pl.String))
    else:
        raise InvalidInput(f"{path}: unknown format (use .parquet, .csv, .ndjson or .jsonl)")


def _rename(frame: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    if not mapping:
        return frame
    dropped = [target for target in mapping.values() if target in frame.columns]
    return frame.drop([c for c in dropped if c not in mapping]).rename(mapping)


def _rename_row(row: Any, mapping: dict[str, str]) -> Any:
    if not mapping or not isinstance(row, dict):
        return row
    return {mapping.get(key, key): value for key, value in row.items()}


def table_to_frame(table: pa.Table) -> pl.DataFrame:
    return pl.from_arrow(table)  # type: ignore[return-value]


# --- validation ----------------------------------------------------------------------------


def _ts_expression(frame: pl.DataFrame) -> pl.Expr:
    dtype = frame.schema.get("ts")
    parts: list[pl.Expr] = []
    if "ts_ms" in frame.columns:
        parts.append(pl.col("ts_ms"))
    if isinstance(dtype, pl.Datetime):
        zoned = pl.col("ts")
        if dtype.time_zone is not None:
            zoned = zoned.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        parts.append(zoned.dt.epoch("ms"))
    elif dtype is not None and dtype.is_integer():
        parts.append(pl.col("ts").cast(pl.Int64))
    elif dtype == pl.String:
        text = pl.col("ts").str.strip_chars()
        parsed = (
            pl.when(text.str.contains(_RFC3339_UTC))
            .then(
                text.str.replace(r"[Zz]$|\+00:?00$", "")
                .str.replace(r"[Tt ]", "T")
                .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="ms")
                .dt.epoch("ms")
            )
            .otherwise(None)
        )
        # Integer epoch milliseconds written as text (CSV) are accepted too.
        parts.append(pl.coalesce(parsed, text.str.to_integer(strict=False)))
    return pl.coalesce(parts) if parts else pl.lit(None, dtype=pl.Int64)


def _int_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    if name not in frame.columns:
        return pl.lit(None, dtype=pl.Int64).alias(name)
    dtype = frame.schema[name]
    if dtype == pl.String:
        return pl.col(name).str.strip_chars().str.to_integer(strict=False).alias(name)
    if dtype.is_float():
        column = pl.col(name)
        return (
            pl.when(column == column.floor()).then(column.cast(pl.Int64, strict=False)).alias(name)
        )
    return pl.col(name).cast(pl.Int64, strict=False).alias(name)


def _bad_if_lost(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A value present in the input that did not survive the cast."""
    if f"_raw_{name}" not in frame.columns:
        return pl.lit(False)
    return pl.col(f"_raw_{name}").is_not_null() & pl.col(name).is_null()


def validate(frame: pl.DataFrame, hasher: IpHasher, *, row_offset: int = 0) -> Normalised:
    """Split ``frame`` into canonical valid events and rejections (first failing rule)."""
    frame = frame.with_row_index("_row", offset=row_offset)
    raws = [pl.col(n).alias(f"_raw_{n}") for n in INT_FIELDS if n in frame.columns]
    if raws:
        frame = frame.with_columns(raws)
    string_columns = [
        (pl.col(n).cast(pl.String) if n in frame.columns else pl.lit(None, dtype=pl.String)).alias(
            n
        )
        for n in ("event_id", "device_id", "ip", "type", "text")
    ]
    frame = frame.with_columns(
        [
            *string_columns,
            *(_int_column(frame, n) for n in INT_FIELDS),
            _ts_expression(frame).alias("_ts"),
        ]
    )
    if "_problem" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("_problem"))
    kind = pl.col("type")
    amount = pl.col("amount_fen")
    rules: list[tuple[pl.Expr, str]] = [
        (
            pl.col("event_id").is_null() | (pl.col("event_id").str.len_chars() == 0),
            "missing_event_id",
        ),
        (pl.col("event_id").str.len_chars() > MAX_ID_CHARS, "bad_event_id"),
        *(
            (pl.col(n).is_null() | (pl.col(n) <= 0), f"missing_{n}")
            for n in ("session_id", "room_id", "user_id")
        ),
        (kind.is_null() | ~kind.is_in(list(EVENT_TYPES)), "bad_type"),
        (_missing(frame, "ts"), "missing_ts"),
        (pl.col("_ts").is_null(), "bad_ts"),
        *(
            (_bad_if_lost(frame, n), f"bad_{n}")
            for n in ("count", "product_id", "amount_fen", "gift_id")
        ),
        ((kind == "like") & (pl.col("count") < 1), "bad_count"),
        (amount < 0, "negative_amount"),
        ((kind == "order") & amount.is_null(), "missing_amount"),
        (
            kind.is_in(["add_to_cart", "order"]) & pl.col("product_id").is_null(),
            "missing_product_id",
        ),
        ((kind == "gift") & pl.col("gift_id").is_null(), "missing_gift_id"),
        ((kind == "comment") & pl.col("text").is_null(), "missing_text"),
        (pl.col("text").str.len_chars() > MAX_COMMENT_CHARS, "oversized_comment"),
        (pl.col("device_id").str.len_chars() > MAX_ID_CHARS, "bad_device_id"),
    ]
    reason: pl.Expr = pl.col("_problem")
    chain: Any = pl.when(pl.col("_problem").is_not_null()).then(pl.col("_problem"))
    for condition, name in rules:
        chain = chain.when(condition.fill_null(False)).then(pl.lit(name))
    reason = chain.otherwise(pl.lit(None, dtype=pl.String))
    frame = frame.with_columns(reason.alias("_reason"))
    bad = frame.filter(pl.col("_reason").is_not_null())
    good = frame.filter(pl.col("_reason").is_null())
    valid = good.select(
        pl.col("event_id"),
        pl.col("session_id"),
        pl.col("room_id"),
        pl.col("user_id"),
        pl.col("device_id"),
        hasher.column(good["ip"]).alias("ip"),
        pl.col("type"),
        pl.col("_ts").cast(pl.Datetime("ms", "UTC")).alias("ts"),
        pl.col("text"),
        pl.col("count").cast(pl.Int32),
        pl.col("product_id"),
        pl.col("amount_fen"),
        pl.col("gift_id"),
    )
    return Normalised(
        table=valid.to_arrow().cast(EVENT_SCHEMA),
        rejected=_rejections(bad, hasher),
        row_numbers=good["_row"].to_list(),
    )


def _missing(frame: pl.DataFrame, name: str) -> pl.Expr:
    present = [pl.col(n).is_not_null() for n in (name, f"{name}_ms") if n in frame.columns]
    if not present:
        return pl.lit(True)
    return ~pl.any_horizontal(present)


def _rejections(bad: pl.DataFrame, hasher: IpHasher) -> list[Rejection]:
    if bad.is_empty():
        return []
    payload_columns = [c for c in bad.columns if not c.startswith("_") and c != "ts_ms"]
    raw = {f"_raw_{n}": n for n in INT_FIELDS}
    result = []
    for record in bad.to_dicts():
        payload = {c: record[c] for c in payload_columns}
        for raw_name, name in raw.items():
            if raw_name in record and record[raw_name] is not None:
                payload[name] = record[raw_name]
        if record.get("ts_ms") is not None:
            payload["ts"] = record["ts_ms"]
        if payload.get("ip") is not None:
            payload["ip"] = hasher.one(str(payload["ip"]))
        result.append(
            Rejection(
                row=int(record["_row"]),
                reason=str(record["_reason"]),
                event_id=record.get("event_id"),
                payload=payload,
            )
        )
    return result


def payload_json(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload, default=str).decode()


def frame_from_rows(rows: Sequence[Any]) -> pl.DataFrame:
    frame, problems = rows_to_frame(rows)
    return frame.with_columns(pl.Series("_problem", problems, dtype=pl.String))


def frame_from_ipc(body: bytes) -> pl.DataFrame:
    return table_to_frame(decode_ipc(body))


def read_csv_bytes(body: bytes) -> pl.DataFrame:
    try:
        table = pacsv.read_csv(io.BytesIO(body))
    except (pa.ArrowInvalid, OSError) as error:  # empty, ragged or not text: the client's error
        raise InvalidInput(f"body: not a CSV file of events ({error})") from None
    return table_to_frame(table)


__all__ = [
    "IpHasher",
    "Normalised",
    "Rejection",
    "decode_ipc",
    "decode_json",
    "decode_ndjson",
    "encode_ipc",
    "frame_from_ipc",
    "frame_from_rows",
    "parse_mapping",
    "payload_json",
    "read_file",
    "validate",
]
_ = _POLARS_SCHEMA
