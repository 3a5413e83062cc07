"""Keeping the index equal to the store: rebuilds swap atomically, the outbox is applied and
acknowledged, writers exclude each other, and ``catalog check`` finds drift."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import builders as b
from zhibo.catalog import outbox
from zhibo.catalog import service as catalog
from zhibo.catalog.schemas import ProductUpdate
from zhibo.catalog.search import indexer, store
from zhibo.catalog.search.check import check
from zhibo.catalog.search.index import IndexLocked, ProductIndex
from zhibo.catalog.search.schemas import SearchRequest, Sort
from zhibo.kit.auth import Principal
from zhibo.models import Brand, BrandStatus, Product, ProductStatus, Role, SearchOutbox

OPERATOR = Principal(role=Role.OPERATOR)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def products(db: Session) -> dict[str, Any]:
    skincare = b.category(db, name="skincare")
    acme, other = b.brand(db, name="Acme"), b.brand(db, name="Other")
    rows = [
        b.product(db, brand_row=acme, category_row=skincare, title=f"面霜 {i}", price_fen=1000 + i)
        for i in range(5)
    ]
    rows.append(b.product(db, brand_row=other, category_row=skincare, title="面霜 other"))
    rows.append(b.product(db, brand_row=acme, category_row=skincare, status=ProductStatus.DELISTED))
    db.execute(SearchOutbox.__table__.delete())
    db.commit()
    return {"ids": [row.id for row in rows], "acme": acme.id, "other": other.id}


def found(index: ProductIndex, **request: Any) -> list[int]:
    result = index.search(SearchRequest(sort=Sort.PRICE, limit=100, **request))
    return [hit.id for hit in result.hits]


def pending(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(SearchOutbox)) or 0)


def test_rebuild_swaps_in_a_complete_index(
    engine: Engine, db: Session, data_dir: Path, products: dict[str, Any], monkeypatch: Any
) -> None:
    sellable = products["ids"][:6]
    indexer.rebuild(engine, progress=False, data_dir=data_dir)
    live = store.LiveIndex(data_dir)
    first = live.get()
    assert sorted(found(first)) == sorted(sellable)

    # While the next rebuild writes, readers still see the whole previous index.
    seen_during_build: list[list[int]] = []
    add_table = ProductIndex.add_table

    def observing(self: ProductIndex, table: Any) -> int:
        seen_during_build.append(found(store.LiveIndex(data_dir).get()))
        return add_table(self, table)

    monkeypatch.setattr(ProductIndex, "add_table", observing)
    db.execute(update(Product).where(Product.id == sellable[0]).values(price_fen=99))
    db.commit()
    report = indexer.rebuild(engine, progress=False, data_dir=data_dir)
    assert report.products == len(sellable)
    assert seen_during_build and all(sorted(s) == sorted(sellable) for s in seen_during_build)

    second = live.get()
    assert second is not first and found(second, max_price_fen=99) == [sellable[0]]
    assert found(first, max_price_fen=99) == []  # an open reader keeps its generation
    generations = list(store.search_dir(data_dir).glob("products-*"))
    assert [path.resolve() for path in generations] == [store.current_generation(data_dir)]


def test_outbox_changes_are_applied_then_acknowledged(
    engine: Engine, db: Session, data_dir: Path, products: dict[str, Any]
) -> None:
    ids = products["ids"]
    indexer.rebuild(engine, progress=False, data_dir=data_dir)
    index = ProductIndex.open(store.current_generation(data_dir) or data_dir)
    catalog.update_product(db, OPERATOR, ids[0], ProductUpdate(price_fen=5))
    catalog.update_product(db, OPERATOR, ids[1], ProductUpdate(status=ProductStatus.DELISTED))
    catalog.update_product(db, OPERATOR, ids[6], ProductUpdate(status=ProductStatus.ACTIVE))

    db.execute(
        update(Brand).where(Brand.id == products["other"]).values(status=BrandStatus.BLACKLISTED)
    )
    outbox.enqueue_brand(db, products["other"])
    db.commit()
    assert pending(db) == 4

    count, _ = indexer.apply_pending(engine, index)
    assert count == 4 and pending(db) == 0
    assert found(index) == [ids[0], ids[2], ids[3], ids[4], ids[6]]
    assert found(index, max_price_fen=10) == [ids[0]]
    index.close()


def test_the_follower_holds_back_acknowledgements_during_a_rebuild(
    engine: Engine, db: Session, data_dir: Path, products: dict[str, Any]
) -> None:
    ids = products["ids"]
    indexer.rebuild(engine, progress=False, data_dir=data_dir)
    follower = indexer.Follower(engine, data_dir)
    assert follower.lock.try_acquire()
    rebuilding = store.rebuild_lock(data_dir)  # another open file: "another process"
    try:
        catalog.update_product(db, OPERATOR, ids[0], ProductUpdate(price_fen=7))
        db.commit()
        assert rebuilding.try_acquire()
        assert follower.step() == 1
        assert pending(db) == 1  # applied to the live index, kept for the new one
        live = store.LiveIndex(data_dir).get()
        assert found(live, max_price_fen=7) == [ids[0]]
        assert follower.step() == 0  # not applied twice
        rebuilding.release()
        assert follower.step() == 1 and pending(db) == 0
    finally:
        rebuilding.release()
        follower._close()
        follower.lock.release()


def test_one_writer_at_a_time(engine: Engine, data_dir: Path, products: dict[str, Any]) -> None:
    indexer.rebuild(engine, progress=False, data_dir=data_dir)
    holder = indexer.Follower(engine, data_dir)
    assert holder.lock.try_acquire()
    try:
        with pytest.raises(store.IndexerBusy):
            indexer.Follower(engine, data_dir).run(threading.Event(), wait_for_lock=False)
    finally:
        holder.lock.release()
    generation = store.current_generation(data_dir)
    assert generation is not None
    first = ProductIndex.open(generation)
    first.delete_ids([])  # takes tantivy's writer lock
    with pytest.raises(IndexLocked):
        ProductIndex.open(generation).delete_ids([])
    first.close()


def test_the_embedded_follower_runs_until_stopped(
    engine: Engine, db: Session, data_dir: Path, products: dict[str, Any]
) -> None:
    embedded = indexer.EmbeddedIndexer(engine, data_dir)
    embedded.start()
    try:
        embedded.activation.set()  # what the first search does
        assert embedded.follower.active.wait(5)
        live = store.LiveIndex(data_dir)
        deadline = threading.Event()
        while not live.exists() and not deadline.wait(0.05):
            pass
        catalog.update_product(db, OPERATOR, products["ids"][2], ProductUpdate(price_fen=3))
        db.commit()
        for _ in range(60):
            if found(live.get(), max_price_fen=3) == [products["ids"][2]]:
                break
            deadline.wait(0.05)
        assert found(live.get(), max_price_fen=3) == [products["ids"][2]]
    finally:
        embedded.stop()
    assert not embedded.follower.active.is_set()


@pytest.fixture
def cli_env(engine: Engine, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from zhibo.config import get_settings
    from zhibo.kit.db import clear_engines

    if engine.dialect.name != "sqlite":
        pytest.skip("the command line is exercised on the embedded default")
    monkeypatch.setenv("ZHIBO_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("ZHIBO_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    clear_engines()
    yield
    get_settings.cache_clear()
    clear_engines()


def test_cli_index_search_and_check_find_drift(
    cli_env: None, engine: Engine, db: Session, products: dict[str, Any]
) -> None:
    from zhibo.catalog.cli import catalog_app

    runner = CliRunner()
    built = runner.invoke(catalog_app, ["index", "--rebuild"])
    assert built.exit_code == 0, built.output
    hits = runner.invoke(
        catalog_app, ["search", "面霜", "--sort", "price", "--limit", "3", "--json"]
    )
    assert hits.exit_code == 0, hits.output
    listed = json.loads(hits.stdout)
    assert [hit["id"] for hit in listed] == products["ids"][:3]
    assert {"product_id", "brand", "category", "price_fen", "commission_rate_bp"} <= listed[
        0
    ].keys()

    clean = runner.invoke(catalog_app, ["check", "--json"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["drift"] is False

    ids = products["ids"]
    # Changes made behind the outbox's back: the index cannot know them.
    db.execute(update(Product).where(Product.id == ids[0]).values(price_fen=1, stock=0))
    db.execute(update(Product).where(Product.id == ids[1]).values(status="delisted"))
    db.execute(update(Product).where(Product.id == ids[6]).values(status="active"))
    db.commit()
    drifted = runner.invoke(catalog_app, ["check", "--json"])
    assert drifted.exit_code == 1, drifted.output
    report = json.loads(drifted.stdout)
    assert (report["missing"], report["extra"], report["duplicates"]) == (1, 1, 0)
    assert report["stale"]["price_fen"] == 1 and report["stale"]["stock"] == 1
    assert report["examples"]["missing"] == [{"id": ids[6]}]
    assert report["examples"]["stale price_fen"] == [{"id": ids[0], "store": 1, "index": 1000}]

    assert runner.invoke(catalog_app, ["index", "--rebuild"]).exit_code == 0
    assert runner.invoke(catalog_app, ["check"]).exit_code == 0


def test_check_reports_duplicates(engine: Engine, data_dir: Path, products: dict[str, Any]) -> None:
    indexer.rebuild(engine, progress=False, data_dir=data_dir)
    generation = store.current_generation(data_dir)
    assert generation is not None
    index = ProductIndex.open(generation)
    table = next(indexer.stream_tables(engine))
    index.add_table(table.slice(0, 1))
    index.commit()
    report = check(engine, index)
    assert report.duplicates == 1 and report.drift
    index.close()
