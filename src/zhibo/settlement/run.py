"""Settlement runs: make commission payable per the policy, batch it per payee, post payouts.

A run is identified by its day (``as_of``) and records the policy it used (name, version,
digest). It goes ``running`` (itemising) → ``batching`` → ``completed``, committing chunk by
chunk, so a killed run resumes where it stopped when run again for the same day:

1. accrue commission and refunds (idempotent, keyed per order and refund);
2. itemise: one set-based ``INSERT … SELECT`` per chunk of the orders still to settle
   (``settlement_pending``) makes every order whose event (receipt confirmed) falls before the
   policy's cut-off payable, once: ``settlement_items`` is unique per (kind, source); the same
   transaction deletes the settled orders from the queue (``orders`` is not updated unless
   ``mark_orders_settled``); refunds after settlement become claw-back items;
3. batch: per payee, new commission − claw-backs + (streamers) credited tips − tip
   claw-backs + carried negative balance − reserve held + reserve released; a negative result
   is carried to the next batch; each batch posts one ledger entry keyed
   ``payout:{day}:{payee}`` (tips: ``settlement.tips``).

Nothing is paid twice: items and batches are unique, ledger keys are deterministic, and on
PostgreSQL an advisory lock admits one run at a time (see ``locking``).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from zhibo import ledger
from zhibo.kit.db import unit_of_work
from zhibo.kit.errors import Conflict, InvalidInput
from zhibo.kit.money import apply_bp
from zhibo.kit.time import start_of_day, utcnow
from zhibo.models import (
    CommissionRefund,
    Order,
    OrderCommission,
    OrderStatus,
    PayoutBatch,
    SettlementItem,
    SettlementRun,
    SlotFeeTerms,
    Streamer,
)
from zhibo.models.settlement import ItemKind, PayeeKind, RunStatus, SettlementPending
from zhibo.settlement.accrual import accrue_orders_chunk, accrue_refunds_chunk
from zhibo.settlement.config import SettlementSettings, get_settlement_settings
from zhibo.settlement.locking import settlement_lock
from zhibo.settlement.policy import MAX_LEVEL, MIN_LEVEL, SettlementPolicy, parse_policy
from zhibo.settlement.postings import payout_entries
from zhibo.settlement.slots import settle_due_slot_fees
from zhibo.settlement.tips import TipTotals, split_carry

#: Orders per accrual chunk: bounded by SQLite's host-parameter limit on ``IN`` lists.
ACCRUAL_CHUNK = 5_000


class RunPolicyMismatch(Conflict):
    """A run for that day exists under another policy; a day is settled once."""


class RunBeforeLastRun(InvalidInput):
    """Runs go forward in time: a later day has been settled already."""


@dataclass
class RunReport:
    run_id: int
    as_of: str
    policy: dict[str, Any]
    status: str
    resumed: bool
    accrued_orders: int = 0
    accrued_refunds: int = 0
    orders_settled: int = 0
    clawbacks: int = 0
    batches: int = 0
    commission_fen: int = 0
    clawback_fen: int = 0
    reserve_held_fen: int = 0
    reserve_released_fen: int = 0
    paid_fen: int = 0
    carried_fen: int = 0
    tips_paid: int = 0
    tips_fen: int = 0
    tip_clawbacks: int = 0
    tip_clawback_fen: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_settlement(
    engine: Engine,
    as_of: date,
    policy: SettlementPolicy | None = None,
    settings: SettlementSettings | None = None,
) -> RunReport:
    """Settle everything payable by ``as_of`` under ``policy`` (default: the active one).

    Owns its transactions (one per chunk): call it with an engine, not a session.
    """
    settings = settings or get_settlement_settings()
    started = time.perf_counter()
    phases: dict[str, float] = {}
    accrual_chunk = min(ACCRUAL_CHUNK, settings.chunk_orders)
    with settlement_lock(engine):
        mark = time.perf_counter()
        accrued_orders = _in_chunks(
            engine, settings, lambda db: accrue_orders_chunk(db, settings, accrual_chunk)
        )
        accrued_refunds = _in_chunks(
            engine, settings, lambda db: accrue_refunds_chunk(db, accrual_chunk)
        )
        # Slot fees of sessions ended before the day: refund the brand's part, credit the rest.
        _in_chunks(
            engine,
            settings,
            lambda db: settle_due_slot_fees(db, start_of_day(as_of), settings, limit=1_000),
        )
        phases["accrue"] = time.perf_counter() - mark
        with unit_of_work(engine) as db:
            run_id, resumed = _open_run(db, as_of, policy)
        with unit_of_work(engine) as db:
            run = db.get(SettlementRun, run_id)
            assert run is not None
            status = run.status
            run_policy = parse_policy_document(run.policy_document)
        if status == RunStatus.RUNNING:
            mark = time.perf_counter()
            _itemise(engine, run_id, as_of, run_policy, settings, phases)
            phases["itemise"] = time.perf_counter() - mark
            with unit_of_work(engine) as db:
                running = db.get(SettlementRun, run_id)
                assert running is not None
                running.start_batching()
            status = RunStatus.BATCHING
        if status == RunStatus.BATCHING:
            mark = time.perf_counter()
            _batch(engine, run_id, as_of, run_policy, settings)
            phases["batch"] = time.perf_counter() - mark
            with unit_of_work(engine) as db:
                _finish(db, run_id)
    with unit_of_work(engine) as db:
        report = run_report(db, run_id, resumed=resumed)
    report.accrued_orders = accrued_orders
    report.accrued_refunds = accrued_refunds
    report.seconds = round(time.perf_counter() - started, 3)
    report.phases = {name: round(seconds, 3) for name, seconds in phases.items()}
    return report


def parse_policy_document(document: str) -> SettlementPolicy:
    return parse_policy(json.loads(document), "recorded policy")


def _pause(settings: SettlementSettings) -> None:
    if settings.chunk_pause_seconds:
        time.sleep(settings.chunk_pause_seconds)


def _in_chunks(engine: Engine, settings: SettlementSettings, step: Any) -> int:
    total = 0
    while True:
        with unit_of_work(engine) as db:
            count = step(db)
        if not count:
            return total
        total += count
        _pause(settings)


def _open_run(db: Session, as_of: date, policy: SettlementPolicy | None) -> tuple[int, bool]:
    existing = db.scalar(select(SettlementRun).where(SettlementRun.as_of == as_of))
    if existing is not None:
        # Compared as written: a policy taking acceleration from the grading model is recorded
        # with the days it used (``resolved``), which a later model may change.
        recorded = parse_policy_document(existing.policy_document)
        if policy is not None and policy.source_digest != recorded.source_digest:
            raise RunPolicyMismatch(
                f"policy: {as_of} was settled under {existing.policy_name}@"
                f"{existing.policy_version}, not {policy.label}"
            )
        return existing.id, True
    latest = db.scalar(select(func.max(SettlementRun.as_of)))
    if latest is not None and latest > as_of:
        raise RunBeforeLastRun(f"as_of: {as_of} is before the last run ({latest})")
    if policy is None:
        from zhibo.settlement.choices import active_policy

        policy = active_policy(db)
    # Acceleration from the grading model is copied in, so the run records the days it used.
    policy = policy.resolved()
    run = SettlementRun(
        as_of=as_of,
        policy_name=policy.name,
        policy_version=policy.version,
        policy_digest=policy.digest,
        policy_document=policy.canonical_json(),
        status=RunStatus.RUNNING,
        started_at=utcnow(),
        orders_settled=0,
        batches=0,
        paid_fen=0,
    )
    try:
        with db.begin_nested():
            db.add(run)
            db.flush()
    except IntegrityError:  # another process opened the day between our read and write
        again = db.scalar(select(SettlementRun).where(SettlementRun.as_of == as_of))
        assert again is not None
        return again.id, True
    return run.id, False


def event_column(policy: SettlementPolicy) -> Any:
    return Order.confirmed_at if policy.event == "confirmed" else Order.delivered_at


def eligible_statuses(policy: SettlementPolicy) -> list[OrderStatus]:
    if policy.event == "confirmed":
        return [OrderStatus.CONFIRMED]
    return [OrderStatus.DELIVERED, OrderStatus.CONFIRMED]


def due_condition(policy: SettlementPolicy, as_of: date) -> tuple[Any, bool]:
    """SQL condition: the order's event is before the policy's cut-off for its streamer's
    level. One range per level; a single range (and no need to join the streamer) when levels
    are not accelerated. Returns the condition and whether it needs ``streamers``."""
    column = event_column(policy)
    cutoffs = {
        level: policy.event_cutoff(as_of, level) for level in range(MIN_LEVEL, MAX_LEVEL + 1)
    }
    if len(set(cutoffs.values())) == 1:
        return column < cutoffs[MIN_LEVEL], False
    condition = or_(*(and_(Streamer.level == level, column < at) for level, at in cutoffs.items()))
    return condition, True


def _insert_ignoring_taken(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` into settlement items: an item already taken (by an
    earlier chunk, run or concurrent process) is skipped by its primary key, without an
    anti-join."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect == "postgresql":
        return postgresql.insert(SettlementItem)
    return sqlite.insert(SettlementItem)


def _itemise(
    engine: Engine,
    run_id: int,
    as_of: date,
    policy: SettlementPolicy,
    settings: SettlementSettings,
    phases: dict[str, float],
) -> None:
    pending = SettlementPending
    with unit_of_work(engine) as db:
        low, high = db.execute(select(func.min(pending.order_id), func.max(pending.order_id))).one()
    settled_at = start_of_day(as_of)
    condition, needs_streamer = due_condition(policy, as_of)
    if low is not None:
        for start in range(low, high + 1, settings.chunk_orders):
            end = start + settings.chunk_orders
            oc = OrderCommission
            columns = [
                literal(run_id),
                literal(ItemKind.COMMISSION.value),
                oc.order_id,
                oc.order_id,
                oc.streamer_id,
                case((oc.partner_fen > oc.refunded_partner_fen, oc.partner_id), else_=None),
                oc.commission_fen - oc.refunded_commission_fen,
                oc.streamer_fen - oc.refunded_streamer_fen - oc.tax_fen + oc.refunded_tax_fen,
                oc.tax_fen - oc.refunded_tax_fen,
                oc.partner_fen - oc.refunded_partner_fen,
            ]
            where = [
                pending.order_id >= start,
                pending.order_id < end,
                Order.status.in_(eligible_statuses(policy)),
                condition,
            ]
            with unit_of_work(engine) as db:
                mark = time.perf_counter()
                if engine.dialect.name == "postgresql":
                    _itemise_chunk_postgresql(db, columns, where, needs_streamer)
                else:
                    _itemise_chunk_sqlite(db, columns, where, needs_streamer, start, end)
                inserted = time.perf_counter()
                phases["itemise_insert"] = phases.get("itemise_insert", 0) + inserted - mark
                if not settings.mark_orders_settled:
                    _pause(settings)
                    continue
                db.execute(
                    update(Order)
                    .where(
                        Order.id.in_(
                            select(SettlementItem.source_id).where(
                                SettlementItem.run_id == run_id,
                                SettlementItem.kind == ItemKind.COMMISSION,
                                SettlementItem.source_id >= start,
                                SettlementItem.source_id < end,
                            )
                        ),
                        Order.status == OrderStatus.CONFIRMED,
                    )
                    .values(status=OrderStatus.SETTLED, settled_at=settled_at),
                    execution_options={"synchronize_session": False},
                )
                phases["itemise_orders_update"] = (
                    phases.get("itemise_orders_update", 0) + time.perf_counter() - inserted
                )
            _pause(settings)
    # Refunds after settlement, up to the end of the run's day: claw-backs.
    cr = CommissionRefund
    oc = OrderCommission
    taken = aliased(SettlementItem)
    clawbacks = (
        select(
            literal(run_id),
            literal(ItemKind.CLAWBACK.value),
            cr.refund_id,
            cr.order_id,
            oc.streamer_id,
            case((cr.partner_fen != 0, oc.partner_id), else_=None),
            -cr.commission_fen,
            -cr.streamer_fen,
            -cr.tax_fen,
            -cr.partner_fen,
        )
        .join(oc, oc.order_id == cr.order_id)
        .where(
            cr.after_settlement.is_(True),
            cr.refunded_at < start_of_day(as_of + timedelta(days=1)),
            ~exists().where(taken.kind == ItemKind.CLAWBACK, taken.source_id == cr.refund_id),
        )
    )
    # Slot fees settled after their session, up to the end of the run's day.
    fee = SlotFeeTerms
    kept = fee.slot_fee_fen - fee.refunded_fen
    slot_fees = select(
        literal(run_id),
        literal(ItemKind.SLOT_FEE.value),
        fee.shelf_item_id,
        literal(None),
        fee.streamer_id,
        literal(None),
        kept,
        kept - fee.tax_fen,
        fee.tax_fen,
        literal(0),
    ).where(
        fee.settled_at < start_of_day(as_of + timedelta(days=1)),
        fee.streamer_id.is_not(None),
        ~exists().where(taken.kind == ItemKind.SLOT_FEE, taken.source_id == fee.shelf_item_id),
    )
    with unit_of_work(engine) as db:
        db.execute(
            insert(SettlementItem).from_select(_ITEM_COLUMNS, clawbacks),
            execution_options={"synchronize_session": False},
        )
        db.execute(
            insert(SettlementItem).from_select(_ITEM_COLUMNS, slot_fees),
            execution_options={"synchronize_session": False},
        )
    # Credited tips, and tips refunded after they were paid out (``settlement.tips``).
    from zhibo.settlement import tips

    with unit_of_work(engine) as db:
        tips.itemise(db, run_id, as_of)


def _itemise_chunk_postgresql(
    db: Session, columns: list[Any], where: list[Any], needs_streamer: bool
) -> None:
    """One statement: the due orders leave the queue (``DELETE … USING … RETURNING``) and
    become items, read once."""
    pending, oc = SettlementPending, OrderCommission
    joins = [oc.order_id == pending.order_id, Order.id == pending.order_id]
    if needs_streamer:
        joins.append(Streamer.id == oc.streamer_id)
    moved = (
        delete(pending)
        .where(*joins, *where)
        .returning(
            *(column.label(name) for column, name in zip(columns, _ITEM_COLUMNS, strict=True))
        )
        .cte("moved")
    )
    db.execute(
        _insert_ignoring_taken("postgresql")
        .from_select(_ITEM_COLUMNS, select(*(moved.c[name] for name in _ITEM_COLUMNS)))
        .on_conflict_do_nothing()
    )


def _itemise_chunk_sqlite(
    db: Session, columns: list[Any], where: list[Any], needs_streamer: bool, start: int, end: int
) -> None:
    """Two statements in one transaction (SQLite's DELETE takes no join): the items, then the
    settled orders leave the queue."""
    pending, oc = SettlementPending, OrderCommission
    due = (
        select(*columns)
        .select_from(pending)
        .join(oc, oc.order_id == pending.order_id)
        .join(Order, Order.id == pending.order_id)
        .where(*where)
    )
    if needs_streamer:
        due = due.join(Streamer, Streamer.id == oc.streamer_id)
    db.execute(
        _insert_ignoring_taken("sqlite").from_select(_ITEM_COLUMNS, due).on_conflict_do_nothing()
    )
    db.execute(
        delete(pending).where(
            pending.order_id >= start,
            pending.order_id < end,
            pending.order_id.in_(
                select(SettlementItem.source_id).where(
                    SettlementItem.kind == ItemKind.COMMISSION,
                    SettlementItem.source_id >= start,
                    SettlementItem.source_id < end,
                )
            ),
        ),
        execution_options={"synchronize_session": False},
    )


_ITEM_COLUMNS = [
    "run_id",
    "kind",
    "source_id",
    "order_id",
    "streamer_id",
    "partner_id",
    "commission_fen",
    "streamer_fen",
    "tax_fen",
    "partner_fen",
]


@dataclass
class _Totals:
    orders: int = 0
    commission_fen: int = 0
    clawback_fen: int = 0
    tax_fen: int = 0


def _run_totals(db: Session, run_id: int) -> dict[tuple[PayeeKind, int], _Totals]:
    item = SettlementItem
    is_commission = item.kind == ItemKind.COMMISSION
    is_new = item.kind != ItemKind.CLAWBACK
    totals: dict[tuple[PayeeKind, int], _Totals] = {}
    for payee_kind, payee_column, amount_column, tax in (
        (PayeeKind.STREAMER, item.streamer_id, item.streamer_fen, item.tax_fen),
        (PayeeKind.PARTNER, item.partner_id, item.partner_fen, None),
    ):
        rows = db.execute(
            select(
                payee_column,
                func.sum(case((is_commission, 1), else_=0)),
                func.sum(case((is_new, amount_column), else_=0)),
                func.sum(case((is_new, 0), else_=-amount_column)),
                func.sum(tax) if tax is not None else literal(0),
            )
            .where(item.run_id == run_id, payee_column.is_not(None))
            .group_by(payee_column)
        ).all()
        for payee_id, orders, commission, clawback, tax_sum in rows:
            totals[(payee_kind, int(payee_id))] = _Totals(
                int(orders or 0), int(commission or 0), int(clawback or 0), int(tax_sum or 0)
            )
    return totals


def _batch(
    engine: Engine,
    run_id: int,
    as_of: date,
    policy: SettlementPolicy,
    settings: SettlementSettings,
) -> None:
    from zhibo.settlement import tips

    with unit_of_work(engine) as db:
        totals = _run_totals(db, run_id)
        tip_totals = tips.run_totals(db, run_id)
        releasing = db.execute(
            select(PayoutBatch.payee_kind, PayoutBatch.payee_id)
            .where(
                PayoutBatch.reserve_release_on <= as_of,
                PayoutBatch.reserve_released_by.is_(None),
                PayoutBatch.reserve_held_fen > 0,
            )
            .distinct()
        ).all()
        done = set(
            db.execute(
                select(PayoutBatch.payee_kind, PayoutBatch.payee_id).where(
                    PayoutBatch.run_id == run_id
                )
            ).all()
        )
    payees = sorted(
        (
            set(totals)
            | {(PayeeKind.STREAMER, streamer_id) for streamer_id in tip_totals}
            | {(PayeeKind(kind), int(pid)) for kind, pid in releasing}
        )
        - {(PayeeKind(kind), int(pid)) for kind, pid in done}
    )
    hold_bp = policy.reserve.hold_bp if policy.reserve else 0
    hold_days = policy.reserve.hold_days if policy.reserve else 0
    at = start_of_day(as_of)
    for index in range(0, len(payees), settings.chunk_payees):
        chunk = payees[index : index + settings.chunk_payees]
        with unit_of_work(engine) as db:
            carried = _carried_in(db, chunk, as_of)
            releases = _releases(db, chunk, as_of)
            entries: list[ledger.Entry] = []
            rows: list[dict[str, Any]] = []
            released: list[tuple[int, tuple[PayeeKind, int]]] = []
            created_at = utcnow()
            for payee in chunk:
                payee_kind, payee_id = payee
                total = totals.get(payee, _Totals())
                tip = (
                    tip_totals.get(payee_id, TipTotals())
                    if payee_kind == PayeeKind.STREAMER
                    else TipTotals()
                )
                released_ids, released_fen = releases.get(payee, ([], 0))
                carried_in, tip_carried_in = carried.get(payee, (0, 0))
                held = apply_bp(max(0, total.commission_fen), hold_bp)
                # Commission and tips net separately (each with its own carried part), then
                # together: one payout; a shortfall is carried, each part on its own account.
                commission_net = (
                    total.commission_fen
                    - total.clawback_fen
                    + (carried_in - tip_carried_in)
                    - held
                    + released_fen
                )
                tips_net = tip.tips_fen - tip.clawback_fen + tip_carried_in
                net = commission_net + tips_net
                paid, carried_out = max(0, net), min(0, net)
                commission_carry, tip_carry = split_carry(commission_net, tips_net)
                key = f"payout:{as_of.isoformat()}:{payee_kind}:{payee_id}"
                rows.append(
                    {
                        "run_id": run_id,
                        "payee_kind": payee_kind,
                        "payee_id": payee_id,
                        "as_of": as_of,
                        "currency": "CNY",
                        "orders": total.orders,
                        "commission_fen": total.commission_fen,
                        "tax_fen": total.tax_fen,
                        "clawback_fen": total.clawback_fen,
                        "carried_in_fen": carried_in,
                        "reserve_held_fen": held,
                        "reserve_released_fen": released_fen,
                        "paid_fen": paid,
                        "carried_out_fen": carried_out,
                        "tips": tip.tips,
                        "tips_fen": tip.tips_fen,
                        "tip_clawback_fen": tip.clawback_fen,
                        "tip_carried_in_fen": tip_carried_in,
                        "tip_carried_out_fen": tip_carry,
                        "reserve_release_on": as_of + timedelta(days=hold_days) if held else None,
                        "reserve_released_by": None,
                        "entry_key": key,
                        "created_at": created_at,
                    }
                )
                released += [(batch_id, payee) for batch_id in released_ids]
                entries += payout_entries(
                    key=key,
                    payee_kind=str(payee_kind),
                    payee_id=payee_id,
                    currency="CNY",
                    settled_fen=commission_net + held - released_fen - commission_carry,
                    tips_settled_fen=tips_net - tip_carry,
                    reserve_change_fen=held - released_fen,
                    paid_fen=paid,
                    at=at,
                    ref=f"settlement_run:{run_id}",
                )
            db.execute(insert(PayoutBatch), rows)
            if released:
                new_ids = {
                    (PayeeKind(kind), int(payee_id)): batch_id
                    for batch_id, kind, payee_id in db.execute(
                        select(PayoutBatch.id, PayoutBatch.payee_kind, PayoutBatch.payee_id).where(
                            PayoutBatch.run_id == run_id,
                            PayoutBatch.payee_id.in_(sorted({p for _, (_, p) in released})),
                        )
                    )
                }
                db.execute(
                    update(PayoutBatch),
                    [
                        {"id": batch_id, "reserve_released_by": new_ids[payee]}
                        for batch_id, payee in released
                    ],
                )
            ledger.post(db, entries)
        _pause(settings)


def _carried_in(
    db: Session, payees: list[tuple[PayeeKind, int]], as_of: date
) -> dict[tuple[PayeeKind, int], tuple[int, int]]:
    """Each payee's carried-out balance of its latest batch before ``as_of``, and its tips
    part."""
    by_kind: dict[PayeeKind, list[int]] = defaultdict(list)
    for kind, payee_id in payees:
        by_kind[kind].append(payee_id)
    found: dict[tuple[PayeeKind, int], tuple[int, int]] = {}
    for kind, ids in by_kind.items():
        latest = (
            select(PayoutBatch.payee_id, func.max(PayoutBatch.as_of).label("as_of"))
            .where(
                PayoutBatch.payee_kind == kind,
                PayoutBatch.payee_id.in_(ids),
                PayoutBatch.as_of < as_of,
            )
            .group_by(PayoutBatch.payee_id)
            .subquery()
        )
        for payee_id, carried, tip_carried in db.execute(
            select(
                PayoutBatch.payee_id, PayoutBatch.carried_out_fen, PayoutBatch.tip_carried_out_fen
            ).join(
                latest,
                and_(
                    PayoutBatch.payee_id == latest.c.payee_id,
                    PayoutBatch.as_of == latest.c.as_of,
                    PayoutBatch.payee_kind == kind,
                ),
            )
        ):
            found[(kind, int(payee_id))] = (int(carried), int(tip_carried))
    return found


def _releases(
    db: Session, payees: list[tuple[PayeeKind, int]], as_of: date
) -> dict[tuple[PayeeKind, int], tuple[list[int], int]]:
    wanted = set(payees)
    found: dict[tuple[PayeeKind, int], tuple[list[int], int]] = {}
    ids = sorted({payee_id for _, payee_id in payees})
    for batch_id, kind, payee_id, held in db.execute(
        select(
            PayoutBatch.id,
            PayoutBatch.payee_kind,
            PayoutBatch.payee_id,
            PayoutBatch.reserve_held_fen,
        ).where(
            PayoutBatch.payee_id.in_(ids),
            PayoutBatch.reserve_release_on <= as_of,
            PayoutBatch.reserve_released_by.is_(None),
            PayoutBatch.reserve_held_fen > 0,
        )
    ):
        payee = (PayeeKind(kind), int(payee_id))
        if payee not in wanted:
            continue
        batch_ids, total = found.get(payee, ([], 0))
        found[payee] = ([*batch_ids, batch_id], total + int(held))
    return found


def _finish(db: Session, run_id: int) -> None:
    run = db.get(SettlementRun, run_id)
    assert run is not None
    run.orders_settled = int(
        db.scalar(
            select(func.count())
            .select_from(SettlementItem)
            .where(SettlementItem.run_id == run_id, SettlementItem.kind == ItemKind.COMMISSION)
        )
        or 0
    )
    run.batches, run.paid_fen = (
        int(value or 0)
        for value in db.execute(
            select(func.count(), func.sum(PayoutBatch.paid_fen)).where(PayoutBatch.run_id == run_id)
        ).one()
    )
    run.complete(utcnow())


def run_report(db: Session, run_id: int, *, resumed: bool = False) -> RunReport:
    run = db.get(SettlementRun, run_id)
    assert run is not None
    batches = db.execute(
        select(
            func.count(),
            func.coalesce(func.sum(PayoutBatch.commission_fen), 0),
            func.coalesce(func.sum(PayoutBatch.clawback_fen), 0),
            func.coalesce(func.sum(PayoutBatch.reserve_held_fen), 0),
            func.coalesce(func.sum(PayoutBatch.reserve_released_fen), 0),
            func.coalesce(func.sum(PayoutBatch.paid_fen), 0),
            func.coalesce(func.sum(PayoutBatch.carried_out_fen), 0),
            func.coalesce(func.sum(PayoutBatch.tips), 0),
            func.coalesce(func.sum(PayoutBatch.tips_fen), 0),
            func.coalesce(func.sum(PayoutBatch.tip_clawback_fen), 0),
        ).where(PayoutBatch.run_id == run_id)
    ).one()
    from zhibo.models.settlement import TipPayoutItem, TipPayoutKind

    tip_clawbacks = db.scalar(
        select(func.count()).where(
            TipPayoutItem.run_id == run_id, TipPayoutItem.kind == TipPayoutKind.CLAWBACK
        )
    )
    counts = dict(
        db.execute(
            select(SettlementItem.kind, func.count())
            .where(SettlementItem.run_id == run_id)
            .group_by(SettlementItem.kind)
        ).all()
    )
    return RunReport(
        run_id=run.id,
        as_of=run.as_of.isoformat(),
        policy={
            "name": run.policy_name,
            "version": run.policy_version,
            "digest": run.policy_digest,
        },
        status=str(run.status),
        resumed=resumed,
        orders_settled=int(counts.get(ItemKind.COMMISSION, 0)),
        clawbacks=int(counts.get(ItemKind.CLAWBACK, 0)),
        batches=int(batches[0]),
        commission_fen=int(batches[1]),
        clawback_fen=int(batches[2]),
        reserve_held_fen=int(batches[3]),
        reserve_released_fen=int(batches[4]),
        paid_fen=int(batches[5]),
        carried_fen=int(batches[6]),
        tips_paid=int(batches[7]),
        tips_fen=int(batches[8]),
        tip_clawbacks=int(tip_clawbacks or 0),
        tip_clawback_fen=int(batches[9]),
    )
