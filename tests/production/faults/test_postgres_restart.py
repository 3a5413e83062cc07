"""PostgreSQL stopped (``pg_ctl stop -m fast``: every connection cut, open transactions
rolled back) and started again a second later, while clients send event batches and orders to
an API process and a pipeline worker: both carry on by themselves, and nothing accepted is lost
or doubled.

The server is a private instance (``private_postgres``), never the machine's shared one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.production.faults.conftest import (
    PARTITIONS,
    PrivatePostgres,
    Processes,
    assert_exactly_once,
    fresh_database,
    seed,
    stack_env,
    start_stack,
)
from tests.production.faults.load import Load
from zhibo.config import Settings
from zhibo.events.service import EventService
from zhibo.events.validation import frame_from_rows, validate
from zhibo.kit.db import make_engine


async def publish_on_the_bus(load: Load, bus_url: str, jobs: list[int]) -> None:
    """What the API does with an accepted batch (validate, publish per partition), without
    the API."""
    settings = Settings(bus_url=bus_url, events_partitions=PARTITIONS)
    service = EventService(settings, create_engine("sqlite://"))  # publishing needs none
    await service.start()
    try:
        for job in jobs:
            rows = load.batch(job)
            await service.publish(validate(frame_from_rows(rows), service.hasher).table)
            load.accepted(rows)
    finally:
        await service.close()


@pytest.mark.timeout(90)
def test_postgres_restart_under_load(
    private_postgres: PrivatePostgres, nats_url: str, processes: Processes, tmp_path: Path
) -> None:
    url = fresh_database(private_postgres.url, "zhibo_faults")
    data_dir = tmp_path / "data"
    env = stack_env(url, nats_url, data_dir)
    engine = make_engine(url)
    try:
        target = seed(engine)
        base_url, api, worker = start_stack(processes, env, api_workers=1)

        async def restart_postgres() -> None:
            await asyncio.to_thread(private_postgres.pg_ctl, "-m", "fast", "-w", "stop")
            # Batches accepted just before the outage reach the worker during it (the API
            # itself accepts nothing meanwhile: tokens are checked in the database).
            await publish_on_the_bus(load, nats_url, [load.next_job() for _ in range(3)])
            await asyncio.sleep(1.0)
            await asyncio.to_thread(private_postgres.start)

        load = Load(base_url, target)
        asyncio.run(load.run(restart_postgres))

        # The same processes, never restarted, served and consumed after the restart.
        assert api.poll() is None, processes.log("api")
        assert worker.poll() is None, processes.log("worker")
        assert_exactly_once(engine, data_dir, load)
        assert "worker fault" in processes.log("worker"), "the worker never met the outage"
        assert worker.poll() is None, processes.log("worker")
    finally:
        engine.dispose()
