"""A streamer puts products on a shelf; the pool refuses what it may not sell, with the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.catalog.policy import SellingPolicy, default_policy
from zhibo.catalog.selection import (
    ScreenFinding,
    register_text_screen,
    text_screens,
    unregister_text_screen,
)
from zhibo.models import BrandStatus, ProductStatus, Role, ShelfItem
from zhibo.models.category import RiskClass


def _absolute_terms(title: str, description: str) -> list[ScreenFinding]:
    return [
        ScreenFinding(field="title", rule="test-absolute-terms-v1", reason=f"banned term {term!r}")
        for term in ("最佳", "第一")
        if term in title
    ]


@pytest.fixture
def no_screens() -> Iterator[None]:
    """Take out the screens the app installs at start-up (the risk service's), then restore."""
    installed = text_screens()
    for name in installed:
        unregister_text_screen(name)
    yield
    for name, screen in installed.items():
        register_text_screen(name, screen)


@pytest.fixture
def absolute_terms_screen() -> Iterator[None]:
    register_text_screen("test-absolute-terms", _absolute_terms)
    yield
    unregister_text_screen("test-absolute-terms")


def _shelve(client: TestClient, db: Session, level: int, **product: object) -> tuple[int, dict]:
    streamer = b.streamer(db, level=level)
    live = b.live_session(db, room_row=b.room(db, streamer_row=streamer))
    item = b.product(db, **product)
    headers = b.token(db, Role.STREAMER, streamer.id)
    db.commit()
    answer = client.post(
        f"/v1/sessions/{live.id}/shelf", json={"product_id": item.id}, headers=headers
    )
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    ("level", "risk_class", "allowed"),
    [
        (1, RiskClass.LOW, True),
        (1, RiskClass.MEDIUM, False),
        (2, RiskClass.MEDIUM, True),
        (2, RiskClass.HIGH, False),
        (3, RiskClass.HIGH, True),
        (4, RiskClass.RESTRICTED, False),
        (5, RiskClass.RESTRICTED, True),
    ],
)
def test_level_decides_which_risk_classes_a_streamer_may_sell(
    client: TestClient, db: Session, level: int, risk_class: RiskClass, allowed: bool
) -> None:
    category = b.category(db, name=f"c-{risk_class}", risk_class=risk_class)
    status, body = _shelve(client, db, level, category_row=category)
    if allowed:
        assert status == 201, body
    else:
        assert status == 409
        assert body["error"] == "ProductNotSellable"
        assert f"{risk_class}-risk" in body["detail"]
        assert f"level {level}" in body["detail"]
        assert default_policy().version in body["detail"]
        assert db.scalar(select(func.count()).select_from(ShelfItem)) == 0


def test_products_of_blacklisted_brands_are_refused(client: TestClient, db: Session) -> None:
    banned = b.brand(db, name="黑名单品牌", status=BrandStatus.BLACKLISTED)
    status, body = _shelve(client, db, 5, brand_row=banned)
    assert status == 409 and "blacklisted" in body["detail"] and "黑名单品牌" in body["detail"]


def test_delisted_products_are_refused(client: TestClient, db: Session) -> None:
    status, body = _shelve(client, db, 5, status=ProductStatus.DELISTED)
    assert status == 409 and "delisted" in body["detail"]


def test_text_screens_refuse_titles_with_their_reason(
    client: TestClient, db: Session, no_screens: None, absolute_terms_screen: None
) -> None:
    status, body = _shelve(client, db, 5, title="全网第一 最佳面霜")
    assert status == 409
    assert "test-absolute-terms-v1" in body["detail"] and "(and 1 more)" in body["detail"]
    status, body = _shelve(client, db, 5, title="温和保湿面霜")
    assert status == 201, body


def test_without_a_screen_the_same_title_passes(
    client: TestClient, db: Session, no_screens: None
) -> None:
    status, body = _shelve(client, db, 5, title="全网第一 最佳面霜")
    assert status == 201, body


def test_a_policy_must_not_take_rights_away_from_higher_levels() -> None:
    low = frozenset({RiskClass.LOW})
    with pytest.raises(ValueError, match="level 3 may not sell less"):
        SellingPolicy(
            version="bad",
            allowed={
                1: low,
                2: frozenset({RiskClass.LOW, RiskClass.MEDIUM}),
                3: low,
                4: low,
                5: low,
            },
        )
    with pytest.raises(ValueError, match="no entry for levels"):
        SellingPolicy(version="bad", allowed={1: low})
