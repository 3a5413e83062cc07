"""Searching the pool for a caller: parameters checked and resolved, the caller's scope applied
(a streamer sees what its level may sell, a brand its own products), hits filled in from the
database, and the API process's search index and embedded indexer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.catalog.policy import default_policy
from zhibo.catalog.search import store
from zhibo.catalog.search.index import ProductIndex
from zhibo.catalog.search.schemas import (
    BrandRef,
    CategoryRef,
    FacetCount,
    InvalidSearch,
    PoolHit,
    PoolSearchPage,
    SearchRequest,
    SearchResult,
    Sort,
)
from zhibo.catalog.service import UnknownBrand, UnknownCategory
from zhibo.kit import metrics
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, NotFound
from zhibo.models import Brand, BrandStatus, Category, Product, ProductStatus, Role, Streamer

#: How long the first search waits for the index to be built before answering 503.
FIRST_BUILD_WAIT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class PoolQuery:
    """Search parameters as a caller gives them (API query string or CLI options)."""

    q: str | None = None
    category: str | None = None
    brand: str | None = None
    min_price_fen: int | None = None
    max_price_fen: int | None = None
    min_commission_bp: int | None = None
    in_stock: bool = False
    sellable_only: bool | None = None
    sort: str = "relevance"
    limit: int = 20
    cursor: str | None = None
    facets: bool = False


def _an_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


def resolve_category(session: Session, value: str) -> Category:
    """A category by id (digits) or path (``beauty/skincare``)."""
    text = value.strip()
    category = session.get(Category, int(text)) if _an_id(text) else None
    if category is None:
        category = session.scalar(select(Category).where(Category.path == text.strip("/")))
    if category is None:
        raise UnknownCategory(f"category: no category {value!r} (give an id or a path)")
    return category


def resolve_brand(session: Session, value: str) -> Brand:
    """A brand by id (digits) or exact name (an all-digit name matches when no id does)."""
    text = value.strip()
    brand = session.get(Brand, int(text)) if _an_id(text) else None
    if brand is None:  # names may be digits too (e.g. "361")
        brand = session.scalar(select(Brand).where(Brand.name == text))
    if brand is None:
        raise UnknownBrand(f"brand: no brand {value!r} (give an id or a name)")
    return brand


def build_request(session: Session, principal: Principal | None, query: PoolQuery) -> SearchRequest:
    """The index request for ``query`` as ``principal`` may run it (``None``: the operator's
    command line)."""
    sorts = ", ".join(sort.value for sort in Sort)
    if query.sort not in {sort.value for sort in Sort}:
        raise InvalidSearch(f"sort: {query.sort!r} is not one of {sorts}")
    category_id = resolve_category(session, query.category).id if query.category else None
    brand_id = resolve_brand(session, query.brand).id if query.brand else None
    risk_classes = None
    if principal is not None and principal.role == Role.BRAND:
        if brand_id is not None and brand_id != principal.subject_id:
            raise Forbidden("brand: a brand searches only its own products")
        brand_id = principal.subject_id
    streamer_scope = principal is not None and principal.role == Role.STREAMER
    if principal is not None and streamer_scope and query.sellable_only is not False:
        streamer = session.get(Streamer, principal.subject_id)
        if streamer is None:
            raise NotFound(f"streamer: no streamer with id {principal.subject_id}")
        risk_classes = default_policy().classes_for(streamer.level)
    try:
        return SearchRequest(
            query=query.q,
            category_id=category_id,
            brand_id=brand_id,
            min_price_fen=query.min_price_fen,
            max_price_fen=query.max_price_fen,
            min_commission_bp=query.min_commission_bp,
            in_stock=query.in_stock,
            risk_classes=risk_classes,
            sort=Sort(query.sort),
            limit=query.limit,
            cursor=query.cursor,
            facets=query.facets,
        )
    except ValidationError as exc:
        raise InvalidSearch(_first_error(exc)) from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    names = {"query": "q", "category_id": "category", "brand_id": "brand"}
    location = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not location and ":" in message:
        return message
    return f"{names.get(location, location) or 'request'}: {message}"


def hydrate(session: Session, result: SearchResult) -> list[PoolHit]:
    """The hits as the pool shows them, read fresh in one query, in the index's order. A hit
    that stopped being sellable since it was indexed is dropped."""
    ids = [hit.id for hit in result.hits]
    if not ids:
        return []
    rows = session.execute(
        select(Product, Brand.name, Category.path)
        .join(Brand, Brand.id == Product.brand_id)
        .join(Category, Category.id == Product.category_id)
        .where(
            Product.id.in_(ids),
            Product.status == ProductStatus.ACTIVE,
            Brand.status != BrandStatus.BLACKLISTED,
        )
    ).all()
    found = {row[0].id: row for row in rows}
    hits = []
    for hit in result.hits:
        row = found.get(hit.id)
        if row is None:
            continue
        product, brand_name, category_path = row
        hits.append(
            PoolHit(
                id=product.id,
                product_id=product.external_id,
                brand=BrandRef(id=product.brand_id, name=brand_name),
                category=CategoryRef(id=product.category_id, path=category_path),
                title=product.title,
                description=product.description,
                price_fen=product.price_fen,
                reference_price_fen=product.reference_price_fen,
                currency=product.currency,
                commission_rate_bp=product.commission_rate_bp,
                stock=product.stock,
                sales_30d=product.sales_30d,
                score=hit.score,
            )
        )
    return hits


def facet_counts(session: Session, facets: dict[int, int]) -> list[FacetCount]:
    paths = dict(
        session.execute(select(Category.id, Category.path).where(Category.id.in_(facets))).all()
    )
    return [
        FacetCount(category=CategoryRef(id=category, path=paths[category]), count=count)
        for category, count in sorted(facets.items(), key=lambda item: (-item[1], item[0]))
        if category in paths
    ]


def search_pool(
    session: Session, index: ProductIndex, principal: Principal | None, query: PoolQuery
) -> PoolSearchPage:
    request = build_request(session, principal, query)
    result = index.search(request)
    metrics.SEARCH_QUERIES.inc()
    return PoolSearchPage(
        items=hydrate(session, result),
        next_cursor=result.next_cursor,
        total=result.total,
        total_exact=result.total_exact,
        facets=facet_counts(session, result.facets) if result.facets is not None else None,
        facets_exact=result.facets_exact,
    )


# The API process ------------------------------------------------------------------------------


class PoolSearch:
    """The API process's view of the live index. With an embedded indexer, the first search
    asks it to build a missing index and waits a little for it."""

    def __init__(self, data_dir: Path, activation: threading.Event | None = None) -> None:
        self.live = store.LiveIndex(data_dir)
        self.activation = activation

    def index(self, wait: float = FIRST_BUILD_WAIT_SECONDS) -> ProductIndex:
        if self.activation is not None and not self.activation.is_set():
            self.activation.set()
            deadline = time.monotonic() + wait
            while not self.live.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return self.live.get()


@contextmanager
def background_indexing(app: Any) -> Iterator[None]:
    """FastAPI lifespan part: with ``search_indexer = "embedded"``, follow the outbox in a
    thread of this process (one process wins the indexer lock; others stand by)."""
    from zhibo.catalog.search.indexer import EmbeddedIndexer

    settings = app.state.settings
    engine: Engine = app.state.engine
    indexer = None
    if getattr(settings, "search_indexer", "embedded") == "embedded":
        indexer = EmbeddedIndexer(engine, settings.data_dir)
        indexer.start()
    app.state.pool_search = PoolSearch(
        settings.data_dir, indexer.activation if indexer is not None else None
    )
    try:
        yield
    finally:
        if indexer is not None:
            indexer.stop()


def pool_search_of(app: Any) -> PoolSearch:
    found = getattr(app.state, "pool_search", None)
    if found is None:
        found = app.state.pool_search = PoolSearch(app.state.settings.data_dir)
    return found


def hits_as_json(hits: Sequence[PoolHit]) -> list[dict[str, Any]]:
    return [hit.model_dump(mode="json") for hit in hits]
