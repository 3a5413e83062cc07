"""Order brushing by concentration: hand-made cases at the window's edges, ties, replay, and a
property check against a naive reading of the definition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.risk import reference
from zhibo.risk.brushing import concentration_findings, replay
from zhibo.risk.rules import default_rules, parse_rules
from zhibo.risk.schemas import Finding

H = 3600
T0 = 1_700_000_000  # seconds


def _table(orders: list[tuple[Any, Any, Any, int]]) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array([o[0] for o in orders], pa.int64()),
            "seller_id": pa.array([o[1] for o in orders], pa.int64()),
            "buyer_id": pa.array([o[2] for o in orders], pa.int64()),
            "t": pa.array([o[3] * 1_000_000 for o in orders], pa.int64()),
        }
    )


def _scan(orders: list[tuple[Any, Any, Any, int]], **overrides: Any) -> list[Finding]:
    rules = default_rules()
    if overrides:
        document = rules.model_dump(mode="json")
        for rule in document["rules"]:
            if rule["detector"] == "order_concentration":
                rule.update(overrides)
        rules = parse_rules(document)
    return concentration_findings(_table(orders), rules.get("order_brushing.concentration"))


def _orders(*rows: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(buyer, seconds after T0) for seller 1."""
    return [(n, 1, buyer, T0 + dt) for n, (buyer, dt) in enumerate(rows, start=1)]


def _answer(findings: list[Finding]) -> dict[Any, list[Any]]:
    return {f.entity_id: list(f.user_ids) for f in findings}


def test_three_orders_of_one_buyer_within_an_hour_is_brushing() -> None:
    findings = _scan(_orders((7, 0), (7, 600), (7, 1200), (8, 5 * H)))
    assert _answer(findings) == {1: [7]}
    finding = findings[0]
    assert finding.rule_id == "order_brushing.concentration" and finding.rule_version == 1
    assert finding.measures and finding.entity_type == "seller"
    assert finding.window_start == datetime.fromtimestamp(T0, UTC)
    assert finding.window_end == datetime.fromtimestamp(T0 + 1200, UTC)
    assert finding.evidence["orders_in_brushing_periods"] == 3
    assert replay(finding) == [7]


def test_the_window_includes_both_ends() -> None:
    assert _answer(_scan(_orders((7, 0), (7, 1800), (7, H)))) == {1: [7]}
    assert _answer(_scan(_orders((7, 0), (7, 1800), (7, H + 1)))) == {}


def test_two_orders_per_buyer_is_not_brushing() -> None:
    assert _answer(_scan(_orders((1, 0), (1, 10), (2, 20), (2, 30), (3, 40), (3, 50)))) == {}
    # Interleaved, no window holds buyer 1's three orders without buyer 2's: 5 / 2 = 2.5 < 3;
    # one more order of buyer 2 makes 6 / 2 = 3, with a tie.
    assert _answer(_scan(_orders((1, 0), (2, 1), (1, 2), (2, 3), (1, 4)))) == {}
    assert _answer(_scan(_orders((1, 0), (2, 1), (1, 2), (2, 3), (1, 4), (2, 5)))) == {1: [1, 2]}


def test_a_window_between_two_neighbours_counts_when_they_are_over_an_hour_apart() -> None:
    # No window starting or ending at an order holds only buyer 7's three orders, but
    # [0.5 s, 3600.5 s] does: the neighbours at 0 and 3601 are 3601 s apart.
    assert _answer(_scan(_orders((1, 0), (7, 1000), (7, 1001), (7, 1002), (2, H + 1)))) == {1: [7]}
    # With the neighbours exactly an hour apart, every window holding 7's orders holds one of
    # them: 4 orders / 2 buyers.
    assert _answer(_scan(_orders((1, 0), (7, 1000), (7, 1001), (7, 1002), (2, H)))) == {}


def test_orders_at_the_same_instant_are_never_split() -> None:
    # Buyer 7's three orders and buyer 1's order share an instant: 4 orders / 2 buyers.
    assert _answer(_scan(_orders((1, 100), (7, 100), (7, 100), (7, 100)))) == {}
    assert _answer(_scan(_orders((1, 99), (7, 100), (7, 100), (7, 100)))) == {1: [7]}


def test_brushing_buyers_are_those_with_the_highest_share_ties_included() -> None:
    rows = ((5, 0), (5, 60), (5, 120), (6, 180), (6, 240), (6, 300), (9, 360))
    # 7 orders / 3 buyers < 3 over the whole run; each ring's own run is brushing, and the
    # periods merge into one where buyers 5 and 6 have three orders each.
    findings = _scan(_orders(*rows))
    assert _answer(findings) == {1: [5, 6]}
    assert replay(findings[0]) == [5, 6]
    more = (*rows, (5, 130))
    assert _answer(_scan(_orders(*more))) == {1: [5]}


def test_sellers_are_separate() -> None:
    orders = [(1, 1, 7, T0), (2, 2, 7, T0 + 1), (3, 3, 7, T0 + 2), (4, 1, 8, T0 + 3)]
    assert _answer(_scan(orders)) == {}


def test_the_threshold_and_window_are_parameters() -> None:
    rows = _orders((7, 0), (7, 600), (8, 1200))
    assert _answer(_scan(rows)) == {}
    assert _answer(_scan(rows, parameters={"min_orders_per_buyer": 1.5})) == {1: [7]}
    assert _answer(_scan(_orders((7, 0), (7, 100), (7, 200)), parameters={"window_seconds": 200}))
    assert not _answer(
        _scan(_orders((7, 0), (7, 100), (7, 200)), parameters={"window_seconds": 199})
    )


def test_shadow_rules_record_findings_without_measures() -> None:
    findings = _scan(_orders((7, 0), (7, 1), (7, 2)), state="shadow")
    assert findings[0].rule_state == "shadow" and findings[0].measures == []


def test_replay_refuses_tampered_evidence() -> None:
    finding = _scan(_orders((7, 0), (7, 600), (7, 1200), (8, 1300), (8, 1400), (8, 1500)))[0]
    assert replay(finding) == [7, 8]
    evidence = dict(finding.evidence)
    evidence["orders"] = evidence["orders"][:-1]
    with pytest.raises(ValueError):
        replay(finding.model_copy(update={"evidence": evidence}))
    with pytest.raises(ValueError, match="differ"):
        replay(finding.model_copy(update={"user_ids": [8]}))


_rows = st.lists(
    st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(0, 4 * H)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(_rows)
def test_the_query_agrees_with_a_naive_reading_of_the_definition(
    rows: list[tuple[int, int, int]],
) -> None:
    # Few buyers and coarse times make ties, shared instants and edge windows common.
    orders = [
        (n, seller, buyer, T0 + (t // 300) * 300 + (t % 3))
        for n, (seller, buyer, t) in enumerate(rows)
    ]
    findings = _scan(orders)
    assert _answer(findings) == reference.brushing(orders)
    for finding in findings:
        assert replay(finding) == finding.user_ids


_dense = st.lists(
    st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(0, 3 * H)),
    min_size=1,
    max_size=80,
)


@settings(max_examples=120, deadline=None)
@given(_dense, st.sampled_from([(H, 3.0), (H // 2, 2.0), (600, 1.5), (2 * H, 3.0)]))
def test_every_brushing_window_agrees_with_counting(
    rows: list[tuple[int, int, int]], rule: tuple[int, float]
) -> None:
    """The candidate windows come from two as-of joins and a lower bound of the buyers; every
    window and its counts must still be the ones that counting each run finds."""
    from zhibo.risk.brushing import brushing_windows, prepare
    from zhibo.risk.rules import ConcentrationParams

    window_s, ratio = rule
    orders = [
        (n, seller, buyer, T0 + (t // 60) * 60 + (t % 2))
        for n, (seller, buyer, t) in enumerate(rows)
    ]
    prepared = prepare(_table(orders))
    params = ConcentrationParams(window_seconds=window_s, min_orders_per_buyer=ratio)
    windows = brushing_windows(prepared, params)
    assert set(windows.rows()) == reference.brushing_windows(prepared, window_s * 1_000_000, ratio)


def test_a_long_quiet_run_is_not_walked_and_a_burst_inside_it_is_found() -> None:
    """A seller with thousands of one-off buyers in the hour (nothing to find), and a burst of
    one buyer's orders among them: the burst's windows are found, with exact counts."""
    from zhibo.risk.brushing import brushing_windows, prepare
    from zhibo.risk.rules import ConcentrationParams

    quiet = [(n, 1, 10_000 + n, T0 + n) for n in range(3_000)]  # 3,000 buyers, 1 s apart
    burst = [(5_000 + n, 2, 7, T0 + 4 * H + n) for n in range(3)]  # buyer 7: 3 orders in 3 s
    prepared = prepare(_table(quiet + burst))
    params = ConcentrationParams(window_seconds=H, min_orders_per_buyer=3.0)
    windows = brushing_windows(prepared, params)
    assert windows.rows() == [(3_000, 3_002, 3, 1)]
