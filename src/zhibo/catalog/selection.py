"""Whether a streamer may put a product on a live shelf, and why not.

The pool refuses, with the reason: anything from a level that may shelve nothing (level 0,
rights revoked), products that are not active, products of blacklisted brands, products in a
category whose risk class the streamer's level may not sell (``policy``), products whose texts
fail a *text screen*, and any product beyond the level's shelf size (``check_shelf_room``).
Text screens are the extension point through which the risk service's banned-term check
(absolute terms, off-platform lures) plugs in: a screen is a function of the product's title
and description returning the problems it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhibo.catalog.policy import SellingPolicy, default_policy
from zhibo.kit.errors import Conflict
from zhibo.models import (
    Brand,
    BrandStatus,
    Category,
    LiveSession,
    Product,
    ProductStatus,
    ShelfItem,
    Streamer,
)


class ProductNotSellable(Conflict):
    """The product may not be put on this streamer's shelf; ``detail`` says why."""


class ShelfFull(ProductNotSellable):
    """The session's shelf already holds as many products as the streamer's level may shelve
    (the grading model's ``shelf_size``); level 0 may shelve nothing."""


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
    if policy.shelf_size_for(streamer.level) == 0:
        raise ShelfFull(
            f"product_id: a level {streamer.level} streamer may shelve nothing "
            f"(shelf size 0{', selling rights revoked' if streamer.level == 0 else ''}; "
            f"model {policy.version})"
        )
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


def check_shelf_room(
    session: Session,
    streamer: Streamer,
    session_id: int,
    policy: SellingPolicy | None = None,
) -> None:
    """Raise ``ShelfFull`` when session ``session_id``'s shelf already holds the most products
    the streamer's level may shelve. Locks the session row (PostgreSQL), so two concurrent
    additions cannot both take the last place."""
    policy = policy or default_policy()
    limit = policy.shelf_size_for(streamer.level)
    if limit is None:
        return
    session.execute(select(LiveSession.id).where(LiveSession.id == session_id).with_for_update())
    held = session.scalar(
        select(func.count()).select_from(ShelfItem).where(ShelfItem.session_id == session_id)
    )
    if (held or 0) >= limit:
        raise ShelfFull(
            f"product_id: session {session_id}'s shelf holds {held} products, the most a "
            f"level {streamer.level} streamer may shelve is {limit} (model {policy.version})"
        )
