"""Order brushing beyond the concentration rule: buyer rings (connected components of shared
devices, addresses and payment accounts), refunds right after the stream, self-purchases."""

from __future__ import annotations

from typing import Any

import polars as pl

from tests.risk.detecting import detect, orders
from zhibo.risk.detectors import ScanInputs


def _ring_orders(links: dict[int, dict[str, str]], per_buyer: int, seller: int = 1) -> list[Any]:
    rows = []
    order_id = 0
    for buyer, identifiers in links.items():
        for k in range(per_buyer):
            order_id += 1
            rows.append(
                {
                    "order_id": seller * 1000 + order_id,
                    "seller_id": seller,
                    "buyer_id": buyer,
                    "t": 600 * k + buyer,
                    **identifiers,
                }
            )
    return rows


def _ordinary(n: int, seller: int = 1, first_order: int = 5000) -> list[dict[str, Any]]:
    return [
        {
            "order_id": first_order + i,
            "seller_id": seller,
            "buyer_id": 100 + i,
            "t": 60 * i,
            "device_id": f"own-{i}",
            "address_hash": f"home-{i}",
        }
        for i in range(n)
    ]


def test_accounts_chained_through_different_identifiers_are_one_ring() -> None:
    # A and B share a phone, B and C an address, C and D a payment account: one ring, although
    # no identifier is shared by all (the evasion of using a different link each time).
    links = {
        1: {"device_id": "phone-x", "address_hash": "a1"},
        2: {"device_id": "phone-x", "address_hash": "a-shared"},
        3: {"device_id": "d3", "address_hash": "a-shared", "payment_account": "pay-9"},
        4: {"device_id": "d4", "address_hash": "a4", "payment_account": "pay-9"},
    }
    data = ScanInputs(orders=orders(_ring_orders(links, 3) + _ordinary(30)))
    [finding] = detect("order_brushing.buyer_rings", data)
    assert finding.entity_type == "seller" and finding.entity_id == 1
    assert finding.user_ids == [1, 2, 3, 4]
    assert finding.evidence["ring_orders"] == 12
    shared = {
        (s["kind"], s["value"]): s["accounts"] for s in finding.evidence["shared_identifiers"]
    }
    assert shared == {
        ("device_id", "phone-x"): [1, 2],
        ("address_hash", "a-shared"): [2, 3],
        ("payment_account", "pay-9"): [3, 4],
    }
    assert {o["buyer_id"] for o in finding.evidence["orders"]} == {1, 2, 3, 4}
    # Without the payment link, D is on its own and the ring is A, B, C.
    [without] = detect(
        "order_brushing.buyer_rings", data, identifiers=["device_id", "address_hash"]
    )
    assert without.user_ids == [1, 2, 3]


def test_a_household_a_parcel_locker_and_small_rings_are_not_rings() -> None:
    household = {
        1: {"device_id": "family-pad", "address_hash": "home"},
        2: {"device_id": "family-pad", "address_hash": "home"},
    }
    # 25 strangers collecting at one parcel locker: the address links nobody.
    locker = [
        {
            "order_id": 9000 + i,
            "seller_id": 1,
            "buyer_id": 200 + i,
            "t": 30 * i,
            "device_id": f"own-{i}",
            "address_hash": "locker-17",
        }
        for i in range(25)
        for _ in range(1)
    ]
    locker += [{**row, "order_id": row["order_id"] + 100, "t": row["t"] + 5} for row in locker]
    data = ScanInputs(orders=orders(_ring_orders(household, 5) + locker + _ordinary(20)))
    assert detect("order_brushing.buyer_rings", data) == []
    # Three linked accounts with too few orders are not reported either (min_orders 9).
    trio = {b: {"address_hash": "same"} for b in (1, 2, 3)}
    assert (
        detect("order_brushing.buyer_rings", ScanInputs(orders=orders(_ring_orders(trio, 2)))) == []
    )
    assert (
        len(detect("order_brushing.buyer_rings", ScanInputs(orders=orders(_ring_orders(trio, 3)))))
        == 1
    )


def test_a_ring_buying_from_two_sellers_is_reported_at_each() -> None:
    trio = {b: {"device_id": "farm-phone"} for b in (1, 2, 3)}
    rows = _ring_orders(trio, 3, seller=1) + _ring_orders(trio, 3, seller=2)
    found = detect("order_brushing.buyer_rings", ScanInputs(orders=orders(rows)))
    assert [(f.entity_id, f.user_ids) for f in found] == [(1, [1, 2, 3]), (2, [1, 2, 3])]


def _stream(fast: list[tuple[int, int]], slow: int = 0) -> list[dict[str, Any]]:
    """Orders of one stream (session 7, ends at t=7200) of seller 1: (buyer, refunded after
    the end, in seconds) for the fast refunds, plus ``slow`` ordinary orders refunded days later."""
    rows: list[dict[str, Any]] = []
    for i, (buyer, after) in enumerate(fast):
        rows.append(
            {
                "order_id": i + 1,
                "seller_id": 1,
                "buyer_id": buyer,
                "t": 100 + i,
                "session_id": 7,
                "refunded": 7200 + after,
            }
        )
    for i in range(slow):
        rows.append(
            {
                "order_id": 1000 + i,
                "seller_id": 1,
                "buyer_id": 500 + i,
                "t": 200 + i,
                "session_id": 7,
                "refunded": None if i % 5 else 7200 + 3 * 86400,
            }
        )
    return rows


def test_orders_refunded_right_after_the_stream_by_few_buyers() -> None:
    fast = [(b, 900 + 60 * k) for b in (1, 2, 3) for k in range(3)]
    sessions = pl.DataFrame({"session_id": [7], "ended_t": [(1_700_000_000 + 7200) * 1_000_000]})
    data = ScanInputs(orders=orders(_stream(fast, slow=40)), sessions=sessions)
    [finding] = detect("order_brushing.refund_after_stream", data)
    assert finding.user_ids == [1, 2, 3]
    assert finding.evidence["fast_refunds"] == 9 and finding.evidence["refunding_buyers"] == 3
    assert finding.evidence["stream_end"] == "2023-11-15T00:13:20+00:00"
    assert finding.evidence["stream_orders"] == 49


def test_spread_refunds_late_refunds_and_refunds_during_the_stream_are_not_reported() -> None:
    sessions = pl.DataFrame({"session_id": [7], "ended_t": [(1_700_000_000 + 7200) * 1_000_000]})
    # Nine different buyers each cancelling once right after the stream: ordinary.
    spread = [(b, 600) for b in range(1, 10)]
    data = ScanInputs(orders=orders(_stream(spread)), sessions=sessions)
    assert detect("order_brushing.refund_after_stream", data) == []
    # The same three buyers, but refunding a day later (not "right after").
    late = [(b, 86400 + k) for b in (1, 2, 3) for k in range(3)]
    assert (
        detect(
            "order_brushing.refund_after_stream",
            ScanInputs(orders=orders(_stream(late)), sessions=sessions),
        )
        == []
    )
    # Refunded before the stream ended.
    during = [(b, -3000 + k) for b in (1, 2, 3) for k in range(3)]
    assert (
        detect(
            "order_brushing.refund_after_stream",
            ScanInputs(orders=orders(_stream(during)), sessions=sessions),
        )
        == []
    )


def test_without_session_ids_streams_are_told_apart_by_gaps() -> None:
    rows = [
        {
            "order_id": i,
            "seller_id": 1,
            "buyer_id": 1 + i % 3,
            "t": 60 * i,
            "refunded": 60 * 8 + 1800,
        }
        for i in range(9)
    ]
    # An earlier stream the day before, with ordinary orders.
    rows += [
        {"order_id": 100 + i, "seller_id": 1, "buyer_id": 50 + i, "t": -86400 + 60 * i}
        for i in range(5)
    ]
    [finding] = detect("order_brushing.refund_after_stream", ScanInputs(orders=orders(rows)))
    assert finding.evidence["stream_orders"] == 9 and finding.user_ids == [1, 2, 3]


def test_self_purchases_by_the_streamers_own_accounts_and_devices() -> None:
    rows = [
        {"order_id": 1, "seller_id": 1, "buyer_id": 77, "t": 0, "device_id": "d-a"},
        {"order_id": 2, "seller_id": 1, "buyer_id": 78, "t": 10, "device_id": "studio-phone"},
        {
            "order_id": 3,
            "seller_id": 1,
            "buyer_id": 79,
            "t": 20,
            "device_id": "d-b",
            "address_hash": "x",
        },
        # The streamer's phone buying from another seller is not a self-purchase.
        {"order_id": 4, "seller_id": 2, "buyer_id": 78, "t": 30, "device_id": "studio-phone"},
    ]
    links = pl.DataFrame(
        {
            "seller_id": [1, 1, 2],
            "user_id": [77, None, None],
            "device_id": [None, "studio-phone", "other"],
        },
        schema_overrides={"user_id": pl.Int64},
    )
    [finding] = detect(
        "order_brushing.self_purchase", ScanInputs(orders=orders(rows), seller_links=links)
    )
    assert finding.entity_id == 1 and finding.user_ids == [77, 78]
    assert [(o["order_id"], o["linked_by"]) for o in finding.evidence["orders"]] == [
        (1, ["user_id"]),
        (2, ["device_id"]),
    ]
