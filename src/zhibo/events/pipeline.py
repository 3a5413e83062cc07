"""The pipeline a worker runs over the bus partitions it owns: each encoded batch is decoded,
deduplicated and merged into the metrics engine, written to the lake and shown to the risk
hooks; ``checkpoint`` then commits the metric rows and the applied positions in one transaction.

Restart (``recover``): files past the committed positions are deleted (their batches were not
committed, so the bus delivers them again, or the client retries), and the rest of the lake
is replayed into a fresh engine, which restores the seen event ids and the viewers' visits.
Batches at or below a partition's position are skipped, so a redelivered batch has no second
effect.

Memory: after a checkpoint (every ``evict_every_s``), sessions that have ended and received no
events for ``evict_ended_after_s``, and any session idle for ``evict_idle_after_s``, are evicted
from the engine. A batch that names a session the engine does not hold but the database has
metrics for (an evicted one) first reloads that session's events from the lake (only the hour
folders between its first and last event), so late events and duplicates of an ended session
count exactly as if it had never left memory. Without a database nothing is evicted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine

from zhibo.events import repository
from zhibo.events.engine import MetricsEngine, Rows
from zhibo.events.lake import Lake, lake_root
from zhibo.events.validation import decode_ipc
from zhibo.kit import metrics as prometheus
from zhibo.kit.db import unit_of_work
from zhibo.kit.time import utcnow
from zhibo.live import service as live_service

log = logging.getLogger(__name__)

#: Callables that see every accepted (deduplicated) batch; the risk engine registers here.
RiskHook = Callable[[pa.Table], None]
RISK_HOOKS: list[RiskHook] = []


def register_risk_hook(hook: RiskHook) -> RiskHook:
    """Register ``hook`` (usable as a decorator). It sees each accepted, deduplicated batch
    before the batch is committed, so after a crash a batch may be shown again (at least once):
    hooks keep their own effects idempotent (e.g. keyed by ``event_id``). It runs on the
    pipeline's thread: keep it fast, and copy what it keeps of the table."""
    RISK_HOOKS.append(hook)
    return hook


#: During a restart's replay of the lake, ended sessions are evicted every this many files.
RECOVERY_EVICT_FILES = 256

#: Subjects: one per partition (``zhibo.events.p3``); a room always lands on one partition.
SUBJECT_PREFIX = "zhibo.events"


def subject(partition: int, prefix: str = SUBJECT_PREFIX) -> str:
    return f"{prefix}.p{partition}"


@dataclass
class Totals:
    accepted: int = 0
    duplicates: int = 0
    batches: int = 0


@dataclass
class Pipeline:
    db_engine: Engine | None
    data_dir: Path
    consumer: str = "embedded"
    partitions: set[int] = field(default_factory=lambda: set(range(8)))
    #: Default: the registered ``RISK_HOOKS`` and, with a database, the real-time risk engine
    #: (``zhibo.risk.realtime``); an explicit list (``[]`` in benchmarks) replaces both.
    hooks: list[RiskHook] | None = None
    #: Called after each checkpoint with the committed rows of the sessions whose metrics
    #: changed (the SSE feeds).
    on_commit: list[Callable[[Rows], None]] = field(default_factory=list)
    #: An ended session is evicted from memory once it has had no events for this long
    #: (seconds): late events within it cost nothing, later ones a reload from the lake.
    evict_ended_after_s: float = 60.0
    #: Any session (ended or not: imported files' sessions never end) is evicted after this
    #: long without events.
    evict_idle_after_s: float = 6 * 3600.0
    #: How often checkpoints look for sessions to evict.
    evict_every_s: float = 60.0

    def __post_init__(self) -> None:
        if self.hooks is None:
            self.hooks = list(RISK_HOOKS)
            if self.db_engine is not None:
                from zhibo.risk.realtime import pipeline_hook

                self.hooks.append(pipeline_hook(self.db_engine))
        self.metrics = MetricsEngine()
        self.lake = Lake(lake_root(self.data_dir))
        self.applied: dict[int, int] = {}
        self.pending: dict[int, int] = {}
        self.totals = Totals()
        self.lock = threading.RLock()
        self.evicted = 0
        self.reloaded = 0
        self._last_eviction = time.monotonic()

    # --- start -----------------------------------------------------------------------------

    def committed_positions(self) -> dict[int, int]:
        if self.db_engine is None:
            return {}
        with unit_of_work(self.db_engine) as db:
            return repository.positions(db, self.consumer)

    def is_stale(self) -> bool:
        """Another process applied batches of these partitions since this one last did."""
        committed = self.committed_positions()
        return any(committed.get(p, 0) != self.applied.get(p, 0) for p in self.partitions)

    def recover(self) -> None:
        """Rebuild the in-memory state from the committed part of the lake."""
        with self.lock:
            self._recover()

    def _recover(self) -> None:
        self.metrics = MetricsEngine()
        committed = self.committed_positions()
        self.applied = {p: committed.get(p, 0) for p in self.partitions}
        files = self.lake.files(self.consumer, self.partitions)
        keep = []
        for item in files:
            if item.position > self.applied[item.partition]:
                log.info("deleting uncommitted lake file %s", item.path)
                item.path.unlink(missing_ok=True)
            else:
                keep.append(item)
        for number, (_item, table) in enumerate(self.lake.read(keep), 1):
            self.metrics.apply(table)
            if number % RECOVERY_EVICT_FILES == 0:
                # The replay brings back every session of the lake: forget the ended ones as
                # it goes, so memory follows the sessions in play. (An ended session met again
                # in a later file is rebuilt partially, then evicted again below; a late event
                # for it reloads it whole.)
                self.metrics.take_dirty()
                self._evict(ended_after_s=0.0)
        self.metrics.take_dirty()
        self.pending = dict(self.applied)
        self._evict(ended_after_s=0.0)

    # --- batches ---------------------------------------------------------------------------

    def next_position(self, partition: int) -> int:
        return self.pending.get(partition, 0) + 1

    def handle(self, partition: int, payload: bytes, position: int | None = None) -> int:
        """Apply one encoded batch at ``position`` (the bus sequence; the next local number for
        the in-process bus). Returns the number of events that took effect."""
        return self.apply(partition, decode_ipc(payload), position)

    def apply(self, partition: int, table: pa.Table, position: int | None = None) -> int:
        with self.lock:
            if position is None:
                position = self.next_position(partition)
            if position <= self.pending.get(partition, 0):
                return 0  # delivered again: its effects are already in
            self._reload_evicted(partition, table)
            applied = self.metrics.apply(table)
            self.lake.write(applied.accepted, self.consumer, partition, position)
            for hook in self.hooks or ():
                hook(applied.accepted)
            self.pending[partition] = position
            self.totals.accepted += applied.accepted.num_rows
            prometheus.EVENTS_ACCEPTED.inc(applied.accepted.num_rows)
            self.totals.duplicates += applied.duplicates
            self.totals.batches += 1
            return applied.accepted.num_rows

    def checkpoint(self) -> list[int]:
        """Make everything applied durable: lake files first, then metrics and positions in
        one transaction. Returns the session ids whose metrics changed."""
        with self.lock:
            self.lake.flush()
            sessions, minutes = self.metrics.take_dirty()
            if self.db_engine is not None:
                now = utcnow()
                with unit_of_work(self.db_engine) as db:
                    repository.save_metrics(db, sessions, minutes, now)
                    repository.save_positions(db, self.consumer, self.pending, now)
            self.applied = dict(self.pending)
            changed = sessions.column("session_id")
            if self.metrics.clock() - self._last_eviction >= self.evict_every_s:
                self._evict(ended_after_s=self.evict_ended_after_s)
        for callback in self.on_commit:
            callback(sessions)
        return changed

    def close(self) -> None:
        self.lake.close()

    # --- memory ----------------------------------------------------------------------------

    def evict(self, session_ids: Iterable[int]) -> int:
        """Evict ``session_ids`` now (after a checkpoint); returns how many were held."""
        with self.lock:
            count = self.metrics.evict(session_ids)
            self.evicted += count
            return count

    def _evict(self, *, ended_after_s: float) -> None:
        self._last_eviction = now = self.metrics.clock()
        if self.db_engine is None:
            return  # nothing to reload an evicted session from
        stale = set(self.metrics.idle_sessions(now - self.evict_idle_after_s))
        quiet = self.metrics.idle_sessions(now - ended_after_s)
        if quiet:
            with unit_of_work(self.db_engine) as db:
                stale.update(live_service.ended_session_ids(db, quiet))
        if stale:
            count = self.evict(stale)
            log.info(
                "evicted %d sessions from memory (%d held)", count, len(self.metrics.session_ids)
            )

    def _reload_evicted(self, partition: int, table: pa.Table) -> None:
        """Bring back the state of evicted sessions that ``table`` names, from the lake."""
        if self.db_engine is None:
            return
        held = self.metrics.session_ids
        unknown = [s for s in pc.unique(table.column("session_id")).to_pylist() if s not in held]
        if not unknown:
            return
        with unit_of_work(self.db_engine) as db:
            spans = repository.session_spans(db, unknown)
        if not spans:
            return  # new sessions
        self.lake.flush()
        history = self.lake.read_sessions(
            self.lake.files(self.consumer, {partition}),
            set(spans),
            min(first for first, _ in spans.values()),
            max(last for _, last in spans.values()),
        )
        if history.num_rows:
            self.metrics.apply(history)
        self.reloaded += len(spans)
        log.info(
            "reloaded %d evicted sessions (%d events) from the lake", len(spans), history.num_rows
        )


def partition_of(room_ids: Iterable[int], partitions: int) -> list[int]:
    return [room_id % partitions for room_id in room_ids]
