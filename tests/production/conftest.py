"""Fixtures of the production-mode tests: a NATS server of their own (JetStream, a loopback port
and a temporary store), so nothing here touches the machine's shared server, its streams or
consumers; free ports; and the descendants of a process (to check that none outlive a stop)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from zhibo.app import create_app
from zhibo.config import Settings

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A JetStream-enabled nats-server on a free loopback port, stopped after the test."""
    if not Path(NATS_SERVER).exists():
        pytest.skip("nats-server is not installed")
    port = free_port()
    store = tmp_path / "nats"
    server = subprocess.Popen(
        [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert server.poll() is None, "nats-server exited"
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (children, grandchildren ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    """SQLite only here (the shared fixture also runs PostgreSQL): the tests that need
    PostgreSQL ask for ``pg_database`` themselves."""
    return sqlite_engine


@pytest.fixture
def loopback(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """The app, called from 127.0.0.1 (``/metrics`` answers loopback clients without a token)."""
    with TestClient(create_app(settings, engine), client=("127.0.0.1", 50000)) as client:
        yield client
