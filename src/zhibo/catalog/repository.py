"""How the catalog is stored and queried."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from zhibo.kit.auth import Principal
from zhibo.models import Brand, Category, Product, ProductPriceHistory, Role


def products_visible_to(principal: Principal) -> Select[Any]:
    """The pool is open to every role; a brand lists only its own products."""
    query = select(Product)
    if principal.role == Role.BRAND:
        query = query.where(Product.brand_id == principal.subject_id)
    return query


def categories() -> Select[Any]:
    return select(Category)


def brands() -> Select[Any]:
    return select(Brand)


def price_history(product_id: int) -> Select[Any]:
    return (
        select(ProductPriceHistory)
        .where(ProductPriceHistory.product_id == product_id)
        .order_by(ProductPriceHistory.effective_at, ProductPriceHistory.id)
    )
