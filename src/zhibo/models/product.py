"""Products in the pool, and the history of their price, stock and commission."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId, Currency, enum_column


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DELISTED = "delisted"


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_fen >= 0", name="price_nonnegative"),
        CheckConstraint(
            "reference_price_fen IS NULL OR reference_price_fen >= 0",
            name="reference_price_nonnegative",
        ),
        CheckConstraint("commission_rate_bp BETWEEN 0 AND 10000", name="commission_rate_range"),
        CheckConstraint("stock >= 0", name="stock_nonnegative"),
        CheckConstraint("sales_30d >= 0", name="sales_nonnegative"),
        Index("uq_products_brand_external", "brand_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    #: The brand's own product id; unique per brand, the key of idempotent imports.
    external_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    #: Current selling price, in fen.
    price_fen: Mapped[int] = mapped_column(BigInteger)
    #: The struck-through "original" price shown beside the price, in fen; must be a price
    #: actually charged in the 7 days before a promotion (risk checks this).
    reference_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    #: Commission the brand pays on each sale, in basis points of the amount paid.
    commission_rate_bp: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[ProductStatus] = mapped_column(
        enum_column(ProductStatus, "product_status"), default=ProductStatus.ACTIVE
    )
    #: Units sold in the last 30 days (maintained by the order pipeline; a search sort key).
    sales_30d: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProductPriceHistory(Base):
    """One row per change of price, reference price, commission or stock (append-only)."""

    __tablename__ = "product_price_history"
    __table_args__ = (
        CheckConstraint("price_fen >= 0", name="price_nonnegative"),
        CheckConstraint("commission_rate_bp BETWEEN 0 AND 10000", name="commission_rate_range"),
        CheckConstraint("stock >= 0", name="stock_nonnegative"),
        Index("ix_price_history_product_time", "product_id", "effective_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    reference_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Currency, default="CNY")
    commission_rate_bp: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
