"""Whether a streamer may put a product on a live shelf, and why not.

The pool refuses, with the reason: products that are not active, products of blacklisted brands,
products in a category whose risk class the streamer's level may not sell (``policy``), and
products whose texts fail a *text screen*. Text screens are the extension point through which the
risk service's banned-term check (absolute terms, off-platform lures) plugs in: a screen is a
function of the product's title and description returning the problems it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from zhibo.catalog.policy import SellingPolicy, default_policy
from zhibo.kit.errors import Conflict
from zhibo.models import Brand, BrandStatus, Category, Product, ProductStatus, Streamer


class ProductNotSellable(Conflict):
    """The product may not be put on this streamer's shelf; ``detail`` says why."""


@dataclass(frozen=True)
class ScreenFinding:
    """A problem a text screen found: ``rule`` names the rule (and its version)."""

    field: str
    rule: str
    reason: str


TextScreen = Callable[[str, str], list[ScreenFinding]]

_screens: dict[str, TextScreen] = {}


def register_text_screen(name: str, screen: TextScreen) -> None:
    """Add (or replace) a screen run on every product put on a shelf."""
    _screens[name] = screen


def unregister_text_screen(name: str) -> None:
    _screens.pop(name, None)


def text_screens() -> dict[str, TextScreen]:
    return dict(_screens)


def screen_texts(title: str, description: str) -> list[ScreenFinding]:
    findings: list[ScreenFinding] = []
    for screen in _screens.values():
        findings.extend(screen(title, description))
    return findings


def check_sellable(
    session: Session,
    streamer: Streamer,
    product: Product,
    policy: SellingPolicy | None = None,
) -> None:
    """Raise ``ProductNotSellable`` naming the first reason the product may not be sold."""
    policy = policy or default_policy()
    if product.status != ProductStatus.ACTIVE:
        raise ProductNotSellable(f"product_id: product {product.id} is {product.status}")
    brand = session.get(Brand, product.brand_id)
    if brand is not None and brand.status == BrandStatus.BLACKLISTED:
        raise ProductNotSellable(f"product_id: brand {brand.name!r} (id {brand.id}) is blacklisted")
    category = session.get(Category, product.category_id)
    if category is not None and not policy.may_sell(streamer.level, category.risk_class):
        allowed = ", ".join(sorted(policy.classes_for(streamer.level))) or "nothing"
        raise ProductNotSellable(
            f"product_id: category {category.path!r} is {category.risk_class}-risk; "
            f"a level {streamer.level} streamer may sell {allowed} (policy {policy.version})"
        )
    findings = screen_texts(product.title, product.description)
    if findings:
        first = findings[0]
        raise ProductNotSellable(
            f"product_id: {first.field} fails {first.rule}: {first.reason}"
            + (f" (and {len(findings) - 1} more)" if len(findings) > 1 else "")
        )
