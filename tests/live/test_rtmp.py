"""End to end with a real media server: uvicorn serving zhibo, nginx with the rtmp module calling
its hooks, ffmpeg pushing test video. A push starts its session (published under the session's
stream name, not the key) and ending it ends the session; suspending or ending a session cuts
its push, matched by stream name and client id; a bad key never goes on air.

Needs nginx, libnginx-mod-rtmp and ffmpeg (Debian: ``apt-get install -y
--no-install-recommends nginx libnginx-mod-rtmp ffmpeg``): skipped without them, failed in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import builders as b
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, session_factory
from zhibo.models import Role

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
SECRET = "rtmp-test-hook-secret-0123456789"
APP = "live"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# The configuration documented in docs/operations.md ("Wiring nginx-rtmp"), plus the paths a
# non-root nginx needs to keep everything under the test's directory.
NGINX_CONF = """\
load_module {module};
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log notice;
events {{ worker_connections 256; }}

rtmp {{
    log_format zhibo '$remote_addr [$time_local] $command "$app" $bytes_received $bytes_sent '
                     '$session_readable_time';
    access_log {root}/logs/rtmp-access.log zhibo;
    server {{
        listen 127.0.0.1:{rtmp_port};
        application {app} {{
            live on;
            deny play all;
            on_publish http://127.0.0.1:{api_port}/v1/media/on_publish?secret={secret};
            on_publish_done http://127.0.0.1:{api_port}/v1/media/on_publish_done?secret={secret};
        }}
    }}
}}

http {{
    access_log {root}/logs/http-access.log;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    server {{
        listen 127.0.0.1:{control_port};
        location /control {{ rtmp_control all; }}
    }}
}}
"""


def _nginx() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def _missing() -> list[str]:
    missing = [] if _nginx() else ["nginx"]
    if not RTMP_MODULE.exists():
        missing.append(f"libnginx-mod-rtmp ({RTMP_MODULE})")
    if shutil.which("ffmpeg") is None:
        missing.append("ffmpeg")
    return missing


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(
    check: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] = str
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, httpx.HTTPError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{logs()}")
        time.sleep(0.1)


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class Stack:
    root: Path
    api: httpx.Client
    rtmp_port: int
    control_port: int
    operator: dict[str, str]
    room_id: int
    stream_key: str

    def logs(self, tail: int | None = 4000) -> str:
        """Every log file: the last ``tail`` characters of each (to show), or all (to search)."""
        parts = []
        for path in sorted((self.root / "logs").glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name}\n{text[-tail:] if tail else text}")
        return "\n".join(parts)

    def schedule(self, title: str) -> int:
        response = self.api.post(
            "/v1/sessions",
            json={
                "room_id": self.room_id,
                "title": title,
                "scheduled_start_at": "2026-11-11T12:00:00Z",
            },
            headers=self.operator,
        )
        assert response.status_code == 201, response.text
        session_id = int(response.json()["id"])
        self.wait_visible(f"/v1/sessions/{session_id}")
        return session_id

    def wait_visible(self, path: str) -> None:
        # The API's unit of work commits as the response goes out, not before it: a read that
        # follows a write at once may miss it.
        _wait_for(
            lambda: self.api.get(path, headers=self.operator).status_code == 200,
            5,
            f"{path} to be readable",
            self.logs,
        )

    def status(self, session_id: int) -> str:
        response = self.api.get(f"/v1/sessions/{session_id}", headers=self.operator)
        return str(response.json()["status"])

    def wait_status(self, session_id: int, status: str, timeout: float = 10) -> None:
        _wait_for(
            lambda: self.status(session_id) == status,
            timeout,
            f"session {session_id} to be {status}",
            self.logs,
        )

    def drop(self, **filters: str) -> str:
        """Ask nginx's control interface to drop a publisher directly; its answer's body."""
        response = httpx.get(
            f"http://127.0.0.1:{self.control_port}/control/drop/publisher",
            params={"app": APP, **filters},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.text.strip()

    def push(self, key: str, seconds: float) -> subprocess.Popen[bytes]:
        """ffmpeg pushing ``seconds`` of test video and tone, in real time, to ``key``."""
        command = [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
            "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
            "-f", "lavfi", "-i", "sine", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
            "-f", "flv", f"rtmp://127.0.0.1:{self.rtmp_port}/{APP}/{key}",
        ]  # fmt: skip
        log = (self.root / "logs" / "ffmpeg.log").open("ab")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = _missing()
    if missing:
        reason = (
            f"the RTMP test needs {', '.join(missing)}: apt-get install -y "
            "--no-install-recommends nginx libnginx-mod-rtmp ffmpeg"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("rtmp")
    for directory in ("logs", "temp"):
        (root / directory).mkdir()
    api_port, rtmp_port, control_port = _free_port(), _free_port(), _free_port()

    database_url = f"sqlite:///{root / 'zhibo.db'}"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with session_factory(engine)() as db:
        streamer = b.streamer(db, verified_at=b.T0)
        operator = b.token(db, Role.OPERATOR)
        db.commit()
        streamer_id = streamer.id
    engine.dispose()

    env = {
        **os.environ,
        "ZHIBO_DATABASE_URL": database_url,
        "ZHIBO_MEDIA_HOOK_SECRET": SECRET,
        "ZHIBO_MEDIA_CONTROL_URL": f"http://127.0.0.1:{control_port}",
        # A short reconnect grace: a push's end ends its session about a second later (the
        # sweep, or the test's own reads), through the same path as the default 60 s.
        "ZHIBO_PUBLISH_RECONNECT_GRACE_SECONDS": "1",
    }
    server_log = (root / "logs" / "zhibo.log").open("wb")
    serve = [sys.executable, "-m", "uvicorn", "--factory", "zhibo.app:create_app",
             "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "info"]  # fmt: skip
    server = subprocess.Popen(serve, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    (root / "nginx.conf").write_text(
        NGINX_CONF.format(
            module=RTMP_MODULE,
            root=root,
            rtmp_port=rtmp_port,
            control_port=control_port,
            api_port=api_port,
            secret=SECRET,
            app=APP,
        )
    )
    nginx_log = (root / "logs" / "nginx.out.log").open("wb")
    nginx = subprocess.Popen(
        [str(_nginx()), "-p", str(root), "-c", str(root / "nginx.conf")],
        stdout=nginx_log,
        stderr=subprocess.STDOUT,
    )
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10)
    try:
        stack = Stack(root, api, rtmp_port, control_port, operator, room_id=0, stream_key="")
        _wait_for(lambda: api.get("/healthz").status_code == 200, 20, "zhibo to serve", stack.logs)
        _wait_for(
            lambda: nginx.poll() is None and _port_open(rtmp_port) and _port_open(control_port),
            10,
            "nginx to listen",
            stack.logs,
        )
        room = api.post(
            "/v1/rooms", json={"streamer_id": streamer_id, "title": "直播间"}, headers=operator
        )
        assert room.status_code == 201, room.text
        stack.room_id, stack.stream_key = room.json()["id"], room.json()["stream_key"]
        stack.wait_visible(f"/v1/rooms/{stack.room_id}")
        yield stack
    finally:
        api.close()
        _stop(nginx)
        _stop(server)
        server_log.close()
        nginx_log.close()


def test_a_push_starts_its_session_and_ending_it_ends_the_session(stack: Stack) -> None:
    session_id = stack.schedule("第一场")
    push = stack.push(stack.stream_key, seconds=3)
    try:
        stack.wait_status(session_id, "live")
        assert push.wait(timeout=15) == 0, stack.logs()
        stack.wait_status(session_id, "ended")
        # It waited the grace for a reconnect, then ended as of the moment the push ended.
        ended = stack.api.get(f"/v1/sessions/{session_id}", headers=stack.operator).json()
        assert ended["end_reason"] == "reconnect_grace_expired", ended
        assert ended["ended_at"] == ended["publisher_left_at"], ended
        assert "waits 1s for a reconnect" in stack.logs(None)
    finally:
        _stop(push)


def test_a_new_push_with_the_key_takes_over_the_live_session(stack: Stack) -> None:
    session_id = stack.schedule("重连")
    first = stack.push(stack.stream_key, seconds=30)
    second = None
    try:
        stack.wait_status(session_id, "live")
        second = stack.push(stack.stream_key, seconds=3)
        # zhibo drops the old connection so that nginx lets the new one publish.
        first.wait(timeout=5)
        assert stack.status(session_id) == "live"
        assert second.wait(timeout=15) == 0, stack.logs()
        stack.wait_status(session_id, "ended")
        assert "already publishing" not in stack.logs(None)
    finally:
        _stop(first)
        if second is not None:
            _stop(second)


def test_suspending_a_session_cuts_its_push(stack: Stack) -> None:
    session_id = stack.schedule("第二场")
    push = stack.push(stack.stream_key, seconds=30)
    try:
        stack.wait_status(session_id, "live")
        ignored = stack.logs(None).count("on_publish_done: no live session")
        suspended = stack.api.post(
            f"/v1/sessions/{session_id}/suspend",
            json={"reason": "引导私下交易"},
            headers=stack.operator,
        )
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["stream_cut"] is True, (suspended.json(), stack.logs())
        started = time.monotonic()
        push.wait(timeout=5)
        assert time.monotonic() - started < 5
        # The cut push's publish_done arrives and leaves the suspension as it is.
        _wait_for(
            lambda: stack.logs(None).count("on_publish_done: no live session") > ignored,
            5,
            "the cut push's on_publish_done",
            stack.logs,
        )
        assert stack.status(session_id) == "suspended"
        # Pushing again does not put the suspended session back on air.
        retry = stack.push(stack.stream_key, seconds=5)
        assert retry.wait(timeout=10) != 0
        assert stack.status(session_id) == "suspended"
    finally:
        _stop(push)
    ended = stack.api.post(f"/v1/sessions/{session_id}/end", headers=stack.operator)
    assert ended.status_code == 200, ended.text


def test_ending_a_pushed_session_cuts_it_and_its_key_cannot_restart_it(stack: Stack) -> None:
    session_id = stack.schedule("第四场")
    push = stack.push(stack.stream_key, seconds=30)
    try:
        stack.wait_status(session_id, "live")
        # on_publish's redirect renamed the push: nginx has no stream named by the key...
        assert stack.drop(name=stack.stream_key) == "0"
        # ...and the filters add up: the session's stream name with another client id is no
        # match (a client id that nginx reused after a restart cannot cut this push).
        assert stack.drop(name=f"session-{session_id}", clientid="999999") == "0"
        assert push.poll() is None and stack.status(session_id) == "live"

        ended = stack.api.post(f"/v1/sessions/{session_id}/end", headers=stack.operator)

        assert ended.status_code == 200, ended.text
        assert ended.json()["status"] == "ended"
        assert ended.json()["stream_cut"] is True, (ended.json(), stack.logs())
        push.wait(timeout=5)
        # The encoder's retry with the same key finds no session to carry it: refused.
        retry = stack.push(stack.stream_key, seconds=5)
        assert retry.wait(timeout=10) != 0
        assert stack.status(session_id) == "ended"
        assert "on_publish refused: NoScheduledSession" in stack.logs(None)
    finally:
        _stop(push)


def test_a_push_with_a_bad_key_is_refused(stack: Stack) -> None:
    session_id = stack.schedule("第三场")
    push = stack.push("sk_not-a-key-of-any-room", seconds=5)
    try:
        assert push.wait(timeout=10) != 0, "nginx let a push with a bad key through"
    finally:
        _stop(push)
    assert stack.status(session_id) == "scheduled"
    assert "on_publish refused: UnknownStreamKey" in stack.logs(None)


def test_neither_the_key_nor_the_secret_is_logged(stack: Stack) -> None:
    logs = "\n".join(
        path.read_text(errors="replace")
        for path in (stack.root / "logs").glob("*.log")
        if path.name in ("zhibo.log", "rtmp-access.log")
    )
    assert "/v1/media/on_publish" in logs
    assert stack.stream_key not in logs and SECRET not in logs
