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
