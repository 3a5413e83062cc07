"""A risk-oriented ranking of viewers and buyers, for the risk engine: new, unverified accounts
on devices shared with many others that refund most of what they buy rank first.

Features (integers): ``account_age_days``, ``verified`` (0/1), ``shared_device_accounts`` (the
most other accounts seen on one of its devices), ``orders_90d``, ``refund_rate_bp_90d``
(refunded orders / orders). Each becomes a risk percentile (midrank, as in grading) and the
score is their weighted mean, 0..10000 bp. Risk findings will join the features once the risk
engine records them per account.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.grading.metrics import window_end
from zhibo.models import Order, Viewer, ViewerDevice

#: Feature → (weight, whether a higher value is riskier).
RISK_WEIGHTS: dict[str, tuple[int, bool]] = {
    "account_age_days": (20, False),
    "verified": (15, False),
    "shared_device_accounts": (30, True),
    "refund_rate_bp_90d": (25, True),
    "orders_90d": (10, True),
}
BP = 10_000


def viewer_features(db: Session, as_of: date) -> pl.DataFrame:
    end = window_end(as_of)
    viewers = pl.DataFrame(
        db.execute(select(Viewer.id, Viewer.account_created_at, Viewer.real_name_verified)).all(),
        schema={
            "viewer_id": pl.Int64,
            "created_at": pl.Datetime("us", "UTC"),
            "verified": pl.Int64,
        },
        orient="row",
    )
    devices = pl.DataFrame(
        db.execute(select(ViewerDevice.viewer_id, ViewerDevice.device_id)).all(),
        schema={"viewer_id": pl.Int64, "device_id": pl.String},
        orient="row",
    )
    orders = pl.DataFrame(
        db.execute(
            select(Order.buyer_id, Order.refunded_fen).where(
                Order.paid_at >= end - timedelta(days=90), Order.paid_at < end
            )
        ).all(),
        schema={"viewer_id": pl.Int64, "refunded_fen": pl.Int64},
        orient="row",
    )
    shared = (
        devices.join(devices.group_by("device_id").agg(pl.len().alias("accounts")), on="device_id")
        .group_by("viewer_id")
        .agg((pl.col("accounts").max() - 1).cast(pl.Int64).alias("shared_device_accounts"))
    )
    bought = orders.group_by("viewer_id").agg(
        pl.len().cast(pl.Int64).alias("orders_90d"),
        (pl.col("refunded_fen") > 0).sum().cast(pl.Int64).alias("refunded_orders"),
    )
    as_of_start = end - timedelta(days=1)
    return (
        viewers.join(shared, on="viewer_id", how="left")
        .join(bought, on="viewer_id", how="left")
        .with_columns(
            ((pl.lit(as_of_start) - pl.col("created_at")).dt.total_days())
            .clip(lower_bound=0)
            .cast(pl.Int64)
            .alias("account_age_days"),
            pl.col("shared_device_accounts").fill_null(0),
            pl.col("orders_90d").fill_null(0),
        )
        .with_columns(
            pl.when(pl.col("orders_90d") > 0)
            .then(pl.col("refunded_orders").fill_null(0) * BP // pl.col("orders_90d"))
            .otherwise(0)
            .cast(pl.Int64)
            .alias("refund_rate_bp_90d")
        )
        .select("viewer_id", *RISK_WEIGHTS)
        .sort("viewer_id")
    )


def rank_viewers(features: pl.DataFrame) -> pl.DataFrame:
    """Features plus ``risk_bp`` (0..10000), riskiest first."""
    n = features.height
    total = sum(weight for weight, _ in RISK_WEIGHTS.values())
    parts = []
    for name, (weight, riskier_high) in RISK_WEIGHTS.items():
        risk = pl.col(name) if riskier_high else -pl.col(name)
        midrank = risk.rank("min").cast(pl.Int64) + risk.rank("max").cast(pl.Int64) - 2
        parts.append(midrank * BP // max(2 * (n - 1), 1) * weight)
    score = pl.sum_horizontal(parts) // total if parts else pl.lit(0)
    return features.with_columns(score.cast(pl.Int64).alias("risk_bp")).sort(
        ["risk_bp", "viewer_id"], descending=[True, False]
    )
