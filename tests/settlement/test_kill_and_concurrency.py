"""On PostgreSQL: ``zhibo settle run`` killed with SIGKILL at any moment and run again leaves
the ledger exactly as one clean run does; two runs at once do not pay twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from tests import builders as b
from tests.conftest import _truncate_all
from tests.settlement.helpers import bulk_orders_postgresql, shop
from zhibo import ledger
from zhibo.kit.db import unit_of_work
from zhibo.models import LedgerEntry, PayoutBatch

pytestmark = pytest.mark.postgres

ORDERS = 3_000
AS_OF = "2026-12-05"


@pytest.fixture
def pg(pg_database: str) -> Engine:
    from zhibo.kit.db import make_engine

    engine = make_engine(pg_database)
    _truncate_all(engine)
    return engine


def _populate(engine: Engine) -> None:
    _truncate_all(engine)
    with unit_of_work(engine) as db:
        world = shop(db, streamers=6)
        buyer = b.viewer(db)
        db.flush()
        buyer_id = buyer.id
    bulk_orders_postgresql(engine, world, ORDERS, buyer_id=buyer_id)


def _env(engine: Engine, **settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ZHIBO_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    env.update({f"ZHIBO_SETTLEMENT_{key.upper()}": value for key, value in settings.items()})
    return env


def _settle(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zhibo.cli", "settle", "run", "--as-of", AS_OF, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _snapshot(engine: Engine) -> dict[str, Any]:
    """What must be identical: every entry's key and content hash, and every balance."""
    with unit_of_work(engine) as db:
        entries = sorted(db.execute(select(LedgerEntry.key, LedgerEntry.content_hash)).all())
        balances = ledger.balances(db)
        batches = sorted(
            db.execute(
                select(
                    PayoutBatch.payee_kind,
                    PayoutBatch.payee_id,
                    PayoutBatch.orders,
                    PayoutBatch.commission_fen,
                    PayoutBatch.paid_fen,
                )
            ).all()
        )
        report = ledger.check(db)
    assert report.balanced and not report.problems, report.as_dict()
    return {"entries": entries, "balances": balances, "batches": batches}


def test_sigkill_mid_run_then_rerun_equals_one_clean_run(pg: Engine) -> None:
    _populate(pg)
    clean = _settle(_env(pg))
    out, errors = clean.communicate(timeout=120)
    assert clean.returncode == 0, errors
    expected = _snapshot(pg)
    assert json.loads(out)["orders_settled"] == ORDERS

    _populate(pg)
    slow = _env(pg, chunk_orders="250", chunk_payees="2", chunk_pause_seconds="0.15")
    kills = 0
    for delay in (0.9, 1.7, 2.6, 3.4, 4.5, 6.0):
        process = _settle(slow)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate(timeout=60)
    assert kills >= 3  # the kills landed mid-run
    with pg.connect() as connection:
        state = connection.execute(text("SELECT status FROM settlement_runs")).scalars().all()
    final = _settle(slow)
    out, errors = final.communicate(timeout=180)
    assert final.returncode == 0, errors
    assert json.loads(out)["status"] == "completed"
    assert _snapshot(pg) == expected, f"run states seen before the last rerun: {state}"


def test_two_runs_at_once_do_not_pay_twice(pg: Engine) -> None:
    _populate(pg)
    first, second = _settle(_env(pg)), _settle(_env(pg))
    results = []
    for process in (first, second):
        out, errors = process.communicate(timeout=180)
        assert process.returncode == 0, errors
        results.append(json.loads(out))
    assert results[0]["run_id"] == results[1]["run_id"]
    assert results[0]["paid_fen"] == results[1]["paid_fen"] > 0
    snapshot = _snapshot(pg)
    _populate(pg)
    clean = _settle(_env(pg))
    clean.communicate(timeout=120)
    assert _snapshot(pg) == snapshot
