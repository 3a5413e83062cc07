"""Order brushing beyond the concentration rule: buyer rings, fast refunds, self-purchases.

- ``buyer_rings``: buyer accounts linked by a shared device, delivery address or payment account
  (directly or through a chain: A shares a phone with B, B an address with C) form one ring, the
  connected component of the account–identifier graph (SciPy's ``connected_components`` over a
  sparse matrix; identifiers shared by more than ``max_accounts_per_value`` accounts, such as a
  parcel locker, are left out). A ring is reported at a seller where at least ``min_accounts``
  of its accounts placed at least ``min_orders`` orders.
- ``refund_after_stream``: orders refunded within ``max_hours_after_end`` after the stream that
  sold them ended, concentrated on few buyers (fake orders are cancelled once the sales count
  has done its work, before anything ships).
- ``self_purchase``: orders of a seller placed by the seller's own accounts, or from its devices,
  addresses or payment accounts (``seller_links``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from zhibo.risk.detectors.base import HOUR_US, ScanInputs, iso, runner
from zhibo.risk.rules import Rule
from zhibo.risk.schemas import Finding

Identifier = Literal["device_id", "address_hash", "payment_account"]
Link = Literal["user_id", "device_id", "address_hash", "payment_account"]


def _identifiers() -> list[Identifier]:
    return ["device_id", "address_hash", "payment_account"]


def _links() -> list[Link]:
    return ["user_id", "device_id", "address_hash", "payment_account"]


_EVIDENCE_ORDERS = 200


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuyerRingParams(_Params):
    """Rings of buyer accounts sharing identifiers."""

    #: Order fields that link accounts when two accounts use the same value.
    identifiers: list[Identifier] = Field(default_factory=_identifiers, min_length=1)
    #: Accounts of one ring that must have bought from the seller.
    min_accounts: int = Field(default=3, ge=2)
    #: Orders the ring placed with the seller.
    min_orders: int = Field(default=9, ge=1)
    #: A value used by more accounts than this (a parcel locker, an office) links nobody.
    max_accounts_per_value: int = Field(default=20, ge=2)


class FastRefundParams(_Params):
    """Orders refunded right after the stream that sold them."""

    #: "Right after": refunded at most this long after the stream ended.
    max_hours_after_end: float = Field(default=6.0, gt=0, le=72)
    #: Fast refunds of one stream needed for a finding.
    min_orders: int = Field(default=6, ge=1)
    #: Fast refunds per refunding buyer (fake orders come from few accounts).
    min_orders_per_buyer: float = Field(default=2.0, ge=1.0)
    #: Without session ids, a seller's orders more than this far apart belong to two streams.
    stream_gap_seconds: int = Field(default=2 * 3600, ge=60)


class SelfPurchaseParams(_Params):
    """Orders by the seller's own accounts or from its identifiers."""

    identifiers: list[Link] = Field(default_factory=_links, min_length=1)
    min_orders: int = Field(default=1, ge=1)


def _order_columns(orders: pl.DataFrame) -> list[str]:
    wanted = (
        "order_id",
        "buyer_id",
        "t",
        "amount_fen",
        "device_id",
        "address_hash",
        "payment_account",
    )
    return [c for c in wanted if c in orders.columns]


@runner(
    "buyer_rings",
    BuyerRingParams,
    ("orders", ("device_id",)),
    ("orders", ("address_hash",)),
    ("orders", ("payment_account",)),
)
def buyer_rings(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: BuyerRingParams = rule.params()
    orders = inputs.orders
    assert orders is not None
    kinds = [k for k in params.identifiers if k in orders.columns]
    if not kinds:
        return []
    links = pl.concat(
        [
            orders.select(
                "buyer_id",
                pl.lit(kind).alias("kind"),
                pl.col(kind).cast(pl.String).alias("value"),
            ).drop_nulls("value")
            for kind in kinds
        ]
    ).unique()
    links = links.filter(pl.col("value") != "")
    # Hubs link nobody; values seen with a single account link nobody either.
    links = links.with_columns(pl.len().over("kind", "value").alias("accounts")).filter(
        (pl.col("accounts") >= 2) & (pl.col("accounts") <= params.max_accounts_per_value)
    )
    if links.is_empty():
        return []
    buyers = links.select("buyer_id").unique().with_row_index("b")
    values = links.select("kind", "value").unique().with_row_index("v")
    edges = links.join(buyers, on="buyer_id").join(values, on=["kind", "value"])
    n_buyers, n_values = buyers.height, values.height
    source = edges["b"].to_numpy().astype(np.int64)
    target = edges["v"].to_numpy().astype(np.int64) + n_buyers
    size = n_buyers + n_values
    graph = coo_matrix((np.ones(len(source), dtype=np.int8), (source, target)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    buyers = buyers.with_columns(pl.Series("ring", label[:n_buyers]))
    placed = orders.join(buyers.select("buyer_id", "ring"), on="buyer_id")
    rings = (
        placed.group_by("seller_id", "ring")
        .agg(
            pl.col("buyer_id").n_unique().alias("accounts"),
            pl.len().alias("orders"),
            pl.col("t").min().alias("first"),
            pl.col("t").max().alias("last"),
        )
        .filter(
            (pl.col("accounts") >= params.min_accounts) & (pl.col("orders") >= params.min_orders)
        )
        .sort("seller_id", "ring")
    )
    findings: list[Finding] = []
    edges = edges.join(buyers.select("buyer_id", "ring"), on="buyer_id")
    for seller, ring, accounts, count, first, last in rings.iter_rows():
        ring_orders = placed.filter((pl.col("seller_id") == seller) & (pl.col("ring") == ring))
        members = sorted(ring_orders["buyer_id"].unique().to_list())
        shared = (
            edges.filter(pl.col("ring") == ring)
            .group_by("kind", "value")
            .agg(pl.col("buyer_id").unique().sort().alias("accounts"))
            .sort("kind", "value")
        )
        findings.append(
            Finding.of(
                rule,
                entity_type="seller",
                entity_id=seller,
                user_ids=members,
                window_start=inputs.at(first),
                window_end=inputs.at(last),
                evidence={
                    "ring_accounts": accounts,
                    "ring_orders": count,
                    "shared_identifiers": shared.to_dicts(),
                    "orders": ring_orders.sort("t")
                    .select(_order_columns(ring_orders))
                    .head(_EVIDENCE_ORDERS)
                    .to_dicts(),
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings


def _streams(inputs: ScanInputs, orders: pl.DataFrame, gap_us: int) -> pl.DataFrame:
    """Orders with ``stream`` (a key) and ``stream_end`` (µs)."""
    sessions = inputs.sessions
    if "session_id" in orders.columns:
        orders = orders.with_columns(pl.col("session_id").alias("stream"))
        if sessions is not None and "ended_t" in sessions.columns:
            ends = sessions.select(pl.col("session_id").alias("stream"), "ended_t")
            orders = orders.join(ends, on="stream", how="left")
            return orders.with_columns(
                pl.coalesce("ended_t", pl.col("t").max().over("seller_id", "stream")).alias(
                    "stream_end"
                )
            ).drop("ended_t")
        return orders.with_columns(
            pl.col("t").max().over("seller_id", "stream").alias("stream_end")
        )
    orders = orders.sort("seller_id", "t").with_columns(
        (pl.col("t").diff().over("seller_id").fill_null(gap_us + 1) > gap_us)
        .cum_sum()
        .over("seller_id")
        .alias("stream")
    )
    return orders.with_columns(pl.col("t").max().over("seller_id", "stream").alias("stream_end"))


@runner("refund_after_stream", FastRefundParams, ("orders", ("refunded_t",)))
def refund_after_stream(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: FastRefundParams = rule.params()
    orders = inputs.orders
    assert orders is not None
    streamed = _streams(inputs, orders, params.stream_gap_seconds * 1_000_000)
    limit = int(params.max_hours_after_end * HOUR_US)
    fast = streamed.filter(
        pl.col("refunded_t").is_not_null()
        & (pl.col("refunded_t") >= pl.col("stream_end"))
        & (pl.col("refunded_t") - pl.col("stream_end") <= limit)
    )
    per_buyer = math.ceil(params.min_orders_per_buyer)
    streams = (
        fast.group_by("seller_id", "stream")
        .agg(
            pl.len().alias("orders"),
            pl.col("buyer_id").n_unique().alias("buyers"),
            pl.col("stream_end").first(),
            pl.col("refunded_t").max().alias("last_refund"),
        )
        .filter(
            (pl.col("orders") >= params.min_orders)
            & (pl.col("orders") >= pl.col("buyers") * params.min_orders_per_buyer)
        )
        .sort("seller_id", "stream")
    )
    findings: list[Finding] = []
    for seller, stream, count, buyers, end, last_refund in streams.iter_rows():
        refunds = fast.filter((pl.col("seller_id") == seller) & (pl.col("stream") == stream))
        counts = refunds.group_by("buyer_id").len()
        users = sorted(counts.filter(pl.col("len") >= per_buyer)["buyer_id"].to_list())
        total = streamed.filter(
            (pl.col("seller_id") == seller) & (pl.col("stream") == stream)
        ).height
        findings.append(
            Finding.of(
                rule,
                entity_type="seller",
                entity_id=seller,
                user_ids=users,
                window_start=inputs.at(end),
                window_end=inputs.at(last_refund),
                evidence={
                    "stream": stream,
                    "stream_end": iso(end),
                    "stream_orders": total,
                    "fast_refunds": count,
                    "refunding_buyers": buyers,
                    "orders": refunds.sort("t")
                    .select(*_order_columns(refunds), "refunded_t")
                    .head(_EVIDENCE_ORDERS)
                    .to_dicts(),
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings


@runner("self_purchase", SelfPurchaseParams, ("seller_links", ()))
def self_purchase(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: SelfPurchaseParams = rule.params()
    orders, links = inputs.orders, inputs.seller_links
    if orders is None or links is None:
        return []
    matched: list[pl.DataFrame] = []
    for kind in params.identifiers:
        order_column = "buyer_id" if kind == "user_id" else kind
        if kind not in links.columns or order_column not in orders.columns:
            continue
        own = (
            links.select("seller_id", pl.col(kind).cast(pl.String).alias("value"))
            .drop_nulls()
            .unique()
        )
        hits = orders.with_columns(pl.col(order_column).cast(pl.String).alias("value")).join(
            own, on=["seller_id", "value"]
        )
        matched.append(
            hits.select(
                "seller_id",
                "order_id",
                "buyer_id",
                "t",
                pl.lit(kind).alias("linked_by"),
                (pl.lit(kind + "=") + pl.col("value")).alias("links"),
            )
        )
    if not matched:
        return []
    hits = (
        pl.concat(matched)
        .group_by("seller_id", "order_id", "buyer_id", "t")
        .agg(pl.col("linked_by").unique().sort(), pl.col("links").unique().sort())
    )
    sellers = (
        hits.group_by("seller_id")
        .agg(pl.len().alias("orders"), pl.col("t").min().alias("first"), pl.col("t").max())
        .filter(pl.col("orders") >= params.min_orders)
        .sort("seller_id")
    )
    findings = []
    for seller, count, first, last in sellers.iter_rows():
        own_orders = hits.filter(pl.col("seller_id") == seller).sort("t")
        findings.append(
            Finding.of(
                rule,
                entity_type="seller",
                entity_id=seller,
                user_ids=sorted(own_orders["buyer_id"].unique().to_list()),
                window_start=inputs.at(first),
                window_end=inputs.at(last),
                evidence={
                    "self_purchases": count,
                    # ``links``: the seller's own identifiers each order used (``kind=value``).
                    "orders": own_orders.drop("seller_id").head(_EVIDENCE_ORDERS).to_dicts(),
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings
