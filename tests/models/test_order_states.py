"""The order lifecycle and refunds, without a database."""

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhibo.kit.errors import InvalidInput
from zhibo.models import Order, OrderStatus
from zhibo.models.order import (
    OrderNotConfirmed,
    OrderNotDelivered,
    OrderNotPaid,
    OrderNotRefundable,
    OrderNotShipped,
    RefundExceedsAmount,
)

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def paid(amount_fen: int = 10_000) -> Order:
    return Order(
        buyer_id=1,
        product_id=1,
        quantity=1,
        unit_price_fen=amount_fen,
        amount_fen=amount_fen,
        commission_rate_bp=2000,
        status=OrderStatus.PAID,
        paid_at=T0,
        refunded_fen=0,
    )


def test_lifecycle_in_order() -> None:
    order = paid()
    order.ship(T0 + timedelta(hours=5))
    order.deliver(T0 + timedelta(days=2))
    order.confirm(T0 + timedelta(days=4))
    order.settle(T0 + timedelta(days=20))
    assert order.status == OrderStatus.SETTLED
    assert order.confirmed_at == T0 + timedelta(days=4)


@pytest.mark.parametrize(
    ("action", "error"),
    [("deliver", OrderNotShipped), ("confirm", OrderNotDelivered), ("settle", OrderNotConfirmed)],
)
def test_skipping_a_step_is_refused(action: str, error: type[Exception]) -> None:
    order = paid()
    with pytest.raises(error):
        getattr(order, action)(T0)
    assert order.status == OrderStatus.PAID


def test_cannot_ship_twice() -> None:
    order = paid()
    order.ship(T0)
    with pytest.raises(OrderNotPaid):
        order.ship(T0)


def test_partial_then_full_refund() -> None:
    order = paid(10_000)
    order.refund(3_000, T0)
    assert order.status == OrderStatus.PAID and order.refunded_fen == 3_000
    order.refund(7_000, T0)
    assert order.status == OrderStatus.REFUNDED and order.net_amount_fen == 0
    with pytest.raises(OrderNotRefundable):
        order.refund(1, T0)


def test_refund_over_amount_or_not_positive_is_refused() -> None:
    order = paid(10_000)
    with pytest.raises(RefundExceedsAmount, match="amount_fen"):
        order.refund(10_001, T0)
    with pytest.raises(InvalidInput, match="positive"):
        order.refund(0, T0)
    assert order.refunded_fen == 0


@given(amount=st.integers(1, 10**9), parts=st.lists(st.integers(1, 10**9), max_size=20))
def test_refunds_never_exceed_what_was_paid(amount: int, parts: list[int]) -> None:
    order = paid(amount)
    for part in parts:
        with contextlib.suppress(RefundExceedsAmount, OrderNotRefundable):
            order.refund(part, T0)
        assert 0 <= order.refunded_fen <= order.amount_fen
    assert (order.status == OrderStatus.REFUNDED) == (order.refunded_fen == amount)
