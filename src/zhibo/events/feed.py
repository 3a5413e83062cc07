"""Live metric snapshots between processes, for the SSE streams in NATS mode.

The workers own the metrics, the API processes own the SSE listeners. After each checkpoint a
worker publishes the cumulative metrics of the sessions it changed on a core NATS subject
(``METRICS_SUBJECT``), in a few messages per checkpoint rather than one per session; every API
process with listeners subscribes and forwards the snapshots of the rooms it serves. Snapshots
are whole cumulative values, so the feed needs no JetStream: a message lost while an API
process reconnects is made good by the next one, and a newly connected SSE client reads the
current figures from ``GET /v1/rooms/{id}/metrics``. The subject lies outside the JetStream
streams' subjects (``zhibo.>``), so no stream stores the snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from zhibo.events.engine import Rows

log = logging.getLogger(__name__)

#: Core NATS subject of the metric snapshots (not captured by any JetStream stream).
METRICS_SUBJECT = "zhibo_live.metrics"
#: Core NATS subject of the room notices the workers' risk hook makes (NATS mode).
NOTICES_SUBJECT = "zhibo_live.notices"
#: Snapshots per message: ~400 bytes each, well under NATS's default 1 MB message limit.
SNAPSHOTS_PER_MESSAGE = 1_000


def encode_snapshots(rows: Rows) -> list[bytes]:
    """The session metric rows of one checkpoint, column names once per message."""
    return [
        orjson.dumps(
            {"columns": rows.columns, "rows": rows.values[start : start + SNAPSHOTS_PER_MESSAGE]}
        )
        for start in range(0, len(rows), SNAPSHOTS_PER_MESSAGE)
    ]


def decode_snapshots(payload: bytes) -> list[Mapping[str, int]]:
    message = orjson.loads(payload)
    columns = message["columns"]
    return [dict(zip(columns, row, strict=True)) for row in message["rows"]]


# --- room notices ------------------------------------------------------------------------------

#: The SSE event name of a room notice: a pop-up prompt to the streamer or a risk notice to the
#: room's viewers (``zhibo.risk``), beside the ``metrics`` updates.
NOTICE = "notice"

#: Callables that deliver a room notice to the room's listeners: ``sink(room_id, notice)``.
NoticeSink = Callable[[int, dict[str, Any]], None]
NOTICE_SINKS: list[NoticeSink] = []


def publish_notice(room_id: int, notice: dict[str, Any]) -> None:
    """Send ``notice`` to the room's stream in every API server of this process (embedded).
    Call it after the decision behind the notice committed; a sink that fails is logged."""
    for sink in list(NOTICE_SINKS):
        try:
            sink(room_id, notice)
        except Exception:
            log.exception("room notice sink failed")


@contextlib.contextmanager
def forward_notices_to(state: Any) -> Iterator[None]:
    """While the app runs (its lifespan), forward room notices to its event service's SSE
    listeners (``state.events``, created on first use), on the app's event loop whatever thread
    publishes them (the pipeline runs on the loop, order requests in worker threads)."""
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    settings = getattr(state, "settings", None)
    over_nats = settings is not None and str(settings.bus_url).startswith(("nats://", "tls://"))
    pending: set[asyncio.Future[None]] = set()

    def on_loop(call: Callable[[], None]) -> None:
        if threading.get_ident() == loop_thread:
            call()
        else:
            loop.call_soon_threadsafe(call)

    def sink(room_id: int, notice: dict[str, Any]) -> None:
        if over_nats:
            # NATS mode: every API process, this one included, delivers it from the notices
            # subject, so a notice made here (an order's finding) reaches every listener.
            def send() -> None:
                future = asyncio.ensure_future(_publish_over_nats(state, room_id, notice))
                pending.add(future)
                future.add_done_callback(pending.discard)

            on_loop(send)
            return
        events = getattr(state, "events", None)
        if events is None or room_id not in events.listeners:
            return
        on_loop(lambda: events.notify(room_id, NOTICE, notice))

    NOTICE_SINKS.append(sink)
    try:
        yield
    finally:
        NOTICE_SINKS.remove(sink)


async def _publish_over_nats(state: Any, room_id: int, notice: dict[str, Any]) -> None:
    try:
        from zhibo.events.service import EventService

        events = getattr(state, "events", None)
        if events is None:
            events = state.events = EventService(state.settings, state.engine)
        await events.start()
        from zhibo.kit.bus import NatsBus

        bus = events.bus
        assert isinstance(bus, NatsBus)
        await bus._nc.publish(events.notices_subject, encode_notice(room_id, notice))
    except Exception:
        log.exception("room notice could not be published on NATS")


def encode_notice(room_id: int, notice: dict[str, Any]) -> bytes:
    return orjson.dumps({"room_id": room_id, "notice": notice})


def decode_notice(payload: bytes) -> tuple[int, dict[str, Any]]:
    message = orjson.loads(payload)
    return int(message["room_id"]), dict(message["notice"])


@contextlib.contextmanager
def collecting_notices() -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Collect the room notices published in this process while the block runs (a NATS worker
    sends them on after each checkpoint)."""
    collected: list[tuple[int, dict[str, Any]]] = []

    def sink(room_id: int, notice: dict[str, Any]) -> None:
        collected.append((room_id, notice))

    NOTICE_SINKS.append(sink)
    try:
        yield collected
    finally:
        NOTICE_SINKS.remove(sink)
