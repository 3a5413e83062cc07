"""Fixtures of the fault tests: free loopback ports, private servers (a NATS JetStream node, a
3-node JetStream cluster, a PostgreSQL instance of its own), the zhibo processes of a
production-mode stack, and the checks that nothing accepted was lost or doubled.

Every server and zhibo process runs in its own process group and is killed with it when the
test ends, whatever happened. Nothing here touches the machine's shared PostgreSQL server or
NATS except for a fresh database of the run (``pg_database``)."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from tests import builders as b
from tests.conftest import _truncate_all
from tests.events.conftest import lake_event_ids
from tests.processes import zhibo
from tests.production.faults.load import Load, Target
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, unit_of_work
from zhibo.models import LedgerEntry, Order, Role, SessionMetrics
from zhibo.models.session import SessionStatus

ZHIBO = str(Path(sys.executable).parent / "zhibo")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
#: Bus partitions of the stacks (rooms spread over them; one pipeline worker takes all).
PARTITIONS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"{process.args!r} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)


@dataclass
class Processes:
    """Processes started by a test, each the leader of its own group, logging to a file."""

    logs: Path
    started: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def kill_all(self) -> None:
        for process in self.started.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Processes(logs)
    try:
        yield running
    finally:
        running.kill_all()


# --- NATS ------------------------------------------------------------------------------------


def _need_nats() -> None:
    if not Path(NATS_SERVER).exists():
        pytest.skip(f"nats-server is not installed ({NATS_SERVER})")


@pytest.fixture
def nats_url(processes: Processes, tmp_path: Path) -> str:
    """A private single-node NATS JetStream server on a free port."""
    _need_nats()
    port = free_port()
    store = tmp_path / "nats"
    args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    wait_for_port(port, process=processes.spawn("nats", args))
    return f"nats://127.0.0.1:{port}"


@dataclass
class NatsCluster:
    ports: list[int]
    nodes: list[subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.ports)


@pytest.fixture
def nats_cluster(processes: Processes, tmp_path: Path) -> NatsCluster:
    """Three NATS servers with JetStream, routed to each other on loopback ports."""
    _need_nats()
    ports = [free_port() for _ in range(3)]
    routes = [free_port() for _ in range(3)]
    nodes = []
    for index, (port, route) in enumerate(zip(ports, routes, strict=True)):
        others = ",".join(f"nats://127.0.0.1:{r}" for r in routes if r != route)
        args = [
            NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-n", f"node{index}",
            "-js", "-sd", str(tmp_path / f"nats{index}"), "--cluster_name", "zhibo",
            "--cluster", f"nats://127.0.0.1:{route}", "--routes", others,
        ]  # fmt: skip
        nodes.append(processes.spawn(f"nats{index}", args))
    for port, node in zip(ports, nodes, strict=True):
        wait_for_port(port, process=node)
    cluster = NatsCluster(ports, nodes)
    asyncio.run(_wait_for_jetstream(cluster.url))
    return cluster


async def _wait_for_jetstream(url: str, timeout: float = 30.0) -> None:
    """Until the cluster has elected its JetStream meta leader (it answers account info)."""
    import nats

    connection = await nats.connect(url.split(","))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await connection.jetstream().account_info()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await connection.close()


# --- PostgreSQL ------------------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL instance of the test's own (initdb in a temporary directory), run by the
    ``postgres`` user, listening on a free loopback port: it can be restarted freely."""

    bin: Path
    directory: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        # Output to a file, not a pipe: the server pg_ctl starts would hold a pipe open.
        with (self.directory / "pg_ctl.log").open("ab") as out:
            subprocess.run(
                [*_as_postgres(), str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
            )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self.pg_ctl("-l", str(self.directory / "log"), "-o", options, "-w", "start")


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not PG_BINS or not (Path(PG_BINS[-1]) / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root needs runuser to start PostgreSQL as the postgres user")
    directory = Path(tempfile.mkdtemp(prefix="zhibo-faults-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    server = PrivatePostgres(Path(PG_BINS[-1]), directory, free_port())
    try:
        subprocess.run(
            [*_as_postgres(), str(server.bin / "initdb"), "-D", str(server.data), "-U",
             "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(directory, ignore_errors=True)


def fresh_database(admin_url: str, name: str) -> str:
    """A new database on ``admin_url``'s server, migrated from empty; its URL."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def shared_pg_url(pg_database: str) -> str:
    """The run's database on the shared PostgreSQL server, emptied."""
    engine = make_engine(pg_database)
    _truncate_all(engine)
    engine.dispose()
    return pg_database


# --- the stack -------------------------------------------------------------------------------


def stack_env(database_url: str, bus_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ZHIBO_DATABASE_URL": database_url,
        "ZHIBO_BUS_URL": bus_url,
        "ZHIBO_DATA_DIR": str(data_dir),
        "ZHIBO_EVENTS_PARTITIONS": str(PARTITIONS),
        **extra,
    }


def start_stack(
    processes: Processes, env: dict[str, str], api_workers: int
) -> tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """``zhibo serve`` and a pipeline worker over every partition, started side by side;
    returned once the API answers and the worker consumes (its consumers exist)."""
    worker = processes.spawn(
        "worker", [ZHIBO, "events", "worker", "--index", "0", "--of", "1"], env
    )
    port = free_port()
    serve = [ZHIBO, "serve", "--host", "127.0.0.1", "--port", str(port)]
    api = processes.spawn("api", [*serve, "--workers", str(api_workers)], env)
    wait_for_port(port, timeout=60, process=api)
    asyncio.run(_wait_for_consumers(env["ZHIBO_BUS_URL"], worker))
    return f"http://127.0.0.1:{port}", api, worker


async def _wait_for_consumers(url: str, worker: subprocess.Popen[bytes]) -> None:
    import nats

    from zhibo.kit.bus import STREAM_NAME

    connection = await nats.connect(url.split(","))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                await connection.jetstream().consumer_info(STREAM_NAME, f"events-p{PARTITIONS - 1}")
                return
            except Exception:
                assert worker.poll() is None, "the pipeline worker exited"
                assert time.monotonic() < deadline, "the pipeline worker did not start"
                await asyncio.sleep(0.1)
    finally:
        await connection.close()


def seed(engine: Engine, *, rooms: int = PARTITIONS, buyers: int = 120) -> Target:
    """Live sessions (one room per bus partition) selling one product each, viewers to buy,
    and an operator token: what the load generator needs."""
    with unit_of_work(engine) as db:
        sessions = []
        for _ in range(rooms):
            live = b.live_session(db, status=SessionStatus.LIVE)
            product = b.product(db, stock=1_000_000)
            b.shelf_item(db, session_row=live, product_row=product)
            sessions.append((live.id, live.room_id, product.id))
        viewers = [b.viewer(db).id for _ in range(buyers)]
        headers = b.token(db, Role.OPERATOR)
    return Target(headers=headers, sessions=sessions, buyers=viewers)


# --- the checks ------------------------------------------------------------------------------


def wait_until_applied(engine: Engine, load: Load, timeout: float = 40.0) -> None:
    """Until the committed metrics count every accepted event (the worker caught up)."""
    want = load.expected_metrics()
    deadline = time.monotonic() + timeout
    got: dict[int, tuple[int, int, int]] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), unit_of_work(engine) as db:
            rows = db.execute(
                select(
                    SessionMetrics.session_id,
                    SessionMetrics.enters,
                    SessionMetrics.likes,
                    SessionMetrics.comments,
                )
            ).all()
            got = {row[0]: (row[1], row[2], row[3]) for row in rows}
            if all(got.get(s, (0, 0, 0)) >= w for s, w in want.items()):
                break
        time.sleep(0.2)
    assert got == want, "committed metrics differ from what was accepted (lost or doubled)"


def assert_exactly_once(engine: Engine, data_dir: Path, load: Load) -> None:
    """Every accepted event once in the lake and in the metrics; every placed order once, with
    its ledger entries; the ledger checks out."""
    wait_until_applied(engine, load)
    ids = lake_event_ids(data_dir)
    assert ids.len() == ids.n_unique(), "an event is twice in the lake"
    assert set(ids.to_list()) == set(load.accepted_events), "lake differs from what was accepted"
    with unit_of_work(engine) as db:
        orders = db.execute(select(Order.buyer_id, Order.id)).all()
        entries = dict(
            db.execute(
                select(LedgerEntry.order_id, func.count())
                .where(LedgerEntry.order_id.is_not(None))
                .group_by(LedgerEntry.order_id)
            ).all()
        )
    assert sorted(buyer for buyer, _ in orders) == sorted(load.orders), "an order lost or doubled"
    assert {order_id for _, order_id in orders} == set(load.orders.values())
    # Every order is posted the same way (one price, one commission rate): as many entries each.
    assert set(entries) == set(load.orders.values()), "an order without its ledger entries"
    assert len(set(entries.values())) <= 1, f"ledger entries per order differ: {entries}"
    env = {**os.environ, "ZHIBO_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    checked = zhibo("ledger", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
