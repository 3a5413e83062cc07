"""Builders for the batch detector tests: canonical frames from small lists, and the built-in
rules with parameters overridden."""

from __future__ import annotations

from typing import Any

import polars as pl

from zhibo.risk.detectors import RUNNERS, ScanInputs
from zhibo.risk.rules import Rule, default_rules
from zhibo.risk.schemas import Finding

T0 = 1_700_000_000  # seconds since the epoch (2023-11-14 22:13:20 UTC)
US = 1_000_000


def us(seconds: float) -> int:
    """``T0 + seconds`` in microseconds."""
    return int((T0 + seconds) * US)


def rule(rule_id: str, **parameters: Any) -> Rule:
    """The built-in rule ``rule_id`` with some parameters changed."""
    base = default_rules().get(rule_id)
    return base.model_copy(update={"parameters": {**base.parameters, **parameters}})


def detect(rule_id: str, inputs: ScanInputs, **parameters: Any) -> list[Finding]:
    chosen = rule(rule_id, **parameters)
    runner = RUNNERS[chosen.detector]
    assert runner.can_run(inputs), f"{rule_id} cannot run on {inputs.present()}"
    return runner.detect(inputs, chosen)


def frame(rows: list[dict[str, Any]], **schema: Any) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides=schema, strict=False)


def events(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Events from dicts with ``user_id, t`` (seconds after T0) and any other field."""
    converted = [{**row, "t": us(row["t"])} for row in rows]
    return pl.DataFrame(
        converted,
        schema_overrides={
            "session_id": pl.Int64,
            "room_id": pl.Int64,
            "user_id": pl.Int64,
            "t": pl.Int64,
            "type": pl.String,
            "text": pl.String,
            "device_id": pl.String,
            "ip": pl.String,
            "count": pl.Int64,
            "amount_fen": pl.Int64,
        },
        infer_schema_length=None,
    )


def orders(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Orders from dicts with ``order_id, seller_id, buyer_id, t`` (seconds after T0) and any
    optional field (``refunded`` in seconds after T0 becomes ``refunded_t``)."""
    converted = []
    for row in rows:
        item = {**row, "t": us(row["t"])}
        if "refunded" in item:
            refunded = item.pop("refunded")
            item["refunded_t"] = None if refunded is None else us(refunded)
        converted.append(item)
    return pl.DataFrame(
        converted,
        schema_overrides={
            "order_id": pl.Int64,
            "seller_id": pl.Int64,
            "buyer_id": pl.Int64,
            "t": pl.Int64,
            "refunded_t": pl.Int64,
            "session_id": pl.Int64,
            "device_id": pl.String,
            "address_hash": pl.String,
            "payment_account": pl.String,
            "amount_fen": pl.Int64,
        },
        infer_schema_length=None,
    )
