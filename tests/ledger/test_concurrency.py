"""Two posters racing on the same keys: each key is stored once, the loser counts duplicates."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.ledger.helpers import commission
from zhibo.kit.db import session_factory
from zhibo.ledger import IdempotencyConflict, PostResult, check, post
from zhibo.models import LedgerEntry


def _race(engine: Engine, batches: list[list]) -> list[PostResult | BaseException]:
    """Each batch posted by its own thread and connection, started together."""
    barrier = threading.Barrier(len(batches))
    results: list[PostResult | BaseException] = [RuntimeError("not run")] * len(batches)

    def run(index: int) -> None:
        session = session_factory(engine)()
        try:
            barrier.wait()
            results[index] = post(session, batches[index])
            session.commit()
        except BaseException as error:  # reported to the test
            session.rollback()
            results[index] = error
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.parametrize("rounds", [3])
def test_two_posters_same_keys_each_key_once(engine: Engine, rounds: int) -> None:
    for round_number in range(rounds):
        base = round_number * 10_000
        shared = [
            commission(f"order:{base + i}:commission", order_id=base + i) for i in range(1, 2_001)
        ]
        # overlapping, in different orders, plus a few keys of their own
        first = shared + [commission(f"a:{base + i}", order_id=base + i) for i in range(1, 50)]
        second = list(reversed(shared)) + [commission(f"b:{base + i}") for i in range(1, 50)]
        results = _race(engine, [first, second])
        assert all(isinstance(r, PostResult) for r in results), results
        posted = sum(r.posted for r in results if isinstance(r, PostResult))
        duplicates = sum(r.duplicates for r in results if isinstance(r, PostResult))
        assert posted == 2_000 + 49 + 49
        assert duplicates == 2_000
    with session_factory(engine)() as db:
        assert db.scalar(select(func.count()).select_from(LedgerEntry)) == rounds * 2_098
        assert check(db).balanced


def test_racing_conflicting_content_writes_one_version(engine: Engine) -> None:
    mine = [commission(f"k:{i}", order_id=i) for i in range(1, 500)]
    theirs = [replace(entry, memo="other") for entry in mine]
    results = _race(engine, [mine, theirs])
    wins = [r for r in results if isinstance(r, PostResult)]
    losses = [r for r in results if isinstance(r, IdempotencyConflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    with session_factory(engine)() as db:
        memos = set(db.scalars(select(LedgerEntry.memo)))
        assert len(memos) == 1  # one poster's batch, whole; nothing of the other
        assert db.scalar(select(func.count()).select_from(LedgerEntry)) == 499
