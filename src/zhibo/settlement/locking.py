"""One settlement writer at a time.

On PostgreSQL a session-level advisory lock, held on its own connection for the whole run (a
killed process's connection closes and the lock goes with it). On SQLite writers are serialised
by the database file; the unique constraints on settlement items and payout batches are the
guarantee on both: a second writer that slips through finds every item and batch taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine

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
