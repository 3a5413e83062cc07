"""A pipeline worker on NATS JetStream: ``zhibo events worker --index I --of N`` consumes the
partitions ``p`` with ``p % N == I``.

Each partition is read by a pull consumer that starts right after the partition's committed
position (the stream sequence stored with the metrics), so the database, not the consumer's
ack state, decides what is applied: after a crash the worker deletes the lake files past its
positions, rebuilds its state from the rest and reads the stream again from there. Messages are
acked after the checkpoint that covers them. Pulling is the backpressure: a worker takes only
what it can apply, and the backlog waits in the stream, on disk.

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
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import Engine

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

    async def run(self, *, idle_exit_seconds: float | None = None) -> Pipeline:
        """Consume until ``stop`` is set (or, with ``idle_exit_seconds``, until nothing came
        for that long: for tests and benchmarks)."""
        pipeline = Pipeline(
            self.engine, self.settings.data_dir, consumer=CONSUMER, partitions=self.partitions
        )
        pipeline.recover()
        committed: list[Rows] = []
        pipeline.on_commit.append(committed.append)
        bus = await NatsBus(
            self.settings.bus_url, stream=self.stream, subjects=[f"{self.subject_prefix}.>"]
        ).connect()
        js = bus._js
        subscriptions = {}
        # Room notices the risk hook makes while applying batches go to the API processes.
        notices_context = collecting_notices()
        notices = notices_context.__enter__()
        try:
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
        await worker.run()

    asyncio.run(main())
