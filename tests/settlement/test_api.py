"""The settlement API: each streamer, partner and brand sees only its own; operators run,
compare and choose; bad input is a 4xx naming the field, never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import builders as b
from tests.settlement.helpers import confirm, paid_order, shop
from zhibo.models import Role

NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)


@dataclass
class World:
    streamers: list[int]
    agency: int
    other_agency: int
    brand: int
    orders: dict[int, list[int]]


@pytest.fixture
def world(db: Session) -> World:
    mine = shop(db, streamers=2)
    theirs = shop(db, streamers=1)
    orders: dict[int, list[int]] = {}
    for world_shop in (mine, theirs):
        for live in world_shop.sessions:
            for _ in range(2):
                order = paid_order(db, live, world_shop.product, NOV)
                confirm(order, NOV + timedelta(days=2))
                orders.setdefault(live.streamer_id, []).append(order.id)
    db.commit()
    return World(
        [live.streamer_id for live in mine.sessions + theirs.sessions],
        mine.agency.id,
        theirs.agency.id,
        mine.product.brand_id,
        orders,
    )


def _settle(client: TestClient, operator: dict[str, str], as_of: str = "2026-12-05") -> dict:
    response = client.post("/v1/settlement/runs", json={"as_of": as_of}, headers=operator)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_payee_sees_only_its_own(client: TestClient, db: Session, world: World) -> None:
    operator = b.token(db, Role.OPERATOR)
    alice = b.token(db, Role.STREAMER, world.streamers[0])
    agency = b.token(db, Role.PARTNER, world.agency)
    brand = b.token(db, Role.BRAND, world.brand)
    db.commit()
    run = _settle(client, operator)
    assert run["orders_settled"] == 6 and run["policy"]["name"] == "reform-monthly-5"

    mine = client.get("/v1/settlement/commissions", headers=alice).json()["items"]
    assert {row["order_id"] for row in mine} == set(world.orders[world.streamers[0]])
    assert all(row["settled_on"] == "2026-12-05" for row in mine)
    other_order = world.orders[world.streamers[2]][0]
    assert client.get(f"/v1/settlement/commissions/{other_order}", headers=alice).status_code == 404
    partner_rows = client.get("/v1/settlement/commissions", headers=agency).json()["items"]
    assert {row["streamer_id"] for row in partner_rows} == set(world.streamers[:2])
    brand_rows = client.get("/v1/settlement/commissions", headers=brand).json()["items"]
    assert {row["brand_id"] for row in brand_rows} == {world.brand}

    balance = client.get("/v1/settlement/balance", headers=alice).json()
    assert balance["payee_id"] == world.streamers[0] and balance["paid_fen"] > 0
    assert (
        client.get(
            "/v1/settlement/balance", params={"payee_id": world.streamers[2]}, headers=alice
        ).status_code
        == 404
    )
    statements = client.get("/v1/settlement/statements", headers=alice).json()["items"]
    assert len(statements) == 1
    detail = client.get(f"/v1/settlement/statements/{statements[0]['id']}", headers=alice).json()
    assert len(detail["lines"]) == 2 and detail["paid_fen"] == balance["paid_fen"]
    their_statements = client.get(
        "/v1/settlement/statements",
        params={"payee_kind": "partner", "payee_id": world.other_agency},
        headers=operator,
    ).json()["items"]
    assert (
        client.get(
            f"/v1/settlement/statements/{their_statements[0]['id']}", headers=alice
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/v1/settlement/statements/{their_statements[0]['id']}", headers=agency
        ).status_code
        == 404
    )
    assert client.get("/v1/settlement/upcoming", headers=alice).status_code == 200
    assert client.get("/v1/settlement/balance", headers=brand).status_code == 403
    assert client.get("/v1/settlement/brand-balance", headers=brand).json()["payable_fen"] > 0
    assert (
        client.get(
            "/v1/settlement/brand-balance", params={"brand_id": world.brand + 1}, headers=brand
        ).status_code
        == 403
    )


def test_operators_only_run_compare_and_choose(
    client: TestClient, db: Session, world: World
) -> None:
    alice = b.token(db, Role.STREAMER, world.streamers[0])
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    assert (
        client.post("/v1/settlement/runs", json={"as_of": "2026-12-05"}, headers=alice).status_code
        == 403
    )
    assert (
        client.put(
            "/v1/settlement/policy", json={"policy": {"name": "legacy-monthly-20"}}, headers=alice
        ).status_code
        == 403
    )
    chosen = client.put(
        "/v1/settlement/policy",
        json={"policy": {"name": "legacy-monthly-20"}, "reason": "before the reform"},
        headers=operator,
    )
    assert chosen.status_code == 200 and chosen.json()["name"] == "legacy-monthly-20"
    active = client.get("/v1/settlement/policy", headers=alice).json()
    assert active["active"]["name"] == "legacy-monthly-20" and len(active["history"]) == 1
    compared = client.post(
        "/v1/settlement/compare",
        json={"policies": [{"name": "legacy-monthly-20"}, {"name": "reform-monthly-5"}]},
        headers=operator,
    )
    assert compared.status_code == 200, compared.text
    difference = compared.json()["difference_vs_baseline"]["reform-monthly-5"]
    assert difference["mean_days_to_cash"] == -15.0
    assert client.get("/v1/settlement/policies", headers=alice).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/v1/settlement/runs", {"as_of": "2026-13-45"}, "as_of"),
        ("post", "/v1/settlement/runs", {"as_of": "2026-12-05", "extra": 1}, "extra"),
        ("post", "/v1/settlement/runs", {"as_of": "2026-12-05", "policy": "nope"}, "policy"),
        ("post", "/v1/settlement/compare", {"policies": []}, "policies"),
        (
            "post",
            "/v1/settlement/compare",
            {"policies": [{"document": {"name": "x", "schedule": {"kind": "monthly", "day": 40}}}]},
            "day",
        ),
        (
            "post",
            "/v1/settlement/compare",
            {
                "policies": [
                    {
                        "document": {
                            "name": "x",
                            "schedule": {"kind": "monthly", "day": 5},
                            "reserve": {"hold_percent": 101, "hold_days": 1},
                        }
                    }
                ]
            },
            "hold_percent",
        ),
        (
            "post",
            "/v1/settlement/compare",
            {
                "policies": [
                    {
                        "document": {
                            "name": "x",
                            "schedule": {"kind": "after", "plus_days": -1},
                        }
                    }
                ]
            },
            "plus_days",
        ),
        ("put", "/v1/settlement/policy", {"policy": {}}, "policy"),
        ("put", "/v1/settlement/policy", {"policy": {"name": "x", "document": {}}}, "policy"),
        (
            "put",
            "/v1/settlement/policy",
            {
                "policy": {
                    "document": {
                        "name": "x",
                        "schedule": {"kind": "monthly", "day": 5},
                        "surprise": True,
                    }
                }
            },
            "surprise",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    client: TestClient,
    db: Session,
    method: str,
    path: str,
    body: dict,
    field: str,
) -> None:
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    response = getattr(client, method)(path, json=body, headers=operator)
    assert 400 <= response.status_code < 500, response.text
    assert field in response.text


def test_a_run_before_the_last_one_is_refused(client: TestClient, db: Session) -> None:
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    _settle(client, operator, "2026-12-05")
    response = client.post("/v1/settlement/runs", json={"as_of": "2026-12-01"}, headers=operator)
    assert response.status_code == 422 and response.json()["error"] == "RunBeforeLastRun"
    response = client.post(
        "/v1/settlement/runs",
        json={"as_of": "2026-12-05", "policy": "legacy-monthly-20"},
        headers=operator,
    )
    assert response.status_code == 409 and response.json()["error"] == "RunPolicyMismatch"
