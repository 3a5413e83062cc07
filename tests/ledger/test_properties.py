"""Property: whatever balanced batches are posted, in any order and repeated, the trial
balance is zero, every key is stored once, and re-posting changes nothing."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.ledger.helpers import T0
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, unit_of_work
from zhibo.ledger import Entry, Posting, balances, check, post

ACCOUNTS = ["cash", "buyer_payments_held", "brand_payable:1", "commission_payable:streamer:1",
            "commission_payable:partner:1", "platform_fee_revenue", "tax_withheld"]  # fmt: skip
CURRENCIES = ["CNY", "USD"]


@st.composite
def entries(draw: st.DrawFn, key: str) -> Entry:
    """A balanced entry: 1-3 moves of an amount from one account to another."""
    postings: list[Posting] = []
    for _ in range(draw(st.integers(1, 3))):
        debit, credit = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=2, max_size=2))
        amount = draw(st.integers(1, 10**12))
        currency = draw(st.sampled_from(CURRENCIES))
        postings += [Posting(debit, amount, currency), Posting(credit, -amount, currency)]
    return Entry(
        key=key,
        kind=draw(st.sampled_from(["order_paid", "commission", "refund", "payout"])),
        postings=tuple(postings),
        effective_at=T0 + timedelta(minutes=draw(st.integers(0, 10_000))),
        order_id=draw(st.none() | st.integers(1, 50)),
        memo=draw(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)),
    )


@st.composite
def batches(draw: st.DrawFn) -> list[list[Entry]]:
    """Batches drawn with repetition from a pool of entries with distinct keys."""
    size = draw(st.integers(1, 25))
    pool = [draw(entries(f"k{i}")) for i in range(size)]
    return draw(st.lists(st.lists(st.sampled_from(pool), max_size=12), min_size=1, max_size=5))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_engine(request: pytest.FixtureRequest) -> Iterator[Callable[[], Engine]]:
    """A factory of empty, migrated ledgers: one per Hypothesis example."""
    if request.param == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            made: list[Engine] = []

            def sqlite_engine() -> Engine:
                engine = make_engine(f"sqlite:///{Path(folder) / f'p{len(made)}.db'}")
                migrate.upgrade(engine)
                made.append(engine)
                return engine

            yield sqlite_engine
            for engine in made:
                engine.dispose()
        return
    engine = make_engine(request.getfixturevalue("pg_database"))

    def emptied() -> Engine:
        with engine.begin() as connection:
            connection.execute(
                text("TRUNCATE ledger_postings, ledger_entries, ledger_accounts RESTART IDENTITY")
            )
        return engine

    yield emptied
    engine.dispose()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(drawn=batches())
def test_trial_balance_is_always_zero_and_reposting_changes_nothing(
    fresh_engine: Callable[[], Engine], drawn: list[list[Entry]]
) -> None:
    engine = fresh_engine()
    keys = {entry.key for batch in drawn for entry in batch}
    posted = 0
    with unit_of_work(engine) as db:
        for batch in drawn:
            posted += post(db, batch).posted
    assert posted == len(keys)
    with unit_of_work(engine) as db:
        report = check(db)
        assert report.balanced, report.problems
        assert report.entries == len(keys)
        assert all(total == 0 for total in report.trial_balance.values())
        before = balances(db)
        for currency in CURRENCIES:
            assert sum(v for (_, cur), v in before.items() if cur == currency) == 0
    with unit_of_work(engine) as db:
        for batch in drawn:
            result = post(db, batch)
            assert (result.posted, result.duplicates) == (0, len(batch))
        assert balances(db) == before
        assert check(db).entries == len(keys)
