"""SIGKILL of one of two API worker processes (``zhibo serve --workers 2``, PostgreSQL and a
NATS JetStream bus) while clients send event batches and orders: the clients' retries lose
and double nothing, and uvicorn's supervisor replaces the worker by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.production.faults.conftest import (
    Processes,
    assert_exactly_once,
    seed,
    stack_env,
    start_stack,
)
from tests.production.faults.load import Load
from zhibo.kit.db import make_engine


def api_workers(supervisor: int) -> list[int]:
    """The worker processes of a uvicorn supervisor (multiprocessing children, not its
    resource tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    workers = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            workers.append(int(child))
    return workers


def wait_for_workers(
    base_url: str, supervisor: int, count: int, timeout: float = 60.0
) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = api_workers(supervisor)
        if len(workers) == count:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                    return workers
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"uvicorn has not {count} serving workers: {api_workers(supervisor)}")


@pytest.mark.postgres
@pytest.mark.timeout(120)  # three processes start importing the app: slow on a busy host
def test_sigkill_of_an_api_worker_under_load(
    shared_pg_url: str, nats_url: str, processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = stack_env(shared_pg_url, nats_url, data_dir)
    engine = make_engine(shared_pg_url)
    try:
        target = seed(engine)
        base_url, api, worker = start_stack(processes, env, api_workers=2)
        before = wait_for_workers(base_url, api.pid, 2)
        killed: list[int] = []
        killed_at: list[float] = []

        async def kill_an_api_worker() -> None:
            victim = api_workers(api.pid)[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            killed_at.append(time.monotonic())

        load = Load(base_url, target)
        asyncio.run(load.run(kill_an_api_worker))

        # Resumed by itself: the supervisor started a new worker in place of the killed one.
        after = wait_for_workers(base_url, api.pid, 2)
        print(
            f"worker replaced within {time.monotonic() - killed_at[0]:.1f} s of the SIGKILL; "
            f"{load.failed_attempts} failed attempts retried"
        )
        assert killed[0] in before and killed[0] not in after, (before, killed, after)
        for _ in range(10):
            assert httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200
        assert api.poll() is None, processes.log("api")
        assert worker.poll() is None, processes.log("worker")
        assert_exactly_once(engine, data_dir, load)
    finally:
        engine.dispose()
