"""Batch scans: read order and event files from anywhere (CSV or Parquet, columns mapped to
zhibo's canonical fields), run the running rules over them, write findings as JSON and CSV.

Canonical order fields: ``order_id``, ``seller_id`` (the shop, room or streamer the rule groups
by), ``buyer_id``, ``created_at``; optional ``amount_fen``, ``device_id``, ``address_hash``,
``refunded_at``. Canonical event fields for text checks: ``user_id``, ``ts``, ``text``; optional
``event_id``, ``session_id``, ``room_id``, ``type``. A file's own column names are mapped with
``file_column=field``; a column already named as a field needs no mapping.

Times: ISO 8601 text (with or without a zone), Parquet/Arrow timestamps, or Unix epoch numbers
(seconds, milliseconds or microseconds, told apart by magnitude). Times without a zone are kept
zone-less in the output. A value that cannot be read is refused with its row and column named.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from zhibo.kit.errors import InvalidInput
from zhibo.risk.brushing import concentration_findings, from_us
from zhibo.risk.rules import RuleSet, default_rules
from zhibo.risk.schemas import CSV_COLUMNS, Finding
from zhibo.risk.screens import check_text

ORDER_FIELDS = ("order_id", "seller_id", "buyer_id", "created_at")
ORDER_OPTIONAL = ("amount_fen", "device_id", "address_hash", "refunded_at")
EVENT_FIELDS = ("user_id", "ts", "text")
EVENT_OPTIONAL = ("event_id", "session_id", "room_id", "type")
_ID_FIELDS = ("order_id", "seller_id", "buyer_id", "user_id", "session_id", "room_id")


class InvalidScanFile(InvalidInput):
    """A scan input cannot be read; ``detail`` names the file, row and column."""


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``["orderid=order_id", ...]`` → ``{"orderid": "order_id"}``."""
    known = set(ORDER_FIELDS + ORDER_OPTIONAL + EVENT_FIELDS + EVENT_OPTIONAL)
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, field = item.partition("=")
        if not sep or not column or not field:
            raise InvalidInput(f"--map {item!r}: write file_column=field")
        if field not in known:
            raise InvalidInput(f"--map {item!r}: unknown field {field!r}; fields: {sorted(known)}")
        mapping[column] = field
    return mapping


def _read(path: Path) -> pl.DataFrame:
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix.endswith(".csv") or suffix.endswith(".csv.gz") or path.suffix == ".tsv":
            # Every column as text: types are decided per field below, with row-level errors.
            return pl.read_csv(
                path,
                infer_schema=False,
                separator="\t" if path.suffix == ".tsv" else ",",
            )
    except FileNotFoundError as exc:
        raise InvalidScanFile(f"{path}: no such file") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidScanFile(f"{path}: cannot read ({exc})") from exc
    raise InvalidScanFile(f"{path}: not a .csv, .csv.gz, .tsv or .parquet file")


def _first_bad(frame: pl.DataFrame, column: str, parsed: pl.Series) -> int | None:
    bad = frame.get_column(column).is_not_null() & parsed.is_null()
    index = bad.arg_true()
    return int(index[0]) if len(index) else None


def _problem(path: Path, row: int, column: str, value: Any, what: str, csv_file: bool) -> str:
    line = f" (line {row + 2})" if csv_file else ""
    return f"{path}: row {row + 1}{line}, column {column!r}: cannot read {value!r} as {what}"


def _ids(path: Path, frame: pl.DataFrame, column: str) -> pl.Series:
    series = frame.get_column(column)
    if series.dtype.is_integer():
        return series.cast(pl.Int64)
    if series.dtype == pl.String:
        stripped = series.str.strip_chars()
        as_int = stripped.cast(pl.Int64, strict=False)
        if _first_bad(frame, column, as_int) is None:
            return as_int
        return stripped
    raise InvalidScanFile(f"{path}: column {column!r} holds {series.dtype}, not ids")


def _times(path: Path, frame: pl.DataFrame, column: str, csv_file: bool) -> tuple[pl.Series, bool]:
    """Microseconds since the epoch (Int64), and whether the times carried a zone."""
    series = frame.get_column(column)
    if isinstance(series.dtype, pl.Datetime):
        aware = series.dtype.time_zone is not None
        if aware:
            series = series.dt.convert_time_zone("UTC")
        return series.dt.epoch("us"), aware
    if series.dtype == pl.String:
        text = series.str.strip_chars()
        numeric = text.cast(pl.Float64, strict=False)
        if numeric.is_not_null().any() and _first_bad(frame, column, numeric) is None:
            series = numeric
        else:
            parsed = text.str.to_datetime(strict=False, time_unit="us")
            bad = _first_bad(frame, column, parsed)
            if bad is not None:
                value = frame.get_column(column)[bad]
                raise InvalidScanFile(_problem(path, bad, column, value, "a time", csv_file))
            aware = isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None
            return parsed.dt.epoch("us"), aware
    if series.dtype.is_numeric():
        values = series.cast(pl.Float64)
        largest = float(values.abs().max() or 0)  # type: ignore[arg-type]
        # Unix seconds until the year 5138; beyond that milliseconds, then microseconds.
        scale = 1_000_000 if largest < 1e11 else 1_000 if largest < 1e14 else 1
        return (values * scale).round(0).cast(pl.Int64), True
    raise InvalidScanFile(f"{path}: column {column!r} holds {series.dtype}, not times")


@dataclass
class Canonical:
    """Orders in canonical form: ``order_id, seller_id, buyer_id, t`` (µs since the epoch),
    and whether the file's times carried a zone."""

    table: pa.Table
    aware: bool


def _canonical(
    path: Path,
    mapping: dict[str, str],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    kind: str,
) -> tuple[pl.DataFrame, dict[str, str], bool]:
    frame = _read(path)
    csv_file = path.suffix.lower() != ".parquet"
    for column in mapping:
        if column not in frame.columns:
            raise InvalidScanFile(
                f"{path}: --map names column {column!r}, which the file does not have "
                f"(columns: {', '.join(frame.columns)})"
            )
    field_to_column = {field: column for column, field in mapping.items()}
    for field in required + optional:
        if field not in field_to_column and field in frame.columns and field not in mapping:
            field_to_column[field] = field
    missing = [field for field in required if field not in field_to_column]
    if missing:
        raise InvalidScanFile(
            f"{path}: no column for the {kind} field(s) {', '.join(missing)} "
            f"(columns: {', '.join(frame.columns)}; map one with --map COLUMN=FIELD)"
        )
    for field in required:
        column = field_to_column[field]
        nulls = frame.get_column(column).is_null()
        if field != "text" and nulls.any():
            row = int(nulls.arg_true()[0])
            line = f" (line {row + 2})" if csv_file else ""
            raise InvalidScanFile(f"{path}: row {row + 1}{line}, column {column!r} is empty")
    return frame, field_to_column, csv_file


def read_orders(path: Path, mapping: dict[str, str] | None = None) -> Canonical:
    """The order file as ``order_id, seller_id, buyer_id, t`` (µs), validated."""
    path = Path(path)
    frame, columns, csv_file = _canonical(
        path, mapping or {}, ORDER_FIELDS, ORDER_OPTIONAL, "order"
    )
    t, aware = _times(path, frame, columns["created_at"], csv_file)
    data = {
        field: _ids(path, frame, columns[field]) for field in ("order_id", "seller_id", "buyer_id")
    }
    table = pl.DataFrame({**data, "t": t}).to_arrow()
    return Canonical(table=table, aware=aware)


def read_events(path: Path, mapping: dict[str, str] | None = None) -> pl.DataFrame:
    """The event file's rows that carry text, as ``user_id, ts (µs), text`` plus the optional
    fields present."""
    path = Path(path)
    frame, columns, csv_file = _canonical(
        path, mapping or {}, EVENT_FIELDS, EVENT_OPTIONAL, "event"
    )
    t, _aware = _times(path, frame, columns["ts"], csv_file)
    data: dict[str, pl.Series] = {
        "user_id": _ids(path, frame, columns["user_id"]),
        "t": t,
        "text": frame.get_column(columns["text"]).cast(pl.String),
    }
    for field in EVENT_OPTIONAL:
        if field in columns:
            column = frame.get_column(columns[field])
            data[field] = (
                _ids(path, frame, columns[field]) if field in _ID_FIELDS else column.cast(pl.String)
            )
    return pl.DataFrame(data).filter(pl.col("text").is_not_null() & (pl.col("text") != ""))


def text_findings(events: pl.DataFrame, rules: RuleSet) -> list[Finding]:
    """One finding per matched span of a comment (or other text event)."""
    findings: list[Finding] = []
    for row in events.iter_rows(named=True):
        text = row["text"]
        for item in check_text(text, rules, "comment"):
            rule, match = item.rule, item.match
            session = row.get("session_id")
            entity_type, entity_id = (
                ("session", session) if session is not None else ("user", row["user_id"])
            )
            at = from_us(row["t"], True)
            findings.append(
                Finding.of(
                    rule,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    user_ids=[row["user_id"]],
                    window_start=at,
                    window_end=at,
                    evidence={
                        "field": "comment",
                        "event_id": row.get("event_id"),
                        "text": text,
                        "match": match.as_dict(),
                    },
                )
            )
    return findings


def scan(
    orders: Path | None,
    events: Path | None,
    mapping: dict[str, str] | None = None,
    rules: RuleSet | None = None,
) -> list[Finding]:
    """Run every running rule that applies to the given files."""
    rules = rules or default_rules()
    if orders is None and events is None:
        raise InvalidInput("give --orders FILE, --events FILE or both")
    findings: list[Finding] = []
    if orders is not None:
        canonical = read_orders(orders, mapping)
        for rule in rules.running("order_concentration"):
            findings.extend(concentration_findings(canonical.table, rule, canonical.aware))
    if events is not None:
        findings.extend(text_findings(read_events(events, mapping), rules))
    return findings


def write_findings(findings: list[Finding], out: Path, meta: dict[str, Any]) -> dict[str, Path]:
    """``out/findings.json`` (a list of objects) and ``out/findings.csv`` (one row each, lists
    and evidence as JSON text); ``out/scan.json`` records the rule set and inputs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    documents = [finding.model_dump(mode="json") for finding in findings]
    json_path = out / "findings.json"
    json_path.write_text(json.dumps(documents, ensure_ascii=False, indent=1) + "\n", "utf-8")
    csv_path = out / "findings.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for document in documents:
            writer.writerow(
                [
                    json.dumps(document[column], ensure_ascii=False)
                    if column in ("user_ids", "evidence", "measures")
                    else ("" if document[column] is None else document[column])
                    for column in CSV_COLUMNS
                ]
            )
    meta_path = out / "scan.json"
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return {"json": json_path, "csv": csv_path, "meta": meta_path}
