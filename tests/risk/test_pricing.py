"""Price fraud: the struck-through reference price against the lowest price charged in the 7
days before the promotion, and "raise then discount"."""

from __future__ import annotations

import polars as pl

from tests.risk.detecting import US, detect, us
from zhibo.risk.detectors import ScanInputs

DAY = 86400


def _prices(rows: list[tuple[int, float, int, int | None]]) -> ScanInputs:
    """(product, day after T0, price_fen, reference_price_fen)."""
    return ScanInputs(
        prices=pl.DataFrame(
            {
                "product_id": [r[0] for r in rows],
                "t": [us(r[1] * DAY) for r in rows],
                "price_fen": [r[2] for r in rows],
                "reference_price_fen": [r[3] for r in rows],
            },
            schema_overrides={"reference_price_fen": pl.Int64},
        )
    )


def test_a_lawful_promotion_strikes_through_the_price_held_for_a_week() -> None:
    data = _prices([(1, 0, 10_000, None), (1, 10, 7_900, 10_000), (1, 15, 10_000, None)])
    assert detect("price_fraud.reference_price", data) == []
    assert detect("price_fraud.raise_then_discount", data) == []


def test_a_reference_above_the_lowest_price_of_the_week_before() -> None:
    # 99 yuan three days before the promotion, then "was 129, now 89".
    data = _prices([(1, 0, 12_900, None), (1, 8, 9_900, None), (1, 11, 8_900, 12_900)])
    [finding] = detect("price_fraud.reference_price", data)
    assert finding.entity_id == 1 and finding.entity_type == "product"
    evidence = finding.evidence
    assert (evidence["reference_price_fen"], evidence["lowest_price_fen"]) == (12_900, 9_900)
    assert [p["price_fen"] for p in evidence["prices_charged"]] == [12_900, 9_900]
    assert finding.window_end is not None
    assert finding.window_end.timestamp() * US == us(11 * DAY)


def test_the_price_in_effect_when_the_week_began_counts_and_older_prices_do_not() -> None:
    # 99 yuan ten days before (outside the week) then 129 held nine days: 129 is lawful.
    held = _prices([(1, 0, 9_900, None), (1, 1, 12_900, None), (1, 10, 8_900, 12_900)])
    assert detect("price_fraud.reference_price", held) == []
    # 99 yuan until six days before: that price was charged during the week.
    recent = _prices([(1, 0, 9_900, None), (1, 4, 12_900, None), (1, 10, 8_900, 12_900)])
    assert len(detect("price_fraud.reference_price", recent)) == 1


def test_a_reference_never_charged_and_a_promotion_that_keeps_its_reference() -> None:
    never = _prices([(2, 0, 5_000, 9_000)])
    [finding] = detect("price_fraud.reference_price", never)
    assert finding.evidence["lowest_price_fen"] is None
    assert detect("price_fraud.reference_price", never, flag_without_history=False) == []
    # A promotion whose price changes but keeps its lawful reference is one promotion, judged
    # at its start (the second row is not compared with the promotion's own prices).
    lawful = _prices([(3, 0, 10_000, None), (3, 10, 8_000, 10_000), (3, 12, 7_500, 10_000)])
    assert detect("price_fraud.reference_price", lawful) == []


def test_raise_then_discount_even_when_the_raise_is_older_than_a_week() -> None:
    # Raised from 100 to 160 yuan nine days before: the 7-day rule sees 160 held all week, and
    # is evaded; "raise then discount" is not.
    data = _prices([(4, 0, 10_000, None), (4, 1, 16_000, None), (4, 10, 9_800, 16_000)])
    assert detect("price_fraud.reference_price", data) == []
    [finding] = detect("price_fraud.raise_then_discount", data)
    evidence = finding.evidence
    assert (evidence["price_before_fen"], evidence["raised_fen"], evidence["price_fen"]) == (
        10_000,
        16_000,
        9_800,
    )
    # A small rise (10 %) followed by a real discount is not "raise then discount".
    small = _prices([(5, 0, 10_000, None), (5, 1, 11_000, None), (5, 10, 8_000, 11_000)])
    assert detect("price_fraud.raise_then_discount", small) == []
    # Nor a raise long before (40 days).
    old = _prices([(6, 0, 10_000, None), (6, 1, 16_000, None), (6, 41, 9_800, 16_000)])
    assert detect("price_fraud.raise_then_discount", old) == []
