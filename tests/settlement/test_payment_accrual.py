"""Commission is accrued when the order is paid and adjusted when it is refunded, in the same
transaction, idempotently, on SQLite and PostgreSQL; the batch path finds nothing left to do."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from tests import builders as b
from tests.settlement.helpers import confirm, shop
from zhibo import ledger
from zhibo.kit.auth import Principal
from zhibo.kit.db import unit_of_work
from zhibo.models import CommissionRefund, Order, OrderCommission, OrderStatus, Role
from zhibo.models.ledger import LedgerEntry
from zhibo.models.settlement import PayeeKind
from zhibo.orders import service as orders
from zhibo.orders.schemas import OrderCreate, RefundCreate
from zhibo.settlement import accrual, statements
from zhibo.settlement.accrual import accrue, announce_rate_change
from zhibo.settlement.commission import refunded_part, split_commission
from zhibo.settlement.config import SettlementSettings
from zhibo.settlement.locking import ADVISORY_KEY
from zhibo.settlement.policy import BUILT_IN
from zhibo.settlement.run import run_settlement

NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)
OPERATOR = Principal(Role.OPERATOR)
DEFAULTS = SettlementSettings()


def _entries(db: object, order_id: int) -> list[str]:
    return sorted(entry.key for entry in ledger.entries_for_order(db, order_id))  # type: ignore[arg-type]


def _place(engine: Engine, *, rate_bp: int = 2000, at: datetime = NOV) -> tuple[int, int, int]:
    """A live session with the product on its shelf at ``rate_bp``; one order placed and paid
    through the orders service. Returns (order id, session id, product id)."""
    with unit_of_work(engine) as db:
        world = shop(db, price_fen=12_345)
        live = world.sessions[0]
        b.shelf_item(db, session_row=live, product_row=world.product, commission_rate_bp=rate_bp)
        buyer = b.viewer(db)
        order = orders.place_order(
            db,
            OPERATOR,
            OrderCreate(session_id=live.id, product_id=world.product.id, buyer_id=buyer.id),
            at=at,
        )
        return order.id, live.id, world.product.id


def test_payment_accrues_commission_and_posts_in_the_same_transaction(engine: Engine) -> None:
    order_id, _, _ = _place(engine)
    with unit_of_work(engine) as db:
        row = db.get(OrderCommission, order_id)
        assert row is not None, "commission must exist as soon as the order is paid"
        expected = split_commission(
            12_345,
            2000,
            platform_fee_bp=DEFAULTS.platform_fee_bp,
            partner_share_bp=3000,
            tax_bp=DEFAULTS.tax_bp,
        )
        assert (row.commission_fen, row.platform_fee_fen, row.partner_fen) == (
            expected.commission_fen,
            expected.platform_fee_fen,
            expected.partner_fen,
        )
        assert (row.streamer_fen, row.tax_fen) == (expected.streamer_fen, expected.tax_fen)
        assert row.platform_fee_fen + row.partner_fen + row.streamer_fen == row.commission_fen
        assert _entries(db, order_id) == [f"order:{order_id}:commission", f"order:{order_id}:paid"]
        # Paying again and the batch accrual afterwards change nothing.
        assert accrual.accrue_order(db, order_id) is row
        result = accrue(db)
        assert (result.orders, result.refunds) == (0, 0)
        assert db.scalar(select(func.count()).select_from(OrderCommission)) == 1
        assert db.scalar(select(func.count()).select_from(LedgerEntry)) == 2
    report = run_settlement(engine, date(2026, 11, 3), BUILT_IN["reform-monthly-5"])
    assert report.accrued_orders == 0
    with unit_of_work(engine) as db:
        assert ledger.check(db).balanced and ledger.check(db).problems == []


def test_a_failed_posting_leaves_no_order(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ledger.InvalidEntry("simulated ledger failure")

    monkeypatch.setattr(accrual.ledger, "post", broken)
    with pytest.raises(ledger.InvalidEntry):
        _place(engine)
    with unit_of_work(engine) as db:
        assert db.scalar(select(func.count()).select_from(Order)) == 0
        assert db.scalar(select(func.count()).select_from(OrderCommission)) == 0


def test_rate_decrease_is_locked_for_30_days_at_payment(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        world = shop(db, price_fen=10_000)
        announce_rate_change(db, world.product.id, 1000, NOV)  # 20 % -> 10 %
        live = world.sessions[0]
        # The shelf carries the announced (lower) rate; payment applies the rate in force.
        b.shelf_item(db, session_row=live, product_row=world.product, commission_rate_bp=1000)
        buyer = b.viewer(db)
        rates = []
        for days in (1, 29, 31):
            order = orders.place_order(
                db,
                OPERATOR,
                OrderCreate(session_id=live.id, product_id=world.product.id, buyer_id=buyer.id),
                at=NOV + timedelta(days=days),
            )
            row = db.get(OrderCommission, order.id)
            assert row is not None
            rates.append((row.commission_rate_bp, row.commission_fen))
    assert rates == [(2000, 2000), (2000, 2000), (1000, 1000)]


def test_refund_before_settlement_reduces_commission_pro_rata_at_once(engine: Engine) -> None:
    order_id, _, _ = _place(engine)
    with unit_of_work(engine) as db:
        orders.refund(db, OPERATOR, order_id, RefundCreate(amount_fen=4_115), at=NOV)
        row = db.get(OrderCommission, order_id)
        assert row is not None
        back = refunded_part(accrual.full_split(row), 12_345, 4_115)
        assert row.refunded_amount_fen == 4_115
        assert row.refunded_commission_fen == back.commission_fen > 0
        assert row.refunded_partner_fen == back.partner_fen
        assert row.refunded_tax_fen == back.tax_fen
        applied = db.scalars(select(CommissionRefund)).one()
        assert applied.after_settlement is False
        assert applied.commission_fen == back.commission_fen
        refund_keys = [key for key in _entries(db, order_id) if key.startswith("refund:")]
        assert refund_keys == [f"refund:{applied.refund_id}"]
        assert accrue(db).refunds == 0  # the batch path finds it applied
        # The rest of the order, refunded too: together the full commission comes back.
        orders.refund(db, OPERATOR, order_id, RefundCreate(amount_fen=12_345 - 4_115), at=NOV)
        db.refresh(row)
        assert row.refunded_commission_fen == row.commission_fen
        assert row.refunded_streamer_fen == row.streamer_fen
        assert row.refunded_tax_fen == row.tax_fen
        assert ledger.check(db).balanced and ledger.check(db).problems == []


def test_refund_after_settlement_is_clawed_back_at_once(engine: Engine) -> None:
    order_id, _, _ = _place(engine)
    with unit_of_work(engine) as db:
        order = db.get(Order, order_id)
        assert order is not None
        confirm(order, NOV + timedelta(days=2))
    report = run_settlement(engine, date(2026, 12, 5), BUILT_IN["reform-monthly-5"])
    assert report.orders_settled == 1 and report.paid_fen > 0
    with unit_of_work(engine) as db:
        # The order row was not rewritten; callers see it settled, and filters agree.
        settled, _ = orders.list_orders(db, OPERATOR, None, 10, OrderStatus.SETTLED)
        confirmed, _ = orders.list_orders(db, OPERATOR, None, 10, OrderStatus.CONFIRMED)
        assert [row.id for row in settled] == [order_id] and confirmed == []
        shown = orders.present(db, settled)[0]
        assert shown.status == OrderStatus.SETTLED
        assert shown.settled_at == datetime(2026, 12, 5, tzinfo=UTC)
        orders.refund(
            db,
            OPERATOR,
            order_id,
            RefundCreate(amount_fen=12_345),
            at=datetime(2026, 12, 6, tzinfo=UTC),
        )
        applied = db.scalars(select(CommissionRefund)).one()
        assert applied.after_settlement is True
        row = db.get(OrderCommission, order_id)
        assert row is not None
        streamer_id, streamer_net = row.streamer_id, row.streamer_fen - row.tax_fen
        assert applied.streamer_fen == streamer_net  # all of it, to be clawed back
    later = run_settlement(engine, date(2027, 1, 5))
    assert later.clawbacks == 1 and later.paid_fen == 0
    with unit_of_work(engine) as db:
        balance = statements.balance_for(db, PayeeKind.STREAMER, streamer_id)
        assert balance.carried_fen == -streamer_net  # carried to the next payout, not lost
        payable = ledger.balance(db, f"commission_payable:streamer:{streamer_id}")
        assert payable == streamer_net  # a debit: owed back by the streamer
        assert ledger.check(db).balanced and ledger.check(db).problems == []


@pytest.mark.postgres
def test_refund_during_a_run_is_left_to_the_next_accrual(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    order_id, _, _ = _place(engine)
    with engine.connect() as run_connection:  # stands in for a run holding the lock
        run_connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_KEY})
        run_connection.commit()
        with unit_of_work(engine) as db:
            orders.refund(db, OPERATOR, order_id, RefundCreate(amount_fen=100), at=NOV)
        with unit_of_work(engine) as db:
            assert db.scalar(select(func.count()).select_from(CommissionRefund)) == 0
            order = db.get(Order, order_id)
            assert order is not None and order.refunded_fen == 100  # the refund itself stands
        run_connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        run_connection.commit()
    with unit_of_work(engine) as db:
        assert accrue(db).refunds == 1
        assert ledger.check(db).balanced and ledger.check(db).problems == []


@pytest.mark.postgres
def test_payments_and_batch_accruals_at_once_accrue_each_order_once(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a concurrency test for PostgreSQL")
    with unit_of_work(engine) as db:
        world = shop(db, streamers=2, price_fen=999)
        for live in world.sessions:
            b.shelf_item(db, session_row=live, product_row=world.product)
        sessions = [live.id for live in world.sessions]
        product_id, buyer_id = world.product.id, b.viewer(db).id
    stop = threading.Event()
    errors: list[BaseException] = []

    def pay(session_id: int) -> None:
        try:
            for _ in range(25):
                with unit_of_work(engine) as db:
                    orders.place_order(
                        db,
                        OPERATOR,
                        OrderCreate(
                            session_id=session_id, product_id=product_id, buyer_id=buyer_id
                        ),
                        at=NOV,
                    )
        except BaseException as error:  # surfaced below
            errors.append(error)

    def batch() -> None:
        try:
            while not stop.is_set():
                with unit_of_work(engine) as db:
                    assert accrue(db).orders == 0  # payment accrued them all already
        except BaseException as error:
            errors.append(error)

    payers = [threading.Thread(target=pay, args=(session_id,)) for session_id in sessions]
    accruer = threading.Thread(target=batch)
    for thread in [*payers, accruer]:
        thread.start()
    for thread in payers:
        thread.join()
    stop.set()
    accruer.join()
    assert errors == []
    with unit_of_work(engine) as db:
        assert db.scalar(select(func.count()).select_from(OrderCommission)) == 50
        commission_entries = db.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "commission")
        )
        assert commission_entries == 50
        report = ledger.check(db)
        assert report.balanced and report.problems == []
