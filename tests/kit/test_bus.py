"""The bus interface on both implementations: in-process and a real NATS JetStream."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from zhibo.kit.bus import MemoryBus, NatsBus, connect_bus, subject_matches, wait_for
from zhibo.kit.errors import InvalidInput

NATS_URL = os.environ.get("ZHIBO_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("zhibo.events.*", "zhibo.events.1", True),
        ("zhibo.events.*", "zhibo.events.1.x", False),
        ("zhibo.>", "zhibo.events.1", True),
        ("zhibo.>", "zhibo", False),
        ("zhibo.events.1", "zhibo.events.1", True),
        ("zhibo.events.1", "zhibo.events.2", False),
    ],
)
def test_subject_matching(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def test_memory_bus_delivers_in_order_and_drops_duplicates() -> None:
    async def scenario() -> list[bytes]:
        bus = await connect_bus("memory://")
        got: list[bytes] = []

        async def handler(payload: bytes) -> None:
            got.append(payload)

        await bus.subscribe("zhibo.events.*", handler, durable="metrics")
        for index in range(3):
            await bus.publish(f"zhibo.events.{index}", b"%d" % index, message_id=f"m{index}")
        await bus.publish("zhibo.events.0", b"0", message_id="m0")
        await bus.publish("zhibo.other", b"x")
        await bus.close()
        return got

    assert asyncio.run(scenario()) == [b"0", b"1", b"2"]
    assert isinstance(MemoryBus(), MemoryBus)


def test_unknown_bus_url_is_refused() -> None:
    with pytest.raises(InvalidInput, match="ZHIBO_BUS_URL"):
        asyncio.run(connect_bus("kafka://x"))


def _nats_up() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def test_nats_jetstream_round_trip_dedup_and_durable_resume() -> None:
    if not _nats_up():
        if os.environ.get("CI"):
            pytest.fail(f"NATS is not reachable at {NATS_URL} (CI needs it)")
        pytest.skip("NATS is not reachable")
    unique = uuid.uuid4().hex[:8]
    stream = f"ZHIBOTEST{unique.upper()}"
    prefix = f"zt{unique}"
    durable = "worker"

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        bus = await NatsBus(NATS_URL, stream=stream, subjects=[f"{prefix}.>"]).connect()
        got: list[bytes] = []

        async def handler(payload: bytes) -> None:
            got.append(payload)

        try:
            sub = await bus.subscribe(f"{prefix}.test.*", handler, durable=durable)
            await bus.publish(f"{prefix}.test.a", b"1", message_id="id-1")
            await bus.publish(f"{prefix}.test.a", b"1", message_id="id-1")  # duplicate: dropped
            await bus.publish(f"{prefix}.test.b", b"2", message_id="id-2")
            assert await wait_for(lambda: len(got) >= 2)
            await asyncio.sleep(0.2)
            first = list(got)
            await sub.unsubscribe()
            # While no one listens, a message arrives; a worker with the same durable gets it.
            await bus.publish(f"{prefix}.test.c", b"3", message_id="id-3")
            got.clear()
            await bus.subscribe(f"{prefix}.test.*", handler, durable=durable)
            assert await wait_for(lambda: len(got) >= 1)
            return first, list(got)
        finally:
            await bus._js.delete_stream(stream)
            await bus.close()

    first, resumed = asyncio.run(scenario())
    assert first == [b"1", b"2"]
    assert resumed == [b"3"]
