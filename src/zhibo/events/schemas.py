"""What comes in and goes out: the canonical event (Arrow schema and JSON Schema), ingestion
results, and the metric read models."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field

#: Version of the event schema; bump it (and ``docs/data-formats.md``) on any change.
EVENT_SCHEMA_VERSION = 1

#: Event types, in the order of their numeric codes inside the pipeline.
EVENT_TYPES: tuple[str, ...] = (
    "enter",
    "leave",
    "like",
    "comment",
    "follow",
    "share",
    "add_to_cart",
    "order",
    "gift",
)
TYPE_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}

#: Longest comment accepted, in characters.
MAX_COMMENT_CHARS = 500
#: Longest ``event_id`` / ``device_id`` accepted, in characters.
MAX_ID_CHARS = 64

#: The canonical, normalised event as it travels on the bus and lies in the lake.
#: ``ip`` is already the keyed hash of the client's IP address.
EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("session_id", pa.int64(), nullable=False),
        pa.field("room_id", pa.int64(), nullable=False),
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("device_id", pa.string()),
        pa.field("ip", pa.string()),
        pa.field("type", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("text", pa.string()),
        pa.field("count", pa.int32()),
        pa.field("product_id", pa.int64()),
        pa.field("amount_fen", pa.int64()),
        pa.field("gift_id", pa.int64()),
    ]
)
FIELDS: tuple[str, ...] = tuple(EVENT_SCHEMA.names)
ID_FIELDS = ("session_id", "room_id", "user_id")
INT_FIELDS = ("session_id", "room_id", "user_id", "count", "product_id", "amount_fen", "gift_id")
STRING_FIELDS = ("event_id", "device_id", "ip", "type", "text")

#: JSON Schema (draft 2020-12) of one event as clients send it; ``docs/data-formats.md``.
EVENT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://zhibo.example/schemas/event/v{EVENT_SCHEMA_VERSION}.json",
    "title": "zhibo viewer event",
    "type": "object",
    "required": ["event_id", "session_id", "room_id", "user_id", "type", "ts"],
    "properties": {
        "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
        "session_id": {"type": "integer", "minimum": 1},
        "room_id": {"type": "integer", "minimum": 1},
        "user_id": {"type": "integer", "minimum": 1},
        "device_id": {"type": ["string", "null"], "maxLength": MAX_ID_CHARS},
        "ip": {"type": ["string", "null"], "description": "clear IP; hashed on arrival"},
        "type": {"enum": list(EVENT_TYPES)},
        "ts": {
            "oneOf": [
                {"type": "string", "format": "date-time", "pattern": "(Z|\\+00:00)$"},
                {"type": "integer", "description": "epoch milliseconds"},
            ]
        },
        "text": {"type": ["string", "null"], "maxLength": MAX_COMMENT_CHARS},
        "count": {"type": ["integer", "null"], "minimum": 1},
        "product_id": {"type": ["integer", "null"], "minimum": 1},
        "amount_fen": {"type": ["integer", "null"], "minimum": 0},
        "gift_id": {"type": ["integer", "null"], "minimum": 1},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "comment"}}},
            "then": {"required": ["text"]},
        },
        {
            "if": {"properties": {"type": {"enum": ["add_to_cart", "order"]}}},
            "then": {"required": ["product_id"]},
        },
        {
            "if": {"properties": {"type": {"const": "order"}}},
            "then": {"required": ["amount_fen"]},
        },
        {
            "if": {"properties": {"type": {"const": "gift"}}},
            "then": {"required": ["gift_id"]},
        },
    ],
}


class RejectedEvent(BaseModel):
    """One refused event: its 0-based row in the request or file and why."""

    row: int
    reason: str
    event_id: str | None = None


class IngestResult(BaseModel):
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[RejectedEvent] = Field(default_factory=list)


#: Cumulative counters of a session, in the order of the pipeline's counter columns.
COUNTER_FIELDS: tuple[str, ...] = (
    "enters",
    "leaves",
    "likes",
    "comments",
    "shares",
    "follows",
    "add_to_carts",
    "orders",
    "gmv_fen",
    "gifts",
    "gift_fen",
)


class SessionMetricsOut(BaseModel):
    session_id: int
    room_id: int
    unique_viewers: int
    peak_online: int
    online_now: int
    enters: int
    leaves: int
    likes: int
    comments: int
    shares: int
    follows: int
    add_to_carts: int
    orders: int
    gmv_fen: int
    gifts: int
    gift_fen: int
    buyers: int
    #: buyers / unique viewers (0 when no viewer).
    conversion: float
    avg_watch_seconds: float
    first_event_at: str
    last_event_at: str


class MinuteOut(BaseModel):
    minute: str
    online: int
    enters: int
    leaves: int
    likes: int
    comments: int
    shares: int
    follows: int
    add_to_carts: int
    orders: int
    gmv_fen: int
    gifts: int
    gift_fen: int


class RoomMetricsOut(BaseModel):
    room_id: int
    session: SessionMetricsOut | None
    minutes: list[MinuteOut]


class LiveRoomOut(BaseModel):
    room_id: int
    session_id: int
    online_now: int
    gmv_fen: int
    unique_viewers: int
    last_event_at: str
