"""Two writers on one SQLite file: a transaction that reads, then writes, while another
connection commits in between (the real-time risk hook of two pipeline workers records each
finding in a savepoint: read "already recorded?", then insert)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from zhibo.kit.db import begin_write, make_engine, unit_of_work


def _engine(folder: Path) -> Engine:
    engine = make_engine(f"sqlite:///{folder / 'shared.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
    return engine


def _read_then_write(engine: Engine, other: Engine, *, lock_first: bool) -> None:
    """Read, let ``other`` commit a write from another thread, then write and commit."""
    wrote = threading.Event()

    def other_writer() -> None:
        with unit_of_work(other) as db:
            db.execute(text("INSERT INTO notes VALUES ('other')"))
        wrote.set()

    with unit_of_work(engine) as db:
        if lock_first:
            begin_write(db)
        with db.begin_nested():  # SAVEPOINT: on SQLite this opens a (deferred) transaction
            db.execute(text("SELECT count(*) FROM notes")).scalar_one()
            thread = threading.Thread(target=other_writer)
            thread.start()
            # With the lock taken, the other writer waits for this commit (busy timeout);
            # without it, the other commits now and this transaction's snapshot goes stale.
            wrote.wait(timeout=0.3 if lock_first else 10)
            db.execute(text("INSERT INTO notes VALUES ('mine')"))
    thread.join(timeout=15)
    assert wrote.is_set()


def test_a_reader_turned_writer_fails_when_another_process_wrote_in_between(
    tmp_path: Path,
) -> None:
    """What begin_write is for: without it, SQLite refuses at once (no busy wait helps)."""
    engine, other = _engine(tmp_path), make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    with pytest.raises(OperationalError, match="database is locked"):
        _read_then_write(engine, other, lock_first=False)


def test_begin_write_queues_the_other_writer_instead(tmp_path: Path) -> None:
    engine, other = _engine(tmp_path), make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    _read_then_write(engine, other, lock_first=True)
    with engine.connect() as connection:
        rows = [row[0] for row in connection.execute(text("SELECT body FROM notes"))]
    assert rows == ["mine", "other"]
