"""Order brushing by concentration (Shopee 2020), exactly as defined, vectorised.

A seller is brushing in any window ``[s, s + W]`` (both ends included, ``s`` any instant) where
orders / unique buyers >= ``R`` (W = 1 hour, R = 3 by default). The brushing buyers of a seller
are those with the highest share of the seller's orders that fall in its brushing windows (ties:
all of them); a seller that never brushed has none.

How "any window" is enumerated without a loop over time: sort a seller's orders by time. What a
window holds is always a run of consecutive orders ``i..j`` (orders at the same instant go
together), and a run can be exactly what some window holds iff it spans at most W
(``t_j - t_i <= W``) and the orders around it are more than W apart (``t_{j+1} - t_{i-1} > W``;
missing neighbours count as infinitely far). So every run start ``i`` is paired with the orders
within W after it (one as-of join finds where each run must stop); unique buyers are counted
cumulatively along each run (a buyer is new in run ``i..k`` iff their previous order of this
seller is before ``i``) with one segmented cumulative sum; the runs that are windows and reach
the threshold are merged into brushing periods; buyers are ranked by their orders inside the
periods. Polars sorts and joins, NumPy does the pair arithmetic (in chunks of bounded size), and
the threshold test is exact integer arithmetic on microseconds. The only Python loop is over the
*brushing* sellers, to write their evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from zhibo.risk.rules import ConcentrationParams, Rule
from zhibo.risk.schemas import Finding

_US = 1_000_000
#: Run-start × order pairs evaluated at once (bounds memory: ~10 arrays of this many int64).
PAIR_CHUNK = 4_000_000


def _ratio(value: float) -> tuple[int, int]:
    """The threshold as an exact fraction (3.0 → 3/1, 2.5 → 5/2)."""
    from fractions import Fraction

    fraction = Fraction(value).limit_denominator(1000)
    return fraction.numerator, fraction.denominator


def prepare(orders: pa.Table | pl.DataFrame) -> pl.DataFrame:
    """Orders sorted by seller, time and order id, with what the rule needs per order: its
    index ``k`` in that order, the index of the same buyer's previous order of the seller
    (``prev``, -1 for none), the first and last index of its instant (``group_first``,
    ``group_last``), the previous and next distinct instants of the seller (``t_prev``,
    ``t_next``, null when none) and the last index within W is found later by an as-of join."""
    source = orders if isinstance(orders, pl.DataFrame) else pl.from_arrow(orders)
    assert isinstance(source, pl.DataFrame)
    frame = (
        source.select("order_id", "seller_id", "buyer_id", "t")
        .sort("seller_id", "t", "order_id")
        .with_row_index("k")
        .with_columns(pl.col("k").cast(pl.Int64))
    )
    frame = frame.with_columns(
        pl.col("k").shift(1).over("seller_id", "buyer_id").fill_null(-1).alias("prev"),
        pl.col("k").min().over("seller_id", "t").alias("group_first"),
        pl.col("k").max().over("seller_id", "t").alias("group_last"),
        pl.col("t").shift(1).over("seller_id").alias("t_before_row"),
        pl.col("t").shift(-1).over("seller_id").alias("t_after_row"),
    )
    return frame.with_columns(
        pl.col("t_before_row").first().over("seller_id", "t").alias("t_prev"),
        pl.col("t_after_row").last().over("seller_id", "t").alias("t_next"),
    ).drop("t_before_row", "t_after_row")


#: Stand-ins for "no neighbour" in the as-of joins (times are µs since the epoch, far inside).
_NEVER_BEFORE = -(1 << 62)
_NEVER_AFTER = 1 << 62


def brushing_windows(prepared: pl.DataFrame, params: ConcentrationParams) -> pl.DataFrame:
    """Every brushing window of every seller: ``first``, ``last`` (order indices ``k`` of
    ``prepared``), ``orders``, ``buyers``.

    A window is a run ``i..k`` that spans at most W and whose neighbours are more than W apart.
    For a run start ``i`` the ends ``k`` that qualify are one interval: from the last instant
    within W after ``i``'s previous instant (before it, the run could still take in that
    neighbour) to the last within W after ``i`` (``stop``) — about one order per start on
    average, so there are O(n) candidate windows, found with two as-of joins. A window can
    only reach the threshold if enough of its orders repeat a buyer: a repeat inside a window
    is an order whose buyer ordered from the seller at most W before, so ``orders`` minus those
    orders is a lower bound of its buyers, from one prefix sum. Only the candidates that this
    bound lets through have their buyers counted exactly (one cumulative count along each such
    run), so ordinary traffic costs O(n log n) and only suspicious runs are walked.
    """
    window = params.window_seconds * _US
    numerator, denominator = _ratio(params.min_orders_per_buyer)
    empty = pl.DataFrame(
        schema={"first": pl.Int64, "last": pl.Int64, "orders": pl.Int64, "buyers": pl.Int64}
    )
    if prepared.is_empty():
        return empty
    starts = prepared.filter(pl.col("k") == pl.col("group_first")).select(
        "seller_id",
        "k",
        (pl.col("t") + window).alias("reach"),
        # The run may end at k only if k's next instant is more than W after i's previous one.
        (pl.col("t_prev") + window + 1).fill_null(_NEVER_BEFORE).alias("after"),
    )
    ends = prepared.select("seller_id", pl.col("t").alias("reach"), pl.col("k").alias("stop"))
    # The last order of the same seller at or before t_i + W: where run i must stop.
    runs = starts.sort("reach").join_asof(
        ends.sort("reach"), on="reach", by="seller_id", strategy="backward",
        check_sortedness=False,
    )  # fmt: skip
    # The first instant's last order whose next instant is past t_prev(i) + W.
    lasts = prepared.filter(pl.col("k") == pl.col("group_last")).select(
        "seller_id",
        pl.col("t_next").fill_null(_NEVER_AFTER).alias("after"),
        pl.col("k").alias("from"),
    )
    runs = (
        runs.sort("after")
        .join_asof(
            lasts.sort("after"),
            on="after",
            by="seller_id",
            strategy="forward",
            check_sortedness=False,
        )
        .sort("k")
    )
    first = runs["k"].to_numpy()
    stop = runs["stop"].to_numpy()
    lowest = np.maximum(first, runs["from"].fill_null(_NEVER_AFTER).to_numpy())
    count = np.maximum(stop - lowest + 1, 0)
    prev = prepared["prev"].to_numpy()
    t = prepared["t"].to_numpy()
    group_last = prepared["group_last"].to_numpy()
    t_prev_null = prepared["t_prev"].is_null().to_numpy()
    t_next_null = prepared["t_next"].is_null().to_numpy()
    t_prev = prepared["t_prev"].fill_null(0).to_numpy()
    t_next = prepared["t_next"].fill_null(0).to_numpy()
    # Orders whose buyer ordered from this seller at most W before (prefix sums).
    has_prev = prev >= 0
    repeat = has_prev & (t - t[np.where(has_prev, prev, 0)] <= window)
    repeats_before = np.concatenate(([0], np.cumsum(repeat, dtype=np.int64)))

    offsets = np.repeat(np.cumsum(count) - count, count)
    i = np.repeat(first, count)
    k = np.repeat(lowest, count) + np.arange(int(count.sum()), dtype=np.int64) - offsets
    is_window = (group_last[k] == k) & (
        t_prev_null[i] | t_next_null[k] | (t_next[k] - t_prev[i] > window)
    )
    i, k = i[is_window], k[is_window]
    orders = k - i + 1
    fewest_buyers = orders - (repeats_before[k + 1] - repeats_before[i])
    possible = orders * denominator >= fewest_buyers * numerator
    i, k, orders = i[possible], k[possible], orders[possible]
    buyers = _buyers(prev, i, k)
    hit = orders * denominator >= buyers * numerator
    if not hit.any():
        return empty
    return pl.DataFrame(
        {"first": i[hit], "last": k[hit], "orders": orders[hit], "buyers": buyers[hit]}
    )


def _buyers(prev: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Unique buyers of each run ``first..last`` (pairs sorted by ``first``, then ``last``).

    A buyer is new at order ``j`` of run ``i..`` iff their previous order of the seller is
    before ``i``: one cumulative count per distinct start, as far as its longest pair, read off
    at each pair's end; runs in chunks of at most PAIR_CHUNK orders (at least one run)."""
    out = np.empty(len(first), dtype=np.int64)
    if not len(first):
        return out
    run_pairs = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
    run_pairs_end = np.r_[run_pairs[1:], len(first)]
    run_first = first[run_pairs]
    run_length = last[run_pairs_end - 1] - run_first + 1
    position = 0
    while position < len(run_first):
        budget = np.cumsum(run_length[position:])
        chunk = max(1, int(np.searchsorted(budget, PAIR_CHUNK, side="right")))
        lengths = run_length[position : position + chunk]
        heads = np.cumsum(lengths) - lengths
        starts = np.repeat(run_first[position : position + chunk], lengths)
        step = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(heads, lengths)
        new = (prev[starts + step] < starts).astype(np.int64)
        running = np.cumsum(new)
        counted = running - np.repeat(running[heads] - new[heads], lengths)
        low, high = run_pairs[position], run_pairs_end[position + chunk - 1]
        pairs_per_run = (
            run_pairs_end[position : position + chunk] - run_pairs[position : position + chunk]
        )
        head_of_pair = np.repeat(heads, pairs_per_run)
        out[low:high] = counted[head_of_pair + last[low:high] - first[low:high]]
        position += chunk
    return out


def top_buyers(buyer_ids: list[Any]) -> list[Any]:
    """The buyers with the most orders among ``buyer_ids`` (ties: all), sorted."""
    counts: dict[Any, int] = {}
    for buyer in buyer_ids:
        counts[buyer] = counts.get(buyer, 0) + 1
    best = max(counts.values())
    return sorted(buyer for buyer, count in counts.items() if count == best)


def from_us(us: int, aware: bool) -> datetime:
    """Microseconds since the epoch as a datetime (UTC-aware, or zone-less like the source)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return moment if aware else moment.replace(tzinfo=None)


def concentration_findings(orders: pa.Table, rule: Rule, aware: bool = True) -> list[Finding]:
    """One finding per brushing seller, sorted by seller. ``orders``: ``order_id``,
    ``seller_id``, ``buyer_id``, ``t`` (int64 microseconds since the epoch; ``aware`` says
    whether the source times were UTC-aware or zone-less)."""
    params: ConcentrationParams = rule.params()
    prepared = prepare(orders)
    windows = brushing_windows(prepared, params).sort("first", "last")
    if windows.is_empty():
        return []
    # Merge overlapping runs into periods (runs of different sellers never overlap: each
    # seller's orders are one contiguous block of ``k``).
    first, last = windows["first"].to_numpy(), windows["last"].to_numpy()
    reach = np.maximum.accumulate(last)
    opens = np.ones(len(first), dtype=bool)
    opens[1:] = first[1:] > reach[:-1]
    period_first = first[opens]
    period_last = np.maximum.reduceat(last, np.flatnonzero(opens))
    cover = np.zeros(prepared.height + 1, dtype=np.int64)
    np.add.at(cover, period_first, 1)
    np.add.at(cover, period_last + 1, -1)
    inside = prepared.filter(pl.Series(np.cumsum(cover)[:-1] > 0))
    counts = inside.group_by("seller_id", "buyer_id").agg(pl.len().alias("n"))
    top = (
        counts.filter(pl.col("n") == pl.col("n").max().over("seller_id"))
        .group_by("seller_id")
        .agg(pl.col("buyer_id").sort().alias("users"), pl.col("n").first().alias("top"))
    )
    t = prepared["t"].to_numpy()
    t_prev, t_next = prepared["t_prev"].to_list(), prepared["t_next"].to_list()
    seller_of = prepared["seller_id"]
    periods_by_seller: dict[Any, list[dict[str, Any]]] = {}
    for start, stop in zip(period_first.tolist(), period_last.tolist(), strict=True):
        periods_by_seller.setdefault(seller_of[start], []).append(
            {
                "start": from_us(int(t[start]), aware).isoformat(),
                "end": from_us(int(t[stop]), aware).isoformat(),
                "orders": stop - start + 1,
            }
        )
    windows_by_seller: dict[Any, list[dict[str, Any]]] = {}
    for row in windows.iter_rows(named=True):
        windows_by_seller.setdefault(seller_of[row["first"]], []).append(
            {
                "first_order_at_us": int(t[row["first"]]),
                "last_order_at_us": int(t[row["last"]]),
                "previous_order_at_us": t_prev[row["first"]],
                "next_order_at_us": t_next[row["last"]],
                "orders": row["orders"],
                "buyers": row["buyers"],
            }
        )
    orders_by_seller: dict[Any, list[dict[str, Any]]] = {}
    for seller_id, order_id, buyer_id, at in inside.select(
        "seller_id", "order_id", "buyer_id", "t"
    ).iter_rows():
        orders_by_seller.setdefault(seller_id, []).append(
            {"order_id": order_id, "buyer_id": buyer_id, "t_us": at}
        )
    findings = []
    for seller, users, top_count in top.sort("seller_id").iter_rows():
        seller_orders = orders_by_seller[seller]
        periods = periods_by_seller[seller]
        findings.append(
            Finding.of(
                rule,
                entity_type="seller",
                entity_id=seller,
                user_ids=list(users),
                window_start=datetime.fromisoformat(periods[0]["start"]),
                window_end=datetime.fromisoformat(periods[-1]["end"]),
                evidence={
                    "window_seconds": params.window_seconds,
                    "min_orders_per_buyer": params.min_orders_per_buyer,
                    "orders_in_brushing_periods": len(seller_orders),
                    "top_buyer_orders": top_count,
                    "top_buyer_share": round(top_count / len(seller_orders), 6),
                    "periods": periods,
                    "windows": windows_by_seller[seller],
                    "orders": seller_orders,
                },
            )
        )
    return findings


def replay(finding: Finding) -> list[Any]:
    """Recompute a brushing finding's decision from its evidence alone (pure): every recorded
    window is a window (spans at most W; its neighbours more than W apart) whose orders / unique
    buyers reach the threshold, and the brushing buyers are the top buyers of the orders in the
    periods. Returns the recomputed ``user_ids``; raises ``ValueError`` on any disagreement."""
    evidence = finding.evidence
    window_us = int(evidence["window_seconds"]) * _US
    numerator, denominator = _ratio(float(evidence["min_orders_per_buyer"]))
    orders = evidence["orders"]
    for window in evidence["windows"]:
        first, last = window["first_order_at_us"], window["last_order_at_us"]
        before, after = window["previous_order_at_us"], window["next_order_at_us"]
        inside = [row for row in orders if first <= row["t_us"] <= last]
        buyers = {row["buyer_id"] for row in inside}
        if last - first > window_us:
            raise ValueError(f"window at {first} spans more than {window_us} µs")
        if before is not None and after is not None and after - before <= window_us:
            raise ValueError(f"window at {first} cannot be held by one window alone")
        if len(inside) != window["orders"] or len(buyers) != window["buyers"]:
            raise ValueError(f"window at {first}: evidence does not hold its orders")
        if len(inside) * denominator < len(buyers) * numerator:
            raise ValueError(f"window at {first} is below the threshold")
    users = top_buyers([row["buyer_id"] for row in orders])
    if users != list(finding.user_ids):
        raise ValueError(f"top buyers {users} differ from the finding's {finding.user_ids}")
    return users
