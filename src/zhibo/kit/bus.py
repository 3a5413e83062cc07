"""The event bus: one interface, two implementations chosen by ``ZHIBO_BUS_URL``.

- ``memory://`` (embedded default): in-process, handlers awaited in publish order.
- ``nats://host:port`` (production): NATS JetStream; a durable consumer per handler name, so
  several worker processes share a subscription and a restarted worker resumes where it was.

Subjects are dot-separated (``zhibo.events.room.42``); subscriptions may use NATS wildcards
(``*`` one token, ``>`` the rest). Handlers receive raw bytes: domains choose their encoding
(batches of events travel as one message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Handler = Callable[[bytes], Awaitable[None]]

STREAM_NAME = "ZHIBO"
STREAM_SUBJECTS = ["zhibo.>"]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class EventBus(Protocol):
    async def publish(self, subject: str, payload: bytes, *, message_id: str | None = None) -> None:
        """Publish; ``message_id`` lets the bus drop a re-sent duplicate."""

    async def subscribe(self, subject: str, handler: Handler, *, durable: str) -> Subscription:
        """Deliver every message on ``subject`` to ``handler``; ``durable`` names the consumer."""

    async def close(self) -> None: ...


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` matches one token, a final ``>`` one or more."""
    pattern_tokens = pattern.split(".")
    subject_tokens = subject.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return len(subject_tokens) > index
        if index >= len(subject_tokens):
            return False
        if token not in ("*", subject_tokens[index]):
            return False
    return len(pattern_tokens) == len(subject_tokens)


@dataclass
class _MemorySubscription:
    bus: MemoryBus
    pattern: str
    handler: Handler

    async def unsubscribe(self) -> None:
        self.bus._subscriptions.remove(self)


@dataclass
class MemoryBus:
    """In-process bus. Duplicate ``message_id``s within the remembered window are dropped."""

    dedup_window: int = 100_000
    _subscriptions: list[_MemorySubscription] = field(default_factory=list)
    _seen: dict[str, None] = field(default_factory=dict)

    async def publish(self, subject: str, payload: bytes, *, message_id: str | None = None) -> None:
        if message_id is not None:
            if message_id in self._seen:
                return
            self._seen[message_id] = None
            if len(self._seen) > self.dedup_window:
                self._seen.pop(next(iter(self._seen)))
        for subscription in list(self._subscriptions):
            if subject_matches(subscription.pattern, subject):
                await subscription.handler(payload)

    async def subscribe(self, subject: str, handler: Handler, *, durable: str) -> Subscription:
        subscription = _MemorySubscription(self, subject, handler)
        self._subscriptions.append(subscription)
        return subscription

    async def close(self) -> None:
        self._subscriptions.clear()


class NatsBus:
    """NATS JetStream. Messages are acked after the handler returns: at-least-once delivery,
    so handlers must be idempotent (they are: effects are keyed by event id)."""

    def __init__(
        self,
        url: str,
        stream: str = STREAM_NAME,
        subjects: list[str] | None = None,
        replicas: int = 1,
    ) -> None:
        self.url = url
        self.stream = stream
        self.subjects = subjects or STREAM_SUBJECTS
        #: Copies of the stream a JetStream cluster keeps (3 on a 3-node cluster: one node
        #: may stop without losing or pausing the stream).
        self.replicas = replicas
        self._nc: Any = None
        self._js: Any = None
        self._subscriptions: list[Any] = []

    async def connect(self) -> NatsBus:
        import nats
        from nats.js.api import StreamConfig

        # Several servers (a cluster), comma-separated: the client fails over between them.
        self._nc = await nats.connect(
            servers_of(self.url), connect_timeout=5, max_reconnect_attempts=10
        )
        # Connected: from now on it reconnects for as long as it takes (a server restart must
        # not leave a long-running API or worker process without its bus). Not before: with
        # no limit the first connection would wait forever for a server that is down.
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream()
        config = StreamConfig(
            name=self.stream,
            subjects=self.subjects,
            duplicate_window=120.0,
            num_replicas=self.replicas,
        )
        try:
            await self._js.add_stream(config)
        except Exception:
            await self._js.update_stream(config)
        return self

    async def publish(self, subject: str, payload: bytes, *, message_id: str | None = None) -> None:
        headers = {"Nats-Msg-Id": message_id} if message_id else None
        await self._js.publish(subject, payload, headers=headers, stream=self.stream)

    async def subscribe(self, subject: str, handler: Handler, *, durable: str) -> Subscription:
        async def on_message(message: Any) -> None:
            await handler(message.data)
            await message.ack()

        subscription = await self._js.subscribe(
            subject, durable=durable, cb=on_message, manual_ack=True, stream=self.stream
        )
        self._subscriptions.append(subscription)
        return subscription

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None


def servers_of(url: str) -> list[str]:
    """The server URLs of ``ZHIBO_BUS_URL``: one, or several separated by commas."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect_bus(url: str, replicas: int = 1) -> EventBus:
    """The bus ``url`` names: ``memory://`` or ``nats://...``."""
    if url.startswith("memory"):
        return MemoryBus()
    if url.startswith(("nats://", "tls://")):
        return await NatsBus(url, replicas=replicas).connect()
    from zhibo.kit.errors import InvalidInput

    raise InvalidInput(f"ZHIBO_BUS_URL: {url!r} is neither memory:// nor nats://host:port")


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (for tests and drains)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
