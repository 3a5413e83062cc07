"""Slot fees (坑位费) through the API and the command line: a brand agrees terms for its own
session-product up front, the payment and the pro-rata refund after the session go through the
ledger, each party sees only its own, and bad input is a 4xx naming the field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from tests import builders as b
from tests.settlement.helpers import confirm, paid_order, shop
from zhibo import ledger
from zhibo.kit.db import unit_of_work
from zhibo.models import LiveSession, Product, Role, ShelfItem, SlotFeeTerms
from zhibo.settlement import cli as settle_cli
from zhibo.settlement.cli import settle_app
from zhibo.settlement.policy import BUILT_IN
from zhibo.settlement.run import run_settlement

NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _world(db: Session) -> dict[str, int]:
    world = shop(db, price_fen=10_000)
    live = world.sessions[0]
    b.shelf_item(db, session_row=live, product_row=world.product)
    other_brand_product = b.product(db)
    b.shelf_item(db, session_row=live, product_row=other_brand_product)
    db.commit()
    return {
        "session": live.id,
        "product": world.product.id,
        "brand": world.product.brand_id,
        "other_product": other_brand_product.id,
        "other_brand": other_brand_product.brand_id,
        "streamer": live.streamer_id,
        "other_streamer": world.sessions[1].streamer_id,
    }


def test_brand_agrees_fee_run_refunds_pro_rata_and_pays_the_streamer(
    client: TestClient, db: Session, engine: Engine
) -> None:
    ids = _world(db)
    brand = b.token(db, Role.BRAND, ids["brand"])
    streamer = b.token(db, Role.STREAMER, ids["streamer"])
    other_streamer = b.token(db, Role.STREAMER, ids["other_streamer"])
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    body = {
        "session_id": ids["session"],
        "product_id": ids["product"],
        "slot_fee_fen": 50_000,
        "sales_target_fen": 40_000,
    }
    response = client.post("/v1/settlement/slot-fees", json=body, headers=brand)
    assert response.status_code == 201, response.text
    agreed = response.json()
    assert agreed["kind"] == "target" and agreed["settled_at"] is None
    # A retry with the same terms is a no-op; other terms are refused.
    again = client.post("/v1/settlement/slot-fees", json=body, headers=brand)
    assert again.status_code == 201 and again.json()["agreed_at"] == agreed["agreed_at"]
    changed = client.post(
        "/v1/settlement/slot-fees", json={**body, "slot_fee_fen": 1}, headers=brand
    )
    assert changed.status_code == 409 and changed.json()["error"] == "SlotFeeAlreadyAgreed"
    # A brand agrees only for its own products (another's looks unknown).
    foreign = client.post(
        "/v1/settlement/slot-fees",
        json={**body, "product_id": ids["other_product"]},
        headers=brand,
    )
    assert foreign.status_code == 422 and "product_id" in foreign.text
    # Streamers may not agree; they read their own sessions' fees.
    assert client.post("/v1/settlement/slot-fees", json=body, headers=streamer).status_code == 403
    mine = client.get("/v1/settlement/slot-fees", headers=streamer).json()["items"]
    assert [row["product_id"] for row in mine] == [ids["product"]]
    assert client.get("/v1/settlement/slot-fees", headers=other_streamer).json()["items"] == []
    path = f"/v1/settlement/slot-fees/{ids['session']}/{ids['product']}"
    assert client.get(path, headers=other_streamer).status_code == 404
    # The payment is in the ledger at once, held until the session's sales are known.
    with unit_of_work(engine) as check_db:
        assert ledger.balance(check_db, "slot_fees_held") == -50_000
    # Too early to settle: the session is live.
    early = client.post(f"{path}/settle", headers=operator)
    assert early.status_code == 409 and early.json()["error"] == "SessionNotEnded"
    with unit_of_work(engine) as work:
        live = work.get(LiveSession, ids["session"])
        goods = work.get(Product, ids["product"])
        assert live is not None and goods is not None
        for _ in range(3):
            confirm(paid_order(work, live, goods, NOV), NOV + timedelta(days=1))
        live.end(NOV + timedelta(hours=3))
    # The run settles the ended session's fee: 30,000 of 40,000 sold, a quarter back.
    report = run_settlement(engine, date(2026, 12, 5), BUILT_IN["reform-monthly-5"])
    assert report.orders_settled == 3
    settled = client.get(path, headers=brand).json()
    assert settled["sales_fen"] == 30_000 and settled["refunded_fen"] == 12_500
    assert settled["streamer_net_fen"] == 50_000 - 12_500 - settled["tax_fen"]
    again_settle = client.post(f"{path}/settle", headers=operator)
    assert again_settle.status_code == 409
    assert again_settle.json()["error"] == "SlotFeeAlreadySettled"
    with unit_of_work(engine) as check_db:
        assert ledger.balance(check_db, "slot_fees_held") == 0
        assert ledger.balance(check_db, f"brand_payable:{ids['brand']}") < -12_500
        entry = ledger.get_entry(check_db, f"slot_fee:{settled['shelf_item_id']}")
        assert "sales 30000" in entry.memo
        report_check = ledger.check(check_db)
        assert report_check.balanced and report_check.problems == []


def test_fixed_fee_settled_by_an_operator_is_kept_whole(
    client: TestClient, db: Session, engine: Engine
) -> None:
    ids = _world(db)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    body = {"session_id": ids["session"], "product_id": ids["product"], "slot_fee_fen": 8_000}
    assert client.post("/v1/settlement/slot-fees", json=body, headers=operator).status_code == 201
    with unit_of_work(engine) as work:
        live = work.get(LiveSession, ids["session"])
        assert live is not None
        live.end(NOV)
    path = f"/v1/settlement/slot-fees/{ids['session']}/{ids['product']}/settle"
    settled = client.post(path, headers=operator).json()
    assert settled["kind"] == "fixed" and settled["sales_fen"] == 0
    assert settled["refunded_fen"] == 0 and settled["tax_fen"] == 1_600  # 20 % withheld
    with unit_of_work(engine) as check_db:
        payable = ledger.balance(check_db, f"commission_payable:streamer:{ids['streamer']}")
        assert payable == -6_400
    # Agreeing after the session ended is refused.
    late = client.post(
        "/v1/settlement/slot-fees",
        json={**body, "product_id": ids["other_product"]},
        headers=operator,
    )
    assert late.status_code == 409 and late.json()["error"] == "SessionAlreadyEnded"


BAD_INPUT = [
    ({"slot_fee_fen": -1}, "slot_fee_fen"),
    ({"sales_target_fen": 0}, "sales_target_fen"),
    ({"sales_target_fen": -5}, "sales_target_fen"),
    ({"slot_fee_fen": "100"}, "slot_fee_fen"),
    ({"session_id": 999_999}, "session_id"),
    ({"product_id": 999_999}, "product_id"),
    ({"unknown": 1}, "unknown"),
]


def test_bad_input_is_refused_naming_the_field(client: TestClient, db: Session) -> None:
    ids = _world(db)
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    body = {"session_id": ids["session"], "product_id": ids["product"], "slot_fee_fen": 100}
    for change, field in BAD_INPUT:
        response = client.post(
            "/v1/settlement/slot-fees", json={**body, **change}, headers=operator
        )
        assert 400 <= response.status_code < 500, (change, response.text)
        assert field in response.text, (change, response.text)
    # Nothing was written.
    assert client.get("/v1/settlement/slot-fees", headers=operator).json()["items"] == []
    with unit_of_work(client.app.state.engine) as check_db:  # type: ignore[attr-defined]
        assert ledger.balances(check_db) == {}


def test_cli_agree_list_settle_and_bad_input(
    engine: Engine, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _world(db)
    monkeypatch.setattr(settle_cli, "ready_engine", lambda: engine)

    def run(*args: str) -> Result:
        return CliRunner().invoke(settle_app, ["slot-fee", *args])

    where = ["--session", str(ids["session"]), "--product", str(ids["product"])]
    bad = run("agree", *where, "--fee", "-1")
    assert bad.exit_code == 2 and "--fee" in bad.stderr
    bad = run("agree", *where, "--fee", "10", "--target", "0")
    assert bad.exit_code == 2 and "--target" in bad.stderr
    unknown = run("agree", "--session", "99999", "--product", "1", "--fee", "1")
    assert unknown.exit_code == 2 and "session_id" in unknown.stderr
    agreed = run("agree", *where, "--fee", "20000", "--target", "10000", "--json")
    assert agreed.exit_code == 0, agreed.stderr
    assert json.loads(agreed.stdout)["kind"] == "target"
    listed = json.loads(run("list", "--json").stdout)
    assert [row["slot_fee_fen"] for row in listed] == [20_000]
    early = run("settle", *where)
    assert early.exit_code == 2 and "SessionNotEnded" in early.stderr
    with unit_of_work(engine) as work:
        live = work.get(LiveSession, ids["session"])
        assert live is not None
        live.end(NOV)
    settled = run("settle", *where, "--json")
    assert settled.exit_code == 0, settled.stderr
    assert json.loads(settled.stdout)["refunded_fen"] == 20_000  # nothing sold: all back
    assert "refunded" in run("list").stdout
    with unit_of_work(engine) as check_db:
        report = ledger.check(check_db)
        assert report.balanced and report.problems == []


def test_ledger_check_names_a_slot_fee_without_its_entries(engine: Engine, db: Session) -> None:
    ids = _world(db)
    item = db.scalar(
        select(ShelfItem).where(
            ShelfItem.session_id == ids["session"], ShelfItem.product_id == ids["product"]
        )
    )
    assert item is not None
    # Terms written behind the ledger's back: no payment entry.
    db.add(SlotFeeTerms(shelf_item_id=item.id, slot_fee_fen=500, agreed_at=NOV))
    db.commit()
    with unit_of_work(engine) as check_db:
        report = ledger.check(check_db)
    assert any(problem.entry_key == f"slot_fee:{item.id}:paid" for problem in report.problems)
