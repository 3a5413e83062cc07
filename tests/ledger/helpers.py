"""Builders for ledger tests: small functions with keyword defaults."""

from __future__ import annotations

from datetime import UTC, datetime

from zhibo.ledger import Entry, Posting

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def sale(
    key: str = "order:1:paid",
    *,
    amount_fen: int = 10_000,
    order_id: int | None = 1,
    at: datetime = T0,
    currency: str = "CNY",
    memo: str = "",
) -> Entry:
    """A buyer's payment: cash in, held for the buyer until settlement."""
    return Entry(
        key=key,
        kind="order_paid",
        postings=(
            Posting("cash", amount_fen, currency),
            Posting("buyer_payments_held", -amount_fen, currency),
        ),
        effective_at=at,
        order_id=order_id,
        memo=memo,
    )


def commission(
    key: str = "order:1:commission",
    *,
    gross_fen: int = 1_000,
    streamer_id: int = 5,
    partner_id: int = 3,
    order_id: int | None = 1,
    at: datetime = T0,
) -> Entry:
    """Commission split: platform fee 10 %, partner 20 %, the streamer the rest."""
    fee = gross_fen // 10
    partner = gross_fen // 5
    return Entry(
        key=key,
        kind="commission",
        postings=(
            Posting("brand_payable:17", gross_fen),
            Posting("platform_fee_revenue", -fee),
            Posting(f"commission_payable:partner:{partner_id}", -partner),
            Posting(f"commission_payable:streamer:{streamer_id}", -(gross_fen - fee - partner)),
        ),
        effective_at=at,
        order_id=order_id,
        ref="run:1",
    )
