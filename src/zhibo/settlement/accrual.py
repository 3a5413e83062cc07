"""Commission on payment and its adjustment on refunds: the rows in ``order_commissions`` and
``commission_refunds``, and their ledger entries.

Two paths share one computation (``_accrue_orders``, ``_apply_refunds``):

* **At payment** (``accrue_order``, called by ``zhibo.orders`` in the transaction that records
  the payment) and **at refund** (``apply_refund``): the commission row and its ledger entries
  are written with the order or refund, or not at all.
* **In batches** (``accrue``; the start of every settlement run; ``zhibo settle accrue``): every
  paid order without a commission row (bulk loads, imports, benchmarks) and every refund not yet
  applied, in chunks.

Both are idempotent: ``order_commissions`` and ``commission_refunds`` are keyed by order and
refund, the ledger keys (``order:{id}:paid``, ``order:{id}:commission``, ``refund:{id}``) are
deterministic, and each path only picks up what has no row yet, so paying twice or a batch
running afterwards changes nothing.

A refund is applied at once only when no settlement run is in progress (on PostgreSQL: the
shared side of the settlement advisory lock, tried without waiting). Otherwise it is left for
the next accrual, which decides with the run's items committed whether it came before or
after settlement; applied at once, it could be judged "before settlement" while the run is
settling the order's unrefunded commission.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Select, Table, insert, select
from sqlalchemy.orm import Session

from zhibo import ledger
from zhibo.kit.errors import InvalidInput, NotFound
from zhibo.kit.money import check_rate_bp
from zhibo.models import (
    CommissionRateChange,
    CommissionRefund,
    Order,
    OrderCommission,
    PartnerContract,
    Product,
    Refund,
    SettlementItem,
)
from zhibo.models.settlement import ItemKind, SettlementPending
from zhibo.settlement.commission import Split, refund_adjustment, split_commission
from zhibo.settlement.config import SettlementSettings, get_settlement_settings
from zhibo.settlement.locking import lock_settlement_in_transaction, try_share_settlement_lock
from zhibo.settlement.postings import order_entries, refund_entry

# Core tables: executemany through Core skips the ORM's per-row bookkeeping.
_COMMISSIONS = cast(Table, OrderCommission.__table__)
_REFUNDS = cast(Table, CommissionRefund.__table__)
_PENDING = cast(Table, SettlementPending.__table__)


@dataclass(frozen=True, slots=True)
class Accrued:
    orders: int
    refunds: int


def announce_rate_change(
    db: Session,
    product_id: int,
    new_rate_bp: int,
    at: datetime,
    settings: SettlementSettings | None = None,
) -> CommissionRateChange:
    """Record a brand's change of a product's commission rate and apply it to the product.

    A decrease is locked for ``rate_lock_days``: orders paid before it takes effect still earn
    the old rate (``rate_in_force``). An increase takes effect at once.
    """
    settings = settings or get_settlement_settings()
    check_rate_bp(new_rate_bp, "new_rate_bp")
    product = db.get(Product, product_id)
    if product is None:
        raise NotFound(f"product_id: no product with id {product_id}")
    if at.tzinfo is None:
        raise InvalidInput("at: timezone-aware time required")
    old = product.commission_rate_bp
    effective = at + timedelta(days=settings.rate_lock_days) if new_rate_bp < old else at
    change = CommissionRateChange(
        product_id=product_id,
        old_rate_bp=old,
        new_rate_bp=new_rate_bp,
        announced_at=at,
        effective_at=effective,
    )
    product.commission_rate_bp = new_rate_bp
    db.add(change)
    db.flush()
    return change


def rate_in_force(
    order_rate_bp: int, paid_at: datetime, locked: Sequence[tuple[datetime, datetime, int]]
) -> int:
    """The order's rate, raised to the old rate of any decrease still locked at payment.

    ``locked`` holds (announced_at, effective_at, old_rate_bp) of the product's decreases.
    """
    rate = order_rate_bp
    for announced_at, effective_at, old_rate in locked:
        if announced_at <= paid_at < effective_at:
            rate = max(rate, old_rate)
    return rate


def accrue(
    db: Session, settings: SettlementSettings | None = None, *, chunk: int = 5_000
) -> Accrued:
    """Commission for every paid order without it, then every refund not yet applied.

    Flushes but does not commit; callers wanting chunked commits call ``accrue_orders_chunk``
    and ``accrue_refunds_chunk`` themselves. Waits for a settlement run in progress to end (a
    run accrues at its start, under its lock).
    """
    settings = settings or get_settlement_settings()
    lock_settlement_in_transaction(db)
    orders = refunds = 0
    while count := accrue_orders_chunk(db, settings, chunk):
        orders += count
    while count := accrue_refunds_chunk(db, chunk):
        refunds += count
    return Accrued(orders, refunds)


def _orders_to_accrue() -> Select[*tuple[Any, ...]]:
    """Paid orders with a streamer and no commission row yet, with what accrual needs."""
    return (
        select(
            Order.id,
            Order.amount_fen,
            Order.currency,
            Order.commission_rate_bp,
            Order.streamer_id,
            Order.partner_id,
            Order.paid_at,
            Order.product_id,
            Product.brand_id,
        )
        .join(Product, Product.id == Order.product_id)
        .outerjoin(OrderCommission, OrderCommission.order_id == Order.id)
        .where(OrderCommission.order_id.is_(None), Order.streamer_id.is_not(None))
    )


def accrue_orders_chunk(db: Session, settings: SettlementSettings, chunk: int) -> int:
    """The next ``chunk`` orders without commission (batch path)."""
    rows = db.execute(_orders_to_accrue().order_by(Order.id).limit(chunk)).all()
    return _accrue_orders(db, rows, settings)


def accrue_order(
    db: Session, order_id: int, settings: SettlementSettings | None = None
) -> OrderCommission | None:
    """Commission on one order, at payment, in the caller's transaction.

    Idempotent: an order accrued already (by an earlier call or a batch) is returned as it is.
    None for an order without a streamer (nobody earns commission on it).
    """
    settings = settings or get_settlement_settings()
    db.flush()
    rows = db.execute(_orders_to_accrue().where(Order.id == order_id)).all()
    _accrue_orders(db, rows, settings)
    return db.get(OrderCommission, order_id)


def _accrue_orders(db: Session, rows: Sequence[Row[Any]], settings: SettlementSettings) -> int:
    """Commission rows and ledger entries for ``rows`` (of ``_orders_to_accrue``)."""
    if not rows:
        return 0
    contracts = _contracts(db, {row.streamer_id for row in rows})
    locks = _locked_decreases(db, {row.product_id for row in rows})
    commissions: list[dict[str, Any]] = []
    entries: list[ledger.Entry] = []
    for row in rows:
        rate = rate_in_force(row.commission_rate_bp, row.paid_at, locks.get(row.product_id, ()))
        partner_bp = _partner_share_bp(contracts, row.streamer_id, row.partner_id, row.paid_at)
        split = split_commission(
            row.amount_fen,
            rate,
            platform_fee_bp=settings.platform_fee_bp,
            partner_share_bp=partner_bp,
            tax_bp=settings.tax_bp,
        )
        commissions.append(
            {
                "order_id": row.id,
                "streamer_id": row.streamer_id,
                "partner_id": row.partner_id,
                "brand_id": row.brand_id,
                "amount_fen": row.amount_fen,
                "currency": row.currency,
                "commission_rate_bp": rate,
                "platform_fee_bp": settings.platform_fee_bp,
                "partner_share_bp": partner_bp,
                "tax_bp": settings.tax_bp,
                "commission_fen": split.commission_fen,
                "platform_fee_fen": split.platform_fee_fen,
                "partner_fen": split.partner_fen,
                "streamer_fen": split.streamer_fen,
                "tax_fen": split.tax_fen,
                "refunded_amount_fen": 0,
                "refunded_commission_fen": 0,
                "refunded_platform_fee_fen": 0,
                "refunded_partner_fen": 0,
                "refunded_streamer_fen": 0,
                "refunded_tax_fen": 0,
                "paid_at": row.paid_at,
            }
        )
        entries += order_entries(
            order_id=row.id,
            amount_fen=row.amount_fen,
            currency=row.currency,
            brand_id=row.brand_id,
            streamer_id=row.streamer_id,
            partner_id=row.partner_id if split.partner_fen else None,
            split=split,
            paid_at=row.paid_at,
        )
    db.execute(insert(_COMMISSIONS), commissions)
    db.execute(insert(_PENDING), [{"order_id": row.id} for row in rows])
    ledger.post(db, entries)
    return len(rows)


def full_split(row: OrderCommission) -> Split:
    return Split(
        row.commission_fen, row.platform_fee_fen, row.partner_fen, row.streamer_fen, row.tax_fen
    )


def current_split(row: OrderCommission) -> Split:
    """The commission left after the refunds applied so far."""
    return full_split(row) - Split(
        row.refunded_commission_fen,
        row.refunded_platform_fee_fen,
        row.refunded_partner_fen,
        row.refunded_streamer_fen,
        row.refunded_tax_fen,
    )


def _refunds_to_apply() -> Select[*tuple[Any, ...]]:
    """Refunds of accrued orders not yet applied to their commission."""
    return (
        select(Refund.id, Refund.order_id, Refund.amount_fen, Refund.refunded_at)
        .join(OrderCommission, OrderCommission.order_id == Refund.order_id)
        .outerjoin(CommissionRefund, CommissionRefund.refund_id == Refund.id)
        .where(CommissionRefund.refund_id.is_(None))
    )


def accrue_refunds_chunk(db: Session, chunk: int) -> int:
    """The next ``chunk`` refunds not yet applied (batch path)."""
    refunds = db.execute(
        _refunds_to_apply().order_by(Refund.order_id, Refund.refunded_at, Refund.id).limit(chunk)
    ).all()
    return _apply_refunds(db, refunds)


def apply_refund(
    db: Session, refund_id: int, settings: SettlementSettings | None = None
) -> CommissionRefund | None:
    """Apply one refund to its order's commission now, in the caller's transaction.

    The order is accrued first if it was not (a bulk-loaded order). Returns None, leaving the
    refund to the next accrual, when a settlement run is in progress (see the module's
    docstring) or the order earns no commission. Idempotent: an applied refund is returned.
    """
    db.flush()  # on SQLite this takes the write lock: no run can commit items under us
    applied = db.get(CommissionRefund, refund_id)
    if applied is not None:
        return applied
    if not try_share_settlement_lock(db):
        return None
    refund = db.get(Refund, refund_id)
    if refund is None:
        raise NotFound(f"refund_id: no refund with id {refund_id}")
    accrue_order(db, refund.order_id, settings)
    # Earlier refunds of the order first: adjustments are differences of cumulative totals.
    pending = db.execute(
        _refunds_to_apply()
        .where(Refund.order_id == refund.order_id)
        .order_by(Refund.refunded_at, Refund.id)
    ).all()
    _apply_refunds(db, pending)
    return db.get(CommissionRefund, refund_id)


def _apply_refunds(db: Session, refunds: Sequence[Row[Any]]) -> int:
    """Commission refund rows and ledger entries for ``refunds`` (of ``_refunds_to_apply``),
    in order per order."""
    if not refunds:
        return 0
    order_ids = sorted({row.order_id for row in refunds})
    # Lock the commission rows, then read them (and what is applied) fresh: another
    # transaction may have applied some of these refunds while we waited.
    commissions = {
        row.order_id: row
        for row in db.scalars(
            select(OrderCommission)
            .where(OrderCommission.order_id.in_(order_ids))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    done = set(
        db.scalars(
            select(CommissionRefund.refund_id).where(
                CommissionRefund.refund_id.in_([row.id for row in refunds])
            )
        )
    )
    refunds = [row for row in refunds if row.id not in done]
    if not refunds:
        return 0
    settled = set(
        db.scalars(
            select(SettlementItem.source_id).where(
                SettlementItem.kind == ItemKind.COMMISSION, SettlementItem.source_id.in_(order_ids)
            )
        )
    )
    applied: list[dict[str, Any]] = []
    entries: list[ledger.Entry] = []
    for refund in refunds:
        row = commissions[refund.order_id]
        before = row.refunded_amount_fen
        after = min(row.amount_fen, before + refund.amount_fen)
        taken = refund_adjustment(full_split(row), row.amount_fen, before, after)
        row.refunded_amount_fen = after
        row.refunded_commission_fen += taken.commission_fen
        row.refunded_platform_fee_fen += taken.platform_fee_fen
        row.refunded_partner_fen += taken.partner_fen
        row.refunded_streamer_fen += taken.streamer_fen
        row.refunded_tax_fen += taken.tax_fen
        after_settlement = refund.order_id in settled
        applied.append(
            {
                "refund_id": refund.id,
                "order_id": refund.order_id,
                "commission_fen": taken.commission_fen,
                "partner_fen": taken.partner_fen,
                "streamer_fen": taken.streamer_net_fen,
                "tax_fen": taken.tax_fen,
                "after_settlement": after_settlement,
                "refunded_at": refund.refunded_at,
            }
        )
        entries.append(
            refund_entry(
                refund_id=refund.id,
                order_id=refund.order_id,
                amount_fen=refund.amount_fen,
                currency=row.currency,
                brand_id=row.brand_id,
                streamer_id=row.streamer_id,
                partner_id=row.partner_id if row.partner_fen else None,
                taken_back=taken,
                refunded_at=refund.refunded_at,
                after_settlement=after_settlement,
            )
        )
    db.execute(insert(_REFUNDS), applied)
    db.flush()
    ledger.post(db, entries)
    return len(refunds)


def _contracts(db: Session, streamer_ids: set[int]) -> dict[int, list[tuple[int, Any, Any, int]]]:
    found: dict[int, list[tuple[int, Any, Any, int]]] = defaultdict(list)
    for contract in db.scalars(
        select(PartnerContract)
        .where(PartnerContract.streamer_id.in_(sorted(streamer_ids)))
        .order_by(PartnerContract.valid_from.desc(), PartnerContract.id.desc())
    ):
        found[contract.streamer_id].append(
            (contract.partner_id, contract.valid_from, contract.valid_to, contract.partner_share_bp)
        )
    return found


def _partner_share_bp(
    contracts: dict[int, list[tuple[int, Any, Any, int]]],
    streamer_id: int,
    partner_id: int | None,
    paid_at: datetime,
) -> int:
    """The share in the streamer's contract with the order's partner valid on the paid day
    (UTC); 0 without such a contract: the whole share then goes to the streamer."""
    if partner_id is None:
        return 0
    day = paid_at.astimezone(UTC).date()
    for contract_partner, valid_from, valid_to, share_bp in contracts.get(streamer_id, ()):
        if (
            contract_partner == partner_id
            and valid_from <= day
            and (valid_to is None or day <= valid_to)
        ):
            return share_bp
    return 0


def _locked_decreases(
    db: Session, product_ids: set[int]
) -> dict[int, list[tuple[datetime, datetime, int]]]:
    found: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for change in db.scalars(
        select(CommissionRateChange).where(
            CommissionRateChange.product_id.in_(sorted(product_ids)),
            CommissionRateChange.new_rate_bp < CommissionRateChange.old_rate_bp,
        )
    ):
        found[change.product_id].append(
            (change.announced_at, change.effective_at, change.old_rate_bp)
        )
    return found
