"""HTTP endpoints: batch ingestion, room metrics, the live-rooms listing and a Server-Sent
Events stream of metric updates and room notices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from zhibo.events import service
from zhibo.events.schemas import IngestResult, LiveRoomOut, RoomMetricsOut
from zhibo.events.validation import (
    decode_json,
    decode_ndjson,
    frame_from_ipc,
    frame_from_rows,
    read_csv_bytes,
)
from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.db import unit_of_work
from zhibo.kit.errors import InvalidInput, ZhiboError
from zhibo.kit.ratelimit import RATE_LIMITED_RESPONSE, rate_limited
from zhibo.live import service as live_service
from zhibo.models import Role

router = APIRouter(prefix="/v1", tags=["events"], responses=ERROR_RESPONSES)

Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
#: Events come from the platform's own edge services, with an operator token.
_ingester = require(Role.OPERATOR)
Ingesters = Annotated[Principal, Depends(_ingester)]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: Seconds between SSE comments on an idle stream: keeps proxies from closing it and lets the
#: server notice a client that left.
KEEP_ALIVE_SECONDS = 15.0


def event_service(request: Request) -> service.EventService:
    """The process's event service, created on first use."""
    state = request.app.state
    if getattr(state, "events", None) is None:
        state.events = service.EventService(state.settings, state.engine)
    return state.events


Events = Annotated[service.EventService, Depends(event_service)]


@router.post(
    "/events",
    response_model=IngestResult,
    responses=RATE_LIMITED_RESPONSE,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
async def ingest_events(
    request: Request,
    db: DB,
    _: Ingesters,
    events: Events,
    _limit: Annotated[None, rate_limited("ingest", _ingester)],
) -> IngestResult:
    """Ingest a batch: a JSON array, NDJSON, CSV or an Arrow IPC stream (by Content-Type).
    Valid events are kept even when others in the batch are refused; each refusal is listed
    with its row and reason and stored in the dead-letter store. Duplicates (same
    ``event_id``) have no second effect."""
    # The request's session served only to authenticate: give its pooled connection back
    # now, not after the batch (under load, requests holding connections while waiting for
    # the ones ingesting would exhaust the pool).
    db.close()
    body = await request.body()
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if kind == ARROW_STREAM:
        frame = frame_from_ipc(body)
    elif kind in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        frame = frame_from_rows(decode_ndjson(body))
    elif kind == "application/json":
        frame = frame_from_rows(decode_json(body))
    elif kind == "text/csv":
        frame = read_csv_bytes(body)
    else:
        raise InvalidInput(f"Content-Type {kind!r}: use JSON, NDJSON, CSV or {ARROW_STREAM}")
    limit = request.app.state.settings.max_batch_events
    if frame.height > limit:
        raise BatchTooLarge(
            f"body: {frame.height} events in one batch; the limit is {limit} "
            "(ZHIBO_MAX_BATCH_EVENTS): send smaller batches"
        )
    return await events.ingest([frame], "http")


class BatchTooLarge(ZhiboError):
    """An event batch holds more events than ``max_batch_events``."""

    status_code = 413


@router.get("/rooms/{room_id}/metrics", response_model=RoomMetricsOut)
def room_metrics(db: DB, _: Anyone, room_id: int, session_id: int | None = None) -> RoomMetricsOut:
    """The room's latest session (or ``session_id``): metrics now and per minute."""
    return service.get_room_metrics(db, room_id, session_id)


@router.get("/live-rooms", response_model=list[LiveRoomOut])
def live_rooms(
    db: DB,
    _: Anyone,
    sort: Literal["online", "gmv"] = "online",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[LiveRoomOut]:
    """Live sessions' rooms, by online viewers now or by GMV."""
    return service.list_live_rooms(db, sort, limit)


@router.get("/rooms/{room_id}/stream")
async def room_stream(
    room_id: int, principal: Anyone, events: Events, request: Request
) -> StreamingResponse:
    """Server-Sent Events: ``metrics`` (the session's cumulative metrics after each commit,
    in NATS mode as the workers publish them) and ``notice`` (pop-up prompts and risk
    notices). Only the room's streamer, their partner and the platform's global readers may
    follow a room. The ``: connected`` comment comes once the stream is subscribed: every
    update committed after it is delivered."""
    # A short unit of work of its own: the stream must not hold a connection while it lasts.
    with unit_of_work(request.app.state.engine) as db:
        live_service.check_may_follow_room(db, principal, room_id)
    return await _sse(room_id, events, request, lambda message: True)


@router.get("/rooms/{room_id}/notices/stream")
async def room_notices_stream(
    room_id: int, _: Anyone, events: Events, request: Request
) -> StreamingResponse:
    """Server-Sent Events for a room's audience (any signed-in account, viewers included):
    only the ``notice`` events addressed to viewers (risk notices such as a warning about
    off-platform contacts), never the room's metrics or the streamer's prompts."""
    with unit_of_work(request.app.state.engine) as db:
        live_service.get_room(db, room_id)  # 404 for a room that does not exist
    return await _sse(
        room_id,
        events,
        request,
        lambda message: (
            message["event"] == "notice" and message["data"].get("audience") == "viewers"
        ),
    )


async def _sse(
    room_id: int, events: service.EventService, request: Request, wanted: Any
) -> StreamingResponse:
    await events.start()

    async def stream() -> AsyncIterator[bytes]:
        queue = await events.subscribe(room_id)
        try:
            yield b": connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    yield b": keep-alive\n\n"
                    continue
                if not wanted(message):
                    continue
                data = orjson.dumps(message["data"])
                yield b"event: " + message["event"].encode() + b"\ndata: " + data + b"\n\n"
        finally:
            events.unsubscribe(room_id, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        # Proxies (nginx) must pass the events on as they come, not buffer them.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
