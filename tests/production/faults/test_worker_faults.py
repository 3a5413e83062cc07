"""The pipeline worker's fault rules, without servers: which errors make it start over, and
the delivery-sequence check that catches a message lost in flight."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats.errors
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from zhibo.events.worker import DeliveryGap, check_deliveries, is_fault


def delivered(*numbers: int) -> list[Any]:
    return [
        SimpleNamespace(metadata=SimpleNamespace(sequence=SimpleNamespace(consumer=n)))
        for n in numbers
    ]


def test_deliveries_numbered_without_gaps_pass() -> None:
    last: dict[int, int] = {}
    check_deliveries(last, 3, delivered(1, 2, 3))
    check_deliveries(last, 3, delivered(4))
    check_deliveries(last, 5, delivered(1))
    assert last == {3: 4, 5: 1}


@pytest.mark.parametrize("numbers", [(2,), (1, 3), (1, 2, 2), (1, 2, 1)])
def test_a_skipped_or_repeated_delivery_is_a_gap(numbers: tuple[int, ...]) -> None:
    with pytest.raises(DeliveryGap):
        check_deliveries({}, 0, delivered(*numbers))


def test_outages_are_faults_and_bugs_are_not() -> None:
    refused = OperationalError("SELECT 1", {}, ConnectionRefusedError())
    assert is_fault(refused)
    assert is_fault(nats.errors.TimeoutError())
    assert is_fault(DeliveryGap("partition 0"))
    assert not is_fault(IntegrityError("INSERT", {}, ValueError()))
    assert not is_fault(KeyError("bug"))


def _unreachable_worker(tmp_path: Path) -> Any:
    from zhibo.config import Settings
    from zhibo.events.worker import Worker
    from zhibo.kit import migrate
    from zhibo.kit.db import make_engine

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'z.db'}",
        bus_url=f"nats://127.0.0.1:{port}",
        data_dir=tmp_path,
    )
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    return Worker(settings, engine, {0})


def test_a_worker_in_an_outage_stops_when_asked(tmp_path: Path) -> None:
    """SIGTERM (``stop``) ends a worker that keeps starting over against a bus that is down."""
    worker = _unreachable_worker(tmp_path)

    async def main() -> float:
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(1.0)
        worker.stop.set()
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            await asyncio.wait_for(task, 15)
        assert is_fault(raised.value)
        return time.monotonic() - started

    assert asyncio.run(main()) < 10


def test_a_run_that_ends_when_idle_gives_up_on_a_lasting_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zhibo.events.worker as module

    async def refused(self: object) -> object:
        raise ConnectionRefusedError("bus down")

    monkeypatch.setattr(module, "IDLE_GIVE_UP_S", 1.0)
    monkeypatch.setattr(module.NatsBus, "connect", refused)
    worker = _unreachable_worker(tmp_path)
    with pytest.raises(Exception) as raised:
        asyncio.run(asyncio.wait_for(worker.run(idle_exit_seconds=0.5), 20))
    assert is_fault(raised.value)
    assert worker.restarts >= 2  # it retried before giving up
