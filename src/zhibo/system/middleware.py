"""Per request: a request id (the caller's ``X-Request-ID`` when it is a plain token, else a new
one; returned in the response's ``X-Request-ID``), the HTTP metrics by route template, and one
access-log line (``zhibo.access``: method, route template, status, duration; never the raw path
or query, which may hold personal data, nor the client's address)."""

from __future__ import annotations

import base64
import logging
import os
import re
import time

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhibo.kit import metrics
from zhibo.system.logs import REQUEST_ID

access_log = logging.getLogger("zhibo.access")

_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
#: Probes a load balancer or Prometheus sends every few seconds: logged at DEBUG only.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "<unmatched>"


def new_request_id() -> str:
    """A random request id in base32 (a-z, 2-7): a hex id often holds a run of 11 digits that
    the logs' redaction net would take for a phone number and mask."""
    return base64.b32encode(os.urandom(15)).decode("ascii").lower()


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/rooms/{room_id}/metrics``), ``<unmatched>``
    when no route matched: a label set bounded by the code, not by the callers."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    if isinstance(route, Mount):
        return f"{path}/{{path}}"
    return path


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _GOOD_REQUEST_ID.fullmatch(text) else None
    return None


class RequestObservability:
    """Pure ASGI (no body buffering, streaming responses pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or new_request_id()
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # an exception escaping the app becomes a 500 further out
        streaming = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                streaming = headers.get("content-type", "").startswith("text/event-stream")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope.get("method", "GET")
            route = route_template(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            if not streaming:
                metrics.HTTP_LATENCY.labels(method, route).observe(seconds)
            access_log.log(
                logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
                "%s %s %s %.1f ms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )
            REQUEST_ID.reset(token)
