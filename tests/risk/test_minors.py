"""Minors and tipping: tips by minors (by flag or birth date at the time of the tip) and by
accounts without real-name verification; minors' purchases; adults over the caps."""

from __future__ import annotations

from datetime import date

import polars as pl

from tests.risk.detecting import detect, events, orders
from zhibo.risk.detectors import ScanInputs

# T0 is 2023-11-14 22:13:20 UTC (2023-11-15 06:13 in Shanghai).
VIEWERS = pl.DataFrame(
    {
        "user_id": [1, 2, 3, 4, 5],
        "is_minor": [False, True, None, False, False],
        "birth_date": [date(1990, 1, 1), None, date(2005, 11, 20), None, date(2005, 11, 1)],
        "real_name_verified": [True, True, True, False, True],
    }
)


def _tips(rows: list[tuple[int, float, int]], session: int = 9) -> pl.DataFrame:
    return events(
        [
            {
                "session_id": session,
                "user_id": u,
                "t": t,
                "type": "gift",
                "amount_fen": a,
                "event_id": f"g{i}",
            }
            for i, (u, t, a) in enumerate(rows)
        ]
    )


def test_tips_by_minors_and_unverified_accounts_are_reported_per_session() -> None:
    # 1: adult; 2: flagged minor; 3: turns 18 on 2023-11-20 (a minor at T0); 4: unverified;
    # 5: turned 18 on 2023-11-01 (an adult at T0).
    data = ScanInputs(
        events=_tips([(1, 0, 100), (2, 10, 990), (3, 20, 100), (4, 30, 200), (5, 40, 12_000)]),
        viewers=VIEWERS,
    )
    [finding] = detect("minors.tipping", data)
    assert finding.entity_type == "session" and finding.entity_id == 9
    assert finding.user_ids == [2, 3, 4]
    reasons = {t["user_id"]: t["reason"] for t in finding.evidence["tippers"]}
    assert reasons == {2: "minor", 3: "minor", 4: "not_real_name_verified"}
    assert [t["event_id"] for t in finding.evidence["tips"]] == ["g1", "g2", "g3"]
    # Requiring real names can be turned off; a minor is reported regardless.
    [only_minors] = detect("minors.tipping", data, require_real_name=False)
    assert only_minors.user_ids == [2, 3]


def test_adults_tipping_within_the_caps_are_not_reported() -> None:
    data = ScanInputs(events=_tips([(1, 0, 100), (5, 5, 50_000)]), viewers=VIEWERS)
    assert detect("minors.tipping", data) == []
    assert detect("tipping.caps", data) == []


def test_tipping_caps_per_tip_per_local_day_and_per_month() -> None:
    tips = _tips(
        [
            (1, 0, 150_000),  # above the per-tip cap of 500 yuan
            # 11 tips of 500 yuan in one Shanghai day: 5,500 > 5,000 yuan per day.
            *[(5, 86_400 + 600 * k, 50_000) for k in range(11)],
        ]
    )
    found = {f.entity_id: f for f in detect("tipping.caps", ScanInputs(events=tips))}
    assert set(found) == {1, 5}
    assert [b["cap"] for b in found[1].evidence["breaches"]] == ["per_item"]
    assert [(b["cap"], b["amount_fen"]) for b in found[5].evidence["breaches"]] == [
        ("per_day", 550_000)
    ]
    # The same tips split over two Shanghai days (16:00 UTC is local midnight) stay under.
    midnight = 86_400 - (22 * 3600 + 13 * 60 + 20) + 16 * 3600  # 2023-11-15 16:00 UTC
    split = _tips([(5, midnight - 3000 + 600 * k, 50_000) for k in range(11)])
    assert detect("tipping.caps", ScanInputs(events=split)) == []
    # Per month: a lower cap set by the rule.
    monthly = _tips([(1, 86_400 * d, 40_000) for d in range(5)])
    [finding] = detect("tipping.caps", ScanInputs(events=monthly), per_month_fen=150_000)
    assert {b["cap"] for b in finding.evidence["breaches"]} == {"per_month"}


def test_minors_purchases_beyond_limits() -> None:
    rows = [
        {"order_id": 1, "seller_id": 1, "buyer_id": 2, "t": 0, "amount_fen": 80_000},
        {"order_id": 2, "seller_id": 1, "buyer_id": 3, "t": 0, "amount_fen": 3_000},
        {"order_id": 3, "seller_id": 1, "buyer_id": 1, "t": 0, "amount_fen": 900_000},
    ]
    [finding] = detect("minors.purchase_limits", ScanInputs(orders=orders(rows), viewers=VIEWERS))
    assert finding.entity_id == 2
    assert finding.evidence["breaches"][0]["cap"] == "per_item"
