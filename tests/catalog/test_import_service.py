"""Importing files into the pool, on SQLite and PostgreSQL: idempotent upserts, update detection,
price history, the search outbox, brands and categories, duplicates and the reject report."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.catalog.importer import job
from zhibo.catalog.importer.readers import open_source
from zhibo.catalog.importer.report import RejectReport, default_path
from zhibo.catalog.importer.service import Counts
from zhibo.kit.db import session_factory
from zhibo.models import Brand, Category, Product, ProductPriceHistory, SearchOutbox
from zhibo.models.category import RiskClass
from zhibo.models.product import ProductStatus

FIELDS = [
    "product_id",
    "brand",
    "category",
    "title",
    "description",
    "price_fen",
    "reference_price_fen",
    "commission_rate_bp",
    "stock",
]


def row(product_id: str, **changes: Any) -> dict[str, Any]:
    base = {
        "product_id": product_id,
        "brand": "Acme",
        "category": "beauty/skincare",
        "title": f"Cream {product_id}",
        "description": "Rich cream.",
        "price_fen": 9900,
        "reference_price_fen": "",
        "commission_rate_bp": 2000,
        "stock": 10,
    }
    return base | changes


def write_csv(path: Path, rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, [*FIELDS, *extra])
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(
    engine: Engine,
    path: Path,
    create_missing: bool = False,
    chunk_rows: int = 2_000,
    mapping: dict[str, str] | None = None,
) -> tuple[Counts, list[dict[str, str]]]:
    source = open_source(path, mapping or {})
    report = RejectReport(default_path(path))
    try:
        counts = job.run_import(
            engine, source, report, create_missing=create_missing, chunk_rows=chunk_rows
        )
    finally:
        report.close()
        source.close()
    with default_path(path).open(encoding="utf-8", newline="") as stream:
        return counts, list(csv.DictReader(stream))


def count(engine: Engine, model: Any) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def products(engine: Engine) -> dict[str, Product]:
    with session_factory(engine)() as session:
        return {p.external_id: p for p in session.scalars(select(Product))}


@pytest.fixture
def acme(db: Session) -> Brand:
    brand = b.brand(db, name="Acme")
    beauty = b.category(db, name="beauty")
    b.category(db, name="skincare", parent=beauty)
    db.commit()
    return brand


def test_importing_the_same_file_twice_changes_nothing(
    engine: Engine, acme: Brand, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "p.csv", [row("A1"), row("A2", reference_price_fen=12900)])
    counts, rejects = run(engine, path)
    assert counts.as_dict() == {"imported": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    assert rejects == []
    stored = products(engine)
    assert stored["A2"].reference_price_fen == 12900 and stored["A1"].reference_price_fen is None
    assert stored["A1"].brand_id == acme.id and stored["A1"].status == ProductStatus.ACTIVE
    assert stored["A1"].currency == "CNY"
    figures = (count(engine, ProductPriceHistory), count(engine, SearchOutbox))
    assert figures == (2, 2)  # a first price-history row and an index change per product

    counts, _ = run(engine, path)
    assert counts.as_dict() == {"imported": 0, "updated": 0, "unchanged": 2, "rejected": 0}
    assert (count(engine, ProductPriceHistory), count(engine, SearchOutbox)) == figures
    assert products(engine)["A1"].updated_at == stored["A1"].updated_at


def test_changes_are_updates_and_price_changes_are_history(
    engine: Engine, acme: Brand, tmp_path: Path
) -> None:
    ids = ["T", "D", "C", "S", "P", "R", "K", "B", "U"]
    run(engine, write_csv(tmp_path / "p.csv", [row(i) for i in ids]))
    with session_factory(engine)() as session:
        makeup = b.category(
            session,
            name="makeup",
            parent=session.scalars(select(Category).where(Category.path == "beauty")).one(),
        )
        session.commit()
    history_before = count(engine, ProductPriceHistory)
    outbox_before = count(engine, SearchOutbox)
    changed = [
        row("T", title="New title"),
        row("D", description="New description"),
        row("C", category=makeup.path),
        {**row("S"), "status": "delisted"},
        row("P", price_fen=8900),
        row("R", reference_price_fen=12900),
        row("K", stock=0),
        row("B", commission_rate_bp=2500),
        row("U"),
    ]
    path = write_csv(tmp_path / "p2.csv", changed, extra=("status",))
    counts, _ = run(engine, path)
    assert counts.as_dict() == {"imported": 0, "updated": 8, "unchanged": 1, "rejected": 0}
    stored = products(engine)
    assert stored["T"].title == "New title" and stored["C"].category_id == makeup.id
    assert stored["S"].status == ProductStatus.DELISTED
    assert stored["U"].updated_at < stored["T"].updated_at
    # four price-like changes, four new history rows carrying the new values
    assert count(engine, ProductPriceHistory) == history_before + 4
    with session_factory(engine)() as session:
        latest = session.scalars(
            select(ProductPriceHistory)
            .where(ProductPriceHistory.product_id == stored["P"].id)
            .order_by(ProductPriceHistory.id.desc())
        ).first()
        assert latest is not None and latest.price_fen == 8900
    assert count(engine, SearchOutbox) == outbox_before + 8

    # a file without a status column leaves the delisted product delisted
    counts, _ = run(engine, write_csv(tmp_path / "p3.csv", [row("S")]))
    assert counts.unchanged == 1 and products(engine)["S"].status == ProductStatus.DELISTED


def test_unknown_brands_and_categories_need_create_missing(engine: Engine, tmp_path: Path) -> None:
    rows = [
        row("A1", brand="NewBrand", category="home/kitchen/knives"),
        row("A2", brand="NewBrand", category="home/kitchen"),
        row("A3", brand="99999", category="home"),
    ]
    path = write_csv(tmp_path / "p.csv", rows)
    counts, rejects = run(engine, path)
    assert counts.as_dict() == {"imported": 0, "updated": 0, "unchanged": 0, "rejected": 3}
    assert [(r["row"], r["field"], r["reason"]) for r in rejects[:2]] == [
        ("1", "brand", "no brand with id or name 'NewBrand'"),
        ("1", "category", "no category with path 'home/kitchen/knives'"),
    ]
    assert (count(engine, Brand), count(engine, Category), count(engine, Product)) == (0, 0, 0)

    counts, rejects = run(engine, path, create_missing=True)
    assert counts.as_dict() == {"imported": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    # an all-digit brand that matches no id is a wrong id: never created as a name
    assert [(r["row"], r["field"]) for r in rejects] == [("3", "brand")]
    with session_factory(engine)() as session:
        brands = session.scalars(select(Brand)).all()
        assert [brand.name for brand in brands] == ["NewBrand"]
        categories = {c.path: c for c in session.scalars(select(Category))}
        assert set(categories) == {"home", "home/kitchen", "home/kitchen/knives"}
        knives, kitchen = categories["home/kitchen/knives"], categories["home/kitchen"]
        assert knives.parent_id == kitchen.id and kitchen.parent_id == categories["home"].id
        assert knives.name == "knives" and knives.risk_class == RiskClass.LOW


def test_brands_are_named_by_id_first_then_by_name(
    engine: Engine, db: Session, tmp_path: Path
) -> None:
    beauty = b.category(db, name="beauty")
    b.category(db, name="skincare", parent=beauty)
    acme = b.brand(db, name="Acme")
    digits = b.brand(db, name="777777")  # a brand whose name is all digits
    other = b.brand(db, name=str(acme.id))  # its name is Acme's id
    db.commit()
    rows = [
        row("1", brand=str(acme.id)),
        row("2", brand="Acme"),
        row("3", brand="777777"),
        row("4", brand=f" {other.name} "),
    ]
    counts, _ = run(engine, write_csv(tmp_path / "p.csv", rows))
    assert counts.imported == 4
    stored = products(engine)
    assert stored["1"].brand_id == acme.id and stored["2"].brand_id == acme.id
    assert stored["3"].brand_id == digits.id
    assert stored["4"].brand_id == acme.id  # the id wins over the brand named like it


def test_duplicates_in_a_file_keep_the_first_row(
    engine: Engine, acme: Brand, tmp_path: Path
) -> None:
    rows = [
        row("A1", title="first"),
        row("A2"),
        row("A1", title="second"),  # same chunk
        row("A3"),
        row("A4"),
        row("A2", title="late"),  # a later chunk
        row("A4", brand=str(acme.id)),  # same brand named by id
    ]
    path = write_csv(tmp_path / "p.csv", rows)
    counts, rejects = run(engine, path, chunk_rows=4)
    assert counts.as_dict() == {"imported": 4, "updated": 0, "unchanged": 0, "rejected": 3}
    assert [(r["row"], r["field"], r["reason"]) for r in rejects] == [
        ("3", "product_id", "duplicate of row 1 (same brand and product_id); the first is kept"),
        ("6", "product_id", "duplicate of row 2 (same brand and product_id); the first is kept"),
        ("7", "product_id", "duplicate of row 5 (same brand and product_id); the first is kept"),
    ]
    assert products(engine)["A1"].title == "first"
    counts, _ = run(engine, path, chunk_rows=4)
    assert counts.as_dict() == {"imported": 0, "updated": 0, "unchanged": 4, "rejected": 3}

    # a bad first row does not hold back a later good row with the same key
    path = write_csv(tmp_path / "q.csv", [row("Q1", price_fen=-1), row("Q1", price_fen=5)])
    counts, rejects = run(engine, path)
    assert (counts.imported, counts.rejected) == (1, 1)
    assert [(r["row"], r["field"]) for r in rejects] == [("1", "price_fen")]
    assert products(engine)["Q1"].price_fen == 5


def test_reject_report_names_row_field_reason_and_value(
    engine: Engine, acme: Brand, tmp_path: Path
) -> None:
    path = tmp_path / "products.csv"
    good = ",".join(str(v) for v in row("G1").values())
    lines = [
        ",".join(FIELDS),
        good,
        ",".join(str(v) for v in row("B2", title="").values()),
        ",".join(str(v) for v in row("B3", price_fen="-5").values()),
        ",".join(str(v) for v in row("B4", price_fen="12.5").values()),
        ",".join(str(v) for v in row("B5", commission_rate_bp="10001").values()),
        ",".join(str(v) for v in row("B6", commission_rate_bp="-1").values()),
        ",".join(str(v) for v in row("B7", category="nowhere").values()),
        ",".join(str(v) for v in row("B8", brand="Nobody").values()),
        ",".join(str(v) for v in row("B9", reference_price_fen="-1").values()),
        ",".join(str(v) for v in row("B10", stock="-2").values()),
        good.replace("G1", "B11") + ",surplus",
        'B12,Acme,beauty/skincare,"bad "quote",d,1,,1,1',
        ",".join(str(v) for v in row("B13", title="t" * 501).values()),
        good.replace("G1", "G14"),
        good,  # a duplicate of row 1
    ]
    content = "\n".join(lines).encode() + b"\nB16,Acme,x,\xff,d,1,,1,1\n"
    path.write_bytes(content + (good.replace("G1", "G17") + "\n").encode())
    counts, rejects = run(engine, path)
    assert counts.as_dict() == {"imported": 3, "updated": 0, "unchanged": 0, "rejected": 14}
    assert [(r["row"], r["field"], r["reason"]) for r in rejects] == [
        ("2", "title", "required"),
        ("3", "price_fen", "must be >= 0"),
        ("4", "price_fen", "must be an integer number of fen"),
        ("5", "commission_rate_bp", "must be <= 10000"),
        ("6", "commission_rate_bp", "must be >= 0"),
        ("7", "category", "no category with path 'nowhere'"),
        ("8", "brand", "no brand with id or name 'Nobody'"),
        ("9", "reference_price_fen", "must be >= 0"),
        ("10", "stock", "must be >= 0"),
        ("11", "_row", "expected 9 fields, found 10"),
        ("12", "_row", "malformed CSV: ',' expected after '\"'"),
        ("13", "title", "must be at most 500 characters (got 501)"),
        ("15", "product_id", "duplicate of row 1 (same brand and product_id); the first is kept"),
        ("16", "_row", "not valid UTF-8 (byte 12 of the line)"),
    ]
    values = {r["row"]: r["value"] for r in rejects}
    assert values["3"] == "-5" and values["4"] == "12.5" and values["8"] == "Nobody"
    assert values["13"] == "t" * 200 + "…"  # values are cut
    assert values["12"] == lines[12]
    assert set(products(engine)) == {"G1", "G14", "G17"}


def test_jsonl_and_parquet_import_the_same_products(
    engine: Engine, acme: Brand, tmp_path: Path
) -> None:
    jsonl = tmp_path / "p.jsonl"
    rows = [
        row("J1", reference_price_fen=None, brand=acme.id),
        row("J2", price_fen=12.5),
        row("J3", currency="usd", status="delisted"),
    ]
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\nnot json\n")
    counts, rejects = run(engine, jsonl)
    assert counts.as_dict() == {"imported": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    assert [(r["row"], r["field"]) for r in rejects] == [("2", "price_fen"), ("4", "_row")]
    assert products(engine)["J3"].currency == "USD"

    table = pa.table(
        {
            "sku": ["J1", "J3", "Q1"],
            "brand": ["Acme", "Acme", str(acme.id)],
            "category": ["beauty/skincare"] * 3,
            "title": ["Cream J1", "Cream J3", "Quartz"],
            "description": ["Rich cream."] * 3,
            "price_fen": pa.array([9900, 9900, 500], pa.int64()),
            "reference_price_fen": pa.array([None, None, 900], pa.int64()),
            "commission_rate_bp": pa.array([2000, 2000, 100], pa.int32()),
            "stock": pa.array([10, 10, 3], pa.int32()),
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    counts, _ = run(engine, tmp_path / "p.parquet", mapping={"sku": "product_id"})
    assert counts.as_dict() == {"imported": 1, "updated": 0, "unchanged": 2, "rejected": 0}
    assert products(engine)["Q1"].reference_price_fen == 900


def test_description_and_reference_price_may_be_left_out(
    engine: Engine, acme: Brand, tmp_path: Path
) -> None:
    full = write_csv(tmp_path / "full.csv", [row("A1", reference_price_fen=12900)])
    assert run(engine, full)[0].imported == 1
    lean_rows = [
        {
            k: v
            for k, v in row(p, stock=5).items()
            if k not in ("description", "reference_price_fen")
        }
        for p in ("A1", "A2")
    ]
    lean = tmp_path / "lean.jsonl"
    lean.write_bytes(b"\n".join(orjson.dumps(r) for r in lean_rows))
    counts, rejects = run(engine, lean)
    assert rejects == [] and (counts.imported, counts.updated) == (1, 1)
    stored = products(engine)
    # Left out: the existing product keeps its values; the new one gets none.
    assert stored["A1"].description == "Rich cream." and stored["A1"].reference_price_fen == 12900
    assert stored["A1"].stock == 5
    assert stored["A2"].description == "" and stored["A2"].reference_price_fen is None
    # An empty cell, unlike a missing column, clears them.
    cleared = write_csv(tmp_path / "cleared.csv", [row("A1", description="", stock=5)])
    assert run(engine, cleared)[0].updated == 1
    assert products(engine)["A1"].description == ""
    assert products(engine)["A1"].reference_price_fen is None
