"""Load: the production-mode stack under a realistic mix of requests (issue 10, part 2).

The benchmark starts everything itself, on loopback: a fresh PostgreSQL database (on
``ZHIBO_BENCH_PG_ADMIN_URL``, default 127.0.0.1:5432), a private ``nats-server -js`` on a free
port (so the shared 4222 server's ``ZHIBO`` stream is never touched), ``zhibo events worker``
process(es) and ``zhibo serve --workers N``. The world is seeded: a simulated platform
(``zhibo.sim``) with ``--products`` products is loaded, settled and graded as of yesterday, its
pool indexed; ``--live`` of its latest sessions (one per room) are made live with their shelves
stocked. Tokens: an operator (the ingestion edge), viewers (metric reads and orders), streamers
(pool search and their dashboards).

The asyncio generator (httpx on uvloop) sends an open-loop mix, each class on its own schedule:

- ``events``: viewers' event batches, ``POST /v1/events`` as Arrow IPC of ``--batch`` events
  (enter/leave/like/comment/share/follow/add_to_cart over the live sessions, IPs included), at
  the offered events/s;
- ``search``: ``GET /v1/pool/search``, keyword + category, keyword sorted by sales, category
  by commission, keyword + price range + minimum commission (words from the pool's own titles);
- ``metrics``: ``GET /v1/rooms/{id}/metrics`` of live rooms;
- ``orders``: ``POST /v1/orders`` by viewers, for shelf products of live sessions;
- ``dashboard``: a streamer's ``/grade``, ``/permissions`` and ``/v1/settlement/statements``.

Latency is measured from each request's *scheduled* start (open loop, so a stalled server or a
late generator shows up as latency instead of hiding it); the generator's own lateness is
reported. Events ingested: ``accepted`` summed from the API's answers (queued on JetStream) and
the rate the pipeline applied them (committed metric counters, polled every 0.5 s).

Baselines in the same run, per configuration: idle ``GET /v1/me`` (200 sequential requests)
and ``GET /healthz`` (20) latency, and a bare ingestion-only run (closed loop, 4 posts in
flight, no reads) with the CPU of each part. Before each phase the server must answer quickly
again; one still stalled by the previous phase after 30 s is restarted and warmed (counted).

Step load (``--steps``): the offered event rate rises step by step with the read mix constant;
a step *breaks* when metric-read p99 > 50 ms, search p99 > 100 ms, errors > 1 %, the API accepts
< 95 % of the offered events, or the pipeline applies < 90 % of what the API accepted.

CPU: the generator's own CPU (process time / wall) and every part of the stack's (from
/proc: API processes, pipeline workers, nats-server, all ``postgres`` processes on the machine,
the machine's total) are printed for each phase.

`make bench` runs a short default; longer runs, e.g.:

    .venv/bin/python -m bench.load_mix --repeat 3 --seconds 10 --api-workers 1,2 \\
        --steps 5000,10000,25000,50000,100000 --step-seconds 8 --profile --json /tmp/load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bench.common import PG_ADMIN_URL

CLASSES = ("events", "search", "metrics", "orders", "dashboard")
#: Requests per second of each read/write class (events have their own rate).
DEFAULT_RATES = {"search": 10.0, "metrics": 50.0, "orders": 5.0, "dashboard": 5.0}
#: Break criteria of the step load.
BREAK_METRICS_P99_MS = 50.0
BREAK_SEARCH_P99_MS = 100.0
BREAK_ERROR_SHARE = 0.01
BREAK_ACCEPTED_SHARE = 0.95
BREAK_APPLIED_SHARE = 0.90
EVENT_TYPES = ("enter", "leave", "like", "comment", "share", "follow", "add_to_cart")
EVENT_WEIGHTS = (0.10, 0.08, 0.55, 0.18, 0.03, 0.03, 0.03)
COMMENTS = ("好看", "多少钱", "上链接", "nice", "主播好", "已下单", "这个颜色有吗", "包邮吗")
TEMPLATES = 16
MAX_IN_FLIGHT = 256
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


# --- the seeded world --------------------------------------------------------------------


@dataclass(frozen=True)
class WorldSize:
    products: int = 100_000
    streamers: int = 300
    viewers: int = 40_000
    days: int = 3
    sim_events: int = 100_000
    live: int = 200


@dataclass
class World:
    url: str
    data_dir: Path
    operator: str
    viewers: list[tuple[int, str]]
    streamers: list[tuple[int, str]]
    live: list[tuple[int, int]]  # (session_id, room_id)
    shelf: list[tuple[int, int]]  # (session_id, product_id) on live sessions
    queries: list[dict[str, Any]]
    products: int
    setup_s: float = 0.0


def _create_database(prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", name


def _drop_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def build_world(url: str, data_dir: Path, size: WorldSize, seed: int, work: Path) -> World:
    """Simulate, load, settle, grade and index a platform; make sessions live; issue tokens."""
    from zhibo.catalog.search.analysis import tokens
    from zhibo.catalog.search.indexer import rebuild
    from zhibo.events.lake import lake_root
    from zhibo.grading import service as grading
    from zhibo.kit import migrate
    from zhibo.kit.auth import create_token
    from zhibo.kit.db import make_engine, unit_of_work
    from zhibo.load.service import load_directory
    from zhibo.models import Role
    from zhibo.settlement.run import run_settlement
    from zhibo.sim.generator import generate
    from zhibo.sim.scales import Scale

    started = time.perf_counter()
    scale = Scale(
        name="load",
        products=size.products,
        brands=max(40, size.products // 100),
        streamers=size.streamers,
        partners=max(2, size.streamers // 10),
        viewers=size.viewers,
        days=size.days,
        events_target=size.sim_events,
        tactic_factor=0.3,
    )
    today = datetime.now(UTC).date()
    sim = work / "sim"
    generate(
        seed=seed, scale=scale, out=sim, start=today - timedelta(days=size.days), progress=False
    )
    engine = make_engine(url)
    migrate.upgrade(engine)
    load_directory(engine, sim, progress=False)
    yesterday = today - timedelta(days=1)
    run_settlement(engine, yesterday)
    with unit_of_work(engine) as db:
        grading.run(db, yesterday, lake_root=lake_root(data_dir))
    live = _make_live(engine, size.live)
    rebuild(engine, progress=False, data_dir=data_dir)
    rng = random.Random(seed)
    with unit_of_work(engine) as db:
        operator = create_token(db, Role.OPERATOR, None, "load")[0]
        viewer_ids = [
            int(v)
            for v in db.execute(text("SELECT id FROM viewers ORDER BY id LIMIT 2000")).scalars()
        ]
        viewers = [
            (v, create_token(db, Role.VIEWER, v, "load")[0]) for v in rng.sample(viewer_ids, 20)
        ]
        streamer_ids = [
            int(s)
            for s in db.execute(
                text("SELECT DISTINCT streamer_id FROM live_sessions WHERE status = 'live'")
            ).scalars()
        ]
        streamers = [
            (s, create_token(db, Role.STREAMER, s, "load")[0])
            for s in rng.sample(sorted(streamer_ids), min(20, len(streamer_ids)))
        ]
        shelf = [
            (int(a), int(b))
            for a, b in db.execute(
                text(
                    "SELECT s.session_id, s.product_id FROM shelf_items s "
                    "JOIN live_sessions l ON l.id = s.session_id WHERE l.status = 'live'"
                )
            )
        ]
        sample = db.execute(
            text(
                "SELECT title, category_id, price_fen, commission_rate_bp FROM products "
                "WHERE id IN (SELECT id FROM products ORDER BY random() LIMIT 500)"
            )
        ).all()
    products = int(engine.connect().execute(text("SELECT count(*) FROM products")).scalar() or 0)
    engine.dispose()
    queries = _queries(sample, tokens, rng)
    return World(
        url=url,
        data_dir=data_dir,
        operator=operator,
        viewers=viewers,
        streamers=streamers,
        live=live,
        shelf=shelf,
        queries=queries,
        products=products,
        setup_s=time.perf_counter() - started,
    )


def _make_live(engine: Engine, count: int) -> list[tuple[int, int]]:
    """The latest session of ``count`` rooms (with a shelf) goes live; their products stocked."""
    with engine.begin() as connection:
        rows = connection.execute(
            text(
                "SELECT DISTINCT ON (l.room_id) l.id, l.room_id FROM live_sessions l "
                "WHERE EXISTS (SELECT 1 FROM shelf_items s WHERE s.session_id = l.id) "
                "ORDER BY l.room_id, l.scheduled_start_at DESC"
            )
        ).all()
        chosen = [(int(r[0]), int(r[1])) for r in rows[:count]]
        ids = [s for s, _ in chosen]
        connection.execute(
            text(
                "UPDATE live_sessions SET status = 'live', started_at = now(), ended_at = NULL, "
                "end_reason = NULL, suspended_at = NULL WHERE id = ANY(:ids)"
            ),
            {"ids": ids},
        )
        # Every live session's shelf (the simulation may leave some live itself) in stock.
        connection.execute(
            text(
                "UPDATE products SET stock = 1000000000 WHERE id IN (SELECT s.product_id FROM "
                "shelf_items s JOIN live_sessions l ON l.id = s.session_id "
                "WHERE l.status = 'live')"
            )
        )
        everything = connection.execute(
            text("SELECT id, room_id FROM live_sessions WHERE status = 'live' ORDER BY id")
        ).all()
    return [(int(s), int(r)) for s, r in everything]


def _queries(sample: Any, tokens: Any, rng: random.Random) -> list[dict[str, Any]]:
    """Search requests drawn from sampled products' own words, categories and prices."""
    out: list[dict[str, Any]] = []
    for title, category, price, commission in sample:
        words = [w for w in tokens(title) if len(w) >= 2 and not w.isdigit()] or [title[:2]]
        word = words[rng.randrange(len(words))]
        kind = len(out) % 4
        if kind == 0:
            out.append({"q": word, "category": category, "sort": "relevance"})
        elif kind == 1:
            out.append({"q": word, "category": category, "sort": "sales"})
        elif kind == 2:
            out.append({"category": category, "sort": "commission"})
        else:
            out.append(
                {
                    "q": word,
                    "min_price_fen": price // 2,
                    "max_price_fen": price * 2,
                    "min_commission_bp": max(0, commission - 500),
                }
            )
    return out


# --- the stack -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_port(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _stop(process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Stack:
    work: Path
    env: dict[str, str]
    nats: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    server: subprocess.Popen[bytes] | None = None
    port: int = 0
    api_workers: int = 1
    #: A second ``zhibo serve`` that takes only the event batches (0: one server takes all).
    ingest_workers: int = 0
    ingest_server: subprocess.Popen[bytes] | None = None
    ingest_port: int = 0
    restarts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_base(self) -> str:
        """Where event batches go: the ingestion server if there is one."""
        return f"http://127.0.0.1:{self.ingest_port or self.port}"

    def zhibo(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        handle = (self.work / log).open("ab")
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "zhibo"), *args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )

    def start_server(self, api_workers: int, token: str) -> None:
        self.api_workers = api_workers
        self.port = _free_port()
        self.server = self._serve(self.port, api_workers, token, "serve.log")
        if self.ingest_workers:
            # The same application on another port, that the generator sends only its event
            # batches to (as a proxy would route ``/v1/events``): batches then never queue
            # the reads, which the other server answers.
            self.ingest_port = _free_port()
            self.ingest_server = self._serve(
                self.ingest_port, self.ingest_workers, token, "serve-ingest.log"
            )

    def _serve(self, port: int, workers: int, token: str, log: str) -> subprocess.Popen[bytes]:
        server = self.zhibo("serve", "--port", str(port), "--workers", str(workers), log=log)
        me = f"http://127.0.0.1:{port}/v1/me"
        auth = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(me, headers=auth, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"zhibo serve exited; see {self.work / log}")
            time.sleep(0.1)
        else:
            raise RuntimeError("zhibo serve did not answer /v1/me in 60 s")
        # Every worker process answers (uvicorn spreads connections over them).
        for _ in range(10 * workers):
            httpx.get(me, headers=auth, timeout=10)
        return server

    def stop_server(self) -> None:
        if self.server is not None:
            _stop(self.server)
            self.server = None
        if self.ingest_server is not None:
            _stop(self.ingest_server)
            self.ingest_server = None
            self.ingest_port = 0

    def pids(self) -> dict[str, list[int]]:
        api = []
        for server in (self.server, self.ingest_server):
            if server is not None:
                api += [server.pid, *_children(server.pid)]
        return {
            "api": api,
            "pipeline": [w.pid for w in self.workers],
            "nats": [self.nats.pid] if self.nats else [],
            "postgres": _postgres_pids(),
        }


@contextmanager
def stack(world: World, work: Path, pipeline_workers: int) -> Iterator[Stack]:
    nats_port = _free_port()
    store = work / "nats"
    store.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ZHIBO_")},
        "ZHIBO_DATABASE_URL": world.url,
        "ZHIBO_BUS_URL": f"nats://127.0.0.1:{nats_port}",
        "ZHIBO_DATA_DIR": str(world.data_dir),
        "ZHIBO_MAX_REQUEST_BYTES": str(64 * 1024 * 1024),
        "POLARS_MAX_THREADS": "1",
        # Rate limits (issue 10, security) must not throttle the load generator.
        "ZHIBO_RATE_LIMIT_ENABLED": "false",
        "ZHIBO_MAX_BATCH_EVENTS": "1000000",
    }
    result = Stack(work=work, env=env)
    nats_log = (work / "nats.log").open("ab")
    result.nats = subprocess.Popen(
        [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-sd", str(store)],
        stdout=nats_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_port(nats_port)
        for index in range(pipeline_workers):
            result.workers.append(
                result.zhibo(
                    "events",
                    "worker",
                    "--index",
                    str(index),
                    "--of",
                    str(pipeline_workers),
                    log=f"worker{index}.log",
                )
            )
        yield result
    finally:
        result.stop_server()
        for process in result.workers:
            _stop(process)
        _stop(result.nats)


# --- CPU accounting from /proc ------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found = (task / "children").read_text().split()
            for child in found:
                out.append(int(child))
                out.extend(_children(int(child)))
    except OSError:
        pass
    return out


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _per_pid(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
        except (OSError, IndexError):
            continue
    return out


def _machine_busy() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


class CpuMeter:
    """CPU used by each part of the stack (and this process) between start and stop, in cores."""

    def __init__(self, the_stack: Stack) -> None:
        self.stack = the_stack

    def __enter__(self) -> CpuMeter:
        self.groups = self.stack.pids()
        self.before = {name: _per_pid(p) for name, p in self.groups.items()}
        self.busy0, self.total0 = _machine_busy()
        self.own0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self.wall0
        self.cores = {}
        for name, before in self.before.items():
            # Processes present at both ends (PostgreSQL backends come and go).
            after = _per_pid(list(before))
            used = sum(after[pid] - before[pid] for pid in after if pid in before)
            self.cores[name] = max(0.0, used) / wall
        self.cores["generator"] = (time.process_time() - self.own0) / wall
        busy, total = _machine_busy()
        ncpu = os.cpu_count() or 1
        self.cores["machine"] = (busy - self.busy0) / max(total - self.total0, 1e-9) * ncpu
        known = sum(v for k, v in self.cores.items() if k != "machine")
        self.cores["other"] = max(0.0, self.cores["machine"] - known)


# --- the load ------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.array(values), q))


@dataclass
class ClassStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    skipped: int = 0
    lateness: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def summary(self, seconds: float) -> dict[str, float]:
        done = len(self.latencies)
        total = done + self.errors + self.skipped
        return {
            "requests": total,
            "per_s": done / seconds,
            "p50_ms": 1000 * _percentile(self.latencies, 50),
            "p99_ms": 1000 * _percentile(self.latencies, 99),
            "errors": self.errors + self.skipped,
            "error_share": (self.errors + self.skipped) / total if total else 0.0,
            "late_p99_ms": 1000 * _percentile(self.lateness, 99),
        }


class EventBodies:
    """Arrow IPC batches for the live sessions: templates with fresh event ids and times."""

    def __init__(self, world: World, batch: int, seed: int) -> None:
        from zhibo.events.validation import encode_ipc

        self.encode = encode_ipc
        self.batch = batch
        self.run = uuid.uuid4().hex[:10]
        self.sent = 0
        rng = np.random.default_rng(seed)
        live = np.array(world.live, dtype=np.int64)
        products = np.array([p for _, p in world.shelf] or [1], dtype=np.int64)
        self.templates: list[pa.Table] = []
        for _ in range(TEMPLATES):
            which = rng.integers(0, len(live), batch)
            kinds = rng.choice(len(EVENT_TYPES), batch, p=EVENT_WEIGHTS)
            kind_names = np.array(EVENT_TYPES, dtype=object)[kinds]
            users = rng.integers(1, 2_000_000, batch)
            said = rng.integers(0, len(COMMENTS), batch)
            comment = EVENT_TYPES.index("comment")
            texts = [
                COMMENTS[w] if k == comment else None for k, w in zip(kinds, said, strict=True)
            ]
            product = np.where(
                kinds == EVENT_TYPES.index("add_to_cart"),
                products[rng.integers(0, len(products), batch)],
                0,
            )
            self.templates.append(
                pa.table(
                    {
                        "event_id": pa.nulls(batch, pa.string()),
                        "session_id": pa.array(live[which, 0]),
                        "room_id": pa.array(live[which, 1]),
                        "user_id": pa.array(users),
                        "device_id": pa.array([f"d{u % 500_000}" for u in users]),
                        "ip": pa.array(
                            [f"10.{(u >> 16) & 255}.{(u >> 8) & 255}.{u & 255}" for u in users]
                        ),
                        "type": pa.array(kind_names.tolist(), pa.string()),
                        "ts": pa.nulls(batch, pa.timestamp("ms", tz="UTC")),
                        "text": pa.array(texts, pa.string()),
                        "count": pa.nulls(batch, pa.int32()),
                        "product_id": pa.array(product, mask=product == 0),
                        "amount_fen": pa.nulls(batch, pa.int64()),
                        "gift_id": pa.nulls(batch, pa.int64()),
                    }
                )
            )
        self.offsets = np.sort(rng.integers(0, 1000, batch))

    def next(self) -> bytes:
        table = self.templates[(self.sent // self.batch) % TEMPLATES]
        start = self.sent
        self.sent += self.batch
        ids = pc.binary_join_element_wise(
            pa.array(np.full(self.batch, self.run, dtype=object).tolist(), pa.string()),
            pc.cast(pa.array(np.arange(start, start + self.batch)), pa.string()),
            "-",
        )
        now_ms = int(time.time() * 1000)
        ts = pa.array(now_ms + self.offsets).cast(pa.timestamp("ms", tz="UTC"))
        table = table.set_column(0, "event_id", ids).set_column(7, "ts", ts)
        return bytes(self.encode(table))


class AppliedPoller:
    """Events the pipeline has committed (sum of the metric counters), polled in a thread."""

    SQL = text(
        "SELECT coalesce(sum(enters + leaves + likes + comments + shares + follows "
        "+ add_to_carts + orders + gifts), 0) FROM event_session_metrics"
    )

    def __init__(self, url: str) -> None:
        from zhibo.kit.db import make_engine

        self.engine = make_engine(url)
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def value(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(self.SQL).scalar() or 0)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), self.value()))
            self.stop.wait(0.5)

    def __enter__(self) -> AppliedPoller:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self.engine.dispose()

    def at(self, moment: float) -> int:
        before = [v for t, v in self.samples if t <= moment]
        return before[-1] if before else (self.samples[0][1] if self.samples else 0)


@dataclass
class PhaseResult:
    seconds: float
    offered_events_per_s: float
    accepted_per_s: float
    applied_per_s: float
    backlog_after: int
    classes: dict[str, dict[str, float]]
    cpu: dict[str, float]
    errors: list[str]


class Generator:
    def __init__(
        self, world: World, base: str, batch: int, seed: int, events_base: str | None = None
    ) -> None:
        self.world = world
        self.base = base
        self.events_base = events_base or base
        self.batch = batch
        self.rng = random.Random(seed)
        self.bodies = EventBodies(world, batch, seed)

    async def __aenter__(self) -> Generator:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.reads = httpx.AsyncClient(base_url=self.base, limits=limits, timeout=10)
        self.writes = httpx.AsyncClient(base_url=self.base, limits=limits, timeout=30)
        self.events = httpx.AsyncClient(base_url=self.events_base, limits=limits, timeout=30)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.reads.aclose()
        await self.writes.aclose()
        await self.events.aclose()

    def _request(self, kind: str) -> tuple[httpx.AsyncClient, str, str, dict[str, Any]]:
        world, rng = self.world, self.rng
        if kind == "events":
            body = self.bodies.next()
            headers = {
                "Authorization": f"Bearer {world.operator}",
                "Content-Type": "application/vnd.apache.arrow.stream",
            }
            return self.events, "POST", "/v1/events", {"content": body, "headers": headers}
        if kind == "search":
            _, token = rng.choice(world.streamers)
            params = rng.choice(world.queries)
            auth = {"Authorization": f"Bearer {token}"}
            return self.reads, "GET", "/v1/pool/search", {"params": params, "headers": auth}
        if kind == "metrics":
            _, token = rng.choice(world.viewers)
            _, room = rng.choice(world.live)
            auth = {"Authorization": f"Bearer {token}"}
            return self.reads, "GET", f"/v1/rooms/{room}/metrics", {"headers": auth}
        if kind == "orders":
            _, token = rng.choice(world.viewers)
            session, product = rng.choice(world.shelf)
            return (
                self.writes,
                "POST",
                "/v1/orders",
                {
                    "json": {"session_id": session, "product_id": product, "quantity": 1},
                    "headers": {"Authorization": f"Bearer {token}"},
                },
            )
        streamer, token = rng.choice(world.streamers)
        path = rng.choice(
            (
                f"/v1/streamers/{streamer}/grade",
                f"/v1/streamers/{streamer}/permissions",
                "/v1/settlement/statements",
            )
        )
        return self.reads, "GET", path, {"headers": {"Authorization": f"Bearer {token}"}}

    async def _one(
        self, kind: str, scheduled: float, stats: ClassStats, accepted: list[int]
    ) -> None:
        client, method, path, kwargs = self._request(kind)
        stats.lateness.append(max(0.0, time.perf_counter() - scheduled))
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            stats.errors += 1
            if len(stats.error_samples) < 3:
                stats.error_samples.append(f"{kind}: {type(error).__name__} {error}")
            return
        finished = time.perf_counter()
        if response.status_code >= 400:
            stats.errors += 1
            if len(stats.error_samples) < 3:
                stats.error_samples.append(
                    f"{kind} {path}: {response.status_code} {response.text[:200]}"
                )
            return
        stats.latencies.append(finished - scheduled)
        if kind == "events":
            accepted.append(int(orjson.loads(response.content)["accepted"]))

    async def _schedule(
        self, kind: str, rate: float, until: float, stats: ClassStats, accepted: list[int]
    ) -> None:
        if rate <= 0:
            return
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        i = 0
        while True:
            scheduled = start + i / rate
            if scheduled >= until:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            i += 1
            if len(tasks) >= MAX_IN_FLIGHT:
                stats.skipped += 1
                if stats.skipped == 1:
                    stats.error_samples.append(f"{kind}: {MAX_IN_FLIGHT} in flight, skipped")
                continue
            task = asyncio.create_task(self._one(kind, scheduled, stats, accepted))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)

    async def mix(
        self, seconds: float, event_rate: float, rates: dict[str, float]
    ) -> tuple[dict[str, ClassStats], int, float]:
        """Open loop; returns per-class stats, events accepted and the wall time."""
        stats = {kind: ClassStats() for kind in CLASSES}
        accepted: list[int] = []
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            self._schedule("events", event_rate / self.batch, until, stats["events"], accepted),
            *(self._schedule(k, rates.get(k, 0), until, stats[k], accepted) for k in CLASSES[1:]),
        )
        return stats, sum(accepted), time.perf_counter() - started

    async def ingest_only(self, seconds: float, in_flight: int = 4) -> tuple[int, float]:
        """Closed loop: ``in_flight`` event posts at a time, as fast as the server answers."""
        stats = ClassStats()
        accepted: list[int] = []
        started = time.perf_counter()
        until = started + seconds

        async def loop() -> None:
            while time.perf_counter() < until:
                await self._one("events", time.perf_counter(), stats, accepted)

        await asyncio.gather(*(loop() for _ in range(in_flight)))
        if stats.errors:
            print(f"  ingestion-only errors: {stats.errors} {stats.error_samples}")
        return sum(accepted), time.perf_counter() - started

    async def idle(self, path: str, count: int) -> tuple[float, float]:
        """Sequential GETs of ``path`` (one at a time): p50 and p99 in ms."""
        times = []
        auth = {"Authorization": f"Bearer {self.world.operator}"}
        for _ in range(count):
            started = time.perf_counter()
            try:
                response = await self.reads.get(path, headers=auth)
                response.raise_for_status()
            except httpx.HTTPError:
                continue
            times.append(time.perf_counter() - started)
        return 1000 * _percentile(times, 50), 1000 * _percentile(times, 99)


def _run_async(coroutine: Any) -> Any:
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coroutine)
    except ImportError:
        return asyncio.run(coroutine)


def run_phase(
    the_stack: Stack,
    world: World,
    generator_args: tuple[int, int],
    seconds: float,
    event_rate: float,
    rates: dict[str, float],
    drain_s: float = 0.0,
    profile: Path | None = None,
) -> PhaseResult:
    batch, seed = generator_args
    settle(the_stack, world)
    spy = None
    if profile is not None:
        spy = _py_spy(the_stack, profile, seconds)
    with AppliedPoller(world.url) as poller:
        applied0 = poller.value()
        with CpuMeter(the_stack) as meter:

            async def go() -> tuple[dict[str, ClassStats], int, float]:
                async with Generator(
                    world, the_stack.base, batch, seed, the_stack.events_base
                ) as generator:
                    return await generator.mix(seconds, event_rate, rates)

            t0 = time.perf_counter()
            stats, accepted, wall = _run_async(go())
            t1 = t0 + wall
        time.sleep(0.6)  # one more poll after the window
        applied = poller.at(t1) - applied0
        backlog = accepted - (poller.value() - applied0)
        if drain_s:
            deadline = time.perf_counter() + drain_s
            while time.perf_counter() < deadline and poller.value() - applied0 < accepted:
                time.sleep(0.5)
    if spy is not None:
        spy.wait(timeout=120)
    errors = [e for s in stats.values() for e in s.error_samples]
    return PhaseResult(
        seconds=wall,
        offered_events_per_s=event_rate,
        accepted_per_s=accepted / wall,
        applied_per_s=applied / wall,
        backlog_after=max(0, backlog),
        classes={k: s.summary(wall) for k, s in stats.items()},
        cpu=meter.cores,
        errors=errors,
    )


def settle(the_stack: Stack, world: World, seconds: float = 30.0) -> None:
    """Wait until the server answers ``/v1/me`` quickly 3 times in a row (the queue left by a
    previous phase drained); a server still stalled after ``seconds`` is restarted (counted in
    ``the_stack.restarts``), so that one phase's collapse does not leak into the next."""
    if not _quick(the_stack.base, world.operator, seconds):
        print("  (server still stalled by the previous phase: restarted)", flush=True)
        the_stack.restarts += 1
        the_stack.stop_server()
        the_stack.start_server(the_stack.api_workers, world.operator)
        warm(the_stack, world)


def warm(the_stack: Stack, world: World) -> None:
    """Every request kind a few times per API process, one at a time: first-use costs (the
    risk detectors imported by the first order, the index opened by the first search, the
    sessions looked up by the first batch) are paid before anything is measured."""

    async def go() -> None:
        async with Generator(world, the_stack.base, 500, 1, the_stack.events_base) as generator:
            for _ in range(4 * the_stack.api_workers):
                for kind in CLASSES:
                    await generator._one(kind, time.perf_counter(), ClassStats(), [])

    _run_async(go())


def _quick(base: str, token: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    quick = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        while quick < 3 and time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                client.get("/v1/me", timeout=10).raise_for_status()
                quick = quick + 1 if time.perf_counter() - started < 0.05 else 0
            except httpx.HTTPError:
                quick = 0
            time.sleep(0.2)
    return quick >= 3


def _py_spy(the_stack: Stack, out: Path, seconds: float) -> subprocess.Popen[bytes] | None:
    """Sample one API worker process (the first child of ``zhibo serve``) with py-spy."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    assert the_stack.server is not None
    workers = _children(the_stack.server.pid)
    pids = [p for p in workers if "multiprocessing" in _cmdline(p)] or workers
    target = pids[0] if pids else the_stack.server.pid
    if not Path(spy).exists():
        print("py-spy not installed: no profile")
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(target),
            "--duration",
            str(int(seconds)),
            "--rate",
            "100",
            "--format",
            "raw",
            "--nonblocking",
            "--threads",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def profile_summary(path: Path, top: int = 25) -> list[str]:
    """Where one API worker's samples went: inclusive share of the heaviest zhibo / library
    functions (collapsed stacks from ``py-spy record --format raw``)."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        total += count
        seen = set()
        for frame in frames:
            name = frame.split(" (")[0]
            where = frame.split(" (")[1].rstrip(")") if " (" in frame else ""
            key = f"{name} ({where.split(':')[0]})"
            if key in seen:
                continue
            seen.add(key)
            inclusive[key] = inclusive.get(key, 0) + count
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    wanted = [kv for kv in ranked if "zhibo/" in kv[0] or "site-packages" in kv[0]]
    return [f"{100 * c / max(total, 1):5.1f}%  {k}" for k, c in wanted[:top]]


def baselines(
    the_stack: Stack, world: World, batch: int, seconds: float, healthz_count: int = 200
) -> dict[str, float]:
    settle(the_stack, world)
    meter = CpuMeter(the_stack)
    with AppliedPoller(world.url) as poller:

        async def go() -> tuple[Any, Any, tuple[int, float]]:
            async with Generator(
                world, the_stack.base, batch, 99, the_stack.events_base
            ) as generator:
                me = await generator.idle("/v1/me", healthz_count)
                health = await generator.idle("/healthz", max(5, healthz_count // 10))
                with meter:
                    ingested = await generator.ingest_only(seconds)
                return me, health, ingested

        me, health, (accepted, wall) = _run_async(go())
        # The ingestion window is the last `wall` seconds.
        t1 = time.perf_counter()
        t_start = t1 - wall
        time.sleep(0.6)
        applied = poller.at(t1) - poller.at(t_start)
    figures = {
        "me_p50_ms": me[0],
        "me_p99_ms": me[1],
        "healthz_p50_ms": health[0],
        "healthz_p99_ms": health[1],
        "ingest_only_accepted_per_s": accepted / wall,
        "ingest_only_applied_per_s": applied / wall,
    }
    # CPU (cores) of each part while ingesting only.
    figures.update({f"ingest_only_cores_{k}": v for k, v in meter.cores.items()})
    return figures


def broken(result: PhaseResult) -> list[str]:
    """Which break criteria a step meets (empty: it held)."""
    why = []
    c = result.classes
    if c["metrics"]["p99_ms"] > BREAK_METRICS_P99_MS:
        why.append(f"metrics p99 {c['metrics']['p99_ms']:.0f} ms > {BREAK_METRICS_P99_MS:.0f}")
    if c["search"]["p99_ms"] > BREAK_SEARCH_P99_MS:
        why.append(f"search p99 {c['search']['p99_ms']:.0f} ms > {BREAK_SEARCH_P99_MS:.0f}")
    requests = sum(v["requests"] for v in c.values())
    errors = sum(v["errors"] for v in c.values())
    if requests and errors / requests > BREAK_ERROR_SHARE:
        why.append(f"errors {100 * errors / requests:.1f}% > 1%")
    if result.accepted_per_s < BREAK_ACCEPTED_SHARE * result.offered_events_per_s:
        why.append(
            f"accepted {result.accepted_per_s:,.0f}/s < 95% of {result.offered_events_per_s:,.0f}"
        )
    if result.applied_per_s < BREAK_APPLIED_SHARE * result.accepted_per_s:
        why.append(f"pipeline applied {result.applied_per_s:,.0f}/s < 90% of accepted")
    return why


# --- reporting -----------------------------------------------------------------------------


def _median_phase(results: list[PhaseResult]) -> dict[str, Any]:
    med = statistics.median
    return {
        "runs": len(results),
        "accepted_per_s": med(r.accepted_per_s for r in results),
        "applied_per_s": med(r.applied_per_s for r in results),
        "backlog_after": med(r.backlog_after for r in results),
        "classes": {
            k: {
                m: med(r.classes[k][m] for r in results)
                for m in ("per_s", "p50_ms", "p99_ms", "errors", "late_p99_ms")
            }
            for k in CLASSES
        },
        "cpu": {k: med(r.cpu[k] for r in results) for k in results[0].cpu},
        "errors": sorted({e for r in results for e in r.errors})[:6],
    }


def _print_phase(label: str, figures: dict[str, Any]) -> None:
    print(
        f"{label}: events accepted {figures['accepted_per_s']:,.0f}/s, pipeline applied "
        f"{figures['applied_per_s']:,.0f}/s (backlog after: {figures['backlog_after']:,.0f})",
        flush=True,
    )
    for kind in CLASSES:
        f = figures["classes"][kind]
        print(
            f"  {kind:<10} {f['per_s']:8.1f} req/s  p50 {f['p50_ms']:7.1f} ms  "
            f"p99 {f['p99_ms']:7.1f} ms  errors {f['errors']:.0f}  "
            f"(generator late p99 {f['late_p99_ms']:.1f} ms)"
        )
    cpu = figures["cpu"]
    parts = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    print(f"  CPU cores used: {parts}")
    for error in figures["errors"]:
        print(f"  error sample: {error}")


def run(
    size: WorldSize,
    api_workers: list[int],
    pipeline_workers: int,
    repeat: int,
    seconds: float,
    event_rate: float,
    rates: dict[str, float],
    batch: int,
    steps: list[float],
    step_seconds: float,
    seed: int = 5,
    keep: bool = False,
    warmup_s: float = 2.0,
    healthz_count: int = 200,
    drain_s: float = 10.0,
    ingest_s: float = 5.0,
    profile: bool = False,
    ingest_workers: int = 0,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="zhibo-load-"))
    url, name = _create_database("zhibo_load")
    report: dict[str, Any] = {"configs": {}}
    try:
        world = build_world(url, work / "data", size, seed, work)
        print(
            f"world: {world.products:,} products (indexed), {len(world.live)} live sessions, "
            f"{len(world.shelf):,} shelf items, {len(world.streamers)} streamer and "
            f"{len(world.viewers)} viewer tokens; set up in {world.setup_s:.0f} s",
            flush=True,
        )
        report["world"] = {"products": world.products, "live": len(world.live)}
        with stack(world, work, pipeline_workers) as the_stack:
            the_stack.ingest_workers = ingest_workers
            for n in api_workers:
                up = time.perf_counter()
                the_stack.start_server(n, world.operator)
                print(f"zhibo serve --workers {n}: up in {time.perf_counter() - up:.1f} s")
                if ingest_workers:
                    print(
                        f"  and a second zhibo serve --workers {ingest_workers} that takes "
                        f"only POST /v1/events",
                        flush=True,
                    )
                warm(the_stack, world)
                config: dict[str, Any] = {}
                try:
                    # Warm-up: caches, connections, the index opened in every worker.
                    run_phase(the_stack, world, (batch, seed), warmup_s, event_rate / 4, rates)
                    base_runs, mix_runs = [], []
                    for rep in range(repeat):
                        base_runs.append(
                            baselines(the_stack, world, batch, ingest_s, healthz_count)
                        )
                        result = run_phase(
                            the_stack,
                            world,
                            (batch, seed + rep),
                            seconds,
                            event_rate,
                            rates,
                            drain_s=drain_s,
                            profile=work / f"profile-{n}.txt" if profile and rep == 0 else None,
                        )
                        mix_runs.append(result)
                        print(
                            f"[{n} API worker(s), run {rep + 1}/{repeat}] accepted "
                            f"{result.accepted_per_s:,.0f}/s applied {result.applied_per_s:,.0f}/s"
                            f", search p99 {result.classes['search']['p99_ms']:.0f} ms, "
                            f"metrics p99 {result.classes['metrics']['p99_ms']:.0f} ms",
                            flush=True,
                        )
                    base = {k: statistics.median(b[k] for b in base_runs) for k in base_runs[0]}
                    config["baseline"] = base
                    config["mix"] = _median_phase(mix_runs)
                    print(
                        f"\n== {n} API worker(s), {pipeline_workers} pipeline worker(s), "
                        f"median of {repeat} ==",
                        flush=True,
                    )
                    print(
                        f"baseline: idle GET /v1/me p50 {base['me_p50_ms']:.2f} ms, p99 "
                        f"{base['me_p99_ms']:.2f} ms; idle GET /healthz p50 "
                        f"{base['healthz_p50_ms']:.1f} ms; ingestion only (4 posts of "
                        f"{batch:,} in flight): accepted "
                        f"{base['ingest_only_accepted_per_s']:,.0f} events/s, pipeline applied "
                        f"{base['ingest_only_applied_per_s']:,.0f}/s; CPU cores: "
                        + ", ".join(
                            f"{k.rsplit('_', 1)[1]} {v:.2f}"
                            for k, v in base.items()
                            if k.startswith("ingest_only_cores_")
                        )
                    )
                    _print_phase(
                        f"mix at {event_rate:,.0f} events/s offered for {seconds:.0f} s",
                        config["mix"],
                    )
                    spied = work / f"profile-{n}.txt"
                    if profile and spied.exists():
                        lines = profile_summary(spied)
                        config["profile"] = lines
                        print("py-spy, one API worker during the first mix run (inclusive):")
                        for line in lines:
                            print(f"  {line}")
                    if steps:
                        config["steps"] = _step_load(
                            the_stack, world, batch, seed, steps, step_seconds, rates
                        )
                finally:
                    the_stack.stop_server()
                config["restarts"] = the_stack.restarts
                if the_stack.restarts:
                    print(f"server restarts after stalled phases: {the_stack.restarts}")
                the_stack.restarts = 0
                report["configs"][str(n)] = config
    finally:
        _drop_database(name)
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _step_load(
    the_stack: Stack,
    world: World,
    batch: int,
    seed: int,
    steps: list[float],
    seconds: float,
    rates: dict[str, float],
) -> dict[str, Any]:
    rows = []
    held: float | None = None
    breaking: float | None = None
    print(f"step load ({seconds:.0f} s per step; the read mix constant):")
    for rate in steps:
        result = run_phase(the_stack, world, (batch, seed), seconds, rate, rates, drain_s=30.0)
        why = broken(result)
        c = result.classes
        print(
            f"  offered {rate:>9,.0f} ev/s: accepted {result.accepted_per_s:>9,.0f}, applied "
            f"{result.applied_per_s:>9,.0f}; p99 search {c['search']['p99_ms']:6.0f} ms, "
            f"metrics {c['metrics']['p99_ms']:6.0f} ms, orders {c['orders']['p99_ms']:6.0f} ms, "
            f"events {c['events']['p99_ms']:6.0f} ms; generator "
            f"{result.cpu['generator']:.2f} cores, machine {result.cpu['machine']:.2f}"
            + (f"  BROKEN: {'; '.join(why)}" if why else ""),
            flush=True,
        )
        rows.append({"offered": rate, "why": why, **result.__dict__})
        if why:
            breaking = rate
            break
        held = rate
    if breaking is None:
        print(f"  break point: not reached (held up to {held:,.0f} events/s offered)")
    else:
        last = f"{held:,.0f}" if held is not None else "none of the steps"
        print(f"  break point: {breaking:,.0f} events/s offered; last step that held: {last}")
    return {"rows": rows, "held": held, "broke_at": breaking}


def main() -> None:
    """`make bench`: a short run (1 and 2 API workers, 1 repetition, short steps)."""
    if not Path(NATS_SERVER).exists():
        print("nats-server not found: skipped")
        return
    run(
        WorldSize(),
        api_workers=[1, 2],
        pipeline_workers=1,
        repeat=1,
        seconds=8.0,
        event_rate=100_000,
        rates=DEFAULT_RATES,
        batch=5_000,
        steps=[10_000, 25_000, 50_000, 100_000],
        step_seconds=6.0,
    )


def _floats(value: str) -> list[float]:
    return [float(v) for v in value.split(",") if v.strip()]


def cli(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=WorldSize.products)
    parser.add_argument("--streamers", type=int, default=WorldSize.streamers)
    parser.add_argument("--viewers", type=int, default=WorldSize.viewers)
    parser.add_argument("--days", type=int, default=WorldSize.days)
    parser.add_argument("--sim-events", type=int, default=WorldSize.sim_events)
    parser.add_argument("--live", type=int, default=WorldSize.live, help="Live sessions")
    parser.add_argument("--api-workers", default="1,2", help="Comma-separated, e.g. 1,2")
    parser.add_argument("--pipeline-workers", type=int, default=1)
    parser.add_argument(
        "--ingest-workers",
        type=int,
        default=0,
        help="Send event batches to a second zhibo serve of this many workers (0: one server)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="Per mix run")
    parser.add_argument("--event-rate", type=float, default=100_000, help="Offered events/s")
    parser.add_argument("--batch", type=int, default=5_000, help="Events per request")
    for kind, rate in DEFAULT_RATES.items():
        parser.add_argument(f"--{kind}-rate", type=float, default=rate, help="Requests/s")
    parser.add_argument("--steps", default="", help="Offered events/s per step, e.g. 25000,50000")
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path, help="Write the figures here")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory (logs)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy one API worker during the first mix run"
    )
    args = parser.parse_args(argv)
    size = WorldSize(
        products=args.products,
        streamers=args.streamers,
        viewers=args.viewers,
        days=args.days,
        sim_events=args.sim_events,
        live=args.live,
    )
    print(
        f"load_mix on {date.today()} at {datetime.now(UTC):%H:%M} UTC, load average "
        f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs; argv: {' '.join(sys.argv[1:])}",
        flush=True,
    )
    report = run(
        size,
        api_workers=[int(v) for v in args.api_workers.split(",")],
        pipeline_workers=args.pipeline_workers,
        repeat=args.repeat,
        seconds=args.seconds,
        event_rate=args.event_rate,
        rates={k: getattr(args, f"{k}_rate") for k in DEFAULT_RATES},
        batch=args.batch,
        steps=_floats(args.steps),
        step_seconds=args.step_seconds,
        seed=args.seed,
        keep=args.keep,
        profile=args.profile,
        ingest_workers=args.ingest_workers,
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return report


if __name__ == "__main__":
    cli()
