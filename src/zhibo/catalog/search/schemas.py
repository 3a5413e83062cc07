"""What goes into a product-pool search and what comes out, at the index and at the API."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zhibo.kit.errors import InvalidInput, ZhiboError
from zhibo.kit.schemas import OutSchema
from zhibo.models import RiskClass

MAX_LIMIT = 100


class InvalidSearch(InvalidInput):
    """A search parameter breaks a rule; ``detail`` names the parameter and the reason."""


class UnsearchableQuery(InvalidInput):
    """The query text holds nothing to search for (or is too long, or holds control codes)."""


class SearchIndexUnavailable(ZhiboError):
    """The search index is being built or cannot be opened; retry shortly."""

    status_code = 503


class Sort(StrEnum):
    #: BM25 score, then id; without query words: like ``sales``.
    RELEVANCE = "relevance"
    #: Commission rate, highest first, then id.
    COMMISSION = "commission"
    #: Units sold in the last 30 days, most first, then id.
    SALES = "sales"
    #: Price, cheapest first, then id.
    PRICE = "price"


class SearchRequest(BaseModel):
    """One page of a search. Every filter is optional; all given filters must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str | None = Field(default=None, description="Words that must all match")
    category_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="This category or below"
    )
    brand_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    min_price_fen: int | None = Field(default=None, ge=0, le=10**15)
    max_price_fen: int | None = Field(default=None, ge=0, le=10**15)
    min_commission_bp: int | None = Field(default=None, ge=0, le=10_000)
    in_stock: bool = False
    #: Only products whose category has one of these risk classes (``None``: any).
    risk_classes: frozenset[RiskClass] | None = None
    sort: Sort = Sort.RELEVANCE
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=500)
    facets: bool = False

    @model_validator(mode="after")
    def _price_range(self) -> SearchRequest:
        if (
            self.min_price_fen is not None
            and self.max_price_fen is not None
            and self.min_price_fen > self.max_price_fen
        ):
            raise ValueError("min_price_fen: above max_price_fen")
        return self


class Hit(BaseModel):
    """One product found, with what ordered it (the API fills in the rest from the database)."""

    id: int
    #: BM25 score (relevance sort).
    score: float | None = None
    #: The indexed sales, commission (bp) or price (fen) it was sorted by (key sorts).
    sort_value: int | None = None


class SearchResult(BaseModel):
    hits: list[Hit]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None = None
    #: Matching products: exact when ``total_exact``, otherwise a lower bound (a sorted search
    #: that stopped early counts only the buckets it visited).
    total: int
    total_exact: bool
    #: Category id → matching products, for the children of the filtered category (or the
    #: roots); approximate (scaled from a sample) when ``facets_exact`` is false.
    facets: dict[int, int] | None = None
    facets_exact: bool = True


# API ------------------------------------------------------------------------------------------


class BrandRef(OutSchema):
    id: int
    name: str


class CategoryRef(OutSchema):
    id: int
    path: str


class PoolHit(OutSchema):
    """A product of the pool as search shows it (fresh from the database)."""

    id: int
    #: The brand's own id for the product.
    product_id: str
    brand: BrandRef
    category: CategoryRef
    title: str
    description: str
    price_fen: int
    reference_price_fen: int | None
    currency: str
    commission_rate_bp: int
    stock: int
    sales_30d: int
    #: BM25 score when sorted by relevance.
    score: float | None = None


class FacetCount(OutSchema):
    category: CategoryRef
    count: int


class PoolSearchPage(OutSchema):
    items: list[PoolHit]
    next_cursor: str | None
    total: int
    total_exact: bool
    facets: list[FacetCount] | None = None
    facets_exact: bool = True
