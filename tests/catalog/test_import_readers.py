"""Import readers on good and hostile files: row numbers, broken rows kept apart, unusable
files refused before the first row. No database."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zhibo.catalog.importer.fields import DuplicateColumn, MissingColumns
from zhibo.catalog.importer.readers import (
    MissingFile,
    Record,
    UnreadableFile,
    UnsupportedFormat,
    open_source,
)

HEADER = (
    "product_id,brand,category,title,description,price_fen,reference_price_fen,"
    "commission_rate_bp,stock"
)


def good(product_id: str, title: str = "Cream") -> str:
    return f"{product_id},Acme,beauty/skincare,{title},desc,100,,2000,5"


def read(path: Path, mapping: dict[str, str] | None = None) -> list[Record]:
    source = open_source(path, mapping or {})
    try:
        return list(source)
    finally:
        source.close()


def summary(records: list[Record]) -> list[tuple[int, str]]:
    """(row, product_id) for good rows, (row, first problem's field) for bad ones."""
    return [
        (r.row, r.values["product_id"] if r.values is not None else r.problems[0][0])
        for r in records
    ]


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_csv_rows_are_numbered_by_record_after_the_header(tmp_path: Path) -> None:
    lines = [HEADER, good("A1"), "", good("A3"), 'A4,Acme,beauty/skincare,"two\nlines",d,1,,1,1']
    lines.append(good("A5"))
    records = read(write(tmp_path / "p.csv", "\n".join(lines) + "\n"))
    assert summary(records) == [(1, "A1"), (3, "A3"), (4, "A4"), (5, "A5")]
    assert records[2].values is not None and records[2].values["title"] == "two\nlines"


def test_csv_broken_rows_are_rejected_alone(tmp_path: Path) -> None:
    lines = [
        HEADER,
        good("A1"),
        'A2,Acme,beauty/skincare,"bad "quote" title",d,1,,1,1',  # text after a closing quote
        good("A3") + ",extra",  # one field too many
        "A4,Acme,beauty/skincare",  # too few
        'A5,Acme,beauty/skincare,"unclosed,d,1,,1,1',  # swallows the lines after it
        good("A6"),
        good("A7"),
    ]
    path = write(tmp_path / "p.csv", "\r\n".join(lines) + "\r\n")
    records = read(path)
    assert summary(records) == [
        (1, "A1"),
        (2, "_row"),
        (3, "_row"),
        (4, "_row"),
        (5, "_row"),
        (6, "A6"),
        (7, "A7"),
    ]
    reasons = [r.problems[0][1] for r in records if r.values is None]
    assert reasons[0].startswith("malformed CSV")
    assert reasons[1:3] == ["expected 9 fields, found 10", "expected 9 fields, found 3"]
    assert reasons[3] == "malformed CSV: unexpected end of data"
    assert records[1].problems[0][2] == lines[2]  # the offending line, as written


def test_csv_undecodable_bytes_reject_only_their_row(tmp_path: Path) -> None:
    content = (HEADER + "\n" + good("A1") + "\n").encode() + b"A2,Acme,b,Bad \xff\xfe,d,1,,1,1\n"
    content += (good("A3") + "\n").encode()
    records = read(write(tmp_path / "p.csv", content))
    assert summary(records) == [(1, "A1"), (2, "_row"), (3, "A3")]
    assert records[1].problems[0][1].startswith("not valid UTF-8")


def test_csv_with_bom_and_extra_columns(tmp_path: Path) -> None:
    text = "\ufeff" + HEADER + ",notes,currency\n" + good("A1") + ",hello,usd\n"
    source = open_source(write(tmp_path / "p.csv", text), {})
    records = list(source)
    source.close()
    assert source.ignored == {"notes"}
    assert records[0].values is not None
    assert "notes" not in records[0].values and records[0].values["currency"] == "usd"


def test_csv_header_only_has_no_rows(tmp_path: Path) -> None:
    assert read(write(tmp_path / "p.csv", HEADER + "\n")) == []


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", UnreadableFile, "empty file"),
        ("product_id,brand\nA1,Acme\n", MissingColumns, "category, title, price_fen"),
        (HEADER + ",title\n", DuplicateColumn, "two columns for field 'title'"),
        (b'product_id,"br\xffand\n', UnreadableFile, "header line"),
    ],
)
def test_unusable_csv_is_refused_before_any_row(
    tmp_path: Path, text: str | bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        open_source(write(tmp_path / "p.csv", text), {})


def test_mapping_renames_columns(tmp_path: Path) -> None:
    header = HEADER.replace("product_id", "sku").replace("title", "name")
    path = write(tmp_path / "p.csv", header + ",product_id\n" + good("A1") + ",ignored\n")
    records = read(path, {"sku": "product_id", "name": "title"})
    assert records[0].values is not None
    assert records[0].values["product_id"] == "A1"  # the mapped column wins
    assert records[0].values["title"] == "Cream"
    with pytest.raises(MissingColumns, match="mapped from 'code', which the file does not have"):
        open_source(path, {"code": "product_id", "name": "title"})


def jsonl_row(product_id: str, **changes: object) -> bytes:
    row: dict[str, object] = {
        "product_id": product_id,
        "brand": "Acme",
        "category": "beauty/skincare",
        "title": "Cream",
        "description": "",
        "price_fen": 100,
        "reference_price_fen": None,
        "commission_rate_bp": 2000,
        "stock": 5,
    }
    return orjson.dumps(row | changes)


def test_jsonl_broken_lines_are_rejected_alone(tmp_path: Path) -> None:
    lines = [
        jsonl_row("J1"),
        b'{"product_id": "J2", "title": ',
        b"[1, 2]",
        b"",
        b'{"product_id": "J5", "title": "\xff"}',
        jsonl_row("J6", extra="x"),
    ]
    path = write(tmp_path / "p.jsonl", b"\n".join(lines) + b"\n")
    source = open_source(path, {})
    records = list(source)
    source.close()
    assert summary(records) == [(1, "J1"), (2, "_row"), (3, "_row"), (5, "_row"), (6, "J6")]
    assert records[1].problems[0][1].startswith("malformed JSON")
    assert records[2].problems[0][1] == "a JSON object expected, found list"
    assert source.ignored == {"extra"}


def test_jsonl_required_field_is_checked_over_the_whole_file(tmp_path: Path) -> None:
    # the first row lacks "stock"; a later row has it, so the file is usable
    lines = [orjson.loads(jsonl_row("J1")), orjson.loads(jsonl_row("J2"))]
    del lines[0]["stock"]
    path = write(tmp_path / "p.ndjson", b"\n".join(orjson.dumps(row) for row in lines))
    assert len(read(path)) == 2
    del lines[1]["stock"]
    write(path, b"\n".join(orjson.dumps(row) for row in lines))
    with pytest.raises(MissingColumns, match="missing required field"):
        open_source(path, {})


def test_empty_jsonl_has_no_rows(tmp_path: Path) -> None:
    assert read(write(tmp_path / "p.jsonl", "")) == []


def test_parquet_reads_only_the_used_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "sku": ["P1", "P2"],
            "brand": [1, 2],
            "category": ["a/b", "a/c"],
            "title": ["t1", "t2"],
            "description": ["", None],
            "price_fen": pa.array([100, 200], pa.int64()),
            "reference_price_fen": pa.array([None, 300], pa.int64()),
            "commission_rate_bp": pa.array([10, 20], pa.int32()),
            "stock": pa.array([1.0, 2.5]),  # floats: refused later, row by row
            "created_at": pa.array([1, 2], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    source = open_source(tmp_path / "p.parquet", {"sku": "product_id"}, batch_rows=1)
    records = list(source)
    source.close()
    assert source.ignored == {"created_at"}
    assert [r.row for r in records] == [1, 2]
    assert records[1].values == {
        "product_id": "P2",
        "brand": 2,
        "category": "a/c",
        "title": "t2",
        "description": None,
        "price_fen": 200,
        "reference_price_fen": 300,
        "commission_rate_bp": 20,
        "stock": 2.5,
    }


def test_unusable_files(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat, match=r"unknown format '\.xlsx'"):
        open_source(write(tmp_path / "p.xlsx", "x"), {})
    with pytest.raises(MissingFile, match="no such file"):
        open_source(tmp_path / "absent.csv", {})
    with pytest.raises(UnreadableFile, match="not a readable Parquet file"):
        open_source(write(tmp_path / "p.parquet", "not parquet"), {})
    pq.write_table(pa.table({"product_id": ["x"]}), tmp_path / "thin.parquet")
    with pytest.raises(MissingColumns):
        open_source(tmp_path / "thin.parquet", {})
