"""How the ledger is stored: set-based writers per database, no ORM objects per row.

PostgreSQL, a large batch whose sampled keys are all new (a fresh run): accounts and ids are
taken first, then the batch is checked entry by entry *while* its postings are COPYed (binary)
into their table, so the server stores postings while Python checks the next entries
(:func:`write_stream`); the entries' COPY follows. Otherwise (or when a stored key turns up):
one query finds which keys of the batch are already stored and compares their content hashes,
ids for the new entries come from the sequence in one array, then entries and postings are
COPYed straight into their tables. Going through a staging table
and ``INSERT … SELECT … ON CONFLICT`` was measured at 3-4× the cost of the entries' COPY, so
races are handled instead by the unique key: a COPY that hits a key a concurrent poster has
just committed fails, its savepoint is rolled back, and the batch is checked again. The whole
write runs in an outer savepoint, so a conflict found on the retry leaves nothing behind.

SQLite: the writer takes the database's write lock first, then checks existing keys, creates
accounts and inserts with ``executemany``. Holding the lock, nobody can slip a key in between
the check and the insert, so every conflict is found before anything is written.

Both paths give entry ids out before inserting (the sequence on PostgreSQL, ``max(id)`` under
the write lock on SQLite), so postings reference their entry without a round trip per entry.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from zhibo.kit.time import utcnow
from zhibo.ledger.accounts import parse_code
from zhibo.ledger.schemas import AlreadyReversed, Entry, IdempotencyConflict

#: Longest idempotency key (``ledger_entries.key`` is a VARCHAR(200)).
MAX_KEY_LENGTH = 200
#: Tries of a PostgreSQL batch that keeps losing key races (each retry re-checks every key).
MAX_ATTEMPTS = 5
#: Keys sampled from a PostgreSQL batch to decide whether to look every key up first.
PROBE_KEYS = 32
#: Bound parameters per SQLite statement stay well under SQLITE_MAX_VARIABLE_NUMBER (32,766).
SQLITE_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated entry and its content hash."""

    entry: Entry
    content_hash: str


def write(
    db: Session,
    prepared: Sequence[Prepared],
    *,
    reverses_entry_id: int | None = None,
    optimistic: bool = True,
) -> tuple[int, int]:
    """Write validated entries; return (posted, duplicates). Raises ``IdempotencyConflict``.

    ``reverses_entry_id`` links a single reversal entry to the entry it reverses.
    ``optimistic=False``: the caller knows some keys are stored, so PostgreSQL skips the
    sampled-key shortcut and looks every key up at once.
    """
    db.flush()
    if db.get_bind().dialect.name == "postgresql":
        with db.begin_nested():
            return _write_postgresql(db, prepared, reverses_entry_id, optimistic)
    return _write_sqlite(db, prepared, reverses_entry_id)


def _conflict(key: str) -> IdempotencyConflict:
    return IdempotencyConflict(f"entry {key!r}: already posted with different content")


def _fresh(prepared: Sequence[Prepared], stored: dict[str, str]) -> list[Prepared]:
    """The entries whose keys are not stored yet; a stored key with another hash conflicts."""
    if not stored:
        return list(prepared)
    fresh: list[Prepared] = []
    for item in prepared:
        digest = stored.get(item.entry.key)
        if digest is None:
            fresh.append(item)
        elif digest != item.content_hash:
            raise _conflict(item.entry.key)
    return fresh


def _codes(prepared: Iterable[Prepared]) -> list[str]:
    # Sorted so that concurrent posters create shared accounts in the same order (no deadlock).
    return sorted({p.account for item in prepared for p in item.entry.postings})


# --- PostgreSQL -------------------------------------------------------------------------------

#: The sequence behind ``ledger_entries.id`` (BIGSERIAL, created by migration 0005).
_SEQUENCE = "ledger_entries_id_seq"
_ENTRY_COLUMNS = "id, key, kind, effective_at, order_id, ref, memo, content_hash, reverses_entry_id"
_ENTRY_TYPES = [
    "int8", "text", "text", "timestamptz", "int8", "text", "text", "text", "int8", "timestamptz"
]  # fmt: skip


def _pg_accounts(cursor: Any, codes: list[str], now: datetime) -> dict[str, int]:
    ids: dict[str, int] = dict(
        cursor.execute(
            "SELECT code, id FROM ledger_accounts WHERE code = ANY(%s)", (codes,)
        ).fetchall()
    )
    missing = [code for code in codes if code not in ids]
    if missing:
        parsed = [parse_code(code) for code in missing]
        cursor.execute(
            "INSERT INTO ledger_accounts (code, kind, owner, created_at) "
            "SELECT code, kind, owner, %s FROM unnest(%s::text[], %s::text[], %s::text[]) "
            "AS t(code, kind, owner) ORDER BY code ON CONFLICT (code) DO NOTHING",
            (now, missing, [kind for kind, _ in parsed], [owner for _, owner in parsed]),
        )
        ids.update(
            cursor.execute(
                "SELECT code, id FROM ledger_accounts WHERE code = ANY(%s)", (missing,)
            ).fetchall()
        )
    return ids


#: Binary COPY framing: signature, flags, header extension length; and the trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
#: One posting row: 5 fields, each a length and a big-endian value (currency: 3 ASCII bytes).
_POSTING_ROW = struct.Struct("!hiqihiqiqi3s")
#: Posting rows per COPY message (~100 kB).
_COPY_CHUNK_ROWS = 2_000


def _binary_postings(
    ids: Sequence[int],
    prepared: Iterable[Prepared],
    accounts: dict[str, int],
    taken: list[Prepared],
) -> Iterator[bytes]:
    """The postings of ``prepared``, in PostgreSQL's binary COPY format, in chunks.

    The n-th entry taken from ``prepared`` gets ``ids[n]`` and is appended to ``taken``
    (``prepared`` may be a stream that checks each entry as it is taken). Every posting row
    has the same width, so it is one ``struct.pack`` per row: about three times cheaper than
    psycopg's generic ``write_row`` (this loop is the hot path of ``post``). Chunks let the
    server insert one while Python packs the next.
    """
    pack = _POSTING_ROW.pack
    currencies: dict[str, bytes] = {}
    rows = [_COPY_HEADER]
    append = rows.append
    take = taken.append
    for n, item in enumerate(prepared):
        entry_id = ids[n]  # an IndexError, never a silent stop, if ids ran short
        take(item)
        for line, posting in enumerate(item.entry.postings):
            currency = currencies.get(posting.currency)
            if currency is None:
                currency = currencies[posting.currency] = posting.currency.encode("ascii")
            append(
                pack(
                    5, 8, entry_id, 2, line, 8, accounts[posting.account],
                    8, posting.amount_fen, 3, currency,
                )
            )  # fmt: skip
        if len(rows) >= _COPY_CHUNK_ROWS:
            yield b"".join(rows)
            rows.clear()
    append(_COPY_TRAILER)
    yield b"".join(rows)


def _copy_postings(
    cursor: Any,
    ids: Sequence[int],
    prepared: Iterable[Prepared],
    accounts: dict[str, int],
    taken: list[Prepared],
) -> None:
    with cursor.copy(
        "COPY ledger_postings (entry_id, line, account_id, amount_fen, currency) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        for chunk in _binary_postings(ids, prepared, accounts, taken):
            copy.write(chunk)


def _new_ids(cursor: Any, count: int) -> list[int]:
    # One array rather than a row per id: 10k ids in one value.
    ids: list[int] = cursor.execute(
        f"SELECT array_agg(nextval('{_SEQUENCE}')) FROM generate_series(1, %s)", (count,)
    ).fetchone()[0]
    return ids


def streams(db: Session, count: int) -> bool:
    """Whether :func:`write_stream` may take a batch of ``count`` entries."""
    return count > PROBE_KEYS and db.get_bind().dialect.name == "postgresql"


def _sample(values: Sequence[Any]) -> Sequence[Any]:
    """About PROBE_KEYS of ``values``, evenly spread."""
    return values[:: max(1, len(values) // PROBE_KEYS)]


def _probe_keys(entries: Sequence[Entry]) -> list[str] | None:
    keys = [entry.key for entry in _sample(entries)]
    if all(
        type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and key.isprintable() for key in keys
    ):
        return keys
    return None


def write_stream(
    db: Session, entries: Sequence[Entry], codes: list[str], stream: Iterable[Prepared]
) -> int | None:
    """Post a large PostgreSQL batch while it is being checked; None: use :func:`write`.

    ``stream`` yields the entries of ``entries`` to write as each one passes its checks
    (``codes``: every account code they use, all well-formed). When the batch looks new
    (none of a sample of its keys is stored), the accounts and entry ids are taken first,
    then each checked entry's postings go straight into the postings' COPY: the server
    stores them while Python checks the next entries (checking first and copying after
    leaves one side idle while the other works). The entries' COPY follows. An entry that
    fails its check raises out of the COPY and the savepoint around the batch undoes it
    all; a key that turns out to be stored already (the sample missed it, or a concurrent
    poster just wrote it) undoes the copies and returns None, so the caller goes the
    checking-first way, which compares content hashes. Returns the number of entries posted.
    """
    import psycopg.errors

    keys = _probe_keys(entries)
    if keys is None:
        return None
    db.flush()
    now = utcnow()
    with db.begin_nested():
        raw = db.connection().connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            if _pg_stored_hashes(cursor, keys):
                return None
            accounts = _pg_accounts(cursor, codes, now)
            ids = _new_ids(cursor, len(entries))
            taken: list[Prepared] = []
            cursor.execute("SAVEPOINT ledger_copy")
            try:
                _copy_postings(cursor, ids, stream, accounts, taken)
                _copy_entries(cursor, ids[: len(taken)], taken, None, now)
            except psycopg.errors.UniqueViolation as error:
                if error.diag.constraint_name != "uq_ledger_entries_key":
                    raise
                cursor.execute("ROLLBACK TO SAVEPOINT ledger_copy")
                return None
            cursor.execute("RELEASE SAVEPOINT ledger_copy")
            return len(taken)
        finally:
            cursor.close()


def _pg_stored_hashes(cursor: Any, keys: list[str]) -> dict[str, str]:
    rows = cursor.execute(
        "SELECT key, content_hash FROM ledger_entries WHERE key = ANY(%s)", (keys,)
    ).fetchall()
    return dict(rows)


def _write_postgresql(
    db: Session, prepared: Sequence[Prepared], reverses_entry_id: int | None, optimistic: bool
) -> tuple[int, int]:
    """Check keys, then COPY entries and postings straight into the tables.

    A concurrent poster may insert one of our keys between the check and the COPY: the COPY
    then fails on the unique key (after waiting for the other transaction to commit), the
    inner savepoint undoes it, and the batch is checked again, now seeing the winner's row.
    """
    import psycopg.errors

    now = utcnow()
    raw = db.connection().connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        keys = [item.entry.key for item in prepared]
        # A large batch whose sampled keys are all new is most likely all new (a fresh run):
        # skip the full lookup and let the unique key catch the exception, which then costs
        # one wasted COPY and the full lookup on the next attempt.
        optimistic = (
            optimistic
            and len(keys) > PROBE_KEYS
            and not _pg_stored_hashes(cursor, list(_sample(keys)))
        )
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if optimistic and attempt == 1:
                fresh = list(prepared)
            else:
                fresh = _fresh(prepared, _pg_stored_hashes(cursor, keys))
            if not fresh:
                return 0, len(prepared)
            accounts = _pg_accounts(cursor, _codes(fresh), now)
            ids = _new_ids(cursor, len(fresh))
            cursor.execute("SAVEPOINT ledger_copy")
            try:
                _copy_entries(cursor, ids, fresh, reverses_entry_id, now)
            except psycopg.errors.UniqueViolation as error:
                cursor.execute("ROLLBACK TO SAVEPOINT ledger_copy")
                constraint = error.diag.constraint_name
                if constraint == "uq_ledger_entries_reverses_entry_id":
                    raise AlreadyReversed(
                        f"entry {fresh[0].entry.key!r}: the original was reversed meanwhile"
                    ) from None
                if constraint != "uq_ledger_entries_key" or attempt == MAX_ATTEMPTS:
                    raise
                continue
            cursor.execute("RELEASE SAVEPOINT ledger_copy")
            taken: list[Prepared] = []
            _copy_postings(cursor, ids, fresh, accounts, taken)
            return len(fresh), len(prepared) - len(fresh)
    finally:
        cursor.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _copy_entries(
    cursor: Any,
    ids: Sequence[int],
    fresh: Sequence[Prepared],
    reverses_entry_id: int | None,
    now: datetime,
) -> None:
    with cursor.copy(
        f"COPY ledger_entries ({_ENTRY_COLUMNS}, posted_at) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(_ENTRY_TYPES)
        write_row = copy.write_row
        # In key order: two posters inserting overlapping keys then take the unique index's
        # row locks in the same order, so one waits for the other instead of deadlocking.
        in_key_order = sorted(zip(ids, fresh, strict=True), key=lambda pair: pair[1].entry.key)
        for entry_id, item in in_key_order:
            entry = item.entry
            write_row(
                (
                    entry_id,
                    entry.key,
                    entry.kind,
                    entry.effective_at,
                    entry.order_id,
                    entry.ref,
                    entry.memo,
                    item.content_hash,
                    reverses_entry_id,
                    now,
                )
            )


# --- SQLite -----------------------------------------------------------------------------------


def _sqlite_time(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DATETIME stores (naive UTC, always microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), SQLITE_CHUNK):
        yield values[start : start + SQLITE_CHUNK]


def _sqlite_lookup(cursor: Any, sql: str, values: Sequence[str]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(values):
        marks = ",".join("?" * len(chunk))
        rows.extend(cursor.execute(sql.format(marks=marks), chunk).fetchall())
    return rows


def _write_sqlite(
    db: Session, prepared: Sequence[Prepared], reverses_entry_id: int | None
) -> tuple[int, int]:
    import sqlite3

    now = utcnow()
    raw = db.connection().connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        # An INSERT that inserts nothing still takes the write lock (the driver opens the
        # transaction first): from here on no other writer can add a key we have checked.
        cursor.execute(
            "INSERT INTO ledger_accounts (code, kind, created_at) SELECT NULL, NULL, NULL WHERE 0"
        )
        keys = [item.entry.key for item in prepared]
        stored = dict(
            _sqlite_lookup(
                cursor, "SELECT key, content_hash FROM ledger_entries WHERE key IN ({marks})", keys
            )
        )
        fresh = _fresh(prepared, stored)
        if not fresh:
            return 0, len(prepared)
        codes = _codes(fresh)
        sql = "SELECT code, id FROM ledger_accounts WHERE code IN ({marks})"
        accounts: dict[str, int] = dict(_sqlite_lookup(cursor, sql, codes))
        missing = [code for code in codes if code not in accounts]
        if missing:
            created = _sqlite_time(now)
            cursor.executemany(
                "INSERT INTO ledger_accounts (code, kind, owner, created_at) VALUES (?, ?, ?, ?)",
                [(code, *parse_code(code), created) for code in missing],
            )
            accounts.update(_sqlite_lookup(cursor, sql, missing))
        first_id = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM ledger_entries").fetchone()[
            0
        ]
        posted_at = _sqlite_time(now)
        entry_rows = []
        posting_rows = []
        for entry_id, item in enumerate(fresh, start=first_id):
            entry = item.entry
            entry_rows.append(
                (
                    entry_id,
                    entry.key,
                    entry.kind,
                    _sqlite_time(entry.effective_at),
                    entry.order_id,
                    entry.ref,
                    entry.memo,
                    item.content_hash,
                    reverses_entry_id,
                    posted_at,
                )
            )
            for line, posting in enumerate(entry.postings):
                posting_rows.append(
                    (
                        entry_id,
                        line,
                        accounts[posting.account],
                        posting.amount_fen,
                        posting.currency,
                    )
                )
        try:
            cursor.executemany(
                f"INSERT INTO ledger_entries ({_ENTRY_COLUMNS}, posted_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                entry_rows,
            )
        except sqlite3.IntegrityError as error:
            if "reverses_entry_id" in str(error):
                raise AlreadyReversed(
                    f"entry {fresh[0].entry.key!r}: the original was reversed already"
                ) from None
            raise
        cursor.executemany(
            "INSERT INTO ledger_postings (entry_id, line, account_id, amount_fen, currency) "
            "VALUES (?, ?, ?, ?, ?)",
            posting_rows,
        )
    finally:
        cursor.close()
    return len(fresh), len(prepared) - len(fresh)
