"""``GET /v1/pool/search``: streamers (and the platform) search the product pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from zhibo.catalog.search.schemas import MAX_LIMIT, PoolSearchPage
from zhibo.catalog.search.service import PoolQuery, pool_search_of, search_pool
from zhibo.kit.api import DB, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.ratelimit import RATE_LIMITED_RESPONSE, rate_limited
from zhibo.models import Role

router = APIRouter(prefix="/v1/pool", tags=["product pool search"], responses=ERROR_RESPONSES)

_searcher = require(
    Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR, Role.STREAMER, Role.PARTNER, Role.BRAND
)
Searcher = Annotated[Principal, Depends(_searcher)]


@router.get("/search", response_model=PoolSearchPage, responses={503: {}, **RATE_LIMITED_RESPONSE})
def search(
    request: Request,
    db: DB,
    principal: Searcher,
    _limit: Annotated[None, rate_limited("search", _searcher)],
    q: Annotated[
        str | None, Query(description="Words that must all match (Chinese, English or mixed)")
    ] = None,
    category: Annotated[
        str | None, Query(description="Category id or path; its subtree matches")
    ] = None,
    brand: Annotated[str | None, Query(description="Brand id or name")] = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    min_commission_bp: Annotated[int | None, Query(description="Basis points, 0..10000")] = None,
    in_stock: Annotated[bool, Query(description="Only products with stock")] = False,
    sellable_only: Annotated[
        bool | None,
        Query(
            description="Streamer tokens: only categories the streamer's level may sell "
            "(default true)"
        ),
    ] = None,
    sort: Annotated[
        str,
        Query(
            description="relevance | commission | sales | price (price ascending, the others "
            "descending; ties by id)"
        ),
    ] = "relevance",
    limit: Annotated[int, Query(description=f"1..{MAX_LIMIT}")] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    facets: Annotated[
        bool, Query(description="Count matches per child category of the filter (or per root)")
    ] = False,
) -> PoolSearchPage:
    """Search the pool; hits carry the product's current data from the database."""
    index = pool_search_of(request.app).index()
    query = PoolQuery(
        q=q,
        category=category,
        brand=brand,
        min_price_fen=min_price_fen,
        max_price_fen=max_price_fen,
        min_commission_bp=min_commission_bp,
        in_stock=in_stock,
        sellable_only=sellable_only,
        sort=sort,
        limit=limit,
        cursor=cursor,
        facets=facets,
    )
    return search_pool(db, index, principal, query)
