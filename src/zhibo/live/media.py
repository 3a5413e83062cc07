"""The media server that carries the RTMP pushes, seen from zhibo: one capability (cut a
publisher) behind the ``MediaServer`` interface, with an nginx-rtmp implementation and a
recording stand-in for deployments (and tests) without a control URL.

zhibo keeps only a hash of each stream key, so it cannot name a stream by its key. Instead the
``on_publish`` hook renames every push it allows: it answers with a redirect whose ``Location`` is
the session's public stream name (``session-42``), which nginx-rtmp publishes under instead of
the key. A cut then names the stream *and* the connection nginx gave the push (``clientid``,
recorded on the session): ``/control/drop/publisher?app=APP&name=session-42&clientid=ID``
matches only that session's push on that connection, so a client id that nginx reused after a
restart can never cut another session's push.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import httpx

from zhibo.config import Settings

logger = logging.getLogger("zhibo.live.media")

#: The stream names zhibo gives the pushes it allows; never a key (keys start with ``sk_``).
STREAM_NAME_PREFIX = "session-"
_STREAM_NAME = re.compile(r"^session-(?P<session_id>[1-9][0-9]{0,18})$")


def stream_name(session_id: int) -> str:
    """The public name nginx-rtmp publishes a session's push under (the ``on_publish`` redirect
    target): derived from the session id, so it needs no column and is the same for every
    reconnect of the session."""
    return f"{STREAM_NAME_PREFIX}{session_id}"


def session_of_stream_name(name: str) -> int | None:
    """The session id a stream name of ``stream_name`` stands for; ``None`` for anything else."""
    match = _STREAM_NAME.match(name)
    return int(match["session_id"]) if match else None


#: A drop is one small GET to a server next door: do not let a hung one hold a request long.
CONTROL_TIMEOUT_S = 3.0


class DropOutcome(StrEnum):
    #: The media server cut the publisher.
    DROPPED = "dropped"
    #: The media server answered but had no such publisher (it already left, or it is on
    #: another nginx worker or an nginx restarted since).
    NOT_FOUND = "not_found"
    #: The control interface was unreachable, timed out or answered unexpectedly.
    FAILED = "failed"
    #: No control URL is configured: nothing was asked of any media server.
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True, slots=True)
class DropResult:
    outcome: DropOutcome
    detail: str

    @property
    def dropped(self) -> bool:
        return self.outcome == DropOutcome.DROPPED


class MediaServer(Protocol):
    """What zhibo asks of the media server. Calls are side effects: make them after commit."""

    def drop_publisher(self, *, app: str, name: str, client_id: str) -> DropResult:
        """Disconnect the publisher of stream ``name`` in application ``app`` if it is the
        connection ``client_id``."""
        ...


class NginxRtmp:
    """nginx-rtmp's ``rtmp_control`` interface (``location /control { rtmp_control all; }``).

    Run nginx with ``worker_processes 1``: the control interface only sees the connections of
    the worker that answers it.
    """

    def __init__(
        self,
        control_url: str,
        *,
        timeout_s: float = CONTROL_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout_s = timeout_s
        self._transport = transport

    def drop_publisher(self, *, app: str, name: str, client_id: str) -> DropResult:
        url = f"{self.control_url}/control/drop/publisher"
        # nginx-rtmp ANDs the filters: the stream must have this name and its publisher this id.
        params = {"app": app, "name": name, "clientid": client_id}
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
                response = client.get(url, params=params)
        except httpx.HTTPError as exc:
            return self._failed(f"{url} unreachable: {type(exc).__name__}")
        body = response.text.strip()
        if response.status_code != 200:
            return self._failed(f"{url} answered {response.status_code}")
        # The body is the number of connections dropped.
        if body == "0":
            result = DropResult(
                DropOutcome.NOT_FOUND,
                f"no publisher {client_id} of stream {name!r} in application {app!r}",
            )
            logger.warning("drop publisher: %s", result.detail)
            return result
        if body.isdigit():
            logger.info(
                "drop publisher: dropped client %s of stream %r in application %r",
                client_id,
                name,
                app,
            )
            return DropResult(DropOutcome.DROPPED, f"dropped publisher {client_id} of {name}")
        return self._failed(f"{url} answered an unexpected body ({body[:40]!r})")

    @staticmethod
    def _failed(detail: str) -> DropResult:
        logger.error("drop publisher failed: %s", detail)
        return DropResult(DropOutcome.FAILED, detail)


@dataclass
class RecordingMediaServer:
    """Asks no server: records each drop it is asked for and answers ``outcome``.

    The stand-in when no control URL is configured, and the fake in tests.
    """

    outcome: DropOutcome = DropOutcome.NOT_CONFIGURED
    #: ``(app, name, client_id)`` of each drop asked for.
    drops: list[tuple[str, str, str]] = field(default_factory=list)

    def drop_publisher(self, *, app: str, name: str, client_id: str) -> DropResult:
        self.drops.append((app, name, client_id))
        if self.outcome == DropOutcome.NOT_CONFIGURED:
            logger.warning(
                "drop publisher %s of stream %r in application %r: no media control URL "
                "configured (ZHIBO_MEDIA_CONTROL_URL), the stream was not cut",
                client_id,
                name,
                app,
            )
            return DropResult(self.outcome, "no media control URL configured")
        return DropResult(self.outcome, f"recorded ({self.outcome})")


def media_server_for(settings: Settings) -> MediaServer:
    if settings.media_control_url:
        return NginxRtmp(settings.media_control_url)
    return RecordingMediaServer()


_SECRET_IN_QUERY = re.compile(r"(?i)([?&]secret=)[^&\s\"]*")


def redact_hook_secret(text: str) -> str:
    """``/v1/media/on_publish?secret=abc`` → ``/v1/media/on_publish?secret=***``."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class RedactHookSecret(logging.Filter):
    """Keeps the hook secret out of access logs: nginx-rtmp can only send it in the URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and "secret=" in arg.lower() for arg in record.args
        ):
            record.args = tuple(
                redact_hook_secret(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def redact_secret_from_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install ``RedactHookSecret`` on the server's access logger (once)."""
    access = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactHookSecret) for existing in access.filters):
        access.addFilter(RedactHookSecret())
