"""``zhibo catalog check``: does the index hold exactly the sellable products, as they are now?

Walks the store (keyset pages in id order) and the index (the same id ranges, read from fast
fields) side by side and reports products missing from the index, documents the index holds but
should not (deleted, delisted, brand blacklisted, or indexed twice), and stale values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine

from zhibo.catalog.search import fields as f
from zhibo.catalog.search.index import ProductIndex
from zhibo.models import Brand, BrandStatus, Category, Product, ProductStatus

#: Store rows compared per step.
CHECK_BATCH = 100_000
#: Values compared between the store and the index (index columns of ProductIndex.scan).
COMPARED = (
    "price_fen",
    "commission_rate_bp",
    "stock",
    "sales_30d",
    "category_id",
    "brand_id",
    "risk",
)


@dataclass
class DriftReport:
    store_products: int = 0
    indexed_documents: int = 0
    missing: int = 0
    extra: int = 0
    duplicates: int = 0
    stale: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COMPARED, 0))
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.extra or self.duplicates or any(self.stale.values()))

    def example(self, kind: str, limit: int, **values: Any) -> None:
        found = self.examples.setdefault(kind, [])
        if len(found) < limit:
            found.append(values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drift": self.drift,
            "store_products": self.store_products,
            "indexed_documents": self.indexed_documents,
            "missing": self.missing,
            "extra": self.extra,
            "duplicates": self.duplicates,
            "stale": self.stale,
            "examples": self.examples,
        }


def _store_pages(engine: Engine, batch: int) -> Iterator[dict[str, np.ndarray]]:
    query = (
        select(
            Product.id,
            Product.price_fen,
            Product.commission_rate_bp,
            Product.stock,
            Product.sales_30d,
            Product.category_id,
            Product.brand_id,
            Category.risk_class,
        )
        .join(Brand, Brand.id == Product.brand_id)
        .join(Category, Category.id == Product.category_id)
        .where(Product.status == ProductStatus.ACTIVE, Brand.status != BrandStatus.BLACKLISTED)
    )
    after = 0
    with engine.connect() as connection:
        while True:
            rows = connection.execute(
                query.where(Product.id > after).order_by(Product.id).limit(batch)
            ).all()
            if not rows:
                return
            after = int(rows[-1][0])
            columns = list(zip(*rows, strict=True))
            page = {
                name: np.array(columns[i], dtype=np.int64)
                for i, name in enumerate(("id", *COMPARED[:-1]))
            }
            page["risk"] = np.array([f.RISK_BY_NAME[str(r)] for r in columns[-1]], np.int64)
            # The index keeps sort-key values up to MAX_KEY_VALUE (fields.py).
            page["price_fen"] = np.minimum(page["price_fen"], f.MAX_KEY_VALUE)
            page["sales_30d"] = np.minimum(page["sales_30d"], f.MAX_KEY_VALUE)
            page["stock"] = np.maximum(page["stock"], 0)
            yield page
            if len(rows) < batch:
                return


def check(
    engine: Engine, index: ProductIndex, *, examples: int = 5, batch: int = CHECK_BATCH
) -> DriftReport:
    report = DriftReport()
    low = 0
    last_indexed = index.max_id()
    pages = _store_pages(engine, batch)
    while True:
        page = next(pages, None)
        high = int(page["id"][-1]) if page is not None else max(last_indexed, low)
        indexed = index.scan(low, high) if high >= low else None
        _compare(report, page, indexed, examples)
        low = high + 1
        if page is None:
            return report


def _compare(
    report: DriftReport,
    store: dict[str, np.ndarray] | None,
    indexed: dict[str, np.ndarray] | None,
    examples: int,
) -> None:
    empty = np.zeros(0, dtype=np.int64)
    store_ids = store["id"] if store is not None else empty
    index_ids = indexed["id"] if indexed is not None else empty
    report.store_products += len(store_ids)
    report.indexed_documents += len(index_ids)
    distinct, counts = np.unique(index_ids, return_counts=True)
    for product_id in distinct[counts > 1].tolist():
        report.duplicates += 1
        report.example("duplicates", examples, id=product_id)
    for product_id in np.setdiff1d(store_ids, distinct).tolist():
        report.missing += 1
        report.example("missing", examples, id=product_id)
    for product_id in np.setdiff1d(distinct, store_ids).tolist():
        report.extra += 1
        report.example("extra", examples, id=product_id)
    if store is None or indexed is None or not len(store_ids) or not len(index_ids):
        return
    # First index document per id, aligned with the store rows present in the index.
    first = np.searchsorted(index_ids, store_ids)
    first = np.minimum(first, len(index_ids) - 1)
    present = index_ids[first] == store_ids
    for name in COMPARED:
        expected = store[name][present]
        actual = indexed[name][first[present]]
        differ = np.flatnonzero(expected != actual)
        report.stale[name] += len(differ)
        ids = store_ids[present]
        for position in differ[:examples].tolist():
            report.example(
                f"stale {name}",
                examples,
                id=int(ids[position]),
                store=int(expected[position]),
                index=int(actual[position]),
            )
