"""How orders are queried, narrowed to what the caller may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden
from zhibo.models import Order, Product, Role


def orders_visible_to(principal: Principal) -> Select[Any]:
    query = select(Order)
    if principal.is_global:
        return query
    subject = principal.subject_id
    if principal.role == Role.STREAMER:
        return query.where(Order.streamer_id == subject)
    if principal.role == Role.PARTNER:
        return query.where(Order.partner_id == subject)
    if principal.role == Role.BRAND:
        return query.join(Product, Product.id == Order.product_id).where(
            Product.brand_id == subject
        )
    if principal.role == Role.VIEWER:
        return query.where(Order.buyer_id == subject)
    raise Forbidden(f"role {principal.role} may not read orders")
