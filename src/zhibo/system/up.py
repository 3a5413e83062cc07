"""``zhibo up``: a production-mode stack on this machine, as child processes: the API
(``zhibo serve --workers N``), the pipeline workers, and the risk, grading and settlement
workers; all on the configured PostgreSQL and NATS (it refuses SQLite and the in-process bus).

Each child runs in its own process group, so a terminal's Ctrl-C reaches ``zhibo up`` only, and
it forwards SIGTERM to each child; a child still running after the grace period is killed, with
everything in its group (the API's worker processes). On Linux the children also get SIGTERM if
``zhibo up`` itself dies. When any child exits by itself, the others are stopped too: the stack
runs whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from zhibo.config import Settings
from zhibo.kit.metrics import MULTIPROC_ENV


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Stack:
    children: list[Child]
    env: dict[str, str]
    grace_seconds: float = 20.0
    stopping: bool = False
    exit_code: int = 0
    say: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))

    def start(self) -> None:
        for child in self.children:
            child.process = subprocess.Popen(
                child.argv,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        if not self.stopping:
            self.say(f"{signal.Signals(signum).name}: stopping the stack")
        self.stopping = True

    def wait(self, poll_seconds: float = 0.2) -> int:
        """Until a signal, or until a child exits by itself; then stop every child."""
        while not self.stopping:
            for child in self.children:
                assert child.process is not None
                code = child.process.poll()
                if code is not None:
                    self.say(f"{child.name} (pid {child.process.pid}) exited with {code}")
                    self.exit_code = 1
                    self.stopping = True
                    break
            else:
                time.sleep(poll_seconds)
        self.stop()
        return self.exit_code

    def stop(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} (pid {child.process.pid}) did not stop: killed")
                self.exit_code = self.exit_code or 1
        for child in self.children:
            # Whatever is left in a child's group (the API's worker processes) goes too.
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def refusal(settings: Settings) -> str | None:
    """Why the stack cannot run on these settings (None: it can)."""
    if settings.is_sqlite or not settings.effective_database_url.startswith("postgresql"):
        return (
            "zhibo up runs the production stack on PostgreSQL: set "
            "ZHIBO_DATABASE_URL=postgresql+psycopg://user@host/db (the embedded SQLite default "
            "needs only `zhibo serve`)"
        )
    if not settings.bus_url.startswith(("nats://", "tls://")):
        return (
            "zhibo up needs NATS JetStream: set ZHIBO_BUS_URL=nats://host:4222 (the in-process "
            "bus needs only `zhibo serve`)"
        )
    return None


def plan(
    *, host: str, port: int, api_workers: int, pipeline_workers: int, python: str = sys.executable
) -> list[Child]:
    zhibo = [python, "-m", "zhibo.cli"]
    serve = ["serve", "--host", host, "--port", str(port), "--workers", str(api_workers)]
    children = [Child("api", [*zhibo, *serve])]
    for index in range(pipeline_workers):
        pipeline = ["worker", "pipeline", "--index", str(index), "--of", str(pipeline_workers)]
        children.append(Child(f"pipeline-{index}", [*zhibo, *pipeline]))
    for name in ("risk", "grading", "settlement"):
        children.append(Child(name, [*zhibo, "worker", name]))
    return children


def metrics_directory(settings: Settings, env: dict[str, str]) -> Path:
    """The shared multiprocess-metrics directory (``PROMETHEUS_MULTIPROC_DIR``, default
    ``{data_dir}/metrics``), emptied of an earlier run's files."""
    directory = Path(env.get(MULTIPROC_ENV) or Path(settings.data_dir).resolve() / "metrics")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    return directory


def run(
    settings: Settings,
    *,
    host: str,
    port: int,
    api_workers: int,
    pipeline_workers: int,
    grace_seconds: float,
    say: Callable[[str], None],
) -> int:
    from sqlalchemy.engine import make_url

    env = dict(os.environ)
    env[MULTIPROC_ENV] = str(metrics_directory(settings, env))
    children = plan(
        host=host, port=port, api_workers=api_workers, pipeline_workers=pipeline_workers
    )
    stack = Stack(children, env, grace_seconds=grace_seconds, say=say)
    signal.signal(signal.SIGINT, stack.request_stop)
    signal.signal(signal.SIGTERM, stack.request_stop)
    stack.start()
    base = f"http://{host}:{port}"
    database = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    say(f"zhibo up (pid {os.getpid()}): a production-mode stack of {len(children)} processes")
    say(f"  API        {base}  ({api_workers} worker processes; pid {children[0].process.pid})")  # type: ignore[union-attr]
    say(f"             {base}/docs  {base}/healthz  {base}/readyz  {base}/metrics")
    for child in children[1:]:
        say(f"  {child.name:<10} pid {child.process.pid}  ({' '.join(child.argv[3:])})")  # type: ignore[union-attr]
    say(f"  database   {database}")
    say(f"  bus        {settings.bus_url}")
    say(f"  data       {Path(settings.data_dir).resolve()}")
    say(f"  metrics    {MULTIPROC_ENV}={env[MULTIPROC_ENV]} (every process; /metrics sums them)")
    say("  logs       below, from every process; Ctrl-C (or SIGTERM) stops the stack")
    return stack.wait()
