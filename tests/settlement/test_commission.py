"""The rounding rule: parts always add up, and refunds never create or lose a fen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhibo.kit.errors import InvalidInput
from zhibo.settlement.commission import (
    ZERO,
    Split,
    ratio_round,
    refund_adjustment,
    refunded_part,
    slot_fee_refund,
    split_commission,
)

rates = st.integers(min_value=0, max_value=10_000)
amounts = st.integers(min_value=0, max_value=10**11)


def test_split_example() -> None:
    split = split_commission(9999, 2000, platform_fee_bp=1000, partner_share_bp=3000, tax_bp=2000)
    assert split.commission_fen == 2000  # 1999.8 rounds half away from zero
    assert split.platform_fee_fen == 200
    assert split.partner_fen == 540  # 30 % of 1800
    assert split.streamer_fen == 1260  # the remainder
    assert split.tax_fen == 252
    assert split.streamer_net_fen == 1008


def test_half_rounds_away_from_zero() -> None:
    assert ratio_round(1, 1, 2) == 1
    assert ratio_round(-1, 1, 2) == -1
    assert ratio_round(3, 1, 2) == 2
    assert ratio_round(5, 1, 3) == 2


@given(amounts, rates, rates, rates, rates)
def test_parts_always_add_up(amount: int, rate: int, fee: int, share: int, tax: int) -> None:
    split = split_commission(amount, rate, platform_fee_bp=fee, partner_share_bp=share, tax_bp=tax)
    assert split.platform_fee_fen + split.partner_fen + split.streamer_fen == split.commission_fen
    assert min(split.platform_fee_fen, split.partner_fen, split.streamer_fen, split.tax_fen) >= 0
    assert split.tax_fen <= split.streamer_fen


@given(
    st.integers(min_value=1, max_value=10**9),
    rates,
    rates,
    rates,
    rates,
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=12),
)
def test_partial_refunds_sum_to_the_full_refund(
    amount: int, rate: int, fee: int, share: int, tax: int, cuts: list[int]
) -> None:
    full = split_commission(amount, rate, platform_fee_bp=fee, partner_share_bp=share, tax_bp=tax)
    refunded, total = 0, ZERO
    steps = [min(cut, amount) for cut in cuts]
    for step in steps:
        after = min(amount, refunded + step)
        taken = refund_adjustment(full, amount, refunded, after)
        total = _add(total, taken)
        refunded = after
        # What is left is never negative, and parts of what is left still add up.
        left = full - refunded_part(full, amount, refunded)
        assert min(left.commission_fen, left.partner_fen, left.platform_fee_fen) >= 0
        assert left.platform_fee_fen + left.partner_fen + left.streamer_fen == left.commission_fen
    assert total == refunded_part(full, amount, refunded)
    taken = refund_adjustment(full, amount, refunded, amount)
    assert _add(total, taken) == full  # refunding the rest gives back exactly the whole


def _add(left: Split, right: Split) -> Split:
    return Split(
        left.commission_fen + right.commission_fen,
        left.platform_fee_fen + right.platform_fee_fen,
        left.partner_fen + right.partner_fen,
        left.streamer_fen + right.streamer_fen,
        left.tax_fen + right.tax_fen,
    )


def test_bad_inputs_are_refused_with_the_field() -> None:
    with pytest.raises(InvalidInput, match="amount_fen"):
        split_commission(-1, 2000, platform_fee_bp=0, partner_share_bp=0, tax_bp=0)
    with pytest.raises(InvalidInput, match="commission_rate_bp"):
        split_commission(100, 10_001, platform_fee_bp=0, partner_share_bp=0, tax_bp=0)
    with pytest.raises(InvalidInput, match="partner_share_bp"):
        split_commission(100, 100, platform_fee_bp=0, partner_share_bp=-5, tax_bp=0)
    with pytest.raises(InvalidInput, match="refunded_fen"):
        refunded_part(ZERO, 100, 101)


def test_slot_fees() -> None:
    assert slot_fee_refund(100_000, None, 0) == 0  # fixed: kept whole
    assert slot_fee_refund(100_000, 1_000_000, 250_000) == 75_000  # 75 % short
    assert slot_fee_refund(100_000, 1_000_000, 2_000_000) == 0  # target met
    assert slot_fee_refund(100_001, 3, 1) == 66_667  # half away from zero
    with pytest.raises(InvalidInput, match="sales_target_fen"):
        slot_fee_refund(100, 0, 1)
    with pytest.raises(InvalidInput, match="slot_fee_fen"):
        slot_fee_refund(-1, None, 1)
