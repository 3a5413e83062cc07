"""Posting, reversing and reading the ledger.

``post`` validates a whole batch in one pass before anything is written (so a bad entry
leaves no trace of its batch), then hands it to the repository, which writes it set-based:
COPY on PostgreSQL, ``executemany`` on SQLite. Idempotency is decided by the unique key and a
content hash per entry, so two processes posting the same key race safely: one row wins, the
other poster counts a duplicate (same content) or gets ``IdempotencyConflict``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from zhibo.kit import metrics
from zhibo.kit.time import ensure_utc
from zhibo.ledger import repository
from zhibo.ledger.accounts import MAX_CODE_LENGTH, valid_code
from zhibo.ledger.repository import MAX_KEY_LENGTH, Prepared
from zhibo.ledger.schemas import (
    AlreadyReversed,
    Entry,
    EntryNotFound,
    IdempotencyConflict,
    InvalidEntry,
    Posting,
    PostResult,
    ReversalNotReversible,
    Unbalanced,
)
from zhibo.models.ledger import LedgerAccount, LedgerEntry, LedgerPosting

MAX_REF_LENGTH = 200
#: PostgreSQL BIGINT bounds: an amount outside them could not be stored.
MAX_AMOUNT_FEN = 2**63 - 1
#: ``line`` is a SMALLINT.
MAX_POSTINGS_PER_ENTRY = 32_767
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
_ZERO = timedelta(0)


def content_hash(entry: Entry) -> str:
    """A stable digest of everything an entry says: kind, time, order, ref, memo, postings.

    Postings are hashed in their order (a posting's line number is part of what is stored).
    Time is hashed in UTC, so the same instant written in another zone is the same content.
    BLAKE2b-128 is ample for telling a retry from a different payload under one key; the
    hash is computed for every entry posted, so it is kept to one orjson call and one digest.
    """
    at = entry.effective_at
    if at.utcoffset() != _ZERO:
        at = at.astimezone(UTC)
    try:
        canonical = orjson.dumps(
            (
                entry.kind,
                at,
                entry.order_id,
                entry.ref,
                entry.memo,
                entry.reverses,
                [(p.account, p.amount_fen, p.currency) for p in entry.postings],
            )
        )
    except TypeError as error:  # text that is not valid Unicode (a lone surrogate)
        raise _refuse(entry.key, f"memo and ref must be valid Unicode text ({error})") from None
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def _refuse(key: object, why: str) -> InvalidEntry:
    return InvalidEntry(f"entry {key!r}: {why}")


def _check_entry(entry: Entry, good_codes: set[str], good_currencies: set[str]) -> None:
    """Every rule, one by one, with the reason; raises on the first broken one.

    The slow path of :func:`_prepare`: it runs only for entries the fast path doubts
    (a new account code, another currency, anything malformed).
    """
    key = entry.key
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise _refuse(key, f"key must be 1-{MAX_KEY_LENGTH} printable characters")
    if not isinstance(entry.kind, str) or not KIND_PATTERN.fullmatch(entry.kind):
        raise _refuse(key, f"kind {entry.kind!r} must be a lower-case word of ≤ 32 characters")
    at = entry.effective_at
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise _refuse(key, f"effective_at must be a timezone-aware datetime, got {at!r}")
    order_id = entry.order_id
    if order_id is not None and (type(order_id) is not int or order_id <= 0):
        raise _refuse(key, f"order_id must be a positive integer, got {order_id!r}")
    ref = entry.ref
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH or "\x00" in ref):
        raise _refuse(key, f"ref must be a string of ≤ {MAX_REF_LENGTH} characters, no NUL")
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail half-way in COPY.
    if not isinstance(entry.memo, str) or "\x00" in entry.memo:
        raise _refuse(key, "memo must be a string without NUL characters")
    postings = entry.postings
    if not isinstance(postings, tuple) or len(postings) < 2:
        raise _refuse(key, "an entry needs a tuple of at least 2 postings")
    if len(postings) > MAX_POSTINGS_PER_ENTRY:
        raise _refuse(key, f"more than {MAX_POSTINGS_PER_ENTRY} postings")
    sums: dict[str, int] = {}
    for line, posting in enumerate(postings):
        if not isinstance(posting, Posting):
            raise _refuse(key, f"posting {line} is a {type(posting).__name__}, not a Posting")
        amount = posting.amount_fen
        if type(amount) is not int:
            raise _refuse(key, f"posting {line}: amount_fen must be an int, got {amount!r}")
        if amount == 0 or not -MAX_AMOUNT_FEN <= amount <= MAX_AMOUNT_FEN:
            raise _refuse(key, f"posting {line}: amount_fen {amount} must be non-zero fen")
        currency = posting.currency
        if type(currency) is not str or currency not in good_currencies:
            if not isinstance(currency, str) or not CURRENCY_PATTERN.fullmatch(currency):
                raise _refuse(
                    key, f"posting {line}: currency {currency!r} is not a 3-letter ISO code"
                )
            good_currencies.add(currency)
        account = posting.account
        if type(account) is not str or account not in good_codes:
            if not valid_code(account) or len(account.partition(":")[0]) > 64:
                raise _refuse(
                    key,
                    f"posting {line}: account {account!r} is not a code like "
                    f"'brand_payable:17' (lower-case segments joined by ':', "
                    f"≤ {MAX_CODE_LENGTH} characters)",
                )
            good_codes.add(account)
        sums[currency] = sums.get(currency, 0) + amount
    for currency, total in sums.items():
        if total:
            raise Unbalanced(f"entry {key!r}: postings sum to {total} {currency}, not 0")


def _prepare(entries: Iterable[Entry], *, reversals: bool = True) -> tuple[list[Prepared], int]:
    """Validate every entry and compute its hash, in one pass; raise on the first bad one.

    Returns the entries to write (first occurrence of each key) and how many repeats of a key
    within the batch were dropped as duplicates. A key repeated with other content is a
    conflict even inside one batch. ``reversals=False`` refuses entries that reverse another.
    """
    repeats = [0]
    prepared = list(_validated(entries, repeats, reversals=reversals))
    return prepared, repeats[0]


def _validated(
    entries: Iterable[Entry], repeats: list[int], *, reversals: bool = True
) -> Iterator[Prepared]:
    """:func:`_prepare` as a stream: yields each entry to write once it has been checked.

    ``repeats[0]`` counts the repeats of a key dropped as duplicates. A consumer may write
    what it has been given before the stream ends: when a later entry is refused, the caller
    undoes the whole batch (the PostgreSQL writer streams postings into a COPY this way, so
    the server stores them while Python checks the next entries).

    This loop is the Python half of the ledger's write speed, so the common entry (known
    kind, account codes and currency; one currency) is checked with a few type tests and one
    sum; anything else goes through :func:`_check_entry`, which names the broken rule.
    ``reversals=False`` refuses entries that reverse another (those go through
    :func:`reverse`).
    """
    hashes: dict[str, str] = {}
    good_codes: set[str] = set()
    good_currencies = {"CNY"}
    good_kinds: set[str] = set()
    for entry in entries:
        if type(entry) is not Entry and not isinstance(entry, Entry):
            raise InvalidEntry(f"expected an Entry, got {type(entry).__name__}")
        key = entry.key
        postings = entry.postings
        at = entry.effective_at
        order_id = entry.order_id
        ref = entry.ref
        doubt = (
            type(key) is not str
            or not 0 < len(key) <= MAX_KEY_LENGTH
            or not key.isprintable()
            or entry.kind not in good_kinds
            or not isinstance(at, datetime)
            or at.utcoffset() is None
            or (order_id is not None and (type(order_id) is not int or order_id <= 0))
            or (ref is not None and (type(ref) is not str or len(ref) > MAX_REF_LENGTH))
            or (ref is not None and "\x00" in ref)
            or type(entry.memo) is not str
            or "\x00" in entry.memo
            or type(postings) is not tuple
            or not 2 <= len(postings) <= MAX_POSTINGS_PER_ENTRY
        )  # fmt: skip
        if not doubt:
            currency = postings[0].currency if type(postings[0]) is Posting else None
            total = 0
            try:
                for posting in postings:
                    if type(posting) is not Posting:
                        doubt = True
                        break
                    amount = posting.amount_fen
                    if (
                        type(amount) is not int
                        or not amount
                        or posting.currency != currency
                        or posting.account not in good_codes
                        or not -MAX_AMOUNT_FEN <= amount <= MAX_AMOUNT_FEN
                    ):
                        doubt = True
                        break
                    total += amount
            except TypeError:  # an unhashable account or currency: the slow path names it
                doubt = True
            if not doubt and (
                total or type(currency) is not str or currency not in good_currencies
            ):
                doubt = True
        if doubt:
            _check_entry(entry, good_codes, good_currencies)
            good_kinds.add(entry.kind)
        if not reversals and entry.reverses is not None:
            raise _refuse(key, "reversals are posted with reverse(), not post()")
        digest = content_hash(entry)
        seen = hashes.get(key)
        if seen is not None:
            if seen != digest:
                raise IdempotencyConflict(
                    f"entry {key!r}: the batch holds this key twice with different content"
                )
            repeats[0] += 1
            continue
        hashes[key] = digest
        yield Prepared(entry, digest)


def post(db: Session, entries: Iterable[Entry]) -> PostResult:
    """Write a batch of balanced entries; keys already in the ledger are duplicates.

    All or nothing: an invalid entry (``Unbalanced``, ``InvalidEntry``) or a key posted before
    with other content (``IdempotencyConflict``) refuses the whole batch, naming the key.
    The caller's unit of work commits.
    """
    batch = entries if isinstance(entries, list) else list(entries)
    optimistic = True
    if repository.streams(db, len(batch)):
        codes = _batch_codes(batch)
        if codes is not None:
            repeats = [0]
            written = repository.write_stream(
                db, batch, codes, _validated(batch, repeats, reversals=False)
            )
            if written is not None:
                metrics.LEDGER_ENTRIES.inc(written)
                return PostResult(posted=written, duplicates=repeats[0])
            # Some key is stored already (sampled, or found by the unique key): look them up.
            optimistic = False
    prepared, repeats_ = _prepare(batch, reversals=False)
    if not prepared:
        return PostResult(posted=0, duplicates=repeats_)
    posted, duplicates = repository.write(db, prepared, optimistic=optimistic)
    metrics.LEDGER_ENTRIES.inc(posted)
    return PostResult(posted=posted, duplicates=duplicates + repeats_)


@lru_cache(maxsize=65_536)
def _code_ok(code: str) -> bool:
    return valid_code(code) and len(code.partition(":")[0]) <= 64


def _batch_codes(batch: list[Entry]) -> list[str] | None:
    """The account codes a batch posts to, sorted; None if any entry looks malformed.

    The streaming writer creates the accounts before the entries are checked one by one, so
    it needs every code up front, and only well-formed ones: anything odd (a missing
    attribute, a bad code) sends the batch down the checking-first path, which names it.
    """
    try:
        codes = {posting.account for entry in batch for posting in entry.postings}
        if all(type(code) is str and _code_ok(code) for code in codes):
            return sorted(codes)
    except Exception:  # any malformed input: the checking-first path names it
        return None
    return None


def reverse(db: Session, key: str, *, reversal_key: str, at: datetime, reason: str) -> Entry:
    """Post the negation of entry ``key`` under ``reversal_key`` and return it.

    The reversal keeps the original's order id and ref, has kind ``reversal`` and links back
    to the original (``Entry.reverses``). An entry is reversed at most once
    (``AlreadyReversed``); a reversal is never reversed (``ReversalNotReversible``): to restore
    the original movement, post it again under a new key. Calling ``reverse`` again with the
    same ``reversal_key`` returns the reversal already posted, so retries are safe.
    """
    when = ensure_utc(at, "at")
    original = db.scalar(select(LedgerEntry).where(LedgerEntry.key == key))
    if original is None:
        raise EntryNotFound(f"entry {key!r}: no such entry")
    if original.reverses_entry_id is not None:
        raise ReversalNotReversible(f"entry {key!r} is a reversal and cannot be reversed")
    existing = db.scalar(
        select(LedgerEntry.key).where(LedgerEntry.reverses_entry_id == original.id)
    )
    postings = tuple(
        Posting(posting.account, -posting.amount_fen, posting.currency)
        for posting in _load_postings(db, [original.id])[original.id]
    )
    reversal = Entry(
        key=reversal_key,
        kind="reversal",
        postings=postings,
        effective_at=when,
        order_id=original.order_id,
        ref=original.ref,
        memo=reason,
        reverses=key,
    )
    if existing is not None and existing != reversal_key:
        raise AlreadyReversed(f"entry {key!r} was already reversed by {existing!r}")
    prepared, _ = _prepare([reversal])
    repository.write(db, prepared, reverses_entry_id=original.id)
    return reversal


def _as_of_filter(as_of: datetime | None) -> datetime | None:
    return None if as_of is None else ensure_utc(as_of, "as_of")


def balance(
    db: Session, account: str, *, currency: str = "CNY", as_of: datetime | None = None
) -> int:
    """Sum of the account's postings in ``currency`` (fen), optionally up to ``as_of``.

    A debit balance is positive: a liability account such as ``commission_payable:…`` is
    normally negative (credited when earned, debited when paid).
    """
    when = _as_of_filter(as_of)
    query = (
        select(func.coalesce(func.sum(LedgerPosting.amount_fen), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerAccount.code == account, LedgerPosting.currency == currency)
    )
    if when is not None:
        query = query.join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id).where(
            LedgerEntry.effective_at <= when
        )
    return int(db.scalar(query) or 0)


def balances(
    db: Session, prefix: str = "", *, as_of: datetime | None = None
) -> dict[tuple[str, str], int]:
    """Balance of every account whose code starts with ``prefix``: (code, currency) → fen.

    Accounts whose postings sum to zero are included (a settled payable is worth seeing).
    """
    when = _as_of_filter(as_of)
    query = (
        select(
            LedgerAccount.code,
            LedgerPosting.currency,
            func.sum(LedgerPosting.amount_fen),
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .group_by(LedgerAccount.code, LedgerPosting.currency)
        .order_by(LedgerAccount.code, LedgerPosting.currency)
    )
    if prefix:
        query = query.where(LedgerAccount.code.startswith(prefix, autoescape=True))
    if when is not None:
        query = query.join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id).where(
            LedgerEntry.effective_at <= when
        )
    return {(code, currency): int(total) for code, currency, total in db.execute(query)}


def _load_postings(db: Session, entry_ids: list[int]) -> dict[int, list[Posting]]:
    found: dict[int, list[Posting]] = {entry_id: [] for entry_id in entry_ids}
    rows = db.execute(
        select(
            LedgerPosting.entry_id,
            LedgerAccount.code,
            LedgerPosting.amount_fen,
            LedgerPosting.currency,
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerPosting.entry_id.in_(entry_ids))
        .order_by(LedgerPosting.entry_id, LedgerPosting.line)
    )
    for entry_id, code, amount, currency in rows:
        found[entry_id].append(Posting(code, amount, currency))
    return found


def entries_for_order(db: Session, order_id: int) -> list[Entry]:
    """Every entry of an order, oldest effective first, reversals included."""
    original = aliased(LedgerEntry)
    rows = db.execute(
        select(LedgerEntry, original.key)
        .outerjoin(original, original.id == LedgerEntry.reverses_entry_id)
        .where(LedgerEntry.order_id == order_id)
        .order_by(LedgerEntry.effective_at, LedgerEntry.id)
    ).all()
    postings = _load_postings(db, [row.id for row, _ in rows])
    return [
        Entry(
            key=row.key,
            kind=row.kind,
            postings=tuple(postings[row.id]),
            effective_at=row.effective_at,
            order_id=row.order_id,
            ref=row.ref,
            memo=row.memo,
            reverses=reversed_key,
        )
        for row, reversed_key in rows
    ]


def get_entry(db: Session, key: str) -> Entry:
    """The entry posted under ``key``."""
    original = aliased(LedgerEntry)
    row = db.execute(
        select(LedgerEntry, original.key)
        .outerjoin(original, original.id == LedgerEntry.reverses_entry_id)
        .where(LedgerEntry.key == key)
    ).first()
    if row is None:
        raise EntryNotFound(f"entry {key!r}: no such entry")
    entry, reversed_key = row
    return Entry(
        key=entry.key,
        kind=entry.kind,
        postings=tuple(_load_postings(db, [entry.id])[entry.id]),
        effective_at=entry.effective_at,
        order_id=entry.order_id,
        ref=entry.ref,
        memo=entry.memo,
        reverses=reversed_key,
    )
