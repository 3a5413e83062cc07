"""Batch scans: read order, event and other files from anywhere (CSV or Parquet, columns mapped
to zhibo's canonical fields), run the running rules over them, write findings as JSON and CSV.

Canonical order fields: ``order_id``, ``seller_id`` (the shop, room or streamer the rule groups
by), ``buyer_id``, ``created_at``; optional ``amount_fen``, ``device_id``, ``address_hash``,
``refunded_at`` (and ``payment_account``, ``session_id``, ``product_id``). Canonical event fields:
``user_id``, ``ts``; optional ``text``, ``event_id``, ``session_id``, ``room_id``, ``type``,
``device_id``, ``ip``, ``count``, ``amount_fen``, ``gift_id``. The other inputs (:data:`KINDS`):
price history, viewers (ages), accounts and the blacklist, the sellers' own identifiers,
sessions and products. A file's own column names are mapped with ``file_column=field`` (for
every file) or ``kind:file_column=field`` (for one kind, e.g. ``accounts:streamer_id=account_id``);
a column already named as a field needs no mapping.

Times: ISO 8601 text (with or without a zone), Parquet/Arrow timestamps, or Unix epoch numbers
(seconds, milliseconds or microseconds, told apart by magnitude). Times without a zone are kept
zone-less in the output. A value that cannot be read is refused with its row and column named.
Clear ID numbers and phones (accounts, blacklist) are replaced by keyed hashes on reading.
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
from zhibo.kit.files import open_for_writing
from zhibo.kit.spreadsheet import safe_cell
from zhibo.risk.brushing import concentration_findings, from_us
from zhibo.risk.detectors import RUNNERS, ScanInputs
from zhibo.risk.rules import RuleSet, configured_rules
from zhibo.risk.schemas import CSV_COLUMNS, Finding
from zhibo.risk.screens import check_text

#: Per input kind: field → (type, required). Types: id, time, int, str, bool, date, secret
#: (hashed on reading into ``<field>_hash``), list (of strings; text split on ``;`` or ``|``).
KINDS: dict[str, dict[str, tuple[str, bool]]] = {
    "orders": {
        "order_id": ("id", True),
        "seller_id": ("id", True),
        "buyer_id": ("id", True),
        "created_at": ("time", True),
        "amount_fen": ("int", False),
        "device_id": ("str", False),
        "address_hash": ("str", False),
        "refunded_at": ("time", False),
        "payment_account": ("str", False),
        "session_id": ("id", False),
        "product_id": ("id", False),
    },
    "events": {
        "user_id": ("id", True),
        "ts": ("time", True),
        "text": ("str", False),
        "event_id": ("str", False),
        "session_id": ("id", False),
        "room_id": ("id", False),
        "type": ("str", False),
        "device_id": ("str", False),
        "ip": ("str", False),
        "count": ("int", False),
        "amount_fen": ("int", False),
        "gift_id": ("id", False),
    },
    "prices": {
        "product_id": ("id", True),
        "price_fen": ("int", True),
        "effective_at": ("time", True),
        "reference_price_fen": ("int", True),
    },
    "viewers": {
        "user_id": ("id", True),
        "is_minor": ("bool", False),
        "birth_date": ("date", False),
        "real_name_verified": ("bool", False),
    },
    "accounts": {
        "account_id": ("id", True),
        "created_at": ("time", True),
        "id_number": ("secret", False),
        "id_number_hash": ("str", False),
        "phone": ("secret", False),
        "phone_hash": ("str", False),
        "device_ids": ("list", False),
    },
    "blacklist": {
        "entry_id": ("id", True),
        "listed_at": ("time", True),
        "expires_at": ("time", False),
        "id_number": ("secret", False),
        "id_number_hash": ("str", False),
        "phone": ("secret", False),
        "phone_hash": ("str", False),
        "device_ids": ("list", False),
    },
    "seller_links": {
        "seller_id": ("id", True),
        "user_id": ("id", False),
        "device_id": ("str", False),
        "address_hash": ("str", False),
        "payment_account": ("str", False),
    },
    "sessions": {
        "session_id": ("id", True),
        "ended_at": ("time", False),
        "seller_id": ("id", False),
        "title": ("str", False),
    },
    "products": {
        "product_id": ("id", True),
        "title": ("str", False),
        "description": ("str", False),
    },
}
#: The main time field of a kind is named ``t`` (µs since the epoch); others ``<name>_t``.
_MAIN_TIME = {"orders": "created_at", "events": "ts", "prices": "effective_at"}

ORDER_FIELDS = ("order_id", "seller_id", "buyer_id", "created_at")
ORDER_OPTIONAL = ("amount_fen", "device_id", "address_hash", "refunded_at")
EVENT_FIELDS = ("user_id", "ts", "text")
EVENT_OPTIONAL = ("event_id", "session_id", "room_id", "type")


class InvalidScanFile(InvalidInput):
    """A scan input cannot be read; ``detail`` names the file, row and column."""


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """``["orderid=order_id", "accounts:streamer_id=account_id"]`` → ``{"orderid":
    "order_id", "accounts:streamer_id": "account_id"}``."""
    known = {field for fields in KINDS.values() for field in fields}
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, field = item.partition("=")
        if not sep or not column or not field:
            raise InvalidInput(f"--map {item!r}: write file_column=field")
        kind, colon, _rest = column.partition(":")
        if colon and kind in KINDS:
            known_here = set(KINDS[kind])
            if field not in known_here:
                raise InvalidInput(
                    f"--map {item!r}: unknown {kind} field {field!r}; fields: {sorted(known_here)}"
                )
        elif field not in known:
            raise InvalidInput(f"--map {item!r}: unknown field {field!r}; fields: {sorted(known)}")
        mapping[column] = field
    return mapping


def _for_kind(mapping: dict[str, str], kind: str) -> dict[str, str]:
    """The mapping entries that apply to ``kind``'s file (column → field)."""
    chosen: dict[str, str] = {}
    for key, field in mapping.items():
        prefix, colon, column = key.partition(":")
        if colon and prefix in KINDS:
            if prefix == kind:
                chosen[column] = field
        elif field in KINDS[kind]:
            chosen[key] = field
    return chosen


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


def _flags(path: Path, frame: pl.DataFrame, column: str, csv_file: bool) -> pl.Series:
    series = frame.get_column(column)
    if series.dtype == pl.Boolean:
        return series
    text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
    parsed = (
        pl.DataFrame({"v": text})
        .select(
            pl.when(pl.col("v").is_in(["true", "t", "1", "yes", "y"]))
            .then(True)
            .when(pl.col("v").is_in(["false", "f", "0", "no", "n"]))
            .then(False)
            .otherwise(None)
            .alias("v")
        )
        .get_column("v")
    )
    bad = _first_bad(frame, column, parsed)
    if bad is not None:
        value = series[bad]
        raise InvalidScanFile(_problem(path, bad, column, value, "true or false", csv_file))
    return parsed


def _integers(path: Path, frame: pl.DataFrame, column: str, csv_file: bool) -> pl.Series:
    series = frame.get_column(column)
    if series.dtype.is_integer():
        return series.cast(pl.Int64)
    parsed = series.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    bad = _first_bad(frame, column, parsed)
    if bad is not None:
        value = series[bad]
        raise InvalidScanFile(_problem(path, bad, column, value, "a whole number", csv_file))
    return parsed


def _dates(path: Path, frame: pl.DataFrame, column: str, csv_file: bool) -> pl.Series:
    series = frame.get_column(column)
    if series.dtype == pl.Date:
        return series
    if isinstance(series.dtype, pl.Datetime):
        return series.dt.date()
    parsed = series.cast(pl.String).str.strip_chars().str.to_date(strict=False)
    bad = _first_bad(frame, column, parsed)
    if bad is not None:
        value = series[bad]
        raise InvalidScanFile(_problem(path, bad, column, value, "a date", csv_file))
    return parsed


def _lists(frame: pl.DataFrame, column: str) -> pl.Series:
    series = frame.get_column(column)
    if isinstance(series.dtype, pl.List):
        return series.cast(pl.List(pl.String))
    text = series.cast(pl.String).str.replace_all(r"\s*[;|]\s*", ";").str.strip_chars()
    return text.str.split(";").list.eval(pl.element().filter(pl.element() != ""))


def _secret(frame: pl.DataFrame, column: str, field: str) -> pl.Series:
    """Clear ID numbers and phones as the keyed hashes the identity store keeps
    (:mod:`zhibo.identity.hashing`), so a blacklist exported from it matches."""
    from zhibo.identity.hashing import id_number_hash, phone_hash
    from zhibo.kit.errors import ZhiboError

    def phone(value: str) -> str:
        from zhibo.identity.numbers import normalise_phone

        try:
            return phone_hash(normalise_phone(value))
        except ZhiboError:  # not a mainland mobile number: hashed as written
            return phone_hash(value)

    hashing = id_number_hash if field == "id_number" else phone
    return frame.get_column(column).cast(pl.String).map_elements(hashing, return_dtype=pl.String)


def _column_name(kind: str, field: str) -> str:
    if _MAIN_TIME.get(kind) == field:
        return "t"
    if KINDS[kind][field][0] == "time":
        return field.removesuffix("_at") + "_t"
    if KINDS[kind][field][0] == "secret":
        return field + "_hash"
    return field


def read_kind(
    kind: str, path: Path, mapping: dict[str, str] | None = None, strict: bool = True
) -> tuple[pl.DataFrame, bool]:
    """A file of ``kind`` in canonical form, and whether its times carried a zone. With
    ``strict``, every mapped column that applies to the kind must be in the file."""
    path = Path(path)
    fields = KINDS[kind]
    applied = _for_kind(mapping or {}, kind)
    frame = _read(path)
    csv_file = path.suffix.lower() not in (".parquet", ".pq")
    if strict:
        for column in applied:
            if column not in frame.columns:
                raise InvalidScanFile(
                    f"{path}: --map names column {column!r}, which the file does not have "
                    f"(columns: {', '.join(frame.columns)})"
                )
    field_to_column = {
        field: column for column, field in applied.items() if column in frame.columns
    }
    for field in fields:
        if field not in field_to_column and field in frame.columns and field not in applied:
            field_to_column[field] = field
    required = [field for field, (_type, needed) in fields.items() if needed]
    missing = [field for field in required if field not in field_to_column]
    if missing:
        noun = kind.removesuffix("s") if kind != "blacklist" else kind
        raise InvalidScanFile(
            f"{path}: no column for the {noun} field(s) {', '.join(missing)} "
            f"(columns: {', '.join(frame.columns)}; map one with --map COLUMN=FIELD)"
        )
    for field in required:
        column = field_to_column[field]
        nulls = frame.get_column(column).is_null()
        if fields[field][0] == "int" and field == "reference_price_fen":
            continue
        if nulls.any():
            row = int(nulls.arg_true()[0])
            line = f" (line {row + 2})" if csv_file else ""
            raise InvalidScanFile(f"{path}: row {row + 1}{line}, column {column!r} is empty")
    data: dict[str, pl.Series] = {}
    aware = True
    for field in fields:  # canonical order
        if field not in field_to_column:
            continue
        column = field_to_column[field]
        kind_of = fields[field][0]
        name = _column_name(kind, field)
        if kind_of == "id":
            series = _ids(path, frame, column)
        elif kind_of == "time":
            series, zoned = _times(path, frame, column, csv_file)
            if field == _MAIN_TIME.get(kind) or fields[field][1]:
                aware = aware and zoned
        elif kind_of == "int":
            series = _integers(path, frame, column, csv_file)
        elif kind_of == "bool":
            series = _flags(path, frame, column, csv_file)
        elif kind_of == "date":
            series = _dates(path, frame, column, csv_file)
        elif kind_of == "list":
            series = _lists(frame, column)
        elif kind_of == "secret":
            series = _secret(frame, column, field)
        else:
            series = frame.get_column(column).cast(pl.String)
        data[name] = series.alias(name)
    return pl.DataFrame(data), aware


@dataclass
class Canonical:
    """Orders in canonical form: ``order_id, seller_id, buyer_id, t`` (µs since the epoch) and
    the optional fields present, and whether the file's times carried a zone."""

    table: pa.Table
    aware: bool


def read_orders(path: Path, mapping: dict[str, str] | None = None) -> Canonical:
    """The order file in canonical form, validated."""
    frame, aware = read_kind("orders", path, mapping)
    return Canonical(table=frame.to_arrow(), aware=aware)


def read_events(path: Path, mapping: dict[str, str] | None = None) -> pl.DataFrame:
    """The event file in canonical form: ``user_id, t`` (µs) plus the optional fields present."""
    frame, _aware = read_kind("events", path, mapping)
    return frame


def read_inputs(
    paths: dict[str, Path | None],
    mapping: dict[str, str] | None = None,
    account_type: str = "account",
) -> ScanInputs:
    """Every given file, each in canonical form. A mapped column must be in at least one of the
    files its field belongs to."""
    mapping = mapping or {}
    given = {kind: Path(path) for kind, path in paths.items() if path is not None}
    unknown = [kind for kind in given if kind not in KINDS]
    if unknown:
        raise InvalidInput(f"unknown input kinds {unknown}; kinds: {sorted(KINDS)}")
    if not given:
        raise InvalidInput("give at least one input file (--orders FILE, --events FILE ...)")
    headers = {kind: set(_read(path).columns) for kind, path in given.items()}
    for key, field in mapping.items():
        prefix, colon, column = key.partition(":")
        if colon and prefix in KINDS:
            targets = [prefix] if prefix in given else []
        else:
            column = key
            targets = [kind for kind in given if field in KINDS[kind]]
        if targets and not any(column in headers[kind] for kind in targets):
            files = "; ".join(f"{given[k]}: {', '.join(sorted(headers[k]))}" for k in targets)
            raise InvalidScanFile(
                f"--map names column {column!r}, which no file for {field!r} has ({files})"
            )
    inputs = ScanInputs(account_type=account_type)
    awareness: dict[str, bool] = {}
    for kind, path in given.items():
        frame, aware = read_kind(kind, path, mapping, strict=False)
        setattr(inputs, kind, frame)
        awareness[kind] = aware
    inputs.aware = awareness.get("orders", awareness.get("events", True))
    return inputs


def text_findings(events: pl.DataFrame, rules: RuleSet, aware: bool = True) -> list[Finding]:
    """One finding per matched span of a comment (or other text event)."""
    findings: list[Finding] = []
    if "text" not in events.columns:
        return findings
    texts = events.filter(pl.col("text").is_not_null() & (pl.col("text") != ""))
    for row in texts.iter_rows(named=True):
        text = row["text"]
        for item in check_text(text, rules, "comment"):
            rule, match = item.rule, item.match
            session = row.get("session_id")
            entity_type, entity_id = (
                ("session", session) if session is not None else ("user", row["user_id"])
            )
            at = from_us(row["t"], aware)
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


def titled_findings(
    frame: pl.DataFrame, rules: RuleSet, entity_type: str, key: str, fields: Sequence[str]
) -> list[Finding]:
    """Text rules over product (or session) titles and descriptions, one finding per match."""
    findings: list[Finding] = []
    present = [field for field in fields if field in frame.columns]
    for row in frame.select(key, *present).iter_rows(named=True):
        for field in present:
            text = row[field]
            if not text:
                continue
            for item in check_text(text, rules, field):
                findings.append(
                    Finding.of(
                        item.rule,
                        entity_type=entity_type,
                        entity_id=row[key],
                        evidence={"field": field, "text": text, "match": item.match.as_dict()},
                    )
                )
    return findings


def run_rules(inputs: ScanInputs, rules: RuleSet | None = None) -> list[Finding]:
    """Every running rule whose detector has its inputs, in the rule file's order (the text
    rules first, over comments, product texts and session titles)."""
    rules = rules or configured_rules()
    findings: list[Finding] = []
    if inputs.events is not None:
        findings.extend(text_findings(inputs.events, rules, inputs.aware))
    if inputs.products is not None:
        findings.extend(
            titled_findings(
                inputs.products, rules, "product", "product_id", ("title", "description")
            )
        )
    if inputs.sessions is not None:
        findings.extend(
            titled_findings(inputs.sessions, rules, "session", "session_id", ("title",))
        )
    for rule in rules.rules:
        if not rule.runs:
            continue
        if rule.detector == "order_concentration" and inputs.orders is not None:
            table = inputs.orders.select("order_id", "seller_id", "buyer_id", "t").to_arrow()
            findings.extend(concentration_findings(table, rule, inputs.aware))
            continue
        runner = RUNNERS.get(rule.detector)
        if runner is not None and runner.can_run(inputs):
            findings.extend(runner.detect(inputs, rule))
    return findings


def scan(
    orders: Path | None,
    events: Path | None,
    mapping: dict[str, str] | None = None,
    rules: RuleSet | None = None,
    **more: Path | None,
) -> list[Finding]:
    """Run every running rule that applies to the given files (``more``: ``prices``,
    ``viewers``, ``accounts``, ``blacklist``, ``seller_links``, ``sessions``, ``products``)."""
    if orders is None and events is None and not any(more.values()):
        raise InvalidInput("give --orders FILE, --events FILE or both")
    inputs = read_inputs({"orders": orders, "events": events, **more}, mapping)
    return run_rules(inputs, rules)


#: How the simulator's files (``zhibo simulate``) map onto the scan's inputs.
SIM_FILES: dict[str, tuple[str, dict[str, str]]] = {
    "orders": ("orders.parquet", {"streamer_id": "seller_id", "paid_at": "created_at"}),
    "events": ("events.parquet", {}),
    "prices": ("price_history.parquet", {}),
    "viewers": ("viewers.parquet", {"viewer_id": "user_id"}),
    "accounts": ("streamers.parquet", {"streamer_id": "account_id"}),
    "blacklist": ("blacklist.parquet", {}),
    "sessions": ("sessions.parquet", {"streamer_id": "seller_id"}),
    "products": ("products.parquet", {}),
}


def read_sim(directory: Path) -> ScanInputs:
    """A simulated platform's files as scan inputs (accounts are its streamers)."""
    directory = Path(directory)
    mapping = {
        f"{kind}:{column}": field
        for kind, (_name, columns) in SIM_FILES.items()
        for column, field in columns.items()
    }
    paths: dict[str, Path | None] = {}
    for kind, (name, _columns) in SIM_FILES.items():
        path = directory / name
        paths[kind] = path if path.exists() else None
    return read_inputs(paths, mapping, account_type="streamer")


def write_findings(findings: list[Finding], out: Path, meta: dict[str, Any]) -> dict[str, Path]:
    """``out/findings.json`` (a list of objects) and ``out/findings.csv`` (one row each, lists
    and evidence as JSON text); ``out/scan.json`` records the rule set and inputs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    documents = [finding.model_dump(mode="json") for finding in findings]
    json_path = out / "findings.json"
    with open_for_writing(json_path, "--out") as handle:
        handle.write(json.dumps(documents, ensure_ascii=False, indent=1) + "\n")
    csv_path = out / "findings.csv"
    with open_for_writing(csv_path, "--out") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for document in documents:
            writer.writerow(
                [
                    json.dumps(document[column], ensure_ascii=False)
                    if column in ("user_ids", "evidence", "measures")
                    else ("" if document[column] is None else safe_cell(str(document[column])))
                    for column in CSV_COLUMNS
                ]
            )
    meta_path = out / "scan.json"
    with open_for_writing(meta_path, "--out") as handle:
        handle.write(json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
    return {"json": json_path, "csv": csv_path, "meta": meta_path}
