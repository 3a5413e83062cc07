"""Every rule of an entry is checked before anything of its batch is written."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.ledger.helpers import T0, sale
from zhibo.kit.errors import InvalidInput
from zhibo.ledger import (
    Entry,
    IdempotencyConflict,
    InvalidEntry,
    Posting,
    Unbalanced,
    balances,
    post,
)
from zhibo.models import LedgerEntry, LedgerPosting


def _written(db: Session) -> tuple[int, int]:
    entries = db.scalar(select(func.count()).select_from(LedgerEntry))
    postings = db.scalar(select(func.count()).select_from(LedgerPosting))
    return entries or 0, postings or 0


def _with_postings(*postings: Posting, key: str = "bad") -> Entry:
    return replace(sale(key), postings=postings)


@pytest.mark.parametrize(
    ("entry", "error", "reason"),
    [
        (
            _with_postings(Posting("cash", 100), Posting("buyer_payments_held", -99)),
            Unbalanced,
            "sum to 1 CNY",
        ),
        (_with_postings(), InvalidEntry, "at least 2 postings"),
        (_with_postings(Posting("cash", 0), Posting("cash", 0)), InvalidEntry, "non-zero"),
        (_with_postings(Posting("cash", 100)), InvalidEntry, "at least 2 postings"),
        (
            _with_postings(
                Posting("cash", 100, "cny"), Posting("buyer_payments_held", -100, "cny")
            ),
            InvalidEntry,
            "3-letter ISO",
        ),
        (
            _with_postings(Posting("cash", 100, "RMB1"), Posting("x", -100, "RMB1")),
            InvalidEntry,
            "3-letter ISO",
        ),
        (
            _with_postings(Posting("cash", 1.5), Posting("buyer_payments_held", -1.5)),  # type: ignore[arg-type]
            InvalidEntry,
            "must be an int",
        ),
        (
            _with_postings(Posting("Cash Box", 100), Posting("buyer_payments_held", -100)),
            InvalidEntry,
            "not a code",
        ),
        (replace(sale("bad"), effective_at=datetime(2026, 11, 1)), InvalidEntry, "timezone-aware"),
        (replace(sale("bad"), kind="Order Paid"), InvalidEntry, "kind"),
        (replace(sale(""), key=""), InvalidEntry, "key"),
        (replace(sale("bad"), order_id=0), InvalidEntry, "order_id"),
        (replace(sale("bad"), memo="a\x00b"), InvalidEntry, "NUL"),
        (replace(sale("bad"), memo="\ud800"), InvalidEntry, "valid Unicode"),
        (
            _with_postings(
                Posting("cash", 100, "CNY"),
                Posting("buyer_payments_held", -100, "USD"),
            ),
            Unbalanced,
            "CNY",
        ),
    ],
    ids=[
        "unbalanced",
        "empty",
        "zero-amount",
        "one-posting",
        "lower-case-currency",
        "long-currency",
        "float-amount",
        "bad-account",
        "naive-time",
        "bad-kind",
        "empty-key",
        "order-id-zero",
        "nul-in-memo",
        "lone-surrogate-in-memo",
        "balanced-only-across-currencies",
    ],
)
def test_bad_entry_refuses_the_whole_batch_naming_the_key(
    db: Session, entry: Entry, error: type[InvalidInput], reason: str
) -> None:
    batch = [sale("good:1"), entry, sale("good:2")]
    with pytest.raises(error) as raised:
        post(db, batch)
    assert isinstance(raised.value, InvalidInput)
    assert reason in str(raised.value.detail)
    if entry.key:
        assert repr(entry.key) in str(raised.value.detail)
    assert _written(db) == (0, 0)


def test_mixed_currencies_balanced_per_currency_are_accepted(db: Session) -> None:
    fx = Entry(
        key="fx:1",
        kind="fx",
        postings=(
            Posting("cash", 700, "CNY"),
            Posting("fx_clearing", -700, "CNY"),
            Posting("fx_clearing", 100, "USD"),
            Posting("cash", -100, "USD"),
        ),
        effective_at=T0,
    )
    assert post(db, [fx]).posted == 1
    assert balances(db, "cash") == {("cash", "CNY"): 700, ("cash", "USD"): -100}


def test_any_timezone_is_stored_as_the_same_instant(db: Session) -> None:
    beijing = timezone(timedelta(hours=8))
    post(db, [sale("tz", at=T0.astimezone(beijing))])
    # the same instant in UTC is the same content: a duplicate, not a conflict
    assert post(db, [sale("tz", at=T0)]).duplicates == 1
    assert db.scalar(select(LedgerEntry.effective_at)) == T0


def test_reversal_link_cannot_be_set_through_post(db: Session) -> None:
    with pytest.raises(InvalidEntry, match="reverse"):
        post(db, [replace(sale("x"), reverses="order:1:paid")])


@pytest.mark.parametrize(
    ("bad", "error", "reason"),
    [
        (replace(sale("bad"), memo="a\x00b"), InvalidEntry, "NUL"),
        (
            _with_postings(Posting("cash", 100), Posting("buyer_payments_held", -99)),
            Unbalanced,
            "sum to 1 CNY",
        ),
        (
            _with_postings(Posting("Cash Box", 100), Posting("buyer_payments_held", -100)),
            InvalidEntry,
            "not a code",
        ),
        (_with_postings(Posting("cash", 100), "x"), InvalidEntry, "not a Posting"),  # type: ignore[arg-type]
    ],
    ids=["nul-in-memo", "unbalanced", "bad-account", "not-a-posting"],
)
def test_a_bad_entry_deep_in_a_large_batch_leaves_nothing_and_the_session_usable(
    db: Session, bad: Entry, error: type[InvalidInput], reason: str
) -> None:
    """Large batches are checked while they are written (PostgreSQL: inside the COPY): a bad
    entry after many good ones still refuses the whole batch, and the transaction goes on."""
    batch = [sale(f"good:{n}", order_id=n + 1) for n in range(300)]
    batch.insert(250, bad)
    with pytest.raises(error) as raised:
        post(db, batch)
    assert reason in str(raised.value.detail)
    assert "'bad'" in str(raised.value.detail)
    assert _written(db) == (0, 0)
    assert post(db, batch[:10]).posted == 10
    assert _written(db) == (10, 20)


def test_a_large_batch_repeating_a_key_with_other_content_is_refused(db: Session) -> None:
    batch = [sale(f"k:{n}", order_id=n + 1) for n in range(100)]
    post(db, batch[:50])
    again = [*batch, replace(batch[70], memo="other")]  # k:70 twice, different content
    with pytest.raises(IdempotencyConflict, match="k:70"):
        post(db, again)
    changed = [*batch[:60], replace(batch[20], memo="changed"), *batch[60:]]
    with pytest.raises(IdempotencyConflict, match="k:20"):
        post(db, changed)
    assert _written(db) == (50, 100)
    result = post(db, [*batch, batch[99]])
    assert (result.posted, result.duplicates) == (50, 51)
