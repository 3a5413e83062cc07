"""``check`` and ``zhibo ledger check``: a sound ledger passes, every kind of damage is named."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.ledger.helpers import T0, commission, sale
from tests.processes import zhibo
from zhibo.kit.db import unit_of_work
from zhibo.ledger import Problem, check, post, register_order_check, reverse
from zhibo.ledger import checks as check_module
from zhibo.models import LedgerAccount, LedgerEntry


def _entry_id(db: Session, key: str) -> int:
    entry_id = db.scalar(select(LedgerEntry.id).where(LedgerEntry.key == key))
    assert entry_id is not None
    return entry_id


def _account_id(db: Session, code: str) -> int:
    account_id = db.scalar(select(LedgerAccount.id).where(LedgerAccount.code == code))
    assert account_id is not None
    return account_id


def _add_posting(db: Session, entry_id: int, account_id: int, amount: int, line: int = 9) -> None:
    """Damage done by hand, the way only raw SQL could."""
    db.execute(
        text(
            "INSERT INTO ledger_postings (entry_id, line, account_id, amount_fen, currency) "
            "VALUES (:entry, :line, :account, :amount, 'CNY')"
        ),
        {"entry": entry_id, "line": line, "account": account_id, "amount": amount},
    )


def _whats(db: Session) -> list[tuple[int | None, str | None, str]]:
    return [(p.order_id, p.entry_key, p.what) for p in check(db).problems]


def test_sound_ledger_is_balanced(db: Session) -> None:
    report = check(db)
    assert report.balanced and report.entries == 0 and report.trial_balance == {}
    post(db, [sale(), commission()])
    reverse(db, "order:1:paid", reversal_key="order:1:paid:rev", at=T0, reason="refund")
    report = check(db)
    assert report.balanced, report.problems
    assert (report.entries, report.postings, report.accounts) == (3, 8, 6)
    assert report.trial_balance == {"CNY": 0}


def test_an_extra_posting_unbalances_its_entry_and_the_trial_balance(db: Session) -> None:
    post(db, [sale(), commission()])
    _add_posting(db, _entry_id(db, "order:1:commission"), _account_id(db, "cash"), 5)
    problems = _whats(db)
    assert (None, None, "trial balance in CNY is 5 fen, not 0") in problems
    assert (1, "order:1:commission", "postings sum to 5 CNY, not 0") in problems
    assert not check(db).balanced


def test_entry_with_one_posting_and_orphans_are_reported(db: Session) -> None:
    post(db, [sale()])
    db.execute(
        text(
            "INSERT INTO ledger_entries (key, kind, effective_at, posted_at, order_id, memo, "
            "content_hash) VALUES ('lonely', 'manual', :at, :at, 7, '', 'x')"
        ),
        {"at": T0.replace(tzinfo=None) if db.get_bind().dialect.name == "sqlite" else T0},
    )
    _add_posting(db, _entry_id(db, "lonely"), _account_id(db, "cash"), 3, line=0)
    _add_posting(db, 999_999, _account_id(db, "cash"), -3, line=0)
    whats = _whats(db)
    assert (7, "lonely", "has 1 posting(s); an entry needs at least 2") in whats
    assert (7, "lonely", "postings sum to 3 CNY, not 0") in whats
    assert (None, None, "1 posting(s) of entry id 999999, which has no entry") in whats


def test_zero_amounts_unknown_accounts_bad_and_mixed_currencies_are_reported(
    db: Session,
) -> None:
    post(db, [sale()])
    entry, cash = _entry_id(db, "order:1:paid"), _account_id(db, "cash")
    if db.get_bind().dialect.name == "sqlite":  # the CHECK constraint refuses it on PostgreSQL
        db.execute(text("PRAGMA ignore_check_constraints = ON"))
        _add_posting(db, entry, cash, 0, line=3)
        db.execute(text("PRAGMA ignore_check_constraints = OFF"))
    _add_posting(db, entry, 424_242, 7, line=4)
    _add_posting(db, entry, cash, -7, line=5)
    db.execute(
        text(
            "INSERT INTO ledger_postings (entry_id, line, account_id, amount_fen, currency) "
            "VALUES (:entry, 6, :cash, 9, 'usd'), (:entry, 7, :cash, -9, 'USD')"
        ),
        {"entry": entry, "cash": cash},
    )
    whats = _whats(db)
    assert (
        1,
        "order:1:paid",
        f"posting 4 of entry id {entry} names account id 424242, which does not exist",
    ) in whats
    assert (1, "order:1:paid", "posting 6: bad currency 'usd'") in whats
    assert (1, "order:1:paid", "postings sum to 9 usd, not 0") in whats
    assert (1, "order:1:paid", "postings sum to -9 USD, not 0") in whats
    if db.get_bind().dialect.name == "sqlite":
        assert (1, "order:1:paid", "has a posting with a zero amount") in whats


def test_a_reversal_that_does_not_negate_its_original_is_reported(db: Session) -> None:
    post(db, [sale()])
    reverse(db, "order:1:paid", reversal_key="rev", at=T0, reason="refund")
    rev = _entry_id(db, "rev")
    # balanced damage: the reversal still sums to zero, but no longer undoes the original
    _add_posting(db, rev, _account_id(db, "cash"), 1, line=5)
    _add_posting(db, rev, _account_id(db, "buyer_payments_held"), -1, line=6)
    assert sorted(_whats(db)) == [
        (
            1,
            "rev",
            "does not negate its original on buyer_payments_held: together they leave -1 CNY",
        ),
        (1, "rev", "does not negate its original on cash: together they leave 1 CNY"),
    ]


def test_registered_order_checks_run_with_check(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_module, "_order_checks", [])

    def orders_without_postings(session: Session) -> Iterable[Problem]:
        yield Problem(order_id=42, entry_key=None, what="order has no order_paid entry")

    register_order_check(orders_without_postings)
    register_order_check(orders_without_postings)  # once only
    post(db, [sale()])
    report = check(db)
    assert not report.balanced
    assert [p.as_dict() for p in report.problems] == [
        {"order_id": 42, "entry_key": None, "what": "order has no order_paid entry"}
    ]


@pytest.fixture
def env(engine: Engine, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ZHIBO_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "ZHIBO_DATA_DIR": str(tmp_path / "data"),
    }


def test_cli_check_exits_0_when_sound_and_1_naming_the_damage(
    engine: Engine, env: dict[str, str]
) -> None:
    with unit_of_work(engine) as db:
        post(db, [sale(), commission()])
    sound = zhibo("ledger", "check", "--json", env=env)
    assert sound.returncode == 0, sound.stderr
    report = json.loads(sound.stdout)
    assert report["balanced"] is True and report["problems"] == []
    assert (report["trial_balance"], report["entries"], report["postings"]) == ({"CNY": 0}, 2, 6)

    with unit_of_work(engine) as db:
        _add_posting(db, _entry_id(db, "order:1:commission"), _account_id(db, "cash"), 5)
    broken = zhibo("ledger", "check", "--json", env=env)
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert report["balanced"] is False
    assert {
        "order_id": 1,
        "entry_key": "order:1:commission",
        "what": "postings sum to 5 CNY, not 0",
    } in report["problems"]
    assert "order 1, entry 'order:1:commission': postings sum to 5 CNY" in broken.stderr

    human = zhibo("ledger", "check", env=env)
    assert human.returncode == 1 and "trial balance in CNY is 5 fen" in human.stderr


def test_cli_balances(engine: Engine, env: dict[str, str]) -> None:
    with unit_of_work(engine) as db:
        post(db, [sale(), commission()])
    result = zhibo("ledger", "balances", "--prefix", "commission_payable:", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"account": "commission_payable:partner:3", "currency": "CNY", "balance_fen": -200},
        {"account": "commission_payable:streamer:5", "currency": "CNY", "balance_fen": -700},
    ]
    table = zhibo("ledger", "balances", env=env)
    assert (
        table.returncode == 0
        and "buyer_payments_held" in table.stdout
        and "-100.00" in table.stdout
    )
