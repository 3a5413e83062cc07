"""Settlement runs end to end on SQLite and PostgreSQL: commission on payment, refunds before
and after settlement, payout batches, reserves, carried balances, idempotent reruns, statements
and the ledger check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests import builders as b
from tests.settlement.helpers import confirm, paid_order, refund, shop
from zhibo import ledger
from zhibo.kit.auth import Principal
from zhibo.kit.db import unit_of_work
from zhibo.models import (
    Order,
    OrderCommission,
    OrderStatus,
    PayoutBatch,
    Role,
    SettlementItem,
)
from zhibo.models.settlement import PayeeKind, SettlementPending
from zhibo.orders import service as orders_service
from zhibo.settlement import choices, statements
from zhibo.settlement.accrual import accrue, announce_rate_change
from zhibo.settlement.config import SettlementSettings
from zhibo.settlement.policy import BUILT_IN, After, Reserve, SettlementPolicy
from zhibo.settlement.run import RunBeforeLastRun, RunPolicyMismatch, run_settlement
from zhibo.settlement.slots import agree_slot_fee, settle_slot_fee

NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)
REFORM = BUILT_IN["reform-monthly-5"]


def _check(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        report = ledger.check(db)
    assert report.balanced, report.as_dict()
    assert report.problems == [], report.as_dict()


def test_commission_settles_on_the_5th_and_refund_after_is_clawed_back(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        world = shop(db)
        live = world.sessions[0]
        orders = [paid_order(db, live, world.product, NOV) for _ in range(3)]
        for order in orders:
            confirm(order, NOV + timedelta(days=3))
        refund(db, orders[0], 3333, NOV + timedelta(days=4))  # before settlement
        ids = [order.id for order in orders]
        streamer_id, agency_id = live.streamer_id, world.agency.id
    # Not payable before December 5th.
    early = run_settlement(engine, date(2026, 12, 4), REFORM)
    assert early.orders_settled == 0 and early.paid_fen == 0 and early.accrued_orders == 3
    report = run_settlement(engine, date(2026, 12, 5), REFORM)
    assert report.orders_settled == 3
    with unit_of_work(engine) as db:
        first = db.get(OrderCommission, ids[0])
        assert first is not None and first.refunded_amount_fen == 3333
        net = [statements.commission_out(db.get(OrderCommission, i)) for i in ids]  # type: ignore[arg-type]
        streamer_net = sum(row.current_streamer_net_fen for row in net)
        partner_net = sum(row.current_partner_fen for row in net)
        # The rows stay confirmed; callers see the state settlement recorded.
        rows = db.scalars(select(Order).where(Order.id.in_(ids))).all()
        assert {o.status for o in rows} == {OrderStatus.CONFIRMED}
        shown = orders_service.present(db, rows)
        assert {o.status for o in shown} == {OrderStatus.SETTLED}
        assert {o.settled_at for o in shown} == {datetime(2026, 12, 5, tzinfo=UTC)}
        assert db.scalar(select(func.count()).select_from(SettlementPending)) == 0
        balance = statements.balance_for(db, PayeeKind.STREAMER, streamer_id)
        assert balance.paid_fen == streamer_net and balance.pending_fen == 0
        assert statements.balance_for(db, PayeeKind.PARTNER, agency_id).paid_fen == partner_net
    # A refund after settlement: clawed back, carried as a negative balance, never lost.
    with unit_of_work(engine) as db:
        refund(db, db.get(Order, ids[1]), 9999, datetime(2026, 12, 6, tzinfo=UTC))  # type: ignore[arg-type]
    later = run_settlement(engine, date(2027, 1, 5))
    assert later.clawbacks == 1 and later.paid_fen == 0 and later.carried_fen < 0
    with unit_of_work(engine) as db:
        mine = statements.balance_for(db, PayeeKind.STREAMER, streamer_id)
        assert mine.carried_fen == -net[1].current_streamer_net_fen
        assert mine.ledger[f"commission_payable:streamer:{streamer_id}"] == -mine.carried_fen
        # The next earnings repay the carried balance first.
        again = db.get(type(live), live.id)
        assert again is not None
        order = paid_order(db, again, world.product, datetime(2027, 1, 6, tzinfo=UTC))
        confirm(order, datetime(2027, 1, 8, tzinfo=UTC))
    third = run_settlement(engine, date(2027, 2, 5))
    with unit_of_work(engine) as db:
        batch = db.scalar(
            select(PayoutBatch).where(
                PayoutBatch.payee_kind == PayeeKind.STREAMER,
                PayoutBatch.payee_id == streamer_id,
                PayoutBatch.run_id == third.run_id,
            )
        )
        assert batch is not None and batch.carried_in_fen == mine.carried_fen
        assert batch.paid_fen == batch.commission_fen + batch.carried_in_fen
    _check(engine)


def test_runs_are_idempotent_and_record_their_policy(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        world = shop(db)
        for _ in range(4):
            confirm(paid_order(db, world.sessions[1], world.product, NOV), NOV + timedelta(days=1))
    first = run_settlement(engine, date(2026, 12, 5), REFORM)
    again = run_settlement(engine, date(2026, 12, 5))
    assert again.resumed and again.run_id == first.run_id
    assert again.paid_fen == first.paid_fen and again.policy["digest"] == REFORM.digest
    with pytest.raises(RunPolicyMismatch):
        run_settlement(engine, date(2026, 12, 5), BUILT_IN["legacy-monthly-20"])
    with pytest.raises(RunBeforeLastRun):
        run_settlement(engine, date(2026, 12, 1), REFORM)
    with unit_of_work(engine) as db:
        assert db.scalar(select(func.count()).select_from(SettlementItem)) == 4
        entries = db.scalar(
            select(func.count())
            .select_from(ledger_entries_table())
            .where(ledger_entries_table().c.kind == "payout")
        )
        assert entries == 2  # one per payee: streamer and agency
    _check(engine)


def ledger_entries_table() -> Any:
    from zhibo.models import LedgerEntry

    return LedgerEntry.__table__


def test_reserve_is_held_then_released_and_levels_are_paid_sooner(engine: Engine) -> None:
    policy = SettlementPolicy(
        name="fast",
        schedule=After(event="confirmed", return_window_days=7, plus_days=0),
        reserve=Reserve(hold_percent=Decimal(5), hold_days=8),
        acceleration_days={2: 3},
    )
    with unit_of_work(engine) as db:
        world = shop(db)  # streamer 0 is level 1, streamer 1 level 2
        slow = paid_order(db, world.sessions[0], world.product, NOV)
        quick = paid_order(db, world.sessions[1], world.product, NOV)
        confirm(slow, NOV + timedelta(days=1))
        confirm(quick, NOV + timedelta(days=1))
        choices.choose_policy(db, policy, reason="test")
        slow_streamer = world.sessions[0].streamer_id
    # Confirmed Nov 3: level 1 payable Nov 10, level 2 three days sooner (Nov 7).
    report = run_settlement(engine, date(2026, 11, 7))
    assert report.orders_settled == 1 and report.policy["name"] == "fast"
    run_settlement(engine, date(2026, 11, 10))
    with unit_of_work(engine) as db:
        batch = db.scalar(
            select(PayoutBatch).where(
                PayoutBatch.payee_kind == PayeeKind.STREAMER, PayoutBatch.payee_id == slow_streamer
            )
        )
        assert batch is not None and batch.reserve_held_fen == round(batch.commission_fen * 0.05)
        assert batch.paid_fen == batch.commission_fen - batch.reserve_held_fen
        assert batch.reserve_release_on == date(2026, 11, 18)
        upcoming = statements.upcoming(db, PayeeKind.STREAMER, slow_streamer, policy)
        assert [d.reserve_release_fen for d in upcoming.days] == [batch.reserve_held_fen]
    run_settlement(engine, date(2026, 11, 17))
    released = run_settlement(engine, date(2026, 11, 18))
    assert released.reserve_released_fen > 0
    with unit_of_work(engine) as db:
        balance = statements.balance_for(db, PayeeKind.STREAMER, slow_streamer)
        assert balance.reserve_fen == 0
        assert balance.ledger[f"reserve:streamer:{slow_streamer}"] == 0
        statement_rows, _ = statements.list_statements(
            db, PayeeKind.STREAMER, slow_streamer, None, 10
        )
        assert [s.reserve_released_fen > 0 for s in statement_rows] == [False, True]
        full = statements.get_statement(db, Principal(Role.OPERATOR), statement_rows[0].id)
        assert [line.order_id for line in full.lines] == [slow.id]
    _check(engine)


def test_a_locked_rate_decrease_keeps_the_old_rate_for_30_days(engine: Engine) -> None:
    settings = SettlementSettings()
    with unit_of_work(engine) as db:
        world = shop(db)
        announce_rate_change(db, world.product.id, 1000, NOV - timedelta(days=1), settings)
        inside = paid_order(db, world.sessions[0], world.product, NOV)
        inside.commission_rate_bp = 1000  # the shelf already shows the new rate
        after = paid_order(db, world.sessions[0], world.product, NOV + timedelta(days=31))
        after.commission_rate_bp = 1000
        accrue(db, settings)
        rates = {
            row.order_id: row.commission_rate_bp for row in db.scalars(select(OrderCommission))
        }
        assert rates == {inside.id: 2000, after.id: 1000}


def test_slot_fee_refunded_pro_rata_and_paid_to_the_streamer(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        world = shop(db, price_fen=10_000)
        live = world.sessions[0]
        item = b.shelf_item(db, session_row=live, product_row=world.product)
        agree_slot_fee(db, item.id, slot_fee_fen=50_000, sales_target_fen=40_000, at=NOV)
        for _ in range(3):
            confirm(paid_order(db, live, world.product, NOV), NOV + timedelta(days=1))
        live.end(NOV + timedelta(hours=3))
        terms = settle_slot_fee(db, item.id, NOV + timedelta(hours=4))
        assert terms.refunded_fen == 12_500  # 30,000 of 40,000 sold: a quarter back
        streamer_id = live.streamer_id
    report = run_settlement(engine, date(2026, 12, 5), REFORM)
    with unit_of_work(engine) as db:
        statement_rows, _ = statements.list_statements(db, PayeeKind.STREAMER, streamer_id, None, 5)
        full = statements.get_statement(db, Principal(Role.OPERATOR), statement_rows[0].id)
        kinds = sorted(str(line.kind) for line in full.lines)
        assert kinds == ["commission"] * 3 + ["slot_fee"]
        assert report.orders_settled == 3
    _check(engine)


def test_ledger_check_names_an_order_whose_postings_are_missing(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        world = shop(db)
        order = paid_order(db, world.sessions[0], world.product, NOV)
        accrue(db)
        # Forge a commission row the ledger never saw.
        row = db.get(OrderCommission, order.id)
        assert row is not None
        other = paid_order(db, world.sessions[0], world.product, NOV)
        db.add(
            OrderCommission(
                **{
                    column.key: getattr(row, column.key)
                    for column in OrderCommission.__table__.columns
                    if column.key != "order_id"
                },
                order_id=other.id,
            )
        )
    with unit_of_work(engine) as db:
        report = ledger.check(db)
    assert any(problem.order_id == other.id for problem in report.problems)


def test_unmarked_orders_are_not_settled_twice_by_later_runs(engine: Engine) -> None:
    settings = SettlementSettings(mark_orders_settled=False, chunk_orders=2)
    with unit_of_work(engine) as db:
        world = shop(db)
        for _ in range(5):
            confirm(paid_order(db, world.sessions[0], world.product, NOV), NOV + timedelta(days=1))
    first = run_settlement(engine, date(2026, 12, 5), REFORM, settings)
    later = run_settlement(engine, date(2027, 1, 5), REFORM, settings)
    assert first.orders_settled == 5 and later.orders_settled == 0 and later.paid_fen == 0
    with unit_of_work(engine) as db:
        statuses = set(db.scalars(select(Order.status)))
        assert statuses == {OrderStatus.CONFIRMED}
    _check(engine)
