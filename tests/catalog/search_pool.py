"""A small simulated product pool, as the index's input table and as a brute-force reference.

The pool comes from the simulator (Chinese, English and mixed titles); ids are spread over
several sales id blocks, and prices, commissions and sales are pushed onto bucket edges, so the
early-terminating sorts are exercised where they could go wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zhibo.catalog.search import analysis, plan
from zhibo.catalog.search import fields as f
from zhibo.catalog.search.index import ProductIndex
from zhibo.catalog.search.schemas import Hit, SearchRequest, Sort
from zhibo.models import RiskClass
from zhibo.sim.generator import generate
from zhibo.sim.scales import Scale

SMALL_POOL = Scale(
    name="search-tests",
    products=3_000,
    brands=120,
    streamers=10,
    partners=2,
    viewers=500,
    days=1,
    events_target=10_000,
    tactic_factor=0.1,
)
#: Spreads ids over ~12 sales id blocks (2**20 ids each).
ID_STRIDE = 4_099


@dataclass(frozen=True)
class Doc:
    id: int
    brand_id: int
    brand: str
    categories: tuple[int, ...]
    risk: RiskClass
    text: str
    terms: frozenset[str]
    price_fen: int
    commission_rate_bp: int
    stock: int
    sales_30d: int


def edge_values(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prices, commissions and sales, many of them on or next to a bucket edge."""
    price_edges = []
    for bucket in [*range(40, 130), 200, 250]:
        low, high = plan.price_bucket_range(bucket)
        price_edges += [low, high, high + 1]
    prices = rng.choice(np.array(price_edges, dtype=np.int64), n)
    commission = rng.choice(np.arange(0, 10_001, 50), n) + rng.choice([0, 0, 1, -1], n)
    commission = np.clip(commission, 0, 10_000)
    tiers = rng.integers(0, 14, n)
    sales = np.where(
        rng.random(n) < 0.4,
        rng.choice([0, 0, 0, 1, 1, 2, 3], n),
        (1 << tiers) - 1 + rng.choice([0, 1], n),
    )
    return prices, commission.astype(np.int64), sales.astype(np.int64)


def build_pool(out: Path, seed: int = 5) -> tuple[pa.Table, list[Doc]]:
    generate(seed=seed, scale=SMALL_POOL, out=out, progress=False)
    products = pq.read_table(out / "products.parquet")
    brands = pq.read_table(out / "brands.parquet")
    categories = pq.read_table(out / "categories.parquet")
    parent = dict(
        zip(categories["category_id"].to_pylist(), categories["parent_id"].to_pylist(), strict=True)
    )
    risk = dict(
        zip(
            categories["category_id"].to_pylist(),
            categories["risk_class"].to_pylist(),
            strict=True,
        )
    )
    names = dict(zip(brands["brand_id"].to_pylist(), brands["name"].to_pylist(), strict=True))

    def ancestry(category: int) -> list[int]:
        path = []
        current: int | None = category
        while current is not None:
            path.append(current)
            current = parent[current]
        return path[::-1]

    rng = np.random.default_rng(seed)
    n = products.num_rows
    prices, commission, sales = edge_values(rng, n)
    ids = np.array(products["product_id"].to_pylist(), dtype=np.int64) * ID_STRIDE
    own = products["category_id"].to_pylist()
    brand_ids = products["brand_id"].to_pylist()
    stock = np.where(rng.random(n) < 0.2, 0, rng.integers(1, 500, n))
    table = pa.table(
        {
            "id": pa.array(ids),
            "brand_id": pa.array(brand_ids, pa.int64()),
            "brand": pa.array([names[b] for b in brand_ids]),
            "category_ids": pa.array([ancestry(c) for c in own], pa.list_(pa.int64())),
            "risk_class": pa.array([risk[c] for c in own]),
            "title": products["title"],
            "description": products["description"],
            "price_fen": pa.array(prices),
            "commission_rate_bp": pa.array(commission.astype(np.int32)),
            "stock": pa.array(stock.astype(np.int64)),
            "sales_30d": pa.array(sales),
        }
    )
    docs = [
        Doc(
            id=int(row["id"]),
            brand_id=row["brand_id"],
            brand=row["brand"],
            categories=tuple(row["category_ids"]),
            risk=RiskClass(row["risk_class"]),
            text=f"{row['brand']} {row['title']} {row['description']}",
            terms=frozenset(analysis.tokens(f"{row['brand']} {row['title']} {row['description']}")),
            price_fen=row["price_fen"],
            commission_rate_bp=row["commission_rate_bp"],
            stock=row["stock"],
            sales_30d=row["sales_30d"],
        )
        for row in table.to_pylist()
    ]
    return table, docs


def build_index(path: Path, table: pa.Table) -> ProductIndex:
    index = ProductIndex.create(path, heap_bytes=50_000_000)
    # Two commits: the index has several segments, like a live one.
    half = table.num_rows // 2
    index.add_table(table.slice(0, half))
    index.commit()
    index.add_table(table.slice(half))
    index.commit()
    return index


# The reference ---------------------------------------------------------------------------------


def matches(doc: Doc, request: SearchRequest, words: frozenset[str] | None = None) -> bool:
    if words is None:
        words = frozenset(analysis.tokens(request.query, query=True)) if request.query else None
    if words and not words <= doc.terms:
        return False
    if request.category_id is not None and request.category_id not in doc.categories:
        return False
    if request.brand_id is not None and doc.brand_id != request.brand_id:
        return False
    if request.min_price_fen is not None and doc.price_fen < request.min_price_fen:
        return False
    if request.max_price_fen is not None and doc.price_fen > request.max_price_fen:
        return False
    if request.min_commission_bp is not None and doc.commission_rate_bp < request.min_commission_bp:
        return False
    if request.in_stock and doc.stock <= 0:
        return False
    return request.risk_classes is None or doc.risk in request.risk_classes


def reference(docs: Iterable[Doc], request: SearchRequest) -> list[Doc]:
    words = frozenset(analysis.tokens(request.query, query=True)) if request.query else None
    found = [doc for doc in docs if matches(doc, request, words)]
    sort = request.sort
    if sort == Sort.RELEVANCE and not request.query:
        sort = Sort.SALES
    keys = {
        Sort.SALES: lambda d: (-d.sales_30d, d.id),
        Sort.COMMISSION: lambda d: (-d.commission_rate_bp, d.id),
        Sort.PRICE: lambda d: (d.price_fen, d.id),
        Sort.RELEVANCE: lambda d: d.id,
    }
    return sorted(found, key=keys[sort])


def all_pages(
    index: ProductIndex, request: SearchRequest, max_pages: int = 10_000
) -> tuple[list[Hit], list[int], bool]:
    """Hits page after page (at most ``max_pages``), the totals each page reported, and whether
    the last page was reached."""
    hits: list[Hit] = []
    totals: list[int] = []
    cursor = None
    for _ in range(max_pages):
        result = index.search(request.model_copy(update={"cursor": cursor}))
        hits.extend(result.hits)
        totals.append(result.total)
        assert len(result.hits) <= request.limit
        cursor = result.next_cursor
        if cursor is None:
            return hits, totals, True
    return hits, totals, False


def facet_reference(docs: Iterable[Doc], request: SearchRequest) -> dict[int, int]:
    counts: dict[int, int] = {}
    for doc in docs:
        if not matches(doc, request):
            continue
        path = doc.categories
        if request.category_id is None:
            child: int | None = path[0]
        elif request.category_id in path[:-1]:
            child = path[path.index(request.category_id) + 1]
        else:
            child = None
        if child is not None:
            counts[child] = counts.get(child, 0) + 1
    return counts


__all__ = ["SMALL_POOL", "Doc", "all_pages", "build_index", "build_pool", "f", "reference"]
