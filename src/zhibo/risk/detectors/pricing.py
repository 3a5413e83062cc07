"""Price fraud, from a product's price history (``prices``: each row is a price that took effect
at ``t``, with the struck-through reference ("original") price shown from then, if any).

A promotion starts at the first row of a run of rows showing the same reference price above
the price charged.

- ``reference_price``: the reference price must not exceed the lowest price actually charged in
  the ``lookback_days`` (7) before the promotion started: the price in effect when that period
  began and every price that took effect during it. A reference shown on a product with no
  earlier price at all was never charged (``flag_without_history``).
- ``raise_then_discount``: the price was raised by at least ``min_raise_bp`` in the
  ``lookback_days`` (30) before the promotion, and the "discounted" price is back at (or within
  ``tolerance_bp`` of) the price before the raise, under a reference at least the raised price.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from zhibo.risk.detectors.base import DAY_US, ScanInputs, iso, runner
from zhibo.risk.rules import Rule
from zhibo.risk.schemas import Finding


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferencePriceParams(_Params):
    """The struck-through price must be the lowest price charged in the days before."""

    lookback_days: float = Field(default=7, gt=0, le=90)
    #: Reference prices up to this much above the lowest price are tolerated (rounding).
    tolerance_fen: int = Field(default=0, ge=0)
    #: Report a reference price shown with no earlier price at all (never charged).
    flag_without_history: bool = True


class RaiseThenDiscountParams(_Params):
    """A price raised shortly before a "discount" back to about the old price."""

    lookback_days: float = Field(default=30, gt=0, le=365)
    #: The raise, in basis points of the earlier price (2000 = +20 %).
    min_raise_bp: int = Field(default=2000, ge=1)
    #: The promotion price may be this much above the price before the raise.
    tolerance_bp: int = Field(default=500, ge=0, le=10_000)


def promotions(prices: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(history, starts)``: the price rows sorted with a row number ``k`` per product, and one
    row per promotion start (``product_id, k, start, price_fen, reference_price_fen``)."""
    history = (
        prices.select("product_id", "t", "price_fen", "reference_price_fen")
        .sort("product_id", "t")
        .with_columns(pl.int_range(pl.len()).over("product_id").alias("k"))
    )
    shown = pl.col("reference_price_fen").is_not_null() & (
        pl.col("reference_price_fen") > pl.col("price_fen")
    )
    previous = pl.col("reference_price_fen").shift(1).over("product_id")
    starts = history.filter(
        shown & (previous.is_null() | (previous != pl.col("reference_price_fen")))
    ).select(
        "product_id",
        "k",
        pl.col("t").alias("start"),
        "price_fen",
        "reference_price_fen",
    )
    return history, starts


@runner("reference_price", ReferencePriceParams, ("prices", ("reference_price_fen",)))
def reference_price(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: ReferencePriceParams = rule.params()
    assert inputs.prices is not None
    history, starts = promotions(inputs.prices)
    lookback = int(params.lookback_days * DAY_US)
    before = starts.join(
        history.select("product_id", pl.col("t").alias("at"), pl.col("price_fen").alias("paid")),
        on="product_id",
    ).filter(pl.col("at") < pl.col("start"))
    # In effect during the period: what took effect inside it, and the last price before it.
    opening = pl.col("at") <= pl.col("start") - lookback
    in_effect = before.filter(
        ~opening | (pl.col("at") == pl.col("at").filter(opening).max().over("product_id", "k"))
    )
    lowest = in_effect.group_by("product_id", "k").agg(
        pl.col("paid").min().alias("lowest"),
        pl.struct("at", "paid").sort_by("at").alias("charged"),
    )
    judged = starts.join(lowest, on=["product_id", "k"], how="left").filter(
        pl.when(pl.col("lowest").is_null())
        .then(pl.lit(params.flag_without_history))
        .otherwise(pl.col("reference_price_fen") > pl.col("lowest") + params.tolerance_fen)
    )
    findings = []
    for row in judged.sort("product_id", "start").iter_rows(named=True):
        charged = row["charged"] or []
        findings.append(
            Finding.of(
                rule,
                entity_type="product",
                entity_id=row["product_id"],
                window_start=inputs.at(row["start"] - lookback),
                window_end=inputs.at(row["start"]),
                evidence={
                    "promotion_start": iso(row["start"]),
                    "reference_price_fen": row["reference_price_fen"],
                    "price_fen": row["price_fen"],
                    "lowest_price_fen": row["lowest"],
                    "prices_charged": [
                        {"effective_at": iso(item["at"]), "price_fen": item["paid"]}
                        for item in charged
                    ],
                    "lookback_days": params.lookback_days,
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings


@runner("raise_then_discount", RaiseThenDiscountParams, ("prices", ("reference_price_fen",)))
def raise_then_discount(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: RaiseThenDiscountParams = rule.params()
    assert inputs.prices is not None
    history, starts = promotions(inputs.prices)
    raises = (
        history.with_columns(pl.col("price_fen").shift(1).over("product_id").alias("before"))
        .filter(
            pl.col("before").is_not_null()
            & (pl.col("price_fen") * 10_000 >= pl.col("before") * (10_000 + params.min_raise_bp))
        )
        .select(
            "product_id",
            pl.col("t").alias("raised_at"),
            pl.col("before").alias("price_before_fen"),
            pl.col("price_fen").alias("raised_fen"),
        )
    )
    lookback = int(params.lookback_days * DAY_US)
    hits = (
        starts.join(raises, on="product_id")
        .filter(
            (pl.col("raised_at") < pl.col("start"))
            & (pl.col("raised_at") >= pl.col("start") - lookback)
            & (pl.col("reference_price_fen") >= pl.col("raised_fen"))
            & (
                pl.col("price_fen") * 10_000
                <= pl.col("price_before_fen") * (10_000 + params.tolerance_bp)
            )
        )
        .sort("product_id", "start", "raised_at")
        .unique(["product_id", "k"], keep="last", maintain_order=True)
    )
    return [
        Finding.of(
            rule,
            entity_type="product",
            entity_id=row["product_id"],
            window_start=inputs.at(row["raised_at"]),
            window_end=inputs.at(row["start"]),
            evidence={
                "price_before_fen": row["price_before_fen"],
                "raised_at": iso(row["raised_at"]),
                "raised_fen": row["raised_fen"],
                "promotion_start": iso(row["start"]),
                "reference_price_fen": row["reference_price_fen"],
                "price_fen": row["price_fen"],
                "parameters": params.model_dump(),
            },
        )
        for row in hits.iter_rows(named=True)
    ]
