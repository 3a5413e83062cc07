"""``zhibo worker <pipeline|risk|grading|settlement>``: each job does its work once per due
period, one process at a time (advisory lock on PostgreSQL, file lock on SQLite), the loop logs
what it did, ``--once`` runs one iteration, and SIGTERM stops a worker cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests import builders as b
from tests.conftest import _truncate_all
from tests.grading.world import build
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.identity import blacklist
from zhibo.kit.db import make_engine, session_factory, unit_of_work
from zhibo.models import Role, SettlementRun
from zhibo.models.grading import GradingRun
from zhibo.models.identity import BlacklistStatus
from zhibo.models.settlement import RunStatus
from zhibo.system import workers

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EARLY = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


@pytest.fixture
def graded_world(db: Session) -> None:
    build(db, [0, 50_000])  # grading needs someone to grade
    db.commit()


@pytest.mark.usefixtures("graded_world")
def test_grading_runs_once_a_day_after_its_hour(engine: Engine, settings: Settings) -> None:
    step = workers.grading_step(settings, engine)
    assert step(EARLY) == {"skipped": "grading starts at 02:00 UTC"}
    done = step(NOON)
    assert done["as_of"] == "2026-11-25" and done["graded"] is True
    with unit_of_work(engine) as db:
        runs = db.scalars(select(GradingRun)).all()
        assert [(r.as_of.isoformat(), r.finished_at is not None) for r in runs] == [
            ("2026-11-25", True)
        ]
    assert step(NOON + timedelta(hours=5))["skipped"] == "already graded"


@pytest.mark.usefixtures("graded_world")
def test_a_second_grading_worker_finds_the_lock_taken_on_sqlite(
    engine: Engine, settings: Settings
) -> None:
    import fcntl

    lock = Path(settings.data_dir) / "locks" / "worker-grading.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the other worker, mid-run
        skipped = workers.grading_step(settings, engine)(NOON)
    assert skipped["skipped"] == "another grading worker holds the lock"
    assert workers.grading_step(settings, engine)(NOON)["graded"] is True


@pytest.mark.postgres
def test_a_second_grading_worker_finds_the_advisory_lock_taken_on_postgresql(
    pg_database: str, tmp_path: Path
) -> None:
    engine = make_engine(pg_database)
    _truncate_all(engine)
    settings = Settings(database_url=pg_database, data_dir=tmp_path / "data")
    step = workers.grading_step(settings, engine)
    try:
        with session_factory(engine)() as db:
            build(db, [0, 50_000])
            db.commit()
        with engine.connect() as other:
            key = workers.LOCK_KEYS["grading"]
            assert other.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            assert step(NOON)["skipped"] == "another grading worker holds the lock"
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        assert step(NOON)["graded"] is True
        assert step(NOON)["skipped"] == "already graded"
    finally:
        _truncate_all(engine)
        engine.dispose()


def test_settlement_settles_the_day_once_and_resumes_unfinished_runs(
    engine: Engine, settings: Settings
) -> None:
    step = workers.settlement_step(settings, engine)
    assert step(EARLY) == {"runs": [], "today": "settlement starts at 03:00 UTC"}
    first = step(NOON)
    assert [(r["as_of"], r["status"]) for r in first["runs"]] == [("2026-11-26", "completed")]
    assert step(NOON) == {"runs": [], "today": "settled already"}
    with unit_of_work(engine) as db:  # as if killed while batching
        db.scalars(select(SettlementRun)).one().status = RunStatus.BATCHING
    resumed = step(EARLY)
    assert resumed["runs"] == [{"as_of": "2026-11-26", "status": "completed", "resumed": True}]
    with unit_of_work(engine) as db:
        assert db.scalars(select(SettlementRun.status)).all() == [RunStatus.COMPLETED]


def test_risk_expires_what_ran_out(engine: Engine, settings: Settings, db: Session) -> None:
    facts = {
        "facts": "fabricated orders",
        "reasons": "order brushing",
        "legal_basis": "art. 18",
        "appeal_channel": "appeals@zhibo",
        "listed_by": "cmp-wang",
    }
    entry = blacklist.add(db, phone="13812345678", duration_days=10, at=NOON, **facts)
    db.commit()
    step = workers.risk_step(settings, engine)
    assert step(NOON + timedelta(days=9)) == {"measures_lapsed": [], "blacklist_expired": []}
    assert step(NOON + timedelta(days=10))["blacklist_expired"] == [entry.id]
    db.expire_all()
    assert db.get(type(entry), entry.id).status == BlacklistStatus.EXPIRED  # type: ignore[union-attr]


def test_the_loop_counts_logs_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="zhibo.worker")

    def failing(_now: datetime) -> dict[str, object]:
        raise RuntimeError("boom")

    errors = REGISTRY.get_sample_value(
        "zhibo_worker_iterations_total", {"worker": "t-fail", "outcome": "error"}
    )
    assert workers.run_loop("t-fail", failing, interval=60, once=True) == 1
    assert (
        REGISTRY.get_sample_value(
            "zhibo_worker_iterations_total", {"worker": "t-fail", "outcome": "error"}
        )
        == (errors or 0) + 1
    )
    assert workers.run_loop("t-ok", lambda now: {"did": now.year}, interval=60, once=True) == 0
    assert 't-ok worker: {"did": ' in caplog.text
    assert REGISTRY.get_sample_value(
        "zhibo_worker_last_success_timestamp_seconds", {"worker": "t-ok"}
    ) == pytest.approx(time.time(), abs=30)
    # A loop waiting for its next iteration stops as soon as it is told.
    stop = threading.Event()
    calls: list[datetime] = []
    loop = threading.Thread(
        target=workers.run_loop,
        args=("t-wait", lambda now: calls.append(now) or {}),
        kwargs={"interval": 3600, "stop": stop},
    )
    loop.start()
    while not calls:
        time.sleep(0.01)
    started = time.monotonic()
    stop.set()
    loop.join(timeout=5)
    assert not loop.is_alive() and time.monotonic() - started < 2 and len(calls) == 1


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ZHIBO_DATABASE_URL": settings.database_url,
        "ZHIBO_DATA_DIR": str(settings.data_dir),
        **extra,
    }


def test_a_worker_process_logs_json_and_stops_on_sigterm(settings: Settings) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "zhibo.cli", "worker", "risk"],
        env=_env(settings, ZHIBO_LOG_FORMAT="json", ZHIBO_WORKER_INTERVAL_SECONDS="3600"),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while not any(str(line.get("message", "")).startswith("risk worker: {") for line in lines):
        assert time.monotonic() < deadline and process.poll() is None, lines
        raw = process.stderr.readline()
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=15)
    assert process.returncode == 0
    messages = [str(line["message"]) for line in lines] + [
        json.loads(raw)["message"] for raw in rest.splitlines() if raw.startswith("{")
    ]
    assert "SIGTERM: stopping after the current iteration" in messages
    assert messages[-1] == "risk worker stopped"
    assert all(line["logger"] == "zhibo.worker" for line in lines)


def test_the_pipeline_worker_applies_what_the_api_published_and_exits_once(
    engine: Engine, db: Session, settings: Settings, nats_url: str
) -> None:
    on_nats = settings.model_copy(update={"bus_url": nats_url, "events_partitions": 2})
    operator = b.token(db, Role.OPERATOR)
    db.commit()
    rows = [
        {
            "event_id": f"w{n}",
            "session_id": 7501,
            "room_id": 7077,
            "user_id": 500 + n,
            "type": "enter",
            "ts": 1_793_500_000_000 + n,
        }
        for n in range(6)
    ]
    with TestClient(create_app(on_nats, engine)) as client:
        published = client.post("/v1/events", json=rows, headers=operator)
        assert published.status_code == 200 and published.json()["accepted"] == 6
        before = client.get("/v1/rooms/7077/metrics", headers=operator)
        assert before.status_code == 200 and before.json()["session"] is None  # not applied
    env = _env(on_nats, ZHIBO_BUS_URL=nats_url, ZHIBO_EVENTS_PARTITIONS="2")
    done = subprocess.run(
        [sys.executable, "-m", "zhibo.cli", "worker", "pipeline", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "pipeline worker 0/1: partitions [0, 1]" in done.stderr
    with TestClient(create_app(on_nats, engine)) as client:
        metrics = client.get("/v1/rooms/7077/metrics", headers=operator)
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["session"]["enters"] == 6


def test_the_pipeline_worker_refuses_the_in_process_bus(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from zhibo.cli import app
    from zhibo.config import get_settings

    monkeypatch.setenv("ZHIBO_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ZHIBO_BUS_URL", "memory://")
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["worker", "pipeline", "--once"])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 1 and "ZHIBO_BUS_URL=nats://" in refused.output
