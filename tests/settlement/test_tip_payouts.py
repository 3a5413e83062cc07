"""Tips in settlement runs (SQLite and PostgreSQL): credited tips are paid out with the
streamer's commission and shown on the statement; refunded before payout they are not paid;
refunded after, they are clawed back and carried like commission; runs stay idempotent and
resumable, and ``zhibo ledger check`` stays clean."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests import builders as b
from tests.settlement.helpers import confirm, paid_order, shop
from zhibo import ledger
from zhibo.config import get_settings
from zhibo.identity import tipping
from zhibo.identity.schemas import TipIn
from zhibo.kit.auth import Principal
from zhibo.kit.db import unit_of_work
from zhibo.models import LedgerEntry, PayoutBatch, Role
from zhibo.models.settlement import PayeeKind, TipPayoutItem
from zhibo.settlement import statements
from zhibo.settlement.config import SettlementSettings
from zhibo.settlement.policy import BUILT_IN
from zhibo.settlement.run import run_settlement
from zhibo.settlement.tips import split_carry

NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)
REFORM = BUILT_IN["reform-monthly-5"]
OPERATOR = Principal(Role.OPERATOR)


@pytest.fixture(autouse=True)
def platform_share(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ZHIBO_TIP_PLATFORM_SHARE_BP", "1000")  # 10 % kept when credited
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _tip(db, viewer_id: int, session_id: int, amount: int, key: str, at: datetime) -> int:  # type: ignore[no-untyped-def]
    data = TipIn(session_id=session_id, gift_id=1, amount_fen=amount, idempotency_key=key)
    return tipping.send_tip(db, viewer_id, data, at=at).tip.id


def _check(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        report = ledger.check(db)
    assert report.balanced and report.problems == [], report.as_dict()


def _batch(engine: Engine, run_id: int, streamer_id: int) -> PayoutBatch:
    with unit_of_work(engine) as db:
        batch = db.scalar(
            select(PayoutBatch).where(
                PayoutBatch.run_id == run_id,
                PayoutBatch.payee_kind == PayeeKind.STREAMER,
                PayoutBatch.payee_id == streamer_id,
            )
        )
        assert batch is not None
        db.expunge(batch)
        return batch


def _balance(engine: Engine, account: str) -> int:
    with unit_of_work(engine) as db:
        return ledger.balance(db, account)


def test_credited_tips_are_paid_with_commission_once_and_shown_on_the_statement(
    engine: Engine,
) -> None:
    with unit_of_work(engine) as db:
        world = shop(db)
        live = world.sessions[0]
        s = live.streamer_id
        order = paid_order(db, live, world.product, NOV)
        confirm(order, NOV + timedelta(days=3))
        viewer = b.viewer(db)
        db.flush()
        paid = _tip(db, viewer.id, live.id, 1_001, "paid", NOV)  # 10 % of 1001 -> 100
        other = world.sessions[1]
        gone = _tip(db, viewer.id, other.id, 700, "gone", NOV)
        tipping.credit_due(db, NOV + timedelta(days=3))
        # Credited, then refunded before any payout (a sanction in the other session).
        tipping.refund_session_tips(db, other.id, reason="risk-case:1", at=NOV + timedelta(days=5))
        late = _tip(db, viewer.id, live.id, 500, "late", datetime(2026, 12, 3, 10, tzinfo=UTC))
        held = _tip(db, viewer.id, live.id, 300, "held", datetime(2026, 12, 4, 10, tzinfo=UTC))
    report = run_settlement(engine, date(2026, 12, 5), REFORM)
    assert (report.tips_paid, report.tips_fen) == (1, 901)
    batch = _batch(engine, report.run_id, s)
    assert (batch.tips, batch.tips_fen, batch.tip_clawback_fen) == (1, 901, 0)
    assert batch.commission_fen > 0 and batch.paid_fen == batch.commission_fen + 901
    assert _balance(engine, f"tips_payable:streamer:{s}") == 0
    assert _balance(engine, f"tips_held:streamer:{s}") == -800  # held: not payable yet
    with unit_of_work(engine) as db:
        statement = statements.get_statement(db, OPERATOR, batch.id)
        lines = [(x.kind, x.source_id, x.commission_fen, x.amount_fen) for x in statement.lines]
        assert ("tip", paid, 1_001, 901) in lines
        assert [x[0] for x in lines].count("commission") == 1 and len(lines) == 2
        assert statement.tips_fen == 901 and statement.paid_fen == batch.paid_fen
        # The tip refunded before payout is never paid; nor are tips still held.
        assert db.get(TipPayoutItem, ("tip", gone)) is None
        assert db.get(TipPayoutItem, ("tip", late)) is None
        entries = db.scalar(select(func.count()).select_from(LedgerEntry))
    _check(engine)
    # Idempotent: the same day again pays nothing more.
    assert run_settlement(engine, date(2026, 12, 5), REFORM).tips_fen == 901
    with unit_of_work(engine) as db:
        assert db.scalar(select(func.count()).select_from(LedgerEntry)) == entries
    # ``late`` is credited on the 6th: the next run pays it; ``held`` stays held.
    with unit_of_work(engine) as db:
        assert [t.id for t in tipping.credit_due(db, datetime(2026, 12, 6, 11, tzinfo=UTC))] == [
            late
        ]
    nxt = run_settlement(engine, date(2026, 12, 6), REFORM)
    assert (nxt.tips_paid, nxt.tips_fen, nxt.paid_fen) == (1, 450, 450)
    with unit_of_work(engine) as db:
        assert db.get(TipPayoutItem, ("tip", held)) is None
        assert (
            statements.balance_for(db, PayeeKind.STREAMER, s).ledger[f"tips_payable:streamer:{s}"]
            == 0
        )
    _check(engine)


def test_a_tip_refunded_after_payout_is_clawed_back_and_carried(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        world = shop(db)
        live = world.sessions[0]
        s = live.streamer_id
        viewer = b.viewer(db)
        db.flush()
        first = _tip(db, viewer.id, live.id, 2_000, "first", NOV)
        tipping.credit_due(db, NOV + timedelta(days=3))
        viewer_id, session_id = viewer.id, live.id
    one = run_settlement(engine, date(2026, 12, 5), REFORM)
    assert _batch(engine, one.run_id, s).paid_fen == 1_800
    # The streamer is sanctioned for that session after the payout: the viewer is refunded.
    with unit_of_work(engine) as db:
        tipping.refund_session_tips(db, session_id, reason="risk-case:7", at=NOV + timedelta(40))
    assert _balance(engine, f"tips_payable:streamer:{s}") == 1_800  # in debit: owed back
    two = run_settlement(engine, date(2026, 12, 20), REFORM)
    assert (two.tip_clawbacks, two.tip_clawback_fen) == (1, 1_800)
    batch = _batch(engine, two.run_id, s)
    assert (batch.paid_fen, batch.carried_out_fen, batch.tip_carried_out_fen) == (
        0,
        -1_800,
        -1_800,
    )
    assert _balance(engine, f"tips_payable:streamer:{s}") == 1_800  # carried, never lost
    _check(engine)
    # New tips repay the carried claw-back first; the rest is paid.
    with unit_of_work(engine) as db:
        _tip(db, viewer_id, session_id, 3_000, "second", NOV + timedelta(days=45))
        tipping.credit_due(db, NOV + timedelta(days=48))
    three = run_settlement(engine, date(2027, 1, 5), REFORM)
    batch = _batch(engine, three.run_id, s)
    assert (batch.tip_carried_in_fen, batch.tips_fen, batch.paid_fen) == (-1_800, 2_700, 900)
    assert (batch.carried_out_fen, batch.tip_carried_out_fen) == (0, 0)
    assert _balance(engine, f"tips_payable:streamer:{s}") == 0
    with unit_of_work(engine) as db:
        assert db.get(TipPayoutItem, ("clawback", first)) is not None
        assert db.scalar(select(func.count()).select_from(TipPayoutItem)) == 3
    _check(engine)


def test_commission_covers_a_tip_claw_back_and_a_killed_run_resumes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with unit_of_work(engine) as db:
        world = shop(db, streamers=3)
        viewer = b.viewer(db)
        db.flush()
        ids = [live.streamer_id for live in world.sessions]
        for index, live in enumerate(world.sessions):
            _tip(db, viewer.id, live.id, 1_000, f"t{index}", NOV)
        tipping.credit_due(db, NOV + timedelta(days=3))
        sessions = [live.id for live in world.sessions]
    run_settlement(engine, date(2026, 12, 5), REFORM)
    with unit_of_work(engine) as db:
        tipping.refund_session_tips(db, sessions[0], reason="risk-case:8", at=NOV + timedelta(40))
        live = world.sessions[0]
        order = paid_order(db, db.merge(live), world.product, NOV + timedelta(days=35))
        confirm(order, NOV + timedelta(days=38))
        for index, session_id in enumerate(sessions[1:], start=1):
            _tip(db, viewer.id, session_id, 500, f"again{index}", NOV + timedelta(days=36))
        tipping.credit_due(db, NOV + timedelta(days=39))
    # Killed after the first payee's batch: the run resumes and pays each payee once.
    import zhibo.settlement.run as run_module

    real_post = run_module.ledger.post
    calls = {"n": 0}

    def dying_post(db, entries):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real_post(db, entries)

    monkeypatch.setattr(run_module.ledger, "post", dying_post)
    small = SettlementSettings(chunk_payees=1)
    with pytest.raises(RuntimeError):
        run_settlement(engine, date(2027, 1, 5), REFORM, small)
    monkeypatch.setattr(run_module.ledger, "post", real_post)
    report = run_settlement(engine, date(2027, 1, 5), REFORM, small)
    assert report.resumed and report.tips_paid == 2 and report.tip_clawbacks == 1
    first = _batch(engine, report.run_id, ids[0])
    # The commission (streamer's net share) covers the 900 fen tip claw-back.
    assert first.tip_clawback_fen == 900 and first.tip_carried_out_fen == 0
    assert first.paid_fen == first.commission_fen - 900 > 0
    for streamer_id in ids[1:]:
        assert _batch(engine, report.run_id, streamer_id).paid_fen == 450
    for streamer_id in ids:
        assert _balance(engine, f"tips_payable:streamer:{streamer_id}") == 0
    _check(engine)


def test_split_carry_keeps_each_shortfall_on_its_own_account() -> None:
    assert split_carry(100, -30) == (0, 0)
    assert split_carry(50, -80) == (0, -30)
    assert split_carry(-80, 50) == (-30, 0)
    assert split_carry(-10, -20) == (-10, -20)
    assert split_carry(-10, 0) == (-10, 0)
