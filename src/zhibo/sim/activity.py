"""Ordinary viewer behaviour in live sessions, vectorised per simulated day: arrivals over the
session, watch times, likes, comments, follows, shares, carts, orders and tips."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhibo.sim.catalog import Catalog
from zhibo.sim.clock import MINUTE_MS, SECOND_MS
from zhibo.sim.people import Viewers
from zhibo.sim.schedule import Schedule
from zhibo.sim.vocab import (
    GIFTS,
    LONG_COMMENT_BODIES,
    LONG_COMMENT_ENDINGS,
    LONG_COMMENT_OPENERS,
    SHORT_COMMENTS,
)

#: Event types in tie-break order: at one millisecond, an arrival comes first, a leave last.
EVENT_TYPES = (
    "enter",
    "like",
    "comment",
    "follow",
    "share",
    "add_to_cart",
    "order",
    "gift",
    "leave",
)
ENTER, LIKE, COMMENT, FOLLOW, SHARE, CART, ORDER, GIFT, LEAVE = range(9)
#: What kind of order an order event is (internal, never written).
CLEAN, BRUSHED_REFUNDED, BRUSHED_SHIPPED = 0, 1, 2
#: The most likes one ordinary viewer sends in one visit (like storms send far more).
MAX_LIKE_EVENTS = 60
MAX_LIKE_COUNT = 30

GIFT_PRICE = np.array([g.price_fen for g in GIFTS], dtype=np.int64)
GIFT_ID = np.array([g.gift_id for g in GIFTS], dtype=np.int64)
_GIFT_WEIGHTS = np.array([g.weight for g in GIFTS])
GIFT_CDF = np.cumsum(_GIFT_WEIGHTS) / _GIFT_WEIGHTS.sum()

_SHORT = pa.array(SHORT_COMMENTS, type=pa.string())
_OPENERS = pa.array([o + "，" for o in LONG_COMMENT_OPENERS], type=pa.string())
_BODIES = pa.array(LONG_COMMENT_BODIES, type=pa.string())
_ENDINGS = pa.array(LONG_COMMENT_ENDINGS, type=pa.string())


@dataclass
class EventBatch:
    """Events as parallel columns. Besides what is written, order events carry the order's
    quantity, unit price, commission rate, delivery address and kind."""

    ts: np.ndarray
    session: np.ndarray
    viewer: np.ndarray
    device: np.ndarray
    ip: np.ndarray
    type: np.ndarray
    count: np.ndarray  # 0 = null
    product: np.ndarray  # -1 = null
    amount: np.ndarray  # -1 = null
    gift: np.ndarray  # -1 = null
    quantity: np.ndarray
    unit_price: np.ndarray
    rate: np.ndarray
    address: np.ndarray
    kind: np.ndarray
    text: pa.Array

    def __len__(self) -> int:
        return len(self.ts)

    @staticmethod
    def empty() -> EventBatch:
        return EventBatch.build(
            ts=np.zeros(0, dtype=np.int64),
            session=np.zeros(0, dtype=np.int64),
            viewer=np.zeros(0, dtype=np.int64),
            device=np.zeros(0, dtype=np.int64),
            ip=np.zeros(0, dtype=np.int64),
            type_=np.zeros(0, dtype=np.int8),
        )

    @staticmethod
    def build(
        ts: np.ndarray,
        session: np.ndarray,
        viewer: np.ndarray,
        device: np.ndarray,
        ip: np.ndarray,
        type_: np.ndarray,
        *,
        count: np.ndarray | None = None,
        product: np.ndarray | None = None,
        amount: np.ndarray | None = None,
        gift: np.ndarray | None = None,
        quantity: np.ndarray | None = None,
        unit_price: np.ndarray | None = None,
        rate: np.ndarray | None = None,
        address: np.ndarray | None = None,
        kind: np.ndarray | None = None,
        text: pa.Array | None = None,
    ) -> EventBatch:
        n = len(ts)

        def col(values: np.ndarray | None, fill: int, dtype: type) -> np.ndarray:
            if values is None:
                return np.full(n, fill, dtype=dtype)
            return np.asarray(values).astype(dtype)

        return EventBatch(
            ts=np.asarray(ts).astype(np.int64),
            session=np.asarray(session).astype(np.int64),
            viewer=np.asarray(viewer).astype(np.int64),
            device=np.asarray(device).astype(np.int64),
            ip=np.asarray(ip).astype(np.int64),
            type=np.asarray(type_).astype(np.int8),
            count=col(count, 0, np.int32),
            product=col(product, -1, np.int64),
            amount=col(amount, -1, np.int64),
            gift=col(gift, -1, np.int64),
            quantity=col(quantity, 0, np.int32),
            unit_price=col(unit_price, -1, np.int64),
            rate=col(rate, -1, np.int32),
            address=col(address, -1, np.int64),
            kind=col(kind, CLEAN, np.int8),
            text=text if text is not None else pa.nulls(n, type=pa.string()),
        )

    def take(self, index: np.ndarray) -> EventBatch:
        values = {}
        for f in fields(self):
            column = getattr(self, f.name)
            if f.name == "text":
                values[f.name] = column.take(pa.array(index, type=pa.int64()))
            else:
                values[f.name] = column[index]
        return EventBatch(**values)

    @staticmethod
    def concat(batches: list[EventBatch]) -> EventBatch:
        batches = [b for b in batches if len(b)]
        if not batches:
            return EventBatch.empty()
        if len(batches) == 1:
            return batches[0]
        values = {}
        for f in fields(EventBatch):
            if f.name == "text":
                values[f.name] = pa.concat_arrays([b.text for b in batches])
            else:
                values[f.name] = np.concatenate([getattr(b, f.name) for b in batches])
        return EventBatch(**values)


def uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integer times strictly inside (lo, hi) where there is room, else ``lo``."""
    span = np.maximum(hi - lo - 1, 0)
    return lo + 1 + np.floor(rng.random(len(lo)) * span).astype(np.int64) - (span == 0)


def pick_shelf_rows(
    rng: np.random.Generator, schedule: Schedule, cum: np.ndarray, sessions: np.ndarray
) -> np.ndarray:
    """One shelf row per given session, weighted by product popularity and shelf position."""
    lo = schedule.shelf_offset[sessions]
    hi = lo + schedule.shelf_count[sessions]
    target = cum[lo] + rng.random(len(sessions)) * (cum[hi] - cum[lo])
    return np.clip(np.searchsorted(cum, target, side="right") - 1, lo, hi - 1)


def order_columns(
    rng: np.random.Generator,
    schedule: Schedule,
    catalog: Catalog,
    shelf_rows: np.ndarray,
    ts: np.ndarray,
    quantity: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Product, price in effect at ``ts``, quantity, amount and commission of order events."""
    product = schedule.shelf_product[shelf_rows]
    unit = catalog.ph_price[catalog.row_at(product, ts)]
    if quantity is None:
        u = rng.random(len(ts))
        quantity = np.where(u < 0.85, 1, np.where(u < 0.96, 2, 3))
    return {
        "product": product,
        "unit_price": unit,
        "quantity": quantity,
        "amount": unit * quantity,
        "rate": schedule.shelf_rate[shelf_rows],
    }


def comment_texts(rng: np.random.Generator, n: int) -> pa.Array:
    """Ordinary comments: short stock phrases, or long ones composed from three parts."""
    short = _SHORT.take(pa.array(rng.integers(0, len(_SHORT), n)))
    long = pc.binary_join_element_wise(
        _OPENERS.take(pa.array(rng.integers(0, len(_OPENERS), n))),
        _BODIES.take(pa.array(rng.integers(0, len(_BODIES), n))),
        _ENDINGS.take(pa.array(rng.integers(0, len(_ENDINGS), n))),
        "",
    )
    chosen = pc.if_else(pa.array(rng.random(n) < 0.55), short, long)
    return chosen.combine_chunks() if isinstance(chosen, pa.ChunkedArray) else chosen


class Activity:
    """Generates ordinary events for the sessions of one day."""

    def __init__(self, schedule: Schedule, catalog: Catalog, viewers: Viewers) -> None:
        self.schedule = schedule
        self.catalog = catalog
        self.viewers = viewers
        weights = viewers.weight
        self.pool = np.flatnonzero(weights > 0)
        self.pool_cdf = np.cumsum(weights[self.pool])
        self.pool_cdf /= self.pool_cdf[-1]
        self.log_weight = np.log(weights[self.pool])
        self.shelf_cum = np.concatenate([[0.0], np.cumsum(schedule.shelf_weight)])
        self.gift_ok = viewers.verified & ~viewers.minor

    def visits(
        self, rng: np.random.Generator, sessions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (session, viewer) visits for ``sessions``, weighted by viewer activity.

        Small audiences draw with replacement and drop repeats (cheap, nearly exact); big ones
        draw without replacement (Gumbel top-k), so a star's audience really is that big."""
        audience = np.minimum(self.schedule.audience[sessions], len(self.pool))
        big = audience > max(50, len(self.pool) // 50)
        small_idx = np.flatnonzero(~big)
        local = np.repeat(small_idx, audience[small_idx])
        drawn = self.pool[np.searchsorted(self.pool_cdf, rng.random(len(local)), side="right")]
        keys = [local.astype(np.int64) * self.viewers.count + drawn]
        for i in np.flatnonzero(big):
            k = int(audience[i])
            score = self.log_weight - np.log(-np.log(rng.random(len(self.pool))))
            chosen = self.pool[np.argpartition(-score, k - 1)[:k]]
            keys.append(np.int64(i) * self.viewers.count + chosen)
        key = np.unique(np.concatenate(keys))
        return sessions[key // self.viewers.count], key % self.viewers.count

    def device_and_ip(
        self, rng: np.random.Generator, viewer: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        v = self.viewers
        row = v.device_offset[viewer] + np.floor(rng.random(len(viewer)) * v.device_count[viewer])
        device = v.vd_device[row.astype(np.int64)]
        mobile = v.mobile_ip_base + rng.integers(0, v.mobile_ip_count, len(viewer))
        ip = np.where(rng.random(len(viewer)) < 0.85, v.home_ip[viewer], mobile)
        return device, ip

    def day(self, rng: np.random.Generator, sessions: np.ndarray) -> EventBatch:
        sch, v = self.schedule, self.viewers
        session, viewer = self.visits(rng, sessions)
        n = len(session)
        if n == 0:
            return EventBatch.empty()
        t0 = sch.started[session]
        t1 = sch.events_end[session]
        span = np.maximum(t1 - t0, 1)
        # Arrival curve: a rush in the first minutes plus a steady trickle.
        frac = np.where(rng.random(n) < 0.45, rng.beta(1.2, 4.0, n), rng.random(n))
        enter = t0 + (frac * span * 0.98).astype(np.int64)
        dwell = np.maximum(rng.lognormal(np.log(240.0), 1.1, n) * SECOND_MS, 5 * SECOND_MS)
        minutes = dwell / MINUTE_MS
        p_buy = np.minimum(
            0.5,
            0.03
            * sch.conversion[session]
            * v.buy_prop[viewer]
            * np.sqrt(np.minimum(1.0, minutes / 3)),
        )
        buyer = (rng.random(n) < p_buy) & (sch.shelf_count[session] > 0)
        dwell = np.where(buyer, dwell * 2 + MINUTE_MS, dwell)
        leave = np.minimum(enter + dwell.astype(np.int64), t1)
        leave = np.maximum(leave, enter + 1)
        minutes = (leave - enter) / MINUTE_MS
        device, ip = self.device_and_ip(rng, viewer)

        n_like = np.minimum(rng.poisson(0.25 * minutes**0.7 * v.like_prop[viewer]), MAX_LIKE_EVENTS)
        n_comment = np.minimum(rng.poisson(0.06 * minutes**0.6 * v.comment_prop[viewer]), 20)
        follow = (rng.random(n) < 0.015 * np.minimum(1.0, minutes / 5)).astype(np.int64)
        share = (rng.random(n) < 0.008 * np.minimum(1.0, minutes / 3)).astype(np.int64)
        n_orders = np.where(buyer, 1 + (rng.random(n) < 0.12), 0)
        cart_only = (~buyer & (rng.random(n) < 0.03 * sch.conversion[session])).astype(np.int64)
        cart_only &= sch.shelf_count[session] > 0
        n_gift = np.where(
            self.gift_ok[viewer],
            np.minimum(rng.poisson(0.008 * np.sqrt(minutes) * v.gift_prop[viewer]), 30),
            0,
        )

        parts: list[EventBatch] = []
        visit = np.arange(n)
        parts.append(EventBatch.build(enter, session, viewer, device, ip, np.full(n, ENTER)))
        parts.append(EventBatch.build(leave, session, viewer, device, ip, np.full(n, LEAVE)))

        def inside(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            idx = np.repeat(visit, counts)
            return idx, uniform_between(rng, enter[idx], leave[idx])

        idx, ts = inside(n_like)
        likes = np.minimum(1 + rng.geometric(0.2, len(idx)) - 1, MAX_LIKE_COUNT)
        parts.append(
            EventBatch.build(
                ts,
                session[idx],
                viewer[idx],
                device[idx],
                ip[idx],
                np.full(len(idx), LIKE),
                count=likes,
            )
        )
        idx, ts = inside(n_comment)
        parts.append(
            EventBatch.build(
                ts,
                session[idx],
                viewer[idx],
                device[idx],
                ip[idx],
                np.full(len(idx), COMMENT),
                text=comment_texts(rng, len(idx)),
            )
        )
        for counts, kind in ((follow, FOLLOW), (share, SHARE)):
            idx, ts = inside(counts)
            parts.append(
                EventBatch.build(
                    ts, session[idx], viewer[idx], device[idx], ip[idx], np.full(len(idx), kind)
                )
            )
        # Carts without an order.
        idx, ts = inside(cart_only)
        rows = pick_shelf_rows(rng, sch, self.shelf_cum, session[idx])
        parts.append(
            EventBatch.build(
                ts,
                session[idx],
                viewer[idx],
                device[idx],
                ip[idx],
                np.full(len(idx), CART),
                product=sch.shelf_product[rows],
            )
        )
        # Purchases: add to cart, then pay a few seconds to minutes later, inside the visit.
        idx = np.repeat(visit, n_orders)
        if len(idx):
            lo, hi = enter[idx], leave[idx]
            cart_ts = lo + 1 + np.floor(rng.random(len(idx)) * np.maximum(hi - lo - 2, 0) * 0.9)
            cart_ts = cart_ts.astype(np.int64)
            pay_ts = cart_ts + rng.integers(5 * SECOND_MS, 3 * MINUTE_MS, len(idx))
            pay_ts = np.maximum(np.minimum(pay_ts, hi - 1), cart_ts + 1)
            rows = pick_shelf_rows(rng, sch, self.shelf_cum, session[idx])
            cols = order_columns(rng, sch, self.catalog, rows, pay_ts)
            parts.append(
                EventBatch.build(
                    cart_ts,
                    session[idx],
                    viewer[idx],
                    device[idx],
                    ip[idx],
                    np.full(len(idx), CART),
                    product=cols["product"],
                )
            )
            parts.append(
                EventBatch.build(
                    pay_ts,
                    session[idx],
                    viewer[idx],
                    device[idx],
                    ip[idx],
                    np.full(len(idx), ORDER),
                    product=cols["product"],
                    amount=cols["amount"],
                    quantity=cols["quantity"],
                    unit_price=cols["unit_price"],
                    rate=cols["rate"],
                    address=v.address[viewer[idx]],
                )
            )
        # Tips from verified adults only.
        idx, ts = inside(n_gift)
        gift = np.searchsorted(GIFT_CDF, rng.random(len(idx)), side="right")
        gift = np.minimum(gift, len(GIFTS) - 1)
        parts.append(
            EventBatch.build(
                ts,
                session[idx],
                viewer[idx],
                device[idx],
                ip[idx],
                np.full(len(idx), GIFT),
                gift=GIFT_ID[gift],
                amount=GIFT_PRICE[gift],
            )
        )
        return EventBatch.concat(parts)
