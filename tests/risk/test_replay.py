"""Replaying findings: the same rule version over the evidence a finding carries reproduces it;
tampered evidence is reported with the difference; an unknown rule version is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import builders as b
from tests.risk.detecting import detect, events, orders, us
from zhibo.kit.errors import NotFound
from zhibo.models import Role
from zhibo.models.risk import RiskFinding
from zhibo.risk.brushing import concentration_findings
from zhibo.risk.cli import risk_app
from zhibo.risk.detectors import ScanInputs
from zhibo.risk.replay import UnknownRuleVersion, replay, replay_stored
from zhibo.risk.rules import default_rules
from zhibo.risk.scan import text_findings
from zhibo.risk.schemas import Finding
from zhibo.risk.screens import check_text


def _tampered(finding: Finding, **evidence: Any) -> Finding:
    return finding.model_copy(update={"evidence": {**finding.evidence, **evidence}})


def _brushing() -> Finding:
    rows = [{"order_id": i, "seller_id": 10, "buyer_id": 7, "t": 300 * i} for i in range(1, 5)] + [
        {"order_id": 5, "seller_id": 10, "buyer_id": 8, "t": 1500}
    ]
    rule = default_rules().get("order_brushing.concentration")
    table = orders(rows).select("order_id", "seller_id", "buyer_id", "t").to_arrow()
    [finding] = concentration_findings(table, rule)
    return finding


def test_a_brushing_finding_replays_and_a_removed_order_is_caught() -> None:
    finding = _brushing()
    result = replay(finding)
    assert result.status == "reproduced", result.differences
    assert result.rule_source in ("configured", "packaged")
    # Through JSON (as findings.json holds it) it replays just the same.
    assert replay(json.loads(finding.model_dump_json())).status == "reproduced"
    orders_left = finding.evidence["orders"][1:]
    broken = replay(_tampered(finding, orders=orders_left))
    assert broken.status == "not_reproduced"
    assert broken.differences


def test_a_text_finding_replays_and_a_changed_text_is_caught() -> None:
    comments = events(
        [
            {
                "session_id": 3,
                "user_id": 1,
                "t": 0,
                "type": "comment",
                "text": "全网最低价，加微信 abc12345",
            }
        ]
    )
    findings = text_findings(comments, default_rules())
    assert {f.detector for f in findings} >= {"banned_terms", "off_platform_lure"}
    for finding in findings:
        assert replay(finding).status == "reproduced", finding.evidence
    term = next(f for f in findings if f.detector == "banned_terms")
    changed = replay(_tampered(term, text="价格实惠，欢迎下单"))
    assert changed.status == "not_reproduced"
    assert "not found in the text" in changed.differences[0]


def _ring() -> Finding:
    links = {
        1: {"device_id": "phone-x", "address_hash": "a1"},
        2: {"device_id": "phone-x", "address_hash": "a-shared"},
        3: {"device_id": "d3", "address_hash": "a-shared", "payment_account": "pay-9"},
        4: {"device_id": "d4", "address_hash": "a4", "payment_account": "pay-9"},
    }
    rows = [
        {"order_id": 100 + 10 * b + k, "seller_id": 1, "buyer_id": b, "t": 600 * k + b, **ids}
        for b, ids in links.items()
        for k in range(3)
    ] + [
        {"order_id": 5000 + i, "seller_id": 1, "buyer_id": 100 + i, "t": 60 * i,
         "device_id": f"own-{i}", "address_hash": f"home-{i}"}
        for i in range(30)
    ]  # fmt: skip
    [finding] = detect("order_brushing.buyer_rings", ScanInputs(orders=orders(rows)))
    return finding


def test_a_buyer_ring_replays_capped_evidence_is_partial_and_a_broken_link_is_caught() -> None:
    finding = _ring()
    assert replay(finding).status == "reproduced"
    capped = _tampered(finding, ring_orders=500, truncated=True)
    assert replay(capped).status == "partial"
    # Fewer orders than the finding counts, without a cap: rows were removed.
    removed = replay(_tampered(finding, orders=finding.evidence["orders"][1:]))
    assert removed.status == "not_reproduced"
    assert "holds 11 orders, the finding counts 12" in removed.differences[0]
    # Buyer 4 no longer shares a payment account with buyer 3: the ring shrinks.
    rows = [
        {**row, "payment_account": None} if row["buyer_id"] == 4 else row
        for row in finding.evidence["orders"]
    ]
    broken = replay(_tampered(finding, orders=rows))
    assert broken.status == "not_reproduced"
    assert "missing ['4']" in broken.differences[0]


def test_fast_refunds_replay() -> None:
    rows = [
        {"order_id": i + 1, "seller_id": 1, "buyer_id": b, "t": 100 + i, "session_id": 7,
         "refunded": 7200 + 900 + 60 * k}
        for i, (b, k) in enumerate((b, k) for b in (1, 2, 3) for k in range(3))
    ]  # fmt: skip
    sessions = pl.DataFrame({"session_id": [7], "ended_t": [(1_700_000_000 + 7200) * 1_000_000]})
    data = ScanInputs(orders=orders(rows), sessions=sessions)
    [finding] = detect("order_brushing.refund_after_stream", data)
    assert replay(finding).status == "reproduced"
    late = replay(_tampered(finding, stream_end="2023-11-14T20:00:00+00:00"))
    assert late.status == "not_reproduced"


def test_duplicate_comments_replay_and_a_reworded_comment_is_caught() -> None:
    hired = "这款真的太好用了，回购三次了，姐妹们冲！"
    variants = [
        hired,
        hired + "👍",
        hired.replace("！", "!!"),
        "这款真的太好用了 回购三次了 姐妹们冲～",
    ]
    rows = [
        {"session_id": 1, "user_id": 10 + i, "t": 600 + 60 * i, "type": "comment", "text": text,
         "event_id": f"e{i}"}
        for i, text in enumerate(variants * 2)
    ]  # fmt: skip
    findings = detect("fake_engagement.duplicate_comments", ScanInputs(events=events(rows)))
    [finding] = findings
    assert replay(finding).status == "reproduced"
    posts = [
        {**post, "text": "今天天气不错，主播辛苦了啦"} if post["user_id"] == 10 else post
        for post in finding.evidence["posts"]
    ]
    changed = replay(_tampered(finding, posts=posts))
    assert changed.status == "not_reproduced"
    assert "10" in changed.differences[0]


def test_minor_tipping_replays() -> None:
    viewers = pl.DataFrame(
        {
            "user_id": [1, 2, 4],
            "is_minor": [False, True, False],
            "real_name_verified": [True, True, False],
        }
    )
    tips = events(
        [
            {"session_id": 9, "user_id": u, "t": t, "type": "gift", "amount_fen": 100,
             "event_id": f"g{u}"}
            for u, t in ((1, 0), (2, 10), (4, 30))
        ]
    )  # fmt: skip
    [finding] = detect("minors.tipping", ScanInputs(events=tips, viewers=viewers))
    assert finding.user_ids == [2, 4]
    assert replay(finding).status == "reproduced"
    fewer = replay(_tampered(finding, tips=finding.evidence["tips"][:1]))
    assert fewer.status == "not_reproduced"


def test_self_purchases_replay() -> None:
    rows = [
        {"order_id": 1, "seller_id": 1, "buyer_id": 77, "t": 0, "device_id": "d-a"},
        {"order_id": 2, "seller_id": 1, "buyer_id": 78, "t": 10, "device_id": "studio-phone"},
        {"order_id": 3, "seller_id": 1, "buyer_id": 79, "t": 20, "device_id": "d-b"},
    ]
    links = pl.DataFrame(
        {"seller_id": [1, 1], "user_id": [77, None], "device_id": [None, "studio-phone"]},
        schema_overrides={"user_id": pl.Int64},
    )
    data = ScanInputs(orders=orders(rows), seller_links=links)
    [finding] = detect("order_brushing.self_purchase", data)
    assert replay(finding).status == "reproduced"
    one = _tampered(finding, orders=finding.evidence["orders"][:1], self_purchases=1)
    result = replay(one)
    assert result.status == "not_reproduced"  # below the rule's minimum, or buyer 78 missing


def _prices(rows: list[tuple[float, int, int | None]]) -> ScanInputs:
    """Product 4: (day after T0, price_fen, reference_price_fen)."""
    return ScanInputs(
        prices=pl.DataFrame(
            {
                "product_id": [4] * len(rows),
                "t": [us(day * 86400) for day, _, _ in rows],
                "price_fen": [price for _, price, _ in rows],
                "reference_price_fen": [reference for _, _, reference in rows],
            },
            schema_overrides={"reference_price_fen": pl.Int64},
        )
    )


def test_price_fraud_findings_replay_and_a_changed_price_is_caught() -> None:
    week = _prices([(0, 12_900, None), (8, 9_900, None), (11, 8_900, 12_900)])
    [reference] = detect("price_fraud.reference_price", week)
    assert replay(reference).status == "reproduced"
    charged = [{**item, "price_fen": 12_900} for item in reference.evidence["prices_charged"]]
    lawful = replay(_tampered(reference, prices_charged=charged))
    assert lawful.status == "not_reproduced"
    assert "finds nothing" in lawful.differences[0]
    [never] = detect("price_fraud.reference_price", _prices([(0, 5_000, 9_000)]))
    assert replay(never).status == "reproduced"
    raised = _prices([(0, 10_000, None), (1, 16_000, None), (10, 9_800, 16_000)])
    [raise_then_discount] = detect("price_fraud.raise_then_discount", raised)
    assert replay(raise_then_discount).status == "reproduced"
    small = replay(_tampered(raise_then_discount, raised_fen=11_000, reference_price_fen=11_000))
    assert small.status == "not_reproduced"


def test_a_batch_like_storm_replays_from_its_likes_and_fewer_likes_are_caught() -> None:
    from tests.risk.test_engagement import _likers, _storm

    data = ScanInputs(events=events(_likers(1, 3000, 1) + _storm(1, 3, 3600, 8000)))
    [finding] = detect("fake_engagement.like_storm", data)
    result = replay(finding)
    assert result.status == "reproduced", result.differences
    assert json.loads(finding.model_dump_json())["evidence"]["likes"]
    top = finding.user_ids[0]
    fewer = [
        {**row, "likes": row["likes"] // 10} if row["user_id"] == top else row
        for row in finding.evidence["likes"]
    ]
    changed = replay(_tampered(finding, likes=fewer))
    assert changed.status == "not_reproduced"
    assert changed.differences
    # The old shape (feature values only) is still re-checked against the thresholds.
    old = {k: v for k, v in finding.evidence.items() if k not in ("likes", "likes_rest")}
    assert replay(finding.model_copy(update={"evidence": old})).status == "partial"


def test_a_capped_like_storm_is_partial() -> None:
    from tests.risk.test_engagement import _likers, _storm

    data = ScanInputs(events=events(_likers(1, 3000, 1) + _storm(1, 3, 3600, 8000)))
    [finding] = detect("fake_engagement.like_storm", data)
    # As the detector caps them: the most likes kept, the rest summed per half-step.
    rows = finding.evidence["likes"]
    kept, dropped = rows[:20], rows[20:]
    rest: dict[int, int] = {}
    for row in dropped:
        rest[row["step"]] = rest.get(row["step"], 0) + row["likes"]
    capped = _tampered(
        finding,
        likes=kept,
        likes_rest=[{"step": k, "likes": v, "accounts": 1} for k, v in rest.items()],
        truncated=True,
    )
    assert replay(capped).status == "partial", replay(capped).differences


def test_tipping_caps_replay_and_a_lowered_tip_is_caught() -> None:
    tips = events(
        [
            {"session_id": 9, "user_id": 5, "t": 86_400 + 600 * k, "type": "gift",
             "amount_fen": 50_000, "event_id": f"g{k}"}
            for k in range(11)
        ]
    )  # fmt: skip
    [finding] = detect("tipping.caps", ScanInputs(events=tips))
    assert finding.evidence["tips_count"] == 11 and not finding.evidence["truncated"]
    assert replay(finding).status == "reproduced"
    assert replay(json.loads(finding.model_dump_json())).status == "reproduced"
    lowered = [{**row, "amount_fen": 40_000} if i == 0 else row
               for i, row in enumerate(finding.evidence["tips"])]  # fmt: skip
    changed = replay(_tampered(finding, tips=lowered))
    assert changed.status == "not_reproduced"
    assert "breaches" in changed.differences[0] and "540000" in changed.differences[0]
    removed = replay(_tampered(finding, tips=finding.evidence["tips"][1:]))
    assert "holds 10 tips, the finding counts 11" in removed.differences[0]
    # 250 tips of 30 yuan in one day: 200 kept, marked truncated, and the replay is partial.
    many = events(
        [{"user_id": 6, "t": 60 * k, "type": "gift", "amount_fen": 3_000} for k in range(250)]
    )
    [capped] = detect("tipping.caps", ScanInputs(events=many))
    assert len(capped.evidence["tips"]) == 200 and capped.evidence["truncated"]
    assert replay(capped).status == "partial"
    # A finding recorded before the tips were kept (totals only) cannot be replayed.
    old = {k: v for k, v in finding.evidence.items() if k not in ("tips", "tips_count")}
    result = replay(finding.model_copy(update={"evidence": old}))
    assert result.status == "not_replayable" and "no tips" in result.note


def test_minor_purchases_replay_and_a_changed_amount_is_caught() -> None:
    viewers = pl.DataFrame({"user_id": [2, 3], "is_minor": [True, False]})
    rows = [
        {"order_id": 1, "seller_id": 1, "buyer_id": 2, "t": 0, "amount_fen": 80_000},
        {"order_id": 2, "seller_id": 1, "buyer_id": 2, "t": 60, "amount_fen": 30_000},
        {"order_id": 3, "seller_id": 1, "buyer_id": 3, "t": 0, "amount_fen": 900_000},
    ]
    [finding] = detect("minors.purchase_limits", ScanInputs(orders=orders(rows), viewers=viewers))
    assert [row["order_id"] for row in finding.evidence["orders"]] == [1, 2]
    assert replay(finding).status == "reproduced"
    cheaper = [{**row, "amount_fen": 40_000} for row in finding.evidence["orders"]]
    changed = replay(_tampered(finding, orders=cheaper))
    assert changed.status == "not_reproduced"
    assert "finds nothing" in changed.differences[0]
    adult = [{**row, "minor": False} for row in finding.evidence["orders"]]
    assert replay(_tampered(finding, orders=adult)).status == "not_reproduced"


def test_blacklist_evasion_replays_on_hash_prefixes_and_a_moved_listing_is_caught() -> None:
    from tests.risk.test_evasion import BLACKLIST, ID_A, _accounts, _hash

    accounts = _accounts(
        [
            {"account_id": 2, "created_t": us(5 * 86400),
             "id_number_hash": _hash(ID_A, "id_number"), "device_ids": ["dev-2"]},
        ]
    )  # fmt: skip
    [finding] = detect("blacklist.evasion", ScanInputs(accounts=accounts, blacklist=BLACKLIST))
    text = finding.model_dump_json()
    assert _hash(ID_A, "id_number") not in text  # prefixes only
    assert replay(finding).status == "reproduced"
    assert replay(json.loads(text)).status == "reproduced"
    later = [
        {**row, "listed_at": "2023-12-30T00:00:00+00:00"} for row in finding.evidence["entries"]
    ]
    moved = replay(_tampered(finding, entries=later))
    assert moved.status == "not_reproduced"
    assert "finds nothing" in moved.differences[0]
    other = {**finding.evidence["account_identifiers"], "device_ids": ["dev-other"]}
    changed = replay(_tampered(finding, account_identifiers=other))
    assert changed.status == "not_reproduced"
    assert "entries" in changed.differences[0]


def test_shared_devices_replay_and_a_moved_account_is_caught() -> None:
    from tests.risk.test_traffic import _bots, _ordinary

    farm = _bots(1, 100, 3600, 600, 10, interact=True, per_device=8)
    data = ScanInputs(events=events(_ordinary(1, 300, 11) + farm))
    [finding] = detect("fake_traffic.shared_devices", data)
    # 100 accounts on 13 phones and one address.
    assert finding.evidence["pair_count"] == 200 and not finding.evidence["truncated"]
    assert all("#" in row["value"] for row in finding.evidence["pairs"])
    assert replay(finding).status == "reproduced"
    # Account 50099 on a phone and an address of its own: its phone (4 accounts) and address
    # (20) are no longer crowded, and the other three accounts on that phone drop out too.
    moved = [
        {**row, "value": row["kind"] + "#999"} if row["user_id"] == 50_099 else row
        for row in finding.evidence["pairs"]
    ]
    changed = replay(_tampered(finding, pairs=moved))
    assert changed.status == "not_reproduced"
    assert "(missing ['50096', '50097', '50098', '50099'])" in changed.differences[0]


def test_engagement_mismatch_replays_from_the_rooms_history() -> None:
    from tests.risk.test_traffic import _bots, _ordinary

    rows: list[dict[str, Any]] = []
    for session in (1, 2, 3):
        rows += _ordinary(session, 150, session)
    flooded = _ordinary(4, 150, 4) + _bots(4, 400, 3600, 600, 5)
    [finding] = detect(
        "fake_traffic.engagement_mismatch", ScanInputs(events=events(rows + flooded))
    )
    assert [row["session_id"] for row in finding.evidence["history"]] == [4, 1, 2, 3]
    assert replay(finding).status == "reproduced"
    history = finding.evidence["history"]
    busy = [{**row, "engaged": row["viewers"]} if row["session_id"] == 4 else row
            for row in history]  # fmt: skip
    changed = replay(_tampered(finding, history=busy))
    assert changed.status == "not_reproduced"
    assert "finds nothing" in changed.differences[0]
    quiet = [{**row, "engaged": 0} if row["session_id"] == 1 else row for row in history]
    shifted = replay(_tampered(finding, history=quiet))
    assert shifted.status == "not_reproduced"
    assert "room_median" in shifted.differences[0]


def test_bot_viewers_replay_capped_is_partial_and_moved_visits_are_caught() -> None:
    from tests.risk.test_traffic import _bots, _ordinary

    data = ScanInputs(events=events(_ordinary(1, 400, 1) + _bots(1, 120, 3600, 600, 2)))
    [finding] = detect("fake_traffic.bot_viewers", data)
    visits = finding.evidence["visits"]
    assert sum(row["flagged"] for row in visits) == 120
    assert replay(finding).status == "reproduced", replay(finding).differences
    # Ten of the crowd stayed an hour longer: they are no longer in it.
    longer = [
        {**row, "leave_us": row["leave_us"] + 3600 * 1_000_000} if i < 10 else row
        for i, row in enumerate(visits)
    ]
    changed = replay(_tampered(finding, visits=longer))
    assert changed.status == "not_reproduced"
    assert "missing" in changed.differences[0]
    capped = _tampered(finding, visits=visits[:100], visit_count=len(visits), truncated=True)
    assert replay(capped).status == "partial"
    thin = [{**row, "density": 3} for row in visits[:100]]
    assert replay(_tampered(capped, visits=thin)).status == "not_reproduced"


def test_an_unknown_rule_version_is_refused_unless_the_evidence_carries_parameters() -> None:
    finding = _brushing()
    stale = finding.model_copy(update={"rule_version": 99})
    # The brushing evidence carries its parameters: the recorded version is rebuilt from them.
    result = replay(stale)
    assert result.rule_source == "evidence" and result.status == "reproduced"
    bare = {
        k: v
        for k, v in finding.evidence.items()
        if k not in ("window_seconds", "min_orders_per_buyer")
    }
    with pytest.raises(UnknownRuleVersion, match=r"order_brushing.concentration@99"):
        replay(_tampered(stale, **{}).model_copy(update={"evidence": bare}))


def test_the_cli_replays_a_scan_output(tmp_path: Path) -> None:
    orders_csv = tmp_path / "orders.csv"
    orders_csv.write_text(
        "order_id,seller_id,buyer_id,created_at\n"
        "1,10,7,2019-12-27T10:00:00Z\n2,10,7,2019-12-27T10:20:00Z\n3,10,7,2019-12-27T11:00:00Z\n"
        "4,10,8,2019-12-27T11:00:01Z\n5,11,9,2019-12-27T10:00:00Z\n",
        "utf-8",
    )
    out = tmp_path / "out"
    scanned = CliRunner().invoke(risk_app, ["scan", "--orders", str(orders_csv), "--out", str(out)])
    assert scanned.exit_code == 0, scanned.output
    path = out / "findings.json"
    done = CliRunner().invoke(risk_app, ["replay", "--findings", str(path), "--json"])
    assert done.exit_code == 0, done.output
    results = json.loads(done.stdout)
    assert [(r["detector"], r["entity_id"], r["status"]) for r in results] == [
        ("order_concentration", "10", "reproduced")
    ]
    findings = json.loads(path.read_text("utf-8"))
    findings[0]["evidence"]["orders"] = findings[0]["evidence"]["orders"][1:]
    path.write_text(json.dumps(findings), "utf-8")
    done = CliRunner().invoke(risk_app, ["replay", "--findings", str(path)])
    assert done.exit_code == 1
    assert "not_reproduced" in done.stdout
    assert CliRunner().invoke(risk_app, ["replay"]).exit_code == 2


def _stored(db: Session, finding: Finding) -> int:
    row = RiskFinding(
        dedup_key=f"test-replay-{finding.rule_id}-{finding.entity_id}",
        detector=finding.detector,
        rule_id=finding.rule_id,
        rule_version=finding.rule_version,
        rule_state=str(finding.rule_state),
        severity=str(finding.severity),
        source="scan",
        entity_type=finding.entity_type,
        entity_id=str(finding.entity_id),
        user_ids=json.dumps(finding.user_ids),
        window_start=finding.window_start,
        window_end=finding.window_end,
        evidence=finding.model_dump_json(include={"evidence"})[len('{"evidence":') : -1],
        detected_at=datetime.now(UTC),
    )
    db.add(row)
    db.flush()
    return row.id


def test_a_stored_finding_replays_by_id_and_over_http(
    engine: Any, db: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    finding_id = _stored(db, _ring())
    assert replay_stored(db, finding_id).status == "reproduced"
    db.commit()
    monkeypatch.setattr("zhibo.kit.cli.ready_engine", lambda: engine)
    done = CliRunner().invoke(risk_app, ["replay", "--finding-id", str(finding_id), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)[0]["status"] == "reproduced"
    missing_cli = CliRunner().invoke(risk_app, ["replay", "--finding-id", str(finding_id + 999)])
    assert missing_cli.exit_code == 2
    with pytest.raises(NotFound):
        replay_stored(db, finding_id + 1000)
    auditor, streamer = b.token(db, Role.AUDITOR), b.token(db, Role.STREAMER, b.streamer(db).id)
    db.commit()
    done = client.post(f"/v1/risk/findings/{finding_id}/replay", headers=auditor)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "reproduced"
    refused = client.post(f"/v1/risk/findings/{finding_id}/replay", headers=streamer)
    assert refused.status_code == 403
    missing = client.post(f"/v1/risk/findings/{finding_id + 1000}/replay", headers=auditor)
    assert missing.status_code == 404


def test_real_time_shaped_findings_replay() -> None:
    rules = default_rules()
    text = "全网最低价，今天下单"
    [item] = [m for m in check_text(text, rules) if m.rule.detector == "banned_terms"]
    comment = Finding.of(
        item.rule,
        entity_type="comment",
        entity_id="ev-1",
        user_ids=[5],
        evidence={"field": "comment", "text": text, "matches": [item.match.as_dict()]},
    )
    assert replay(comment).status == "reproduced"
    shifted = [{**item.match.as_dict(), "start": 1}]
    assert replay(_tampered(comment, matches=shifted)).status == "not_reproduced"
    storm_rule = rules.get("fake_engagement.like_storm")
    storm = Finding.of(
        storm_rule,
        entity_type="room",
        entity_id=3,
        user_ids=[1, 2],
        evidence={
            "likes": 5000,
            "accounts": 40,
            "top_accounts": [{"user_id": 1, "likes": 2500}, {"user_id": 2, "likes": 2000}],
            "top_share_bp": 9000,
            "parameters": storm_rule.parameters,
        },
    )
    assert replay(storm).status == "partial"
    assert replay(_tampered(storm, likes=50_000)).status == "not_reproduced"


def test_a_real_time_like_storm_replays_from_its_likes_and_fewer_likes_are_caught() -> None:
    from types import SimpleNamespace

    from tests.risk.test_realtime import T0, likes, rule_set, storm_rule
    from tests.risk.test_realtime import events as table
    from zhibo.risk.cases import Context
    from zhibo.risk.realtime import RealtimeRisk

    live: Any = SimpleNamespace(id=5, room_id=3)
    risk = RealtimeRisk(engine=None, ctx=Context(rules=rule_set(storm_rule())))
    batch = table(
        likes(live, list(range(100, 110)), 1, T0, "crowd") + likes(live, [1, 2], 30, T0, "bots")
    )
    found = risk.evaluate(batch)
    assert len(found) == 2  # the two hopping windows holding the half-step
    finding = found[0].finding
    assert finding.evidence["like_rows"] == 12 and not finding.evidence["truncated"]
    result = replay(finding)
    assert result.status == "reproduced", result.differences
    assert result.rule_source == "evidence"  # version 2 is neither configured nor packaged
    assert replay(json.loads(finding.model_dump_json())).status == "reproduced"
    rows = finding.evidence["like_events"]
    fewer = [{**row, "count": 20} if row["user_id"] == 1 else row for row in rows]
    changed = replay(_tampered(finding, like_events=fewer))
    assert changed.status == "not_reproduced"
    assert "finds nothing" in changed.differences[0]
    removed = replay(_tampered(finding, like_events=rows[1:]))
    assert "holds 11 like rows, the finding counts 12" in removed.differences[0]
    # Old findings (no like rows) are still re-checked on their feature values.
    old = {k: v for k, v in finding.evidence.items() if k != "like_events"}
    assert replay(finding.model_copy(update={"evidence": old})).status == "partial"
