"""Minors and tipping (2021 Measures: only real-name adults may tip; caps per tip, day, month).

- ``minor_tipping``: tips (``gift`` events with an amount) sent by minors, and, with
  ``require_real_name``, by accounts without real-name verification (whose age nobody knows).
  Age comes from ``viewers``: ``is_minor``, or the ``birth_date`` at the time of the tip.
- ``minor_purchases``: minors' orders above ``per_order_fen`` or their spending above
  ``per_day_fen`` in one local day.
- ``tipping_caps``: an account's tips above ``per_tip_fen`` in one tip, ``per_day_fen`` in one
  local day or ``per_month_fen`` in one local month. The defaults are the platform's caps
  (``Settings.tip_max_per_tip_fen`` ..., which the live tipping check in
  ``zhibo.identity.tipping`` enforces): the batch rule finds what got past them.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from zhibo.risk.detectors.base import ScanInputs, runner
from zhibo.risk.rules import Rule
from zhibo.risk.schemas import Finding

_EVIDENCE_ROWS = 200


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MinorTippingParams(_Params):
    """Tips by minors (and by accounts whose age is not verified)."""

    #: Below this age a person is a minor.
    adult_age: int = Field(default=18, ge=1, le=30)
    #: Also report tips from accounts without real-name verification.
    require_real_name: bool = True
    #: Event types that are tips.
    tip_types: list[str] = Field(default_factory=lambda: ["gift"], min_length=1)


class MinorPurchaseParams(_Params):
    """Minors' purchases beyond limits."""

    adult_age: int = Field(default=18, ge=1, le=30)
    per_order_fen: int = Field(default=50_000, ge=0)
    per_day_fen: int = Field(default=100_000, ge=0)
    timezone: str = "Asia/Shanghai"


class TippingCapParams(_Params):
    """Caps on one account's tips."""

    per_tip_fen: int = Field(default=50_000, ge=0)
    per_day_fen: int = Field(default=500_000, ge=0)
    per_month_fen: int = Field(default=5_000_000, ge=0)
    #: Days and months are local calendar days and months in this zone.
    timezone: str = "Asia/Shanghai"
    tip_types: list[str] = Field(default_factory=lambda: ["gift"], min_length=1)


def _ages(frame: pl.DataFrame, viewers: pl.DataFrame, user: str, adult_age: int) -> pl.DataFrame:
    """``frame`` joined with what ``viewers`` knows: ``minor`` (bool) and ``verified``."""
    columns = ["user_id"] + [
        c for c in ("is_minor", "birth_date", "real_name_verified") if c in viewers.columns
    ]
    joined = frame.join(
        viewers.select(columns).unique("user_id"), left_on=user, right_on="user_id", how="left"
    )
    minor = pl.lit(False)
    if "birth_date" in columns:
        at = pl.from_epoch(pl.col("t"), time_unit="us").dt.date()
        # Minor at the time: the adult birthday is still ahead.
        adult_on = pl.col("birth_date").dt.offset_by(f"{adult_age}y")
        minor = minor | (pl.col("birth_date").is_not_null() & (at < adult_on))
    if "is_minor" in columns:
        minor = minor | pl.col("is_minor").fill_null(False)
    verified = (
        pl.col("real_name_verified").fill_null(False)
        if "real_name_verified" in columns
        else pl.lit(True)
    )
    return joined.with_columns(minor.alias("minor"), verified.alias("verified"))


def _tips(inputs: ScanInputs, types: list[str]) -> pl.DataFrame:
    events = inputs.events
    assert events is not None
    return events.filter(pl.col("type").is_in(types) & pl.col("amount_fen").is_not_null())


@runner("minor_tipping", MinorTippingParams, ("events", ("type", "amount_fen")))
def minor_tipping(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: MinorTippingParams = rule.params()
    if inputs.viewers is None:
        return []
    tips = _ages(_tips(inputs, params.tip_types), inputs.viewers, "user_id", params.adult_age)
    bad = pl.col("minor") | (pl.lit(params.require_real_name) & ~pl.col("verified"))
    tips = tips.filter(bad).with_columns(
        pl.when(pl.col("minor"))
        .then(pl.lit("minor"))
        .otherwise(pl.lit("not_real_name_verified"))
        .alias("reason")
    )
    by_session = "session_id" in tips.columns
    key = "session_id" if by_session else "user_id"
    tips = tips.filter(pl.col(key).is_not_null())
    groups = (
        tips.group_by(key)
        .agg(
            pl.col("user_id").unique().sort().alias("users"),
            pl.col("t").min().alias("first"),
            pl.col("t").max().alias("last"),
        )
        .sort(key)
    )
    findings = []
    for entity, users, first, last in groups.iter_rows():
        mine = tips.filter(pl.col(key) == entity)
        per_user = (
            mine.group_by("user_id", "reason")
            .agg(pl.len().alias("tips"), pl.col("amount_fen").sum())
            .sort("user_id")
        )
        evidence_columns = [
            c for c in ("event_id", "user_id", "t", "amount_fen", "reason") if c in mine.columns
        ]
        findings.append(
            Finding.of(
                rule,
                entity_type="session" if by_session else "user",
                entity_id=entity,
                user_ids=list(users),
                window_start=inputs.at(first),
                window_end=inputs.at(last),
                evidence={
                    "tippers": per_user.to_dicts(),
                    "tips": mine.sort("t").select(evidence_columns).head(_EVIDENCE_ROWS).to_dicts(),
                    "truncated": mine.height > _EVIDENCE_ROWS,
                    "parameters": params.model_dump(),
                },
            )
        )
    return findings


def _local(column: str, zone: str, unit: str) -> pl.Expr:
    moment = pl.from_epoch(pl.col(column), time_unit="us").dt.replace_time_zone("UTC")
    return moment.dt.convert_time_zone(zone).dt.truncate(unit).dt.date()


def _breaches(
    frame: pl.DataFrame,
    user: str,
    params_per_item: int,
    params_per_day: int,
    zone: str,
    month: int | None = None,
) -> pl.DataFrame:
    """Per user: single items over the item cap, and days (months) over the day (month) cap."""
    parts = [
        frame.filter(pl.col("amount_fen") > params_per_item).select(
            pl.col(user).alias("user"),
            pl.lit("per_item").alias("cap"),
            pl.col("t").alias("first"),
            pl.col("t").alias("last"),
            pl.col("amount_fen").alias("amount_fen"),
            pl.lit(params_per_item).alias("limit_fen"),
        )
    ]
    periods = [("per_day", "1d", params_per_day)]
    if month is not None:
        periods.append(("per_month", "1mo", month))
    for name, unit, limit in periods:
        parts.append(
            frame.group_by(pl.col(user).alias("user"), _local("t", zone, unit).alias("period"))
            .agg(
                pl.col("t").min().alias("first"),
                pl.col("t").max().alias("last"),
                pl.col("amount_fen").sum(),
            )
            .filter(pl.col("amount_fen") > limit)
            .select(
                "user",
                pl.lit(name).alias("cap"),
                "first",
                "last",
                "amount_fen",
                pl.lit(limit).alias("limit_fen"),
            )
        )
    return pl.concat(parts).sort("user", "first", "cap")


def _per_user(
    inputs: ScanInputs,
    rule: Rule,
    breaches: pl.DataFrame,
    extra: dict[str, object],
    source: pl.DataFrame,
    user_column: str,
    kept: tuple[str, ...],
    name: str,
) -> list[Finding]:
    """One finding per user, with the breaches and the input rows behind them (``name``: the
    user's rows inside a breached period, at most :data:`_EVIDENCE_ROWS`, ``truncated`` when
    more), so that the finding can be replayed."""
    findings = []
    columns = [c for c in kept if c in source.columns]
    for (user,), mine in breaches.group_by("user", maintain_order=True):
        inside = pl.lit(False)
        for first, last in mine.select("first", "last").iter_rows():
            inside = inside | pl.col("t").is_between(first, last)
        behind = source.filter((pl.col(user_column) == user) & inside).sort("t")
        findings.append(
            Finding.of(
                rule,
                entity_type="user",
                entity_id=user,
                user_ids=[user],
                window_start=inputs.at(mine["first"].min()),  # type: ignore[arg-type]
                window_end=inputs.at(mine["last"].max()),  # type: ignore[arg-type]
                evidence={
                    "breaches": mine.drop("user").head(_EVIDENCE_ROWS).to_dicts(),
                    name: behind.select(columns).head(_EVIDENCE_ROWS).to_dicts(),
                    f"{name}_count": behind.height,
                    "truncated": behind.height > _EVIDENCE_ROWS,
                    **extra,
                },
            )
        )
    return findings


@runner("tipping_caps", TippingCapParams, ("events", ("type", "amount_fen")))
def tipping_caps(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: TippingCapParams = rule.params()
    tips = _tips(inputs, params.tip_types)
    breaches = _breaches(
        tips,
        "user_id",
        params.per_tip_fen,
        params.per_day_fen,
        params.timezone,
        params.per_month_fen,
    )
    kept = ("event_id", "user_id", "t", "amount_fen")
    extra: dict[str, object] = {"parameters": params.model_dump()}
    return _per_user(inputs, rule, breaches, extra, tips, "user_id", kept, "tips")


@runner("minor_purchases", MinorPurchaseParams, ("orders", ("amount_fen",)))
def minor_purchases(inputs: ScanInputs, rule: Rule) -> list[Finding]:
    params: MinorPurchaseParams = rule.params()
    if inputs.viewers is None or inputs.orders is None:
        return []
    orders = _ages(inputs.orders, inputs.viewers, "buyer_id", params.adult_age).filter(
        pl.col("minor")
    )
    breaches = _breaches(
        orders, "buyer_id", params.per_order_fen, params.per_day_fen, params.timezone
    )
    # The rows are the minor's orders (each was placed by a minor: ``minor`` is true).
    kept = ("order_id", "buyer_id", "t", "amount_fen", "minor")
    extra: dict[str, object] = {"parameters": params.model_dump()}
    return _per_user(inputs, rule, breaches, extra, orders, "buyer_id", kept, "orders")
