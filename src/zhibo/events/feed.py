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

from collections.abc import Mapping

import orjson

from zhibo.events.engine import Rows

#: Core NATS subject of the metric snapshots (not captured by any JetStream stream).
METRICS_SUBJECT = "zhibo_live.metrics"
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
