"""What payees read: commission breakdowns, balances, statements and upcoming payouts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from zhibo import ledger
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, InvalidInput, NotFound
from zhibo.kit.pagination import paginate
from zhibo.models import (
    Order,
    OrderCommission,
    OrderStatus,
    PayoutBatch,
    Role,
    SettlementItem,
    SettlementRun,
    Streamer,
)
from zhibo.models.settlement import ItemKind, PayeeKind
from zhibo.settlement import postings
from zhibo.settlement.accrual import current_split
from zhibo.settlement.policy import SettlementPolicy
from zhibo.settlement.schemas import (
    BalanceOut,
    BrandBalanceOut,
    CommissionOut,
    StatementLine,
    StatementOut,
    UpcomingDay,
    UpcomingOut,
)

MAX_STATEMENT_LINES = 5_000


def payee_of(
    principal: Principal, payee_kind: PayeeKind | None, payee_id: int | None
) -> tuple[PayeeKind, int]:
    """The payee a caller may read: its own for streamers and partners; any named one for
    global readers."""
    if principal.role == Role.STREAMER:
        assert principal.subject_id is not None
        return _own(PayeeKind.STREAMER, principal.subject_id, payee_kind, payee_id)
    if principal.role == Role.PARTNER:
        assert principal.subject_id is not None
        return _own(PayeeKind.PARTNER, principal.subject_id, payee_kind, payee_id)
    if principal.is_global:
        if payee_kind is None or payee_id is None:
            raise InvalidInput("payee_kind, payee_id: name the payee (streamer or partner)")
        return payee_kind, payee_id
    raise Forbidden(f"role {principal.role} has no payouts")


def _own(
    kind: PayeeKind, subject: int, asked_kind: PayeeKind | None, asked_id: int | None
) -> tuple[PayeeKind, int]:
    if (asked_kind not in (None, kind)) or (asked_id not in (None, subject)):
        raise NotFound("payee: not found")  # another payee's existence does not leak
    return kind, subject


def commissions_visible_to(principal: Principal) -> Select[Any]:
    query = select(OrderCommission)
    if principal.is_global:
        return query
    subject = principal.subject_id
    if principal.role == Role.STREAMER:
        return query.where(OrderCommission.streamer_id == subject)
    if principal.role == Role.PARTNER:
        return query.where(OrderCommission.partner_id == subject)
    if principal.role == Role.BRAND:
        return query.where(OrderCommission.brand_id == subject)
    raise Forbidden(f"role {principal.role} may not read commissions")


def commission_out(row: OrderCommission, settled_on: date | None = None) -> CommissionOut:
    current = current_split(row)
    return CommissionOut(
        order_id=row.order_id,
        streamer_id=row.streamer_id,
        partner_id=row.partner_id,
        brand_id=row.brand_id,
        amount_fen=row.amount_fen,
        currency=row.currency,
        commission_rate_bp=row.commission_rate_bp,
        platform_fee_bp=row.platform_fee_bp,
        partner_share_bp=row.partner_share_bp,
        tax_bp=row.tax_bp,
        commission_fen=row.commission_fen,
        platform_fee_fen=row.platform_fee_fen,
        partner_fen=row.partner_fen,
        streamer_fen=row.streamer_fen,
        tax_fen=row.tax_fen,
        refunded_amount_fen=row.refunded_amount_fen,
        current_commission_fen=current.commission_fen,
        current_platform_fee_fen=current.platform_fee_fen,
        current_partner_fen=current.partner_fen,
        current_streamer_fen=current.streamer_fen,
        current_tax_fen=current.tax_fen,
        current_streamer_net_fen=current.streamer_net_fen,
        paid_at=row.paid_at,
        settled_on=settled_on,
    )


def _settled_days(db: Session, order_ids: Sequence[int]) -> dict[int, date]:
    if not order_ids:
        return {}
    return {
        int(order_id): as_of
        for order_id, as_of in db.execute(
            select(SettlementItem.source_id, SettlementRun.as_of)
            .join(SettlementRun, SettlementRun.id == SettlementItem.run_id)
            .where(
                SettlementItem.kind == ItemKind.COMMISSION,
                SettlementItem.source_id.in_(list(order_ids)),
            )
        )
    }


def list_commissions(
    db: Session, principal: Principal, cursor: str | None, limit: int
) -> tuple[list[CommissionOut], str | None]:
    rows, next_cursor = _paginate_commissions(db, commissions_visible_to(principal), cursor, limit)
    days = _settled_days(db, [row.order_id for row in rows])
    return [commission_out(row, days.get(row.order_id)) for row in rows], next_cursor


def _paginate_commissions(
    db: Session, query: Select[Any], cursor: str | None, limit: int
) -> tuple[Sequence[OrderCommission], str | None]:
    from zhibo.kit.pagination import decode_cursor, encode_cursor

    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(OrderCommission.order_id > after)
    rows = db.scalars(query.order_by(OrderCommission.order_id).limit(limit + 1)).all()
    next_cursor = encode_cursor(rows[limit - 1].order_id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def get_commission(db: Session, principal: Principal, order_id: int) -> CommissionOut:
    row = db.scalar(commissions_visible_to(principal).where(OrderCommission.order_id == order_id))
    if row is None:
        raise NotFound(f"order_id: no commission for order {order_id} (or not yet accrued)")
    return commission_out(row, _settled_days(db, [order_id]).get(order_id))


def _pending_net(payee_kind: PayeeKind, payee_id: int) -> tuple[Any, Any]:
    """The payee's net share column expression and the condition selecting its rows."""
    oc = OrderCommission
    if payee_kind == PayeeKind.STREAMER:
        amount = oc.streamer_fen - oc.refunded_streamer_fen - oc.tax_fen + oc.refunded_tax_fen
        owner = oc.streamer_id == payee_id
    else:
        amount = oc.partner_fen - oc.refunded_partner_fen
        owner = oc.partner_id == payee_id
    return amount, owner


def unsettled() -> Any:
    """SQL condition: the commission row's order has not been settled."""
    return (
        ~select(SettlementItem.source_id)
        .where(
            SettlementItem.kind == ItemKind.COMMISSION,
            SettlementItem.source_id == OrderCommission.order_id,
        )
        .exists()
    )


def balance_for(db: Session, payee_kind: PayeeKind, payee_id: int) -> BalanceOut:
    amount, owner = _pending_net(payee_kind, payee_id)
    pending = db.scalar(select(func.coalesce(func.sum(amount), 0)).where(owner, unsettled()))
    batches = db.execute(
        select(
            func.coalesce(func.sum(PayoutBatch.paid_fen), 0),
            func.coalesce(func.sum(PayoutBatch.reserve_held_fen), 0),
            func.coalesce(func.sum(PayoutBatch.reserve_released_fen), 0),
        ).where(PayoutBatch.payee_kind == payee_kind, PayoutBatch.payee_id == payee_id)
    ).one()
    latest = db.scalar(
        select(PayoutBatch.carried_out_fen)
        .where(PayoutBatch.payee_kind == payee_kind, PayoutBatch.payee_id == payee_id)
        .order_by(PayoutBatch.as_of.desc())
        .limit(1)
    )
    kind = str(payee_kind)
    accounts = [
        postings.payable(kind, payee_id),
        postings.reserve(kind, payee_id),
        postings.payouts(kind, payee_id),
    ]
    if payee_kind == PayeeKind.STREAMER:
        accounts.append(f"tips_payable:streamer:{payee_id}")
    return BalanceOut(
        payee_kind=payee_kind,
        payee_id=payee_id,
        pending_fen=int(pending or 0),
        reserve_fen=int(batches[1]) - int(batches[2]),
        paid_fen=int(batches[0]),
        carried_fen=int(latest or 0),
        ledger={account: ledger.balance(db, account) for account in accounts},
    )


def brand_balance(db: Session, brand_id: int) -> BrandBalanceOut:
    return BrandBalanceOut(
        brand_id=brand_id, payable_fen=-ledger.balance(db, postings.brand_payable(brand_id))
    )


def list_statements(
    db: Session, payee_kind: PayeeKind, payee_id: int, cursor: str | None, limit: int
) -> tuple[list[StatementOut], str | None]:
    query = select(PayoutBatch).where(
        PayoutBatch.payee_kind == payee_kind, PayoutBatch.payee_id == payee_id
    )
    rows, next_cursor = paginate(db, query, PayoutBatch.id, cursor, limit)
    return [_statement(db, row, with_lines=False) for row in rows], next_cursor


def get_statement(db: Session, principal: Principal, batch_id: int) -> StatementOut:
    batch = db.get(PayoutBatch, batch_id)
    if batch is None:
        raise NotFound(f"statement: no statement with id {batch_id}")
    if not principal.is_global:
        kind, subject = payee_of(principal, None, None)
        if (batch.payee_kind, batch.payee_id) != (kind, subject):
            raise NotFound(f"statement: no statement with id {batch_id}")
    return _statement(db, batch, with_lines=True)


def _statement(db: Session, batch: PayoutBatch, *, with_lines: bool) -> StatementOut:
    run = db.get(SettlementRun, batch.run_id)
    assert run is not None
    lines: list[StatementLine] = []
    truncated = False
    if with_lines:
        item = SettlementItem
        if batch.payee_kind == PayeeKind.STREAMER:
            mine, amount = item.streamer_id == batch.payee_id, item.streamer_fen
        else:
            mine, amount = item.partner_id == batch.payee_id, item.partner_fen
        rows: list[Any] = list(
            db.execute(
                select(
                    item.kind,
                    item.order_id,
                    item.source_id,
                    item.commission_fen,
                    amount,
                    item.tax_fen,
                )
                .where(item.run_id == batch.run_id, mine)
                .order_by(item.kind, item.source_id)
                .limit(MAX_STATEMENT_LINES + 1)
            ).all()
        )
        is_streamer = batch.payee_kind == PayeeKind.STREAMER
        if is_streamer:
            rows += _tip_lines(db, batch, MAX_STATEMENT_LINES + 1 - len(rows))
        truncated = len(rows) > MAX_STATEMENT_LINES
        lines = [
            StatementLine(
                kind=kind,
                order_id=order_id,
                source_id=source_id,
                commission_fen=commission,
                amount_fen=share,
                tax_fen=tax if is_streamer else 0,
            )
            for kind, order_id, source_id, commission, share, tax in rows[:MAX_STATEMENT_LINES]
        ]
    return StatementOut(
        id=batch.id,
        run_id=batch.run_id,
        as_of=batch.as_of,
        payee_kind=batch.payee_kind,
        payee_id=batch.payee_id,
        currency=batch.currency,
        policy={
            "name": run.policy_name,
            "version": run.policy_version,
            "digest": run.policy_digest,
        },
        orders=batch.orders,
        commission_fen=batch.commission_fen,
        tax_fen=batch.tax_fen,
        clawback_fen=batch.clawback_fen,
        carried_in_fen=batch.carried_in_fen,
        reserve_held_fen=batch.reserve_held_fen,
        reserve_released_fen=batch.reserve_released_fen,
        reserve_release_on=batch.reserve_release_on,
        paid_fen=batch.paid_fen,
        carried_out_fen=batch.carried_out_fen,
        tips=batch.tips,
        tips_fen=batch.tips_fen,
        tip_clawback_fen=batch.tip_clawback_fen,
        tip_carried_in_fen=batch.tip_carried_in_fen,
        tip_carried_out_fen=batch.tip_carried_out_fen,
        lines=lines,
        lines_truncated=truncated,
    )


def _tip_lines(db: Session, batch: PayoutBatch, limit: int) -> list[Any]:
    """The batch's tips paid out and clawed back, as statement rows (``settlement.tips``)."""
    from zhibo.models.settlement import TipPayoutItem, TipPayoutKind

    if limit <= 0:
        return []
    item = TipPayoutItem
    return [
        ("tip" if kind == TipPayoutKind.TIP else "tip_clawback", None, tip_id, tip_fen, fen, 0)
        for kind, tip_id, tip_fen, fen in db.execute(
            select(item.kind, item.tip_id, item.tip_amount_fen, item.amount_fen)
            .where(item.run_id == batch.run_id, item.streamer_id == batch.payee_id)
            .order_by(item.kind.desc(), item.tip_id)
            .limit(limit)
        )
    ]


def upcoming(
    db: Session, payee_kind: PayeeKind, payee_id: int, policy: SettlementPolicy
) -> UpcomingOut:
    """Unsettled commission by the day the policy makes it payable, and reserve releases."""
    amount, owner = _pending_net(payee_kind, payee_id)
    event = Order.confirmed_at if policy.event == "confirmed" else Order.delivered_at
    rows = db.execute(
        select(event, Streamer.level, amount)
        .select_from(OrderCommission)
        .join(Order, Order.id == OrderCommission.order_id)
        .join(Streamer, Streamer.id == OrderCommission.streamer_id)
        .where(owner, unsettled(), Order.status != OrderStatus.REFUNDED)
    ).all()
    by_day: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    waiting_orders = waiting_fen = 0
    cache: dict[tuple[date, int], date] = {}
    for event_at, level, fen in rows:
        if event_at is None:
            waiting_orders += 1
            waiting_fen += int(fen)
            continue
        day = _event_day(event_at)
        key = (day, level)
        if key not in cache:
            cache[key] = policy.payable_on(event_at, level)
        slot = by_day[cache[key]]
        slot[0] += 1
        slot[1] += int(fen)
    for release_on, held in db.execute(
        select(PayoutBatch.reserve_release_on, PayoutBatch.reserve_held_fen).where(
            PayoutBatch.payee_kind == payee_kind,
            PayoutBatch.payee_id == payee_id,
            PayoutBatch.reserve_released_by.is_(None),
            PayoutBatch.reserve_held_fen > 0,
        )
    ):
        if release_on is not None:
            by_day[release_on][2] += int(held)
    return UpcomingOut(
        payee_kind=payee_kind,
        payee_id=payee_id,
        policy={"name": policy.name, "version": policy.version, "digest": policy.digest},
        days=[
            UpcomingDay(payable_on=day, orders=v[0], commission_fen=v[1], reserve_release_fen=v[2])
            for day, v in sorted(by_day.items())
        ],
        awaiting_event_orders=waiting_orders,
        awaiting_event_fen=waiting_fen,
    )


def _event_day(at: datetime) -> date:
    return at.astimezone(UTC).date()
