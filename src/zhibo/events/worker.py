"""A pipeline worker on NATS JetStream: ``zhibo events worker --index I --of N`` consumes the
partitions ``p`` with ``p % N == I``.

Each partition is read by a pull consumer that starts right after the partition's committed
position (the stream sequence stored with the metrics), so the database, not the consumer's
ack state, decides what is applied: after a crash the worker deletes the lake files past its
positions, rebuilds its state from the rest and reads the stream again from there. Messages are
acked after the checkpoint that covers them. Pulling is the backpressure: a worker takes only
what it can apply, and the backlog waits in the stream, on disk.

Faults: when the database or the bus fails under it (PostgreSQL restarting, a NATS node
stopping) or a partition's deliveries skip or repeat a consumer sequence (a message lost in
flight would otherwise be skipped as already applied when it comes again), the worker starts
over in-process, as after a crash, from the committed positions, retrying with back-off until
it can: it never needs restarting by hand.

After each checkpoint the worker publishes the committed metrics of the sessions that changed on
the core subject ``METRICS_SUBJECT`` (``zhibo.events.feed``): the API processes forward them to
their SSE listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from zhibo.config import Settings
from zhibo.events.engine import Rows
from zhibo.events.feed import (
    METRICS_SUBJECT,
    NOTICES_SUBJECT,
    collecting_notices,
    encode_notice,
    encode_snapshots,
)
from zhibo.events.pipeline import SUBJECT_PREFIX, Pipeline, subject
from zhibo.events.validation import decode_ipc
from zhibo.kit.bus import STREAM_NAME, NatsBus

log = logging.getLogger(__name__)

CONSUMER = "nats"
#: Messages pulled per partition per round (each carries thousands of events).
FETCH_MESSAGES = 64
#: Back-off between attempts to start over after a fault: first and longest wait (seconds).
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
#: A worker run with ``idle_exit_seconds`` gives up after faults lasting this long.
IDLE_GIVE_UP_S = 30.0


class DeliveryGap(Exception):
    """A partition's deliveries skipped or repeated a consumer sequence (a message lost in
    flight, a consumer leader that changed): the worker starts over from its positions."""


def check_deliveries(delivered: dict[int, int], partition: int, messages: list[Any]) -> None:
    """A consumer created afresh numbers its deliveries 1, 2, 3... (redeliveries too): a
    number skipped or repeated raises DeliveryGap; ``delivered`` keeps the last per partition."""
    for message in messages:
        number = message.metadata.sequence.consumer
        if number != delivered.get(partition, 0) + 1:
            raise DeliveryGap(
                f"partition {partition}: delivery {number} after {delivered.get(partition, 0)}"
            )
        delivered[partition] = number


def is_fault(error: BaseException) -> bool:
    """Errors the worker outlives by starting over: the database or the bus went away."""
    import nats.errors

    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError))
    return isinstance(error, (DeliveryGap, nats.errors.Error, TimeoutError, ConnectionError))


@dataclass
class Worker:
    settings: Settings
    engine: Engine
    partitions: set[int]
    stream: str = STREAM_NAME
    subject_prefix: str = SUBJECT_PREFIX
    consumer_prefix: str = "events"
    fetch_messages: int = FETCH_MESSAGES
    #: Core NATS subject the committed metric snapshots go to (the API processes' SSE feed).
    metrics_subject: str = METRICS_SUBJECT
    notices_subject: str = NOTICES_SUBJECT
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    #: Wall-clock times (``time.time()``) of the first message and of the last commit.
    first_message_at: float | None = None
    last_commit_at: float | None = None
    #: Times the worker started over after a fault.
    restarts: int = 0

    async def run(self, *, idle_exit_seconds: float | None = None) -> Pipeline:
        """Consume until ``stop`` is set (or, with ``idle_exit_seconds``, until nothing came
        for that long: for tests and benchmarks). A fault starts the consumption over."""
        delay = RETRY_FIRST_S
        failing_since: float | None = None
        while True:
            committed_before = self.last_commit_at
            try:
                return await self._run(idle_exit_seconds=idle_exit_seconds)
            except Exception as error:
                if not is_fault(error):
                    raise
                now = time.monotonic()
                if self.last_commit_at != committed_before or failing_since is None:
                    delay = RETRY_FIRST_S  # it had recovered from any earlier fault
                    failing_since = now
                # Asked to stop, or a run that should end when idle (``--once``, tests) that
                # cannot reach its services for longer than it would wait idle: give up.
                if self.stop.is_set() or (
                    idle_exit_seconds is not None
                    and now - failing_since > max(IDLE_GIVE_UP_S, idle_exit_seconds)
                ):
                    raise
                self.restarts += 1
                log.warning(
                    "worker fault (%s: %s); starting over from the committed positions in %.1f s",
                    type(error).__name__,
                    str(error).splitlines()[0] if str(error) else "",
                    delay,
                )
                fault = error
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            if self.stop.is_set():  # stopped while waiting to start over
                raise fault
            delay = min(delay * 2, RETRY_MAX_S)

    async def _unless_stopped(self, connecting: Coroutine[Any, Any, NatsBus]) -> NatsBus:
        """The bus once connected; ``ConnectionError`` if ``stop`` is set first (connecting to
        a bus that is down retries for a while: SIGTERM must not wait for that)."""
        task = asyncio.ensure_future(connecting)
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise ConnectionError("stopped before the bus connected")
        return task.result()

    async def _run(self, *, idle_exit_seconds: float | None) -> Pipeline:
        pipeline = Pipeline(
            self.engine, self.settings.data_dir, consumer=CONSUMER, partitions=self.partitions
        )
        committed: list[Rows] = []
        pipeline.on_commit.append(committed.append)
        bus: NatsBus | None = None
        subscriptions = {}
        #: The last consumer sequence delivered per partition (``check_deliveries``).
        delivered: dict[int, int] = {}
        # Room notices the risk hook makes while applying batches go to the API processes.
        notices_context = collecting_notices()
        notices = notices_context.__enter__()
        try:
            pipeline.recover()
            bus = await self._unless_stopped(
                NatsBus(
                    self.settings.bus_url,
                    stream=self.stream,
                    subjects=[f"{self.subject_prefix}.>"],
                    replicas=self.settings.bus_replicas,
                ).connect()
            )
            js = bus._js
            from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

            for partition in sorted(self.partitions):
                name = f"{self.consumer_prefix}-p{partition}"
                with contextlib.suppress(Exception):
                    await js.delete_consumer(self.stream, name)
                start = pipeline.applied.get(partition, 0) + 1
                config = ConsumerConfig(
                    durable_name=name,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=start,
                    ack_policy=AckPolicy.EXPLICIT,
                    max_ack_pending=self.fetch_messages * 4,
                    filter_subject=subject(partition, self.subject_prefix),
                )
                subscriptions[partition] = await js.pull_subscribe(
                    subject(partition, self.subject_prefix),
                    durable=name,
                    stream=self.stream,
                    config=config,
                )
            idle_since = asyncio.get_running_loop().time()
            while not self.stop.is_set():
                taken: list[Any] = []
                for partition, subscription in subscriptions.items():
                    try:
                        messages = await subscription.fetch(self.fetch_messages, timeout=0.05)
                    except Exception:  # nats raises TimeoutError when nothing is waiting
                        continue
                    if self.first_message_at is None and messages:
                        self.first_message_at = time.time()
                    check_deliveries(delivered, partition, messages)
                    taken.extend(messages)
                    # The messages of one fetch are applied as one batch (fewer, larger lake
                    # files and group-bys) at the position of the last; a message redelivered
                    # after a slow commit (at or below the position) is skipped.
                    done = pipeline.pending.get(partition, 0)
                    fresh = [m for m in messages if m.metadata.sequence.stream > done]
                    if fresh:
                        table = pa.concat_tables([decode_ipc(m.data) for m in fresh])
                        position = max(m.metadata.sequence.stream for m in fresh)
                        pipeline.apply(partition, table, position)
                if taken:
                    pipeline.checkpoint()
                    await asyncio.gather(*(message.ack() for message in taken))
                    await self._publish_snapshots(bus, committed)
                    await self._publish_notices(bus, notices)
                    self.last_commit_at = time.time()
                    idle_since = asyncio.get_running_loop().time()
                elif (
                    idle_exit_seconds is not None
                    and asyncio.get_running_loop().time() - idle_since > idle_exit_seconds
                ):
                    break
        finally:
            notices_context.__exit__(None, None, None)
            pipeline.close()
            # Pull subscriptions make a drain wait for its timeout; unacked messages are simply
            # delivered again from the committed position on the next start.
            for subscription in subscriptions.values():
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
            if bus is not None and bus._nc is not None:
                with contextlib.suppress(Exception):
                    await bus._nc.close()
        return pipeline

    async def _publish_snapshots(self, bus: NatsBus, committed: list[Rows]) -> None:
        """Core publishes (no acks, dropped by the server when no API process listens): the
        snapshots are cumulative, so a lost one is made good by the next."""
        batches, committed[:] = list(committed), []
        for rows in batches:
            for payload in encode_snapshots(rows):
                await bus._nc.publish(self.metrics_subject, payload)

    async def _publish_notices(
        self, bus: NatsBus, notices: list[tuple[int, dict[str, Any]]]
    ) -> None:
        """Core publishes of the room notices made since the last checkpoint (their decisions
        are committed): every API process forwards them to the room's SSE listeners."""
        batch, notices[:] = list(notices), []
        for room_id, notice in batch:
            await bus._nc.publish(self.notices_subject, encode_notice(room_id, notice))


def partitions_for(index: int, of: int, total: int) -> set[int]:
    return {p for p in range(total) if p % of == index}


def run_worker(settings: Settings, engine: Engine, partitions: set[int]) -> None:
    async def main() -> None:
        worker = Worker(settings, engine, partitions)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop.set)
        try:
            await worker.run()
        except Exception as error:
            if not (worker.stop.is_set() and is_fault(error)):
                raise
            log.warning("worker stopped during a fault (%s)", type(error).__name__)

    asyncio.run(main())
