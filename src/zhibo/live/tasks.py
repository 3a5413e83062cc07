"""Background work of live rooms: the sweep that ends sessions whose push left and did not
return within the reconnect grace (``ZHIBO_PUBLISH_RECONNECT_GRACE_SECONDS``).

The sweep is a backstop: the next ``on_publish`` of the room and every read of the session end
an abandoned session on the way, so a sweep that runs late (or a process that did not run one)
changes when the row is written, never the recorded ``ended_at``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from zhibo.kit.db import unit_of_work
from zhibo.live.service import end_abandoned_sessions

logger = logging.getLogger("zhibo.live")

#: The sweep runs every quarter of the grace, at least every 15 s and at most every second.
SWEEP_INTERVAL_MIN_S = 1.0
SWEEP_INTERVAL_MAX_S = 15.0


def sweep_interval(grace: timedelta) -> float:
    return min(SWEEP_INTERVAL_MAX_S, max(SWEEP_INTERVAL_MIN_S, grace.total_seconds() / 4))


def sweep_abandoned_sessions(
    engine: Engine, grace: timedelta, at: datetime | None = None
) -> list[int]:
    """One sweep in its own transaction: the ids of the sessions it ended."""
    with unit_of_work(engine) as session:
        return [row.id for row in end_abandoned_sessions(session, at, grace=grace)]


class SessionSweeper:
    """A daemon thread that sweeps every ``interval`` seconds until ``stop``."""

    def __init__(self, engine: Engine, grace: timedelta, interval: float | None = None) -> None:
        self.engine = engine
        self.grace = grace
        self.interval = interval if interval is not None else sweep_interval(grace)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zhibo-session-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                sweep_abandoned_sessions(self.engine, self.grace)
            except Exception:  # a failed sweep (database away) is retried at the next tick
                logger.exception("session sweep failed")


@contextmanager
def background_session_sweep(app: Any) -> Iterator[None]:
    """FastAPI lifespan part: with a reconnect grace, sweep abandoned sessions in a thread."""
    seconds = app.state.settings.publish_reconnect_grace_seconds
    if seconds <= 0:
        yield
        return
    sweeper = SessionSweeper(app.state.engine, timedelta(seconds=seconds))
    sweeper.start()
    try:
        yield
    finally:
        sweeper.stop()
