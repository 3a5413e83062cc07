"""Settlement's knobs, read from the environment (prefix ``ZHIBO_SETTLEMENT_``).

Kept beside the domain rather than in ``zhibo.config`` so the money rules are read in one place;
each is recorded with the commission rows it produced (rates) or is harmless to change (sizes).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettlementSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZHIBO_SETTLEMENT_", env_file=".env", extra="ignore"
    )

    platform_fee_bp: int = Field(
        default=1000,
        ge=0,
        le=10_000,
        description="Platform service fee, in basis points of the commission (1000 = 10 %).",
    )
    tax_bp: int = Field(
        default=2000,
        ge=0,
        le=10_000,
        description="Tax withheld from a streamer's share, in basis points (2000 = 20 %, the "
        "labour-remuneration rate). Partners are organisations and file their own tax.",
    )
    rate_lock_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="Days a commission rate stays locked after a brand announces a decrease: "
        "orders paid in between earn the old, higher rate.",
    )
    chunk_orders: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="Orders per committed chunk of a settlement run (a kill loses at most one).",
    )
    mark_orders_settled: bool = Field(
        default=False,
        description="Also move each settled order's row to the `settled` state (one UPDATE per "
        "chunk of orders: ~2/3 of a million-order run on PostgreSQL). Off (default): an order "
        "is settled when its commission settlement item exists; the orders API shows it so, "
        "and runs read only the queue of orders still to settle (`settlement_pending`).",
    )
    chunk_payees: int = Field(
        default=2_000,
        ge=1,
        le=1_000_000,
        description="Payees per committed chunk of payout batches.",
    )
    chunk_pause_seconds: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="Testing hook: sleep between committed chunks so a kill lands mid-run.",
    )


@lru_cache(maxsize=1)
def get_settlement_settings() -> SettlementSettings:
    return SettlementSettings()
