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


def _spy_paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count which writer a post() took: the streaming one or the checking-first one."""
    from zhibo.ledger import repository

    calls = {"stream": 0, "write": 0}
    stream, write = repository.write_stream, repository.write

    def counted_stream(*args: object, **kwargs: object) -> object:
        calls["stream"] += 1
        return stream(*args, **kwargs)  # type: ignore[arg-type]

    def counted_write(*args: object, **kwargs: object) -> object:
        calls["write"] += 1
        return write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "write_stream", counted_stream)
    monkeypatch.setattr(repository, "write", counted_write)
    return calls


def test_a_new_large_batch_is_streamed_and_counts_its_repeats(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a new large batch takes the streaming writer alone (SQLite: the
    checking-first one); either way a key repeated with the same content is a duplicate."""
    calls = _spy_paths(monkeypatch)
    batch = [sale(f"s:{n}", order_id=n + 1) for n in range(200)]
    result = post(db, [*batch[:120], batch[7], *batch[120:], batch[150]])
    assert (result.posted, result.duplicates) == (200, 2)
    assert _written(db) == (200, 400)
    streamed = db.get_bind().dialect.name == "postgresql"
    assert calls == ({"stream": 1, "write": 0} if streamed else {"stream": 0, "write": 1})
    stored = dict(db.execute(select(LedgerEntry.key, LedgerEntry.order_id)).all())
    assert all(stored[entry.key] == entry.order_id for entry in batch)
    # every posting belongs to its own entry: ids were given out in the order entries came
    sums = db.execute(
        select(LedgerPosting.entry_id, func.sum(LedgerPosting.amount_fen), func.count()).group_by(
            LedgerPosting.entry_id
        )
    ).all()
    assert len(sums) == 200 and all(total == 0 and n == 2 for _, total, n in sums)
    assert post(db, batch).duplicates == 200


@pytest.mark.parametrize(
    ("bad", "error", "reason"),
    [
        (replace(sale("x"), reverses="s:1"), InvalidEntry, "reverse()"),
        (replace(sale("x"), key="x\x00y"), InvalidEntry, "printable"),
        (replace(sale("x"), key=17), InvalidEntry, "printable"),  # type: ignore[arg-type]
        (
            _with_postings(Posting("cash", 100), Posting(["list"], -100)),  # type: ignore[arg-type]
            InvalidEntry,
            "not a code",
        ),
        (replace(sale("x"), postings=None), InvalidEntry, "tuple of at least 2"),  # type: ignore[arg-type]
    ],
    ids=["reversal", "nul-key", "int-key", "unhashable-account", "no-postings"],
)
@pytest.mark.parametrize("where", [0, 64, 199])
def test_a_large_batch_with_a_malformed_entry_anywhere_is_refused(
    db: Session, bad: Entry, error: type[InvalidInput], reason: str, where: int
) -> None:
    """Whether the bad entry falls in the sampled keys (0, 64) or not (199), before or after
    the streaming writer would start, the batch is refused with the reason, nothing kept."""
    batch = [sale(f"s:{n}", order_id=n + 1) for n in range(200)]
    batch.insert(where, bad)
    with pytest.raises(error) as raised:
        post(db, batch)
    assert reason in str(raised.value.detail)
    assert _written(db) == (0, 0)
    assert post(db, batch[:where] + batch[where + 1 :]).posted == 200
