"""One settlement writer at a time.

On PostgreSQL a session-level advisory lock, held on its own connection for the whole run (a
killed process's connection closes and the lock goes with it). On SQLite writers are serialised
by the database file; the unique constraints on settlement items and payout batches are the
guarantee on both: a second writer that slips through finds every item and batch taken.

The same key, taken in a transaction, keeps a standalone accrual (exclusive, waiting) and a
refund applied at once (shared, not waiting) apart from runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

#: Arbitrary, fixed: "zhibo settlement" in the advisory-lock key space.
ADVISORY_KEY = 0x5A48_5345_5454


@contextmanager
def settlement_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            connection.commit()


def lock_settlement_in_transaction(db: Session) -> None:
    """Wait for any settlement run, then keep runs (and immediate refund application) out
    until the caller's transaction ends: for a standalone batch accrual. No-op on SQLite."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})


def try_share_settlement_lock(db: Session) -> bool:
    """True when no settlement run (nor batch accrual) holds the lock; it is then held, shared,
    until the caller's transaction ends, so no run starts meanwhile. Never waits. Always true
    on SQLite, where the caller's write transaction already excludes every other writer."""
    if db.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        db.scalar(text("SELECT pg_try_advisory_xact_lock_shared(:key)"), {"key": ADVISORY_KEY})
    )
