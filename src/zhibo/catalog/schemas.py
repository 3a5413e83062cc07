"""What comes in and out of the catalog."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from zhibo.kit.schemas import Currency, Fen, InSchema, OutSchema, RateBp, SocialCreditCode
from zhibo.models.brand import BrandStatus
from zhibo.models.category import RiskClass
from zhibo.models.product import ProductStatus


class CategoryCreate(InSchema):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^/]+$")
    parent_id: int | None = None
    risk_class: RiskClass = RiskClass.LOW


class CategoryOut(OutSchema):
    id: int
    parent_id: int | None
    name: str
    path: str
    risk_class: RiskClass


class BrandCreate(InSchema):
    name: str = Field(min_length=1, max_length=200)
    social_credit_code: SocialCreditCode | None = None
    new_brand_date: date | None = None


class BrandOut(OutSchema):
    id: int
    name: str
    social_credit_code: str | None
    new_brand_date: date | None
    status: BrandStatus
    created_at: datetime


class ProductCreate(InSchema):
    brand_id: int
    category_id: int
    external_id: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=20_000)
    price_fen: Fen
    reference_price_fen: Fen | None = None
    currency: Currency = "CNY"
    commission_rate_bp: RateBp
    stock: int = Field(default=0, strict=True, ge=0)


class ProductUpdate(InSchema):
    """A change of price, reference price, commission or stock (kept in the price history)."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    price_fen: Fen | None = None
    reference_price_fen: Fen | None = None
    commission_rate_bp: RateBp | None = None
    stock: int | None = Field(default=None, strict=True, ge=0)
    status: ProductStatus | None = None


class ProductOut(OutSchema):
    id: int
    brand_id: int
    category_id: int
    external_id: str
    title: str
    description: str
    price_fen: int
    reference_price_fen: int | None
    currency: str
    commission_rate_bp: int
    stock: int
    status: ProductStatus
    sales_30d: int
    created_at: datetime
    updated_at: datetime


class PriceHistoryOut(OutSchema):
    price_fen: int
    reference_price_fen: int | None
    currency: str
    commission_rate_bp: int
    stock: int
    effective_at: datetime


class ProductPut(InSchema):
    """A whole product, keyed in the path by its brand and the brand's own product id."""

    category: str = Field(min_length=1, max_length=400, description="Category path, a/b")
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=20_000)
    price_fen: Fen
    reference_price_fen: Fen | None = None
    commission_rate_bp: RateBp
    stock: int = Field(strict=True, ge=0, le=10**15)
    #: None: CNY for a new product, unchanged for an existing one.
    currency: Currency | None = None
    #: None: active for a new product, unchanged for an existing one.
    status: ProductStatus | None = None


class ProductBatch(InSchema):
    """Canonical import rows (the fields of ``zhibo catalog import``), upserted by
    (brand, product_id); a bad row is rejected on its own, the others land."""

    items: list[dict[str, Any]] = Field(max_length=1_000)
    #: Create unknown brands and categories (operators only).
    create_missing: bool = Field(default=False, strict=True)


class BatchReject(OutSchema):
    #: 1-based index of the item in ``items``.
    row: int
    field: str
    reason: str


class ProductBatchResult(OutSchema):
    imported: int
    updated: int
    unchanged: int
    rejected: int
    rejects: list[BatchReject]
