"""Posting, idempotency, reversal, balances and reading back, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.ledger.helpers import T0, commission, sale
from zhibo.ledger import (
    AlreadyReversed,
    EntryNotFound,
    IdempotencyConflict,
    balance,
    balances,
    check,
    entries_for_order,
    get_entry,
    post,
    reverse,
)
from zhibo.ledger.schemas import ReversalNotReversible
from zhibo.models import LedgerAccount, LedgerEntry, LedgerPosting


def _counts(db: Session) -> tuple[int, int]:
    return (
        db.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
        db.scalar(select(func.count()).select_from(LedgerPosting)) or 0,
    )


def test_post_writes_entries_postings_and_accounts(db: Session) -> None:
    result = post(db, [sale(), commission()])
    assert (result.posted, result.duplicates) == (2, 0)
    assert _counts(db) == (2, 6)
    accounts = {row.code: row for row in db.scalars(select(LedgerAccount))}
    assert set(accounts) == {
        "cash",
        "buyer_payments_held",
        "brand_payable:17",
        "platform_fee_revenue",
        "commission_payable:partner:3",
        "commission_payable:streamer:5",
    }
    assert (accounts["commission_payable:streamer:5"].kind, accounts["cash"].owner) == (
        "commission_payable",
        None,
    )
    assert accounts["commission_payable:streamer:5"].owner == "streamer:5"
    assert balance(db, "commission_payable:streamer:5") == -700
    assert balance(db, "platform_fee_revenue") == -100
    assert balance(db, "no_such_account") == 0


def test_reposting_the_same_content_is_a_counted_no_op(db: Session) -> None:
    post(db, [sale(), commission()])
    again = post(db, [sale(), commission(), sale("order:2:paid", order_id=2)])
    assert (again.posted, again.duplicates) == (1, 2)
    within = post(db, [sale("order:3:paid"), sale("order:3:paid")])
    assert (within.posted, within.duplicates) == (1, 1)
    assert _counts(db) == (4, 10)


def test_same_key_other_content_is_a_conflict_and_writes_nothing(db: Session) -> None:
    post(db, [sale()])
    with pytest.raises(IdempotencyConflict, match="order:1:paid"):
        post(db, [sale("order:9:paid", order_id=9), sale(amount_fen=10_001)])
    with pytest.raises(IdempotencyConflict):
        post(db, [sale(memo="another memo")])
    with pytest.raises(IdempotencyConflict, match="twice"):
        post(db, [sale("k"), sale("k", amount_fen=5)])
    assert _counts(db) == (1, 2)
    # the session is still usable after a refused batch
    assert post(db, [sale("order:9:paid", order_id=9)]).posted == 1


def test_reverse_posts_the_negation_and_links_it(db: Session) -> None:
    post(db, [sale(), commission()])
    reversal = reverse(
        db, "order:1:commission", reversal_key="order:1:commission:rev",
        at=T0 + timedelta(days=1), reason="order refunded before settlement",
    )  # fmt: skip
    assert reversal.reverses == "order:1:commission"
    assert reversal.kind == "reversal"
    assert [p.amount_fen for p in reversal.postings] == [-1_000, 100, 200, 700]
    assert balance(db, "commission_payable:streamer:5") == 0
    assert balance(db, "commission_payable:streamer:5", as_of=T0) == -700
    assert get_entry(db, "order:1:commission:rev") == reversal
    # a retry with the same reversal key returns the same reversal
    again = reverse(
        db, "order:1:commission", reversal_key="order:1:commission:rev",
        at=T0 + timedelta(days=1), reason="order refunded before settlement",
    )  # fmt: skip
    assert again == reversal
    with pytest.raises(AlreadyReversed, match="order:1:commission:rev"):
        reverse(db, "order:1:commission", reversal_key="other", at=T0, reason="twice")
    with pytest.raises(ReversalNotReversible):
        reverse(db, "order:1:commission:rev", reversal_key="rev:rev", at=T0, reason="undo")
    with pytest.raises(EntryNotFound):
        reverse(db, "nothing", reversal_key="nothing:rev", at=T0, reason="?")
    assert check(db).balanced


def test_balances_as_of_and_by_prefix(db: Session) -> None:
    post(
        db,
        [
            sale("a", amount_fen=100, at=T0),
            sale("b", amount_fen=20, at=T0 + timedelta(hours=1)),
            commission("c", streamer_id=5, at=T0),
            commission("d", streamer_id=6, at=T0 + timedelta(days=2)),
        ],
    )
    assert balance(db, "cash") == 120
    assert balance(db, "cash", as_of=T0) == 100
    assert balance(db, "cash", as_of=T0 - timedelta(seconds=1)) == 0
    assert balances(db, "commission_payable:streamer:") == {
        ("commission_payable:streamer:5", "CNY"): -700,
        ("commission_payable:streamer:6", "CNY"): -700,
    }
    assert balances(db, "commission_payable:streamer:", as_of=T0 + timedelta(days=1)) == {
        ("commission_payable:streamer:5", "CNY"): -700,
    }
    # "_" is a LIKE wildcard: a prefix must match literally
    assert balances(db, "cash_") == {}
    everything = balances(db)
    assert sum(everything.values()) == 0


def test_entries_for_order_read_back_what_was_posted(db: Session) -> None:
    posted = [sale(), commission(), sale("order:2:paid", order_id=2)]
    post(db, posted)
    reversal = reverse(db, "order:1:paid", reversal_key="order:1:paid:rev", at=T0, reason="r")
    assert entries_for_order(db, 1) == [posted[0], posted[1], reversal]
    assert entries_for_order(db, 404) == []


def test_the_database_refuses_updates_and_deletes(db: Session) -> None:
    post(db, [sale()])
    db.commit()
    for statement in (
        "UPDATE ledger_postings SET amount_fen = 1",
        "DELETE FROM ledger_postings",
        "UPDATE ledger_entries SET memo = 'rewritten'",
        "DELETE FROM ledger_entries",
        "DELETE FROM ledger_accounts",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
        db.rollback()
    assert _counts(db) == (1, 2)


def test_large_batch_round_trips(db: Session) -> None:
    batch = [
        commission(f"order:{i}:commission", order_id=i, streamer_id=i % 50) for i in range(1, 3_001)
    ]
    assert post(db, batch).posted == 3_000
    assert post(db, batch).duplicates == 3_000
    report = check(db)
    assert report.balanced and (report.entries, report.postings) == (3_000, 12_000)
    assert balance(db, "platform_fee_revenue") == -300_000
    assert replace(batch[0]) == entries_for_order(db, 1)[0]


def test_a_large_batch_with_one_stored_key_the_sample_missed(db: Session) -> None:
    """PostgreSQL samples a large batch's keys; a stored key outside the sample is still a
    duplicate (or a conflict), found when the unique key refuses the COPY."""
    batch = [commission(f"order:{i}:commission", order_id=i) for i in range(1, 101)]
    post(db, [batch[1]])
    result = post(db, batch)
    assert (result.posted, result.duplicates) == (99, 1)
    other = [commission(f"x:{i}", order_id=i) for i in range(1, 101)]
    post(db, [replace(other[1], memo="first version")])
    with pytest.raises(IdempotencyConflict, match="x:2"):
        post(db, other)
    assert _counts(db) == (101, 404)
    assert check(db).balanced
