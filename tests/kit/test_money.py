"""Money and basis-point arithmetic: integers only, rounding half away from zero."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhibo.kit.errors import InvalidInput
from zhibo.kit.money import CurrencyMismatch, Money, apply_bp, check_rate_bp, yuan


@pytest.mark.parametrize(
    ("fen", "bp", "expected"),
    [
        (10_000, 2_000, 2_000),
        (1, 5_000, 1),
        (1, 4_999, 0),
        (3, 3_333, 1),
        (-1, 5_000, -1),
        (999, 10_000, 999),
        (12_345, 0, 0),
    ],
)
def test_apply_bp_rounds_half_away_from_zero(fen: int, bp: int, expected: int) -> None:
    assert apply_bp(fen, bp) == expected


@given(st.integers(-(10**12), 10**12), st.integers(0, 10_000))
def test_apply_bp_is_within_half_a_fen_of_exact(fen: int, bp: int) -> None:
    from fractions import Fraction

    exact = Fraction(fen * bp, 10_000)
    assert abs(apply_bp(fen, bp) - exact) <= Fraction(1, 2)
    assert apply_bp(-fen, bp) == -apply_bp(fen, bp)


@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12))
def test_addition_is_exact(a: int, b: int) -> None:
    assert (Money(a) + Money(b)).fen == a + b
    assert (Money(a) - Money(b) + Money(b)).fen == a


def test_money_refuses_floats_bad_currency_and_mixing() -> None:
    with pytest.raises(InvalidInput):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Money(1, "cny")
    with pytest.raises(CurrencyMismatch):
        Money(1, "CNY") + Money(1, "USD")


def test_rates_outside_range_are_refused() -> None:
    assert check_rate_bp(10_000) == 10_000
    with pytest.raises(InvalidInput, match="commission_rate_bp"):
        check_rate_bp(10_001, "commission_rate_bp")
    with pytest.raises(InvalidInput):
        check_rate_bp(-1)


def test_human_forms() -> None:
    assert yuan(123_456) == "1,234.56"
    assert yuan(-5) == "-0.05"
    assert str(Money(100_000_00)) == "100,000.00 CNY"
