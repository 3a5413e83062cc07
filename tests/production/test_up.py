"""``zhibo up``: the production-mode stack on PostgreSQL and NATS as child processes; ready
(``/readyz`` 200) with the API's workers behind it, and after SIGTERM no process of it is left.
It refuses SQLite and the in-process bus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.production.conftest import alive, descendants, free_port
from zhibo.config import Settings, get_settings
from zhibo.system.up import plan, refusal

DEADLINE_S = 45  # the machine may be busy: every child imports zhibo (cold, ~1-2 s idle)


@pytest.mark.postgres
def test_up_starts_the_stack_and_sigterm_leaves_no_process(
    pg_database: str, nats_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ZHIBO_DATABASE_URL": pg_database,
        "ZHIBO_BUS_URL": nats_url,
        "ZHIBO_DATA_DIR": str(tmp_path / "data"),
        "ZHIBO_LOG_FORMAT": "json",
        # The jobs' first iterations wait for their hour: the stack only starts here.
        "ZHIBO_GRADING_HOUR_UTC": "23",
        "ZHIBO_SETTLEMENT_HOUR_UTC": "23",
        "ZHIBO_EVENTS_PARTITIONS": "2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "up.log").open("w+")
    command = [sys.executable, "-m", "zhibo.cli", "up", "--port", str(port), "--workers", "2"]
    up = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    base = f"http://127.0.0.1:{port}"
    try:
        ready = None
        while time.monotonic() - started < DEADLINE_S:
            assert up.poll() is None, Path(log.name).read_text()
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, Path(log.name).read_text()
        assert ready.json()["checks"]["nats"] == "ok"
        me = httpx.get(f"{base}/v1/me", headers={"X-Request-ID": "up-test-1"}, timeout=5)
        assert me.status_code == 401 and me.headers["X-Request-ID"] == "up-test-1"
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200 and "zhibo_http_requests_total" in metrics.text
        family = descendants(up.pid)
        # api (uvicorn and its 2 workers), pipeline-0, risk, grading, settlement: 7 or more
        # (multiprocessing's resource tracker may be among them).
        assert len(family) >= 7, family
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=25) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        log.flush()
    left = [pid for pid in family if alive(pid)]
    assert left == [], left
    output = Path(log.name).read_text()
    assert f"API        {base}" in output and "settlement" in output
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("logger") == "zhibo.access"]
    assert any(r["request_id"] == "up-test-1" and r["route"] == "/v1/me" for r in access)
    assert any(r.get("message") == "settlement worker stopped" for r in records)
    assert time.monotonic() - started < DEADLINE_S + 25


def test_up_refuses_sqlite_and_the_in_process_bus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert "PostgreSQL" in (refusal(Settings(database_url="", bus_url="nats://x:4222")) or "")
    assert "NATS" in (
        refusal(Settings(database_url="postgresql+psycopg://u@h/d", bus_url="memory://")) or ""
    )
    ready = Settings(database_url="postgresql+psycopg://u@h/d", bus_url="nats://h:1")
    assert refusal(ready) is None
    from zhibo.cli import app

    monkeypatch.setenv("ZHIBO_DATABASE_URL", f"sqlite:///{tmp_path / 'z.db'}")
    monkeypatch.setenv("ZHIBO_BUS_URL", "nats://127.0.0.1:4222")
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["up"])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 2 and "zhibo up runs the production stack on PostgreSQL" in (
        refused.output
    )
    assert not (tmp_path / "z.db").exists()  # refused before touching anything


def test_the_plan_matches_the_procfile() -> None:
    children = plan(host="0.0.0.0", port=8000, api_workers=4, pipeline_workers=2)
    names = [child.name for child in children]
    assert names == ["api", "pipeline-0", "pipeline-1", "risk", "grading", "settlement"]
    serve = ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
    assert children[0].argv[3:] == serve
    procfile = (Path(__file__).parents[2] / "Procfile").read_text()
    for process in ("api:", "pipeline:", "risk:", "grading:", "settlement:"):
        assert process in procfile
    for command in ("zhibo worker risk", "zhibo worker grading", "zhibo worker settlement"):
        assert command in procfile
