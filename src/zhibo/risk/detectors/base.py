"""What every batch detector shares: the canonical inputs and the runner registry.

A batch detector is a pure function ``(inputs, rule) -> list[Finding]`` over Polars frames in
canonical form (ids as Int64 or String, times as Int64 microseconds since the epoch in UTC).
It registers its parameter model with :func:`zhibo.risk.rules.register_detector` (so rule files
are validated against it) and itself with :func:`runner`, naming the inputs it needs; a scan
runs every running rule whose detector has its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from pydantic import BaseModel

from zhibo.risk.rules import Rule, register_detector
from zhibo.risk.schemas import Finding

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86_400 * US


@dataclass
class ScanInputs:
    """Canonical frames a scan reads (any may be absent).

    - ``orders``: ``order_id, seller_id, buyer_id, t`` and optionally ``amount_fen,
      device_id, address_hash, payment_account, refunded_t, session_id, product_id``;
    - ``events``: ``user_id, t`` and optionally ``text, type, event_id, session_id, room_id,
      device_id, ip, count, amount_fen, gift_id``;
    - ``prices``: ``product_id, price_fen, t`` (when the price took effect) and
      ``reference_price_fen`` (the struck-through "original" price, null when none);
    - ``viewers``: ``user_id`` and any of ``is_minor, birth_date, real_name_verified``;
    - ``accounts``: ``account_id, created_t`` and any of ``id_number_hash, phone_hash,
      device_ids`` (accounts checked against the blacklist);
    - ``blacklist``: ``entry_id, listed_t`` and ``expires_t, id_number_hash, phone_hash,
      device_ids``;
    - ``seller_links``: ``seller_id`` with any of ``user_id, device_id, address_hash,
      payment_account`` (the streamer's own accounts and identifiers);
    - ``sessions``: ``session_id`` and ``ended_t, seller_id, title``;
    - ``products``: ``product_id, title, description``.
    """

    orders: pl.DataFrame | None = None
    events: pl.DataFrame | None = None
    prices: pl.DataFrame | None = None
    viewers: pl.DataFrame | None = None
    accounts: pl.DataFrame | None = None
    blacklist: pl.DataFrame | None = None
    seller_links: pl.DataFrame | None = None
    sessions: pl.DataFrame | None = None
    products: pl.DataFrame | None = None
    #: Whether the source times carried a zone (zone-less times stay zone-less in findings).
    aware: bool = True
    #: How accounts are named in findings (``account``; ``streamer`` for the simulator).
    account_type: str = "account"

    def present(self) -> set[str]:
        return {f.name for f in fields(self) if isinstance(getattr(self, f.name), pl.DataFrame)}

    def has(self, name: str, *columns: str) -> bool:
        frame = getattr(self, name)
        return isinstance(frame, pl.DataFrame) and all(c in frame.columns for c in columns)

    def at(self, us: int | None) -> datetime | None:
        return None if us is None else from_us(int(us), self.aware)


Detect = Callable[[ScanInputs, Rule], list[Finding]]


@dataclass(frozen=True)
class Runner:
    detect: Detect
    #: Inputs and columns it needs, e.g. ``{"orders": ("device_id",)}``: any one entry of
    #: ``needs_any`` present is enough.
    needs_any: tuple[tuple[str, tuple[str, ...]], ...]

    def can_run(self, inputs: ScanInputs) -> bool:
        return any(inputs.has(name, *columns) for name, columns in self.needs_any)


RUNNERS: dict[str, Runner] = {}


def runner(
    name: str, parameters: type[BaseModel] | None, *needs_any: tuple[str, tuple[str, ...]]
) -> Callable[[Detect], Detect]:
    """Register a batch detector and its parameter model under ``name`` (``None``: a detector
    whose model :mod:`zhibo.risk.rules` already holds, shared with the real-time engine)."""

    def register(detect: Detect) -> Detect:
        if parameters is not None:
            register_detector(name, parameters)
        RUNNERS[name] = Runner(detect, tuple(needs_any))
        return detect

    return register


def from_us(us: int, aware: bool) -> datetime:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return moment if aware else moment.replace(tzinfo=None)


def iso(us: int | None) -> str | None:
    """Microseconds as ISO 8601 UTC text, for evidence."""
    return None if us is None else from_us(int(us), True).isoformat()


def rows(frame: pl.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    """Evidence rows (at most ``limit``), times left as microseconds under ``*_us`` names."""
    part = frame if limit is None else frame.head(limit)
    return part.to_dicts()
