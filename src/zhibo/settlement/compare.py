"""What-if: replay order history under settlement policies, without touching the ledger.

For every order with a streamer, the replay knows when it was paid, when its event (receipt
confirmed, or delivered) happened, its commission to payees (the streamer's share net of tax
plus the partner's share, before and after refunds) and when it was last refunded. Under each
policy it computes the day the commission becomes payable (per the streamer's level), and:

* **days to cash**: from payment to that day (00:00 UTC), per order, as mean, p50 and p90;
  ``*_full_*`` also waits for the reserve's release;
* **cash paid by day**: payouts, reserve releases and claw-backs per day;
* **reserve**: the part held back, its peak and daily mean.

A refund before the payable day reduces what is paid; a refund after it is paid in full and
clawed back on the day a payout for the refund's own cycle would happen. Orders without their
event yet are counted as pending and left out of the statistics, unless ``project_pending``
estimates their event as payment + the median observed payment-to-event lag (useful on young
data, such as the demo's week). Everything is reported
overall and per payee group: the streamer's level and the partner.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.kit.time import start_of_day
from zhibo.models import Order, OrderCommission, Product, Streamer
from zhibo.settlement.accrual import (
    _contracts,
    _locked_decreases,
    _partner_share_bp,
    rate_in_force,
)
from zhibo.settlement.commission import refunded_part, split_commission
from zhibo.settlement.config import SettlementSettings, get_settlement_settings
from zhibo.settlement.policy import SettlementPolicy

DAY_SECONDS = 86_400.0


@dataclass
class History:
    """Order history as columns (one row per order with a streamer)."""

    order_id: np.ndarray
    paid_at: list[datetime]
    confirmed_at: list[datetime | None]
    delivered_at: list[datetime | None]
    refunded_at: list[datetime | None]
    level: np.ndarray
    partner_id: list[int | None]
    #: Payees' commission before any refund, and after all refunds so far, in fen.
    gross_fen: np.ndarray
    net_fen: np.ndarray

    def __len__(self) -> int:
        return len(self.order_id)


def load_history(
    db: Session,
    settings: SettlementSettings | None = None,
    paid_from: date | None = None,
    paid_to: date | None = None,
) -> History:
    """Read order history; commission comes from accrued rows, or is computed as accrual
    would for orders not accrued yet (nothing is written)."""
    settings = settings or get_settlement_settings()
    query = (
        select(
            Order.id,
            Order.paid_at,
            Order.confirmed_at,
            Order.delivered_at,
            Order.refunded_at,
            Order.refunded_fen,
            Order.amount_fen,
            Order.commission_rate_bp,
            Order.streamer_id,
            Order.partner_id,
            Order.product_id,
            Streamer.level,
            OrderCommission,
        )
        .join(Streamer, Streamer.id == Order.streamer_id)
        .join(Product, Product.id == Order.product_id)
        .outerjoin(OrderCommission, OrderCommission.order_id == Order.id)
        .order_by(Order.id)
    )
    if paid_from is not None:
        query = query.where(Order.paid_at >= start_of_day(paid_from))
    if paid_to is not None:
        query = query.where(Order.paid_at < start_of_day(paid_to + timedelta(days=1)))
    rows = db.execute(query).all()
    missing = [row for row in rows if row.OrderCommission is None]
    contracts = _contracts(db, {row.streamer_id for row in missing}) if missing else {}
    locks = _locked_decreases(db, {row.product_id for row in missing}) if missing else {}
    gross = np.zeros(len(rows), dtype=np.int64)
    net = np.zeros(len(rows), dtype=np.int64)
    for index, row in enumerate(rows):
        commission = row.OrderCommission
        if commission is not None:
            full_payees = commission.partner_fen + commission.streamer_fen - commission.tax_fen
            left = full_payees - (
                commission.refunded_partner_fen
                + commission.refunded_streamer_fen
                - commission.refunded_tax_fen
            )
            refunded_amount = commission.refunded_amount_fen
            amount = commission.amount_fen
            if row.refunded_fen != refunded_amount:  # refunds not accrued yet: pro rata
                full = split_commission(
                    amount,
                    commission.commission_rate_bp,
                    platform_fee_bp=commission.platform_fee_bp,
                    partner_share_bp=commission.partner_share_bp,
                    tax_bp=commission.tax_bp,
                )
                back = refunded_part(full, amount, min(row.refunded_fen, amount))
                left = full_payees - (back.partner_fen + back.streamer_net_fen)
        else:
            rate = rate_in_force(row.commission_rate_bp, row.paid_at, locks.get(row.product_id, ()))
            full = split_commission(
                row.amount_fen,
                rate,
                platform_fee_bp=settings.platform_fee_bp,
                partner_share_bp=_partner_share_bp(
                    contracts, row.streamer_id, row.partner_id, row.paid_at
                ),
                tax_bp=settings.tax_bp,
            )
            full_payees = full.partner_fen + full.streamer_net_fen
            back = refunded_part(full, row.amount_fen, min(row.refunded_fen, row.amount_fen))
            left = full_payees - (back.partner_fen + back.streamer_net_fen)
        gross[index] = full_payees
        net[index] = left
    return History(
        order_id=np.array([row.id for row in rows], dtype=np.int64),
        paid_at=[row.paid_at for row in rows],
        confirmed_at=[row.confirmed_at for row in rows],
        delivered_at=[row.delivered_at for row in rows],
        refunded_at=[row.refunded_at if row.refunded_fen else None for row in rows],
        level=np.array([row.level for row in rows], dtype=np.int64),
        partner_id=[row.partner_id for row in rows],
        gross_fen=gross,
        net_fen=net,
    )


def _stats(days: np.ndarray) -> dict[str, float | None]:
    if len(days) == 0:
        return {"mean_days_to_cash": None, "p50_days_to_cash": None, "p90_days_to_cash": None}
    return {
        "mean_days_to_cash": round(float(days.mean()), 2),
        "p50_days_to_cash": round(float(np.percentile(days, 50)), 2),
        "p90_days_to_cash": round(float(np.percentile(days, 90)), 2),
    }


#: Paid-to-event lag assumed for projections when history has no example of it.
DEFAULT_LAG = timedelta(days=12)


def projected_events(
    paid: list[datetime], events: list[datetime | None], net_fen: np.ndarray
) -> tuple[list[datetime | None], int]:
    """Events for orders still waiting for theirs: paid time + the median observed lag.

    Fully refunded orders are left out (they will never be paid). Returns the events and how
    many were projected.
    """
    lags = sorted(
        (event - paid_at).total_seconds()
        for paid_at, event in zip(paid, events, strict=True)
        if event is not None
    )
    lag = timedelta(seconds=lags[len(lags) // 2]) if lags else DEFAULT_LAG
    projected = 0
    out: list[datetime | None] = []
    for index, (paid_at, event) in enumerate(zip(paid, events, strict=True)):
        if event is None and net_fen[index] > 0:
            out.append(paid_at + lag)
            projected += 1
        else:
            out.append(event)
    return out, projected


def replay(
    history: History, policy: SettlementPolicy, *, project_pending: bool = False
) -> dict[str, Any]:
    """One policy's outcome over ``history`` (see the module docstring)."""
    hold_bp = policy.reserve.hold_bp if policy.reserve else 0
    hold_days = policy.reserve.hold_days if policy.reserve else 0
    events = history.confirmed_at if policy.event == "confirmed" else history.delivered_at
    projected = 0
    if project_pending:
        events, projected = projected_events(history.paid_at, events, history.net_fen)
    cache: dict[tuple[date, int], date] = {}

    def payable(at: datetime, level: int) -> date:
        key = (at.astimezone(UTC).date(), level)
        found = cache.get(key)
        if found is None:
            found = cache[key] = policy.payable_on(at, level)
        return found

    cash: dict[date, int] = defaultdict(int)
    reserve_moves: dict[date, int] = defaultdict(int)
    chosen: list[int] = []
    days_main: list[float] = []
    days_full: list[float] = []
    pending = 0
    for index in range(len(history)):
        event_at = events[index]
        if event_at is None:
            pending += 1
            continue
        level = int(history.level[index])
        due = payable(event_at, level)
        due_at = start_of_day(due)
        refunded_at = history.refunded_at[index]
        gross, net = int(history.gross_fen[index]), int(history.net_fen[index])
        if refunded_at is not None and refunded_at >= due_at:
            amount = gross
            clawback = gross - net
            if clawback:
                cash[max(payable(refunded_at, level), due)] -= clawback
        else:
            amount = net
        if amount <= 0:
            continue
        held = (amount * hold_bp + 5_000) // 10_000  # half up = half away for amount ≥ 0
        cash[due] += amount - held
        if held:
            release = due + timedelta(days=hold_days)
            cash[release] += held
            reserve_moves[due] += held
            reserve_moves[release] -= held
        waited = (due_at - history.paid_at[index]).total_seconds() / DAY_SECONDS
        chosen.append(index)
        days_main.append(waited)
        days_full.append(waited + (hold_days if held else 0))
    main = np.array(days_main, dtype=np.float64)
    full = np.array(days_full, dtype=np.float64)
    picked = np.array(chosen, dtype=np.int64)
    held_now = peak = 0
    held_series: list[int] = []
    if reserve_moves:
        day = min(reserve_moves)
        last = max(reserve_moves)
        while day <= last:
            held_now += reserve_moves.get(day, 0)
            peak = max(peak, held_now)
            held_series.append(held_now)
            day += timedelta(days=1)
    result: dict[str, Any] = {
        "policy": {"name": policy.name, "version": policy.version, "digest": policy.digest},
        "orders": len(picked),
        "orders_pending": pending,
        "orders_projected": projected,
        "paid_fen": int(sum(cash.values())),
        **_stats(main),
        "mean_days_to_full_cash": round(float(full.mean()), 2) if len(full) else None,
        "reserve_held_peak_fen": int(peak),
        "reserve_held_mean_fen": (round(sum(held_series) / len(held_series)) if held_series else 0),
        "cash_paid_by_day": {day.isoformat(): fen for day, fen in sorted(cash.items()) if fen},
        "groups": _groups(history, picked, main),
    }
    return result


def _groups(history: History, picked: np.ndarray, days: np.ndarray) -> dict[str, Any]:
    if len(picked) == 0:
        return {"level": {}, "partner": {}}
    levels = history.level[picked]
    partners = np.array(
        [history.partner_id[i] if history.partner_id[i] is not None else 0 for i in picked],
        dtype=np.int64,
    )
    out: dict[str, Any] = {"level": {}, "partner": {}}
    for level in sorted(set(levels.tolist())):
        mask = levels == level
        out["level"][str(level)] = {"orders": int(mask.sum()), **_stats(days[mask])}
    for partner in sorted(set(partners.tolist())):
        mask = partners == partner
        name = str(partner) if partner else "none"
        out["partner"][name] = {"orders": int(mask.sum()), **_stats(days[mask])}
    return out


def compare(
    db: Session,
    policies: list[SettlementPolicy],
    settings: SettlementSettings | None = None,
    paid_from: date | None = None,
    paid_to: date | None = None,
    *,
    project_pending: bool = False,
) -> dict[str, Any]:
    """Replay the same history under each policy; differences are against the first."""
    history = load_history(db, settings, paid_from, paid_to)
    results: dict[str, Any] = {}
    for policy in policies:
        key = policy.name if policy.name not in results else policy.label
        results[key] = replay(history, policy, project_pending=project_pending)
    first = next(iter(results.values()))
    differences = {}
    for key, result in list(results.items())[1:]:
        differences[key] = {
            metric: (
                round(result[metric] - first[metric], 2)
                if result[metric] is not None and first[metric] is not None
                else None
            )
            for metric in ("mean_days_to_cash", "p50_days_to_cash", "p90_days_to_cash")
        }
    return {
        "orders_replayed": len(history),
        "baseline": next(iter(results)),
        "policies": results,
        "difference_vs_baseline": differences,
    }
