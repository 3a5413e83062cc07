"""A deliberately naive reading of the Shopee definition, to check the vectorised query against.

It slides the window's start ``s`` over every instant where the window's contents can change:
an order's time ``t`` (the order is still inside when ``s == t``) and ``t - W`` (the order
enters when ``s == t - W``), plus a point just after each (times are whole units here, so
``b + 0.5`` lies strictly between two breakpoints), and evaluates orders / unique buyers of
``[s, s + W]`` by counting."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def brushing(
    orders: list[tuple[Any, Any, Any, int]], window: int = 3600, ratio: float = 3.0
) -> dict[Any, list[Any]]:
    """``(order_id, seller_id, buyer_id, t)`` → seller → sorted brushing buyers."""
    by_seller: dict[Any, list[tuple[int, Any, Any]]] = {}
    for order_id, seller, buyer, t in orders:
        by_seller.setdefault(seller, []).append((t, order_id, buyer))
    answer: dict[Any, list[Any]] = {}
    for seller, rows in by_seller.items():
        rows.sort()
        times = np.array([row[0] for row in rows], dtype=np.float64)
        breaks = np.unique(np.concatenate([times, times - window]))
        starts = np.concatenate([breaks, breaks + 0.5])
        low = np.searchsorted(times, starts, side="left")
        high = np.searchsorted(times, starts + window, side="right")
        marked: set[int] = set()
        for lo, hi in zip(low.tolist(), high.tolist(), strict=True):
            if hi - lo < ratio:
                continue
            buyers = {rows[k][2] for k in range(lo, hi)}
            if hi - lo >= ratio * len(buyers):
                marked.update(range(lo, hi))
        if marked:
            counts = Counter(rows[k][2] for k in marked)
            best = max(counts.values())
            answer[seller] = sorted(buyer for buyer, n in counts.items() if n == best)
    return answer


def brushing_windows(prepared: Any, window_us: int, ratio: float) -> set[tuple[int, int, int, int]]:
    """Every brushing window of a ``zhibo.risk.brushing.prepare`` frame, by counting: each
    run ``i..k`` of one seller's orders (whole instants) that spans at most W, whose
    neighbours are more than W apart, with orders / unique buyers >= ``ratio``; as
    (first, last, orders, buyers) in the frame's indices ``k``."""
    rows = prepared.select("k", "seller_id", "buyer_id", "t").rows()
    found = set()
    for i, (_, seller, _, t_i) in enumerate(rows):
        if i and rows[i - 1][1] == seller and rows[i - 1][3] == t_i:
            continue  # not the first order of its instant
        before = rows[i - 1][3] if i and rows[i - 1][1] == seller else None
        buyers: set[Any] = set()
        for k in range(i, len(rows)):
            if rows[k][1] != seller or rows[k][3] - t_i > window_us:
                break
            buyers.add(rows[k][2])
            following = rows[k + 1] if k + 1 < len(rows) and rows[k + 1][1] == seller else None
            if following is not None and following[3] == rows[k][3]:
                continue  # not the last order of its instant
            after = following[3] if following is not None else None
            if before is not None and after is not None and after - before <= window_us:
                continue  # a window this run fits in would hold a neighbour too
            orders = k - i + 1
            if orders >= ratio * len(buyers):
                found.add((i, k, orders, len(buyers)))
    return found
