"""What the events domain does: ingest batches of events (validate, hash IPs, dead-letter the
invalid, create placeholder sessions, publish per partition on the bus, and in the embedded
set-up apply and commit them before answering), and read room metrics back.

With the in-process bus the pipeline runs inside this process and ``ingest`` reports exact
duplicate counts. With NATS the batches go to the workers (``zhibo events worker``) and
``duplicates`` is counted there: the answer counts the events queued as accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.config import Settings
from zhibo.events import repository
from zhibo.events.engine import Rows
from zhibo.events.feed import (
    METRICS_SUBJECT,
    NOTICE,
    NOTICES_SUBJECT,
    decode_notice,
    decode_snapshots,
)
from zhibo.events.pipeline import SUBJECT_PREFIX, Pipeline, subject
from zhibo.events.schemas import (
    COUNTER_FIELDS,
    IngestResult,
    LiveRoomOut,
    MinuteOut,
    RejectedEvent,
    RoomMetricsOut,
    SessionMetricsOut,
)
from zhibo.events.validation import IpHasher, Normalised, Rejection, encode_ipc, validate
from zhibo.kit.bus import STREAM_NAME, EventBus, MemoryBus, NatsBus, connect_bus
from zhibo.kit.db import unit_of_work
from zhibo.kit.errors import NotFound
from zhibo.kit.time import utcnow
from zhibo.models import MinuteMetrics, SessionMetrics

#: Largest batch per bus message: NATS refuses messages over 1 MB by default.
ROWS_PER_MESSAGE_NATS = 6_000
ROWS_PER_MESSAGE_MEMORY = 131_072
#: Rejections listed one by one in an answer (all of them go to the dead-letter store).
MAX_LISTED_REJECTIONS = 1_000
#: Seconds between reads of the viewers a function restriction keeps from commenting.
RESTRICTIONS_REFRESH_S = 5.0
#: Updates an SSE listener may fall behind by before it loses the oldest.
LISTENER_QUEUE = 100


@dataclass
class EventService:
    """One per process: the bus connection, the embedded pipeline and the SSE listeners."""

    settings: Settings
    engine: Engine
    bus: EventBus | None = None
    pipeline: Pipeline | None = None
    hasher: IpHasher = field(default_factory=IpHasher)
    known_sessions: dict[int, int] = field(default_factory=dict)
    listeners: dict[int, set[asyncio.Queue[dict[str, Any]]]] = field(default_factory=dict)
    #: NATS stream and subject prefix (tests and benchmarks use their own).
    stream: str = STREAM_NAME
    subject_prefix: str = SUBJECT_PREFIX
    rows_per_message_nats: int = ROWS_PER_MESSAGE_NATS
    #: Core NATS subject of the workers' metric snapshots (``zhibo.events.feed``).
    metrics_subject: str = METRICS_SUBJECT
    notices_subject: str = NOTICES_SUBJECT

    def __post_init__(self) -> None:
        self._lock = asyncio.Lock()
        self._recovered = False
        self._metrics_feed: Any = None
        self._restricted: frozenset[int] = frozenset()
        self._restricted_read_at: float | None = None
        self._notices_feed: Any = None
        # In-process, one pipeline applies every room: one partition avoids splitting each
        # batch into small ones. On NATS, rooms are spread over the configured partitions.
        in_process = not self.settings.bus_url.startswith(("nats://", "tls://"))
        self.partitions = 1 if in_process else self.settings.events_partitions

    async def start(self) -> EventService:
        if self.bus is not None:
            return self
        url = self.settings.bus_url
        if url.startswith(("nats://", "tls://")):
            self.bus = await NatsBus(
                url,
                stream=self.stream,
                subjects=[f"{self.subject_prefix}.>"],
                replicas=self.settings.bus_replicas,
            ).connect()
        else:
            self.bus = await connect_bus(url)
        if isinstance(self.bus, MemoryBus):
            self.pipeline = Pipeline(
                self.engine, self.settings.data_dir, partitions=set(range(self.partitions))
            )
            # Recovered under the ingestion lock, at the first ingestion (see _embedded_owner).
            self.pipeline.on_commit.append(self._notify_metrics)
            for partition in range(self.partitions):
                await self.bus.subscribe(
                    subject(partition, self.subject_prefix),
                    self._handler(partition),
                    durable="metrics",
                )
        return self

    def _handler(self, partition: int) -> Any:
        async def handle(payload: bytes) -> None:
            assert self.pipeline is not None
            self.pipeline.handle(partition, payload)

        return handle

    async def close(self) -> None:
        if self._metrics_feed is not None:
            with contextlib.suppress(Exception):
                await self._metrics_feed.unsubscribe()
            self._metrics_feed = None
        if self._notices_feed is not None:
            with contextlib.suppress(Exception):
                await self._notices_feed.unsubscribe()
            self._notices_feed = None
        if self.pipeline is not None:
            self.pipeline.close()
        if self.bus is not None:
            await self.bus.close()
            self.bus = None

    # --- ingestion -------------------------------------------------------------------------

    async def ingest(self, frames: Iterable[pl.DataFrame], source: str) -> IngestResult:
        """Validate and ingest ``frames`` (rows numbered across frames); one commit at the end."""
        await self.start()
        result = IngestResult()
        async with self._lock:
            with self._embedded_owner():
                before = self._totals()
                offset = 0
                for frame in frames:
                    # Off the event loop: decoding, checking and the session lookups are
                    # CPU and blocking database work; on the loop they would stall every
                    # other request of this process (and, with the connection pool taken by
                    # requests waiting on the loop, deadlock it).
                    normalised = await asyncio.to_thread(
                        validate, frame, self.hasher, row_offset=offset
                    )
                    offset += frame.height
                    await self._ingest_normalised(normalised, source, result)
                    if self.pipeline is not None:
                        self.pipeline.checkpoint()  # one commit per frame: a group commit
                if self.pipeline is not None:
                    after = self._totals()
                    result.accepted = after[0] - before[0]
                    result.duplicates = after[1] - before[1]
        return result

    @contextlib.contextmanager
    def _embedded_owner(self) -> Iterator[None]:
        """In-process, several processes (API workers, ``zhibo events ingest``) may share one
        lake and database: each ingestion holds a file lock, and a process whose state is
        behind the committed positions rebuilds it from the lake first."""
        if self.pipeline is None:
            yield
            return
        lock_path = Path(self.settings.data_dir) / "lake" / ".embedded.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if not self._recovered or self.pipeline.is_stale():
                    self.pipeline.recover()
                    self._recovered = True
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _totals(self) -> tuple[int, int]:
        if self.pipeline is None:
            return (0, 0)
        return (self.pipeline.totals.accepted, self.pipeline.totals.duplicates)

    async def _ingest_normalised(
        self, normalised: Normalised, source: str, result: IngestResult
    ) -> None:
        table, rejected = await asyncio.to_thread(self._check_sessions, normalised, source)
        result.rejected += len(rejected)
        room = len(result.rejections)
        for rejection in rejected[: max(0, MAX_LISTED_REJECTIONS - room)]:
            result.rejections.append(
                RejectedEvent(
                    row=rejection.row, reason=rejection.reason, event_id=rejection.event_id
                )
            )
        if table.num_rows == 0:
            return
        if self.pipeline is None:
            result.accepted += table.num_rows
        await self.publish(table)

    async def publish(self, table: pa.Table) -> None:
        """Split a canonical, valid table by partition and publish it in batches."""
        assert self.bus is not None
        per_message = (
            ROWS_PER_MESSAGE_MEMORY
            if isinstance(self.bus, MemoryBus)
            else self.rows_per_message_nats
        )
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        parts = frame.with_columns(
            (pl.col("room_id") % self.partitions).alias("_partition")
        ).partition_by("_partition", as_dict=True, include_key=False)
        message_id_wanted = not isinstance(self.bus, MemoryBus)
        for (partition,), part in sorted(parts.items()):
            arrow = part.to_arrow()
            for start in range(0, arrow.num_rows, per_message):
                payload = encode_ipc(arrow.slice(start, per_message), compress=message_id_wanted)
                message_id = None
                if not isinstance(self.bus, MemoryBus):
                    message_id = hashlib.blake2b(payload, digest_size=16).hexdigest()
                await self.bus.publish(
                    subject(int(partition), self.subject_prefix), payload, message_id=message_id
                )

    def _check_sessions(
        self, normalised: Normalised, source: str
    ) -> tuple[pa.Table, list[Rejection]]:
        """Placeholder sessions for unknown ones; events whose room differs from their
        session's are refused (``room_mismatch``). Dead letters are stored here too."""
        now = utcnow()
        table, rejected = normalised.table, normalised.rejected
        frame = pl.from_arrow(table.select(["session_id", "room_id", "ts"]))
        assert isinstance(frame, pl.DataFrame)
        pairs = frame.group_by("session_id").agg(
            pl.col("room_id").first(), pl.col("ts").min().alias("first_ts")
        )
        unknown = [s for s in pairs["session_id"].to_list() if s not in self.known_sessions]
        if unknown:
            with unit_of_work(self.engine) as db:
                found = repository.session_rooms(db, unknown)
                self.known_sessions.update(found)
                missing = pairs.filter(
                    pl.col("session_id").is_in(unknown) & ~pl.col("session_id").is_in(list(found))
                )
                placeholders = {
                    int(row["session_id"]): (int(row["room_id"]), _aware(row["first_ts"]))
                    for row in missing.iter_rows(named=True)
                }
                repository.create_placeholders(db, placeholders, now)
                self.known_sessions.update({s: r for s, (r, _) in placeholders.items()})
        extra: list[Rejection] = []
        if table.num_rows:
            # Per session, not per event: the room each session belongs to, joined back.
            rooms = pl.DataFrame(
                {
                    "session_id": pairs["session_id"],
                    "_room": [self.known_sessions[s] for s in pairs["session_id"].to_list()],
                },
                schema={"session_id": pl.Int64, "_room": pl.Int64},
            )
            mismatch = (
                frame.join(rooms, on="session_id", how="left", maintain_order="left")
                .select(pl.col("room_id") != pl.col("_room"))
                .to_series()
                .to_numpy()
            )
            if mismatch.any():
                bad = table.filter(pa.array(mismatch))
                rows = [n for n, m in zip(normalised.row_numbers, mismatch, strict=True) if m]
                for row, record in zip(rows, bad.to_pylist(), strict=True):
                    extra.append(
                        Rejection(
                            row=row,
                            reason="room_mismatch",
                            event_id=record["event_id"],
                            payload=dict(record),
                        )
                    )
                table = table.filter(pa.array(~mismatch))
        if table.num_rows:
            table, muted = self._refuse_restricted_comments(table, normalised, now)
            extra.extend(muted)
        if rejected or extra:
            with unit_of_work(self.engine) as db:
                repository.add_dead_letters(db, [*rejected, *extra], source, now)
        return table, [*rejected, *extra]

    def _refuse_restricted_comments(
        self, table: pa.Table, normalised: Normalised, now: datetime
    ) -> tuple[pa.Table, list[Rejection]]:
        """Comments by viewers a risk measure (function restriction) keeps from commenting
        are dead letters (``comments_restricted``). The set of such viewers is re-read at
        most every ``RESTRICTIONS_REFRESH_S`` seconds, so a new restriction holds within it."""
        restricted = self._restricted_commenters(now)
        if not restricted:
            return table, []
        frame = pl.from_arrow(table.select(["type", "user_id"]))
        assert isinstance(frame, pl.DataFrame)
        muted = (
            frame.select((pl.col("type") == "comment") & pl.col("user_id").is_in(list(restricted)))
            .to_series()
            .fill_null(False)
            .to_numpy()
        )
        if not muted.any():
            return table, []
        rows_by_event = dict(
            zip(
                normalised.table.column("event_id").to_pylist(),
                normalised.row_numbers,
                strict=True,
            )
        )
        bad = table.filter(pa.array(muted))
        rejections = [
            Rejection(
                row=rows_by_event.get(record["event_id"], 0),
                reason="comments_restricted",
                event_id=record["event_id"],
                payload=dict(record),
            )
            for record in bad.to_pylist()
        ]
        return table.filter(pa.array(~muted)), rejections

    def _restricted_commenters(self, now: datetime) -> frozenset[int]:
        clock = time.monotonic()
        if self._restricted_read_at is None or clock - self._restricted_read_at > (
            RESTRICTIONS_REFRESH_S
        ):
            from zhibo.risk.measures import restricted_viewers

            with unit_of_work(self.engine) as db:
                self._restricted = frozenset(restricted_viewers(db, "comments", now))
            self._restricted_read_at = clock
        return self._restricted

    # --- read side -------------------------------------------------------------------------

    def _notify_metrics(self, sessions: Rows) -> None:
        """The embedded pipeline committed ``sessions``: forward those of listened rooms."""
        if not self.listeners or not len(sessions):
            return
        room = sessions.columns.index("room_id")
        for values in sessions.values:
            if values[room] in self.listeners:
                snapshot = dict(zip(sessions.columns, values, strict=True))
                self.notify(values[room], "metrics", session_values_out(snapshot).model_dump())

    async def _follow_workers(self) -> None:
        """NATS mode: subscribe (once per process) to the workers' metric snapshots."""
        if self._metrics_feed is not None or not isinstance(self.bus, NatsBus):
            return

        async def on_message(message: Any) -> None:
            if not self.listeners:
                return
            for snapshot in decode_snapshots(message.data):
                room_id = snapshot["room_id"]
                if room_id in self.listeners:
                    self.notify(room_id, "metrics", session_values_out(snapshot).model_dump())

        async def on_notice(message: Any) -> None:
            room_id, notice = decode_notice(message.data)
            if room_id in self.listeners:
                self.notify(room_id, NOTICE, notice)

        self._metrics_feed = await self.bus._nc.subscribe(self.metrics_subject, cb=on_message)
        self._notices_feed = await self.bus._nc.subscribe(self.notices_subject, cb=on_notice)
        # The subscription is registered with the server once the flush returns: no snapshot
        # published after ``subscribe`` returns is missed.
        await self.bus._nc.flush()

    def notify(self, room_id: int, kind: str, data: dict[str, Any]) -> None:
        """Send an update or a room notice (pop-up prompt, risk notice) to the room's SSE
        listeners. A listener that does not keep up loses its oldest updates, never memory."""
        for queue in list(self.listeners.get(room_id, ())):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait({"event": kind, "data": data})

    async def subscribe(self, room_id: int) -> asyncio.Queue[dict[str, Any]]:
        """A new listener of the room's updates, receiving from the moment this returns
        (in NATS mode too: the workers' feed is subscribed to first)."""
        await self.start()
        await self._follow_workers()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=LISTENER_QUEUE)
        self.listeners.setdefault(room_id, set()).add(queue)
        return queue

    def unsubscribe(self, room_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        listeners = self.listeners.get(room_id)
        if listeners is None:
            return
        listeners.discard(queue)
        if not listeners:
            del self.listeners[room_id]

    async def listen(self, room_id: int) -> AsyncIterator[dict[str, Any]]:
        queue = await self.subscribe(room_id)
        try:
            while True:
                yield await queue.get()
        finally:
            self.unsubscribe(room_id, queue)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


_SNAPSHOT_FIELDS = (
    "session_id",
    "room_id",
    "unique_viewers",
    "peak_online",
    "online_now",
    "buyers",
    "watch_ms",
    "first_event_ms",
    "last_event_ms",
    *COUNTER_FIELDS,
)


def session_out(row: SessionMetrics) -> SessionMetricsOut:
    return session_values_out({name: getattr(row, name) for name in _SNAPSHOT_FIELDS})


def session_values_out(values: Mapping[str, int]) -> SessionMetricsOut:
    """The read model of a session's metric row (a database row or a committed snapshot)."""
    viewers = values["unique_viewers"]
    return SessionMetricsOut(
        session_id=values["session_id"],
        room_id=values["room_id"],
        unique_viewers=viewers,
        peak_online=values["peak_online"],
        online_now=values["online_now"],
        buyers=values["buyers"],
        conversion=round(values["buyers"] / viewers, 6) if viewers else 0.0,
        avg_watch_seconds=round(values["watch_ms"] / viewers / 1000, 3) if viewers else 0.0,
        first_event_at=_iso(values["first_event_ms"]),
        last_event_at=_iso(values["last_event_ms"]),
        **{name: values[name] for name in COUNTER_FIELDS},
    )


def minutes_out(rows: list[MinuteMetrics], last_event_ms: int) -> list[MinuteOut]:
    online = 0
    result = []
    for row in rows:
        online += row.online_change
        if row.minute_ms > last_event_ms:
            break
        result.append(
            MinuteOut(
                minute=_iso(row.minute_ms),
                online=online,
                **{name: getattr(row, name) for name in COUNTER_FIELDS},
            )
        )
    return result


def get_session_metrics(db: Session, session_id: int) -> SessionMetricsOut:
    row = repository.session_metrics(db, session_id)
    if row is None:
        raise NotFound(f"session {session_id}: no events yet")
    return session_out(row)


def get_room_metrics(db: Session, room_id: int, session_id: int | None = None) -> RoomMetricsOut:
    """The room's current (latest) session, or ``session_id``: cumulative and per minute."""
    if session_id is not None:
        row = repository.session_metrics(db, session_id)
        if row is not None and row.room_id != room_id:
            row = None
    else:
        row = repository.latest_session_metrics(db, room_id)
    if row is None:
        return RoomMetricsOut(room_id=room_id, session=None, minutes=[])
    minutes = minutes_out(repository.minute_rows(db, row.session_id), row.last_event_ms)
    return RoomMetricsOut(room_id=room_id, session=session_out(row), minutes=minutes)


def list_live_rooms(db: Session, order_by: str, limit: int) -> list[LiveRoomOut]:
    return [
        LiveRoomOut(
            room_id=row.room_id,
            session_id=row.session_id,
            online_now=row.online_now,
            gmv_fen=row.gmv_fen,
            unique_viewers=row.unique_viewers,
            last_event_at=_iso(row.last_event_ms),
        )
        for row in repository.live_sessions(db, order_by, limit)
    ]


def ingest_file_sync(
    settings: Settings, engine: Engine, frames: Iterable[pl.DataFrame], source: str
) -> IngestResult:
    """For the command line: one service, one ingestion, closed afterwards."""

    async def run() -> IngestResult:
        service = EventService(settings, engine)
        try:
            return await service.ingest(frames, source)
        finally:
            await service.close()

    return asyncio.run(run())
