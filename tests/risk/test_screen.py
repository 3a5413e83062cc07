"""The product pool refuses titles failing the banned-term and lure rules, wired at start-up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from zhibo.catalog.selection import text_screens
from zhibo.models import Role
from zhibo.risk.rules import default_rules, parse_rules
from zhibo.risk.screens import SCREEN_NAME, install_text_screens, product_screen


def _shelve(client: TestClient, db: Session, **product: object) -> tuple[int, dict]:
    streamer = b.streamer(db, level=5)
    live = b.live_session(db, room_row=b.room(db, streamer_row=streamer))
    item = b.product(db, **product)
    headers = b.token(db, Role.STREAMER, streamer.id)
    db.commit()
    answer = client.post(
        f"/v1/sessions/{live.id}/shelf", json={"product_id": item.id}, headers=headers
    )
    return answer.status_code, answer.json()


@pytest.fixture
def restore_screen() -> Iterator[None]:
    yield
    install_text_screens()


def test_the_app_installs_the_risk_screen(client: TestClient) -> None:
    assert SCREEN_NAME in text_screens()


@pytest.mark.parametrize(
    ("title", "rule"),
    [
        ("國家級 面霜", "false_advertising.absolute_terms@1"),
        ("面霜 最 佳 品质", "false_advertising.absolute_terms@1"),
        ("减肥茶 30包", "false_advertising.health_claims@1"),
        ("面霜 加V: abc123", "off_platform.contact@1"),
    ],
)
def test_banned_titles_are_refused_with_the_rule_and_span(
    client: TestClient, db: Session, title: str, rule: str
) -> None:
    status, body = _shelve(client, db, title=title)
    assert status == 409, body
    assert body["error"] == "ProductNotSellable"
    assert f"title fails {rule}" in body["detail"]


def test_clean_and_lawful_titles_pass(client: TestClient, db: Session) -> None:
    for title in ("温和保湿面霜 50ml", "最近很火的面霜 第一次用"):
        status, body = _shelve(client, db, title=title)
        assert status == 201, body


def test_a_description_is_screened_too() -> None:
    findings = product_screen()("温和面霜", "更多优惠请联系微信abc12345。")
    assert [(f.field, f.rule) for f in findings] == [("description", "off_platform.contact@1")]
    assert "'微信abc12345'" in findings[0].reason


def test_shadow_rules_never_refuse(client: TestClient, db: Session, restore_screen: None) -> None:
    document = default_rules().model_dump(mode="json")
    for rule in document["rules"]:
        rule["state"] = "shadow"
    install_text_screens(parse_rules(document))
    status, body = _shelve(client, db, title="全网最低价 最佳面霜")
    assert status == 201, body


def test_the_screen_is_a_pure_function_of_the_texts() -> None:
    screen = product_screen()
    first = screen("扫码领券 顶级面霜", "")
    assert first == screen("扫码领券 顶级面霜", "")
    assert [f.rule for f in first] == ["false_advertising.absolute_terms@1"]  # QR: shadow


def test_check_text_endpoint(client: TestClient, db: Session) -> None:
    headers = b.token(db, Role.OPERATOR)
    db.commit()
    answer = client.post(
        "/v1/risk/check-text", json={"text": "国家 级好物 vx 138 1234 5678"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert [(m["term"], m["start"], m["end"], m["rule_id"]) for m in answer.json()] == [
        ("国家级", 0, 4, "false_advertising.absolute_terms"),
        ("VX", 7, 23, "off_platform.contact"),
    ]
    assert client.post("/v1/risk/check-text", json={"text": "x"}).status_code == 401
