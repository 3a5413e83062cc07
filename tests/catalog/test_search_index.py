"""The product index against a brute-force reference: same hits, same order, same pages.

Hundreds of seeded random searches (words in Chinese, English and both; every filter; every
sort; page sizes from 1 to 100) run twice: as configured, and with every sorted search forced
through the bucket ladder, so early termination is checked at every bucket edge of a pool whose
prices, commissions and sales sit on those edges.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.catalog.search_pool import (
    Doc,
    all_pages,
    build_index,
    build_pool,
    facet_reference,
    reference,
)
from zhibo.catalog.search import fields as f
from zhibo.catalog.search import plan
from zhibo.catalog.search.index import ProductIndex
from zhibo.catalog.search.schemas import Hit, SearchRequest, Sort, UnsearchableQuery
from zhibo.kit.pagination import InvalidCursor
from zhibo.models import RiskClass

RISKS = list(RiskClass)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProductIndex, list[Doc]]:
    root = tmp_path_factory.mktemp("pool")
    table, docs = build_pool(root / "sim")
    return build_index(root / "index", table), docs


@pytest.fixture(params=["as configured", "always the ladder", "tiered relevance"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "always the ladder":
        monkeypatch.setattr(plan, "DRIVEN_MAX_DOCS", -1)
    if request.param == "tiered relevance":
        # Every relevance search ranks a best-selling tier, as searches of common words do in
        # a large pool.
        monkeypatch.setattr(plan, "RELEVANCE_EXACT_DOCS", -1)
        monkeypatch.setattr(plan, "RELEVANCE_CANDIDATES", 5)
    return str(request.param)


def _tiered(request: SearchRequest) -> bool:
    return plan.RELEVANCE_EXACT_DOCS < 0 and request.sort == Sort.RELEVANCE and bool(request.query)


def _words(doc: Doc, rng: random.Random) -> str:
    chunks = f"{doc.brand} {doc.text.split(' ', 1)[1]}".split()
    chunks = [chunk for chunk in chunks if any(char.isalnum() for char in chunk)]
    picked = rng.sample(chunks, k=min(len(chunks), rng.choice([1, 1, 2])))
    return " ".join(chunk[:12] for chunk in picked)


def random_request(rng: random.Random, docs: list[Doc]) -> SearchRequest:
    doc = rng.choice(docs)
    query = _words(doc, rng) if rng.random() < 0.7 else None
    fields: dict[str, object] = {
        "query": query,
        "sort": rng.choice(list(Sort)),
        "limit": rng.choice([1, 2, 3, 7, 20, 100]),
    }
    if rng.random() < 0.4:
        fields["category_id"] = rng.choice(doc.categories)
    if rng.random() < 0.15:
        fields["brand_id"] = doc.brand_id
    if rng.random() < 0.35:
        low = rng.choice([doc.price_fen, doc.price_fen + 1, rng.randrange(0, 40_000)])
        fields["min_price_fen"] = low
        if rng.random() < 0.7:
            fields["max_price_fen"] = low + rng.choice([0, 1, 500, 5_000, 100_000])
    elif rng.random() < 0.2:
        fields["max_price_fen"] = rng.choice([doc.price_fen, rng.randrange(0, 60_000)])
    if rng.random() < 0.35:
        edge = doc.commission_rate_bp
        fields["min_commission_bp"] = rng.choice(
            [edge, min(edge + 1, 10_000), rng.randrange(0, 10_001)]
        )
    if rng.random() < 0.3:
        fields["in_stock"] = True
    if rng.random() < 0.3:
        size = rng.randrange(0, len(RISKS) + 1)
        fields["risk_classes"] = frozenset(rng.sample(RISKS, size))
    return SearchRequest(**fields)  # type: ignore[arg-type]


def assert_same(index: ProductIndex, docs: list[Doc], request: SearchRequest) -> None:
    expected = reference(docs, request)
    hits, totals, complete = all_pages(index, request, max_pages=40)
    ids = [hit.id for hit in hits]
    if not complete:
        # Long walks with tiny pages: compare the first 40 pages with the reference's start.
        expected_ids = [doc.id for doc in expected]
        assert len(ids) == 40 * request.limit
        if request.sort == Sort.RELEVANCE and request.query:
            assert set(ids) <= set(expected_ids), request
        else:
            assert ids == expected_ids[: len(ids)], request
        return
    assert len(ids) == len(set(ids)), f"duplicate hits for {request}"
    if _tiered(request):
        assert_tiered(index, expected, request, hits)
        return
    assert all(total <= len(expected) for total in totals), request
    first = index.search(request)
    if first.total_exact:
        assert first.total == len(expected), request
    else:
        assert first.total <= len(expected), request
    if request.sort == Sort.RELEVANCE and request.query:
        assert sorted(ids) == [doc.id for doc in expected], request
        scores = [hit.score or 0.0 for hit in hits]
        keys = [(-score, hit.id) for score, hit in zip(scores, hits, strict=True)]
        assert keys == sorted(keys), f"not by score, then id: {request}"
    else:
        assert ids == [doc.id for doc in expected], request
    by_id = {doc.id: doc for doc in expected}
    value = {
        Sort.SALES: lambda d: d.sales_30d,
        Sort.COMMISSION: lambda d: d.commission_rate_bp,
        Sort.PRICE: lambda d: d.price_fen,
    }
    for hit in hits:
        if hit.score is None:
            sort = request.sort if request.sort != Sort.RELEVANCE else Sort.SALES
            assert hit.sort_value == value[sort](by_id[hit.id]), request


def assert_tiered(
    index: ProductIndex, expected: list[Doc], request: SearchRequest, hits: list[Hit]
) -> None:
    """A tiered relevance search ranks the matches of some best-selling buckets: every match
    selling at least as well as its worst-selling hit is a hit, and there are enough of them."""
    ids = [hit.id for hit in hits]
    by_id = {doc.id: doc for doc in expected}
    assert set(ids) <= set(by_id), request
    assert len(ids) >= min(len(expected), plan.RELEVANCE_CANDIDATES, request.limit + 1), request
    keys = [(-(hit.score or 0.0), hit.id) for hit in hits]
    assert keys == sorted(keys), f"not by score, then id: {request}"
    if not ids:
        return
    worst = min(f.sales_key(by_id[i].sales_30d, i) for i in ids)
    above = {doc.id for doc in expected if f.sales_key(doc.sales_30d, doc.id) >= worst}
    assert above <= set(ids), f"a better-selling match was left out of the tier: {request}"
    first = index.search(request)
    if first.total_exact:
        assert first.total == len(expected), request
    else:
        assert len(ids) <= first.total, request


def test_random_searches_match_the_reference(
    pool: tuple[ProductIndex, list[Doc]], mode: str
) -> None:
    index, docs = pool
    rng = random.Random({"as configured": 20211, "always the ladder": 20212}.get(mode, 20213))
    for _ in range(300):
        assert_same(index, docs, random_request(rng, docs))


@pytest.mark.parametrize(
    "query",
    ["保湿 面霜", "猫罐头", "Tote Bag", "tote bags", "ＴＯＴＥ　ＢＡＧ", "面霜", "Face Cream"],
)
@pytest.mark.parametrize("sort", list(Sort))
def test_named_queries(
    pool: tuple[ProductIndex, list[Doc]], mode: str, query: str, sort: Sort
) -> None:
    index, docs = pool
    request = SearchRequest(query=query, sort=sort, limit=7)
    assert_same(index, docs, request)
    assert reference(docs, request), f"{query!r} should match something in the pool"


def test_mixed_language_query(pool: tuple[ProductIndex, list[Doc]], mode: str) -> None:
    index, docs = pool
    latin = next(
        doc for doc in docs if doc.brand.isascii() and "猫罐头" in doc.text and doc.brand.isalpha()
    )
    request = SearchRequest(query=f"{latin.brand} 猫罐头", limit=3)
    assert latin.id in {doc.id for doc in reference(docs, request)}
    assert_same(index, docs, request)


def test_browse_without_words_sorts_by_every_key(
    pool: tuple[ProductIndex, list[Doc]], mode: str
) -> None:
    index, docs = pool
    roots = sorted({doc.categories[0] for doc in docs})
    for category in roots[:4]:
        for sort in (Sort.COMMISSION, Sort.SALES, Sort.PRICE, Sort.RELEVANCE):
            assert_same(index, docs, SearchRequest(category_id=category, sort=sort, limit=50))


def test_facets_count_children_of_the_filter(pool: tuple[ProductIndex, list[Doc]]) -> None:
    index, docs = pool
    for request in (
        SearchRequest(facets=True),
        SearchRequest(query="面霜", facets=True),
        SearchRequest(category_id=docs[0].categories[0], facets=True, in_stock=True),
        SearchRequest(category_id=docs[0].categories[-1], facets=True),
    ):
        result = index.search(request)
        assert result.facets == facet_reference(docs, request)
        assert result.facets_exact


def test_bad_query_text_is_refused(pool: tuple[ProductIndex, list[Doc]]) -> None:
    index, _ = pool
    many_words = " ".join(f"w{i}" for i in range(17))
    for text in ["(((", "AND OR", "NOT", "a\x00b", "x\x1b[31m", "面" * 201, "。。。", many_words]:
        with pytest.raises(UnsearchableQuery):
            index.search(SearchRequest(query=text))


def test_cursors_are_bound_to_their_search(pool: tuple[ProductIndex, list[Doc]]) -> None:
    index, _ = pool
    first = index.search(SearchRequest(query="面霜", sort=Sort.SALES, limit=2))
    assert first.next_cursor
    forged = first.next_cursor[:-3] + ("AAA" if not first.next_cursor.endswith("AAA") else "BBB")
    for cursor, request in [
        ("not-a-cursor", SearchRequest(query="面霜", sort=Sort.SALES)),
        (forged, SearchRequest(query="面霜", sort=Sort.SALES)),
        (first.next_cursor, SearchRequest(query="面霜", sort=Sort.PRICE)),
        (first.next_cursor, SearchRequest(query="眼霜", sort=Sort.SALES)),
    ]:
        with pytest.raises(InvalidCursor):
            index.search(request.model_copy(update={"cursor": cursor}))


def test_upsert_and_delete(tmp_path: Path, pool: tuple[ProductIndex, list[Doc]]) -> None:
    import pyarrow as pa

    _, docs = pool
    doc = docs[0]
    row = {
        "id": [doc.id],
        "brand_id": [doc.brand_id],
        "brand": [doc.brand],
        "category_ids": [list(doc.categories)],
        "risk_class": [str(doc.risk)],
        "title": ["独一无二测试商品 Unicorn"],
        "description": [""],
        "price_fen": [doc.price_fen],
        "commission_rate_bp": [doc.commission_rate_bp],
        "stock": [doc.stock],
        "sales_30d": [doc.sales_30d],
    }
    index = ProductIndex.create(tmp_path / "index", heap_bytes=20_000_000)
    index.add_table(pa.table(row))
    index.commit()
    assert [h.id for h in index.search(SearchRequest(query="unicorn")).hits] == [doc.id]
    index.upsert_table(pa.table(row | {"price_fen": [12_345], "title": ["改名 Pegasus"]}))
    index.commit()
    assert index.search(SearchRequest(query="unicorn")).hits == []
    [hit] = index.search(SearchRequest(query="pegasus", sort=Sort.PRICE)).hits
    assert (hit.id, hit.sort_value) == (doc.id, 12_345)
    assert index.doc_count() == 1
    index.delete_ids([doc.id])
    index.commit()
    assert index.doc_count() == 0
    index.close()


def test_sort_keys_order_exactly_by_value_then_id() -> None:
    assert f.sales_key(5, 10) > f.sales_key(5, 11) > f.sales_key(4, 1)
    assert f.commission_key(2000, 3) > f.commission_key(2000, 4) > f.commission_key(1999, 1)
    assert f.price_key(100, 3) < f.price_key(100, 4) < f.price_key(101, 1)
    assert f.key_id(f.sales_key(7, 123), descending=True) == 123
    for price in range(0, 70_000, 7):
        low, high = plan.price_bucket_range(f.price_bucket(price))
        assert low <= price <= high


def test_broad_facets_are_scaled_from_a_sample(
    pool: tuple[ProductIndex, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    index, docs = pool
    monkeypatch.setattr(plan, "FACET_EXACT_LIMIT", 100)
    monkeypatch.setattr(plan, "FACET_SAMPLE_DOCS", len(docs) // 4)
    request = SearchRequest(facets=True)
    result = index.search(request)
    assert not result.facets_exact and result.facets
    expected = facet_reference(docs, request)
    assert result.facets.keys() <= expected.keys()
    assert abs(sum(result.facets.values()) - len(docs)) < 0.15 * len(docs)
    big = max(expected, key=lambda category: expected[category])
    assert abs(result.facets[big] - expected[big]) < 0.3 * expected[big]
