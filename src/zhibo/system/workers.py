"""The background workers of a production deployment, ``zhibo worker <name>``:

- ``pipeline``: the viewer-event pipeline on NATS JetStream (``zhibo.events.worker``, the same as
  ``zhibo events worker``). The real-time risk engine runs *inside* it: it is a hook of the
  pipeline that sees every accepted, de-duplicated batch in order (``zhibo.risk.realtime``) and
  keeps its windows in the pipeline's memory, so it cannot be consumed apart without a second
  copy of the de-duplication state. Scale it with the pipeline workers.
- ``risk``: the periodic risk jobs: timed measures whose time ran out lapse (a publishing
  suspension gives the streamer back its status) and blacklist entries past their duration
  expire; what ``zhibo risk expire`` and ``zhibo identity blacklist expire`` do, on an interval.
- ``grading``: once a day, from ``grading_hour_utc`` on, grades the previous day (what
  ``zhibo grade run --as-of`` does) unless that day is graded already.
- ``settlement``: resumes unfinished settlement runs and, from ``settlement_hour_utc`` on,
  settles the current day unless it is settled (runs are resumable and idempotent).

Each of the last three is a loop of iterations ``worker_interval_seconds`` apart. SIGTERM or
SIGINT stops it after the current iteration (a second signal stops at once: every job is
resumable or idempotent). One process at a time does each job: on PostgreSQL an advisory lock
taken in the job's transaction, on SQLite a file lock under the data directory; a worker that
finds the lock taken skips the iteration.
"""

from __future__ import annotations

import fcntl
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.config import Settings
from zhibo.kit import metrics
from zhibo.kit.db import unit_of_work
from zhibo.kit.time import utcnow

log = logging.getLogger("zhibo.worker")

#: PostgreSQL advisory-lock keys, one per job (arbitrary, fixed; settlement runs use their own).
LOCK_KEYS = {"risk": 0x5A48_5249_534B, "grading": 0x5A48_4752_4144}

Step = Callable[[datetime], dict[str, Any]]


@contextmanager
def only_one(engine: Engine, name: str, data_dir: Path) -> Iterator[Session | None]:
    """A unit of work that one process at a time gets for ``name``; ``None`` when another
    process holds it (do nothing then). The lock ends with the unit of work."""
    if engine.dialect.name == "postgresql":
        with unit_of_work(engine) as db:
            taken = db.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEYS[name]}
            )
            yield db if taken else None
        return
    path = Path(data_dir) / "locks" / f"worker-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            with unit_of_work(engine) as db:
                yield db
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the jobs ------------------------------------------------------------------------------


def risk_step(settings: Settings, engine: Engine) -> Step:
    def step(now: datetime) -> dict[str, Any]:
        from zhibo.identity.blacklist import expire_due as expire_blacklist
        from zhibo.risk.measures import expire_due as expire_measures

        with only_one(engine, "risk", settings.data_dir) as db:
            if db is None:
                return {"skipped": "another risk worker holds the lock"}
            lapsed = expire_measures(db, now)
            expired = expire_blacklist(db, now)
            return {
                "measures_lapsed": [row.id for row in lapsed],
                "blacklist_expired": [row.id for row in expired],
            }

    return step


def _graded(db: Session, day: Any) -> bool:
    from zhibo.models.grading import GradingRun

    return (
        db.scalar(
            select(GradingRun.id).where(
                GradingRun.as_of == day, GradingRun.finished_at.is_not(None)
            )
        )
        is not None
    )


def grading_step(settings: Settings, engine: Engine) -> Step:
    def step(now: datetime) -> dict[str, Any]:
        from zhibo.events.lake import lake_root
        from zhibo.grading import service

        hour = settings.grading_hour_utc
        as_of = now.date() - timedelta(days=1)
        if now.hour < hour:
            return {"skipped": f"grading starts at {hour:02d}:00 UTC"}
        with unit_of_work(engine) as db:
            if _graded(db, as_of):
                return {"as_of": as_of.isoformat(), "skipped": "already graded"}
        with only_one(engine, "grading", settings.data_dir) as db:
            if db is None:
                return {
                    "as_of": as_of.isoformat(),
                    "skipped": "another grading worker holds the lock",
                }
            if _graded(db, as_of):  # the other worker finished while we looked
                return {"as_of": as_of.isoformat(), "skipped": "already graded"}
            summary = service.run(db, as_of, lake_root=lake_root(settings.data_dir))
        return {
            "as_of": as_of.isoformat(),
            "graded": True,
            "model_version": summary.model_version,
            "key_rooms": summary.key_rooms,
            "notifications": summary.notifications,
            "seconds": summary.seconds,
        }

    return step


def settlement_step(settings: Settings, engine: Engine) -> Step:
    def step(now: datetime) -> dict[str, Any]:
        from zhibo.models import SettlementRun
        from zhibo.models.settlement import RunStatus
        from zhibo.settlement.run import run_settlement

        with unit_of_work(engine) as db:
            unfinished = list(
                db.scalars(
                    select(SettlementRun.as_of)
                    .where(SettlementRun.status != RunStatus.COMPLETED)
                    .order_by(SettlementRun.as_of)
                )
            )
            latest = db.scalar(select(func.max(SettlementRun.as_of)))
        runs = []
        # A killed run (this worker's or a command's) is finished first: runs go forward.
        for day in unfinished:
            report = run_settlement(engine, day)
            runs.append({"as_of": report.as_of, "status": report.status, "resumed": True})
        today = now.date()
        hour = settings.settlement_hour_utc
        if now.hour < hour:
            return {"runs": runs, "today": f"settlement starts at {hour:02d}:00 UTC"}
        if latest is not None and latest >= today:
            return {"runs": runs, "today": "settled already"}
        report = run_settlement(engine, today)
        runs.append(
            {
                "as_of": report.as_of,
                "status": report.status,
                "orders_settled": report.orders_settled,
                "batches": report.batches,
                "paid_fen": report.paid_fen,
                "seconds": report.seconds,
            }
        )
        return {"runs": runs}

    return step


STEPS: dict[str, Callable[[Settings, Engine], Step]] = {
    "risk": risk_step,
    "grading": grading_step,
    "settlement": settlement_step,
}


# --- the loop ------------------------------------------------------------------------------


@dataclass
class Stopper:
    """SIGTERM/SIGINT: the first stops the loop after its iteration, a second at once."""

    event: threading.Event = field(default_factory=threading.Event)
    received: int = 0

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received += 1
        name = signal.Signals(signum).name
        if self.received > 1:
            log.warning("%s again: stopping now", name)
            raise SystemExit(128 + signum)
        log.info("%s: stopping after the current iteration", name)
        self.event.set()


def run_loop(
    name: str,
    step: Step,
    *,
    interval: float,
    once: bool = False,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Run ``step`` every ``interval`` seconds until ``stop`` is set (``once``: one iteration).
    Returns the exit status: 1 when the only iteration (``once``) failed."""
    stop = stop or threading.Event()
    log.info("%s worker started (every %.0f s)", name, interval)
    while not stop.is_set():
        started = time.monotonic()
        try:
            summary = step(clock())
        except Exception:
            metrics.WORKER_ITERATIONS.labels(name, "error").inc()
            log.exception("%s worker: the iteration failed (retried in %.0f s)", name, interval)
            if once:
                return 1
        else:
            metrics.WORKER_ITERATIONS.labels(name, "ok").inc()
            metrics.WORKER_LAST_SUCCESS.labels(name).set_to_current_time()
            log.info(
                "%s worker: %s (%.2f s)",
                name,
                json.dumps(summary, default=str, ensure_ascii=False),
                time.monotonic() - started,
                extra={"worker": name},
            )
        if once:
            break
        stop.wait(interval)
    log.info("%s worker stopped", name)
    return 0


def run_pipeline(settings: Settings, engine: Engine, partitions: set[int], *, once: bool) -> None:
    """The NATS pipeline worker; ``once`` consumes what is waiting and exits after 1 s idle."""
    if not once:
        from zhibo.events.worker import run_worker

        run_worker(settings, engine, partitions)
        return
    import asyncio

    from zhibo.events.worker import Worker

    async def main() -> None:
        worker = Worker(settings, engine, partitions)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop.set)
        await worker.run(idle_exit_seconds=1.0)

    asyncio.run(main())
