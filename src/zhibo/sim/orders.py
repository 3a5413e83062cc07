"""Order lifecycles (paid → shipped → delivered → confirmed, or refunded) and refunds.

Times are drawn for the whole life of an order and then cut at the end of the simulation: a
step that would happen later is not there yet, so the order stays in an earlier state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zhibo.sim.activity import BRUSHED_REFUNDED
from zhibo.sim.clock import DAY_MS, HOUR_MS, MINUTE_MS
from zhibo.sim.rng import Streams
from zhibo.sim.vocab import (
    REFUND_REASONS_BEFORE_SHIPMENT,
    REFUND_REASONS_FULL,
    REFUND_REASONS_PARTIAL,
    ROOTS,
)

ORDER_STATUSES = ("paid", "shipped", "delivered", "confirmed", "refunded")
PAID, SHIPPED, DELIVERED, CONFIRMED, REFUNDED = range(5)
NONE = -1
#: China's no-reason return window after receipt.
RETURN_WINDOW_MS = 7 * DAY_MS
#: Receipt is confirmed automatically this long after delivery.
AUTO_CONFIRM_MS = 10 * DAY_MS
_APPAREL = [r.slug for r in ROOTS].index("apparel")


@dataclass
class Lifecycle:
    status: np.ndarray
    shipped: np.ndarray
    delivered: np.ndarray
    confirmed: np.ndarray
    refunded_fen: np.ndarray
    refunded_at: np.ndarray
    # Refund rows, sorted by refunded_at (refund_id = index + 1).
    refund_order: np.ndarray
    refund_amount: np.ndarray
    refund_reason: list[str]
    refund_at: np.ndarray


def lifecycles(
    streams: Streams,
    paid: np.ndarray,
    amount: np.ndarray,
    quantity: np.ndarray,
    root: np.ndarray,
    kind: np.ndarray,
    session_end: np.ndarray,
    end_ms: int,
) -> Lifecycle:
    rng = streams.get("orders.lifecycle")
    n = len(paid)
    ship_delay = np.clip(rng.lognormal(np.log(20 * HOUR_MS), 0.6, n), HOUR_MS, 4 * DAY_MS)
    deliver_delay = np.clip(rng.lognormal(np.log(48 * HOUR_MS), 0.4, n), 12 * HOUR_MS, 8 * DAY_MS)
    manual = rng.random(n) < 0.45
    confirm_delay = np.where(
        manual,
        np.clip(rng.lognormal(np.log(30 * HOUR_MS), 0.8, n), HOUR_MS, 7 * DAY_MS),
        AUTO_CONFIRM_MS,
    )
    brushed = kind != 0
    # Brushed parcels (often empty) ship and are confirmed fast.
    ship_delay = np.where(brushed, rng.uniform(2, 6, n) * HOUR_MS, ship_delay)
    deliver_delay = np.where(brushed, rng.uniform(24, 48, n) * HOUR_MS, deliver_delay)
    confirm_delay = np.where(brushed, rng.uniform(2, 12, n) * HOUR_MS, confirm_delay)
    shipped = paid + ship_delay.astype(np.int64)
    delivered = shipped + deliver_delay.astype(np.int64)
    confirmed = delivered + confirm_delay.astype(np.int64)

    # Refunds: cancellations before shipment, returns within the window, partial refunds.
    apparel = root == _APPAREL
    u = rng.random(n)
    cancel_p = 0.03
    return_p = np.where(apparel, 0.15, 0.06)
    partial_p = 0.03
    cancel = (u < cancel_p) & ~brushed
    full_return = (u >= cancel_p) & (u < cancel_p + return_p) & ~brushed
    partial = (u >= cancel_p + return_p) & (u < cancel_p + return_p + partial_p) & ~brushed
    fast = kind == BRUSHED_REFUNDED

    refund_at = np.full(n, NONE, dtype=np.int64)
    refund_fen = np.zeros(n, dtype=np.int64)
    refund_at[cancel] = paid[cancel] + (
        ship_delay[cancel] * rng.uniform(0.05, 0.9, int(cancel.sum()))
    ).astype(np.int64)
    refund_fen[cancel] = amount[cancel]
    k = int(full_return.sum())
    refund_at[full_return] = delivered[full_return] + (
        rng.uniform(0.1, 1.0, k) * RETURN_WINDOW_MS
    ).astype(np.int64)
    refund_fen[full_return] = amount[full_return]
    k = int(partial.sum())
    refund_at[partial] = delivered[partial] + (
        rng.uniform(0.05, 0.85, k) * RETURN_WINDOW_MS
    ).astype(np.int64)
    unit_share = np.where(
        quantity[partial] > 1,
        amount[partial] // np.maximum(quantity[partial], 1),
        (amount[partial] * rng.uniform(0.1, 0.5, k)).astype(np.int64),
    )
    refund_fen[partial] = np.clip(unit_share, 1, np.maximum(amount[partial] - 1, 1))
    k = int(fast.sum())
    refund_at[fast] = session_end[fast] + rng.integers(10 * MINUTE_MS, 3 * HOUR_MS, k)
    refund_fen[fast] = amount[fast]

    full = cancel | full_return | fast
    # Whatever has not happened by the end of the simulation is not there.
    refunded_now = (refund_at != NONE) & (refund_at < end_ms)
    refund_fen = np.where(refunded_now, refund_fen, 0)
    refund_at = np.where(refunded_now, refund_at, NONE)
    # A cancelled order never ships (one awaiting its cancellation is not shipped either); a
    # returned one is never confirmed.
    shipped = np.where(cancel | fast, NONE, shipped)
    delivered = np.where(shipped == NONE, NONE, delivered)
    confirmed = np.where((delivered == NONE) | full_return, NONE, confirmed)

    def until_end(times: np.ndarray) -> np.ndarray:
        return np.where((times != NONE) & (times < end_ms), times, NONE)

    shipped = until_end(shipped)
    delivered = np.where(shipped == NONE, NONE, until_end(delivered))
    confirmed = np.where(delivered == NONE, NONE, until_end(confirmed))

    status = np.full(n, PAID)
    status[shipped != NONE] = SHIPPED
    status[delivered != NONE] = DELIVERED
    status[confirmed != NONE] = CONFIRMED
    status[full & refunded_now] = REFUNDED

    refunded = np.flatnonzero(refunded_now)
    reasons: list[str] = []
    reason_draw = rng.random(len(refunded))
    for i, r in zip(refunded, reason_draw, strict=True):
        if cancel[i] or fast[i]:
            options: tuple[str, ...] = REFUND_REASONS_BEFORE_SHIPMENT
        elif full_return[i]:
            options = REFUND_REASONS_FULL
        else:
            options = REFUND_REASONS_PARTIAL
        reasons.append(options[int(r * len(options))])
    order = np.lexsort((refunded, refund_at[refunded]))
    return Lifecycle(
        status=status,
        shipped=shipped,
        delivered=delivered,
        confirmed=confirmed,
        refunded_fen=refund_fen,
        refunded_at=refund_at,
        refund_order=refunded[order],
        refund_amount=refund_fen[refunded][order],
        refund_reason=[reasons[i] for i in order],
        refund_at=refund_at[refunded][order],
    )


__all__ = ["ORDER_STATUSES", "Lifecycle", "lifecycles"]
