"""The read side: metric updates and room notices reach a room's listeners (the SSE stream's
source), a slow listener loses old updates rather than growing memory, and the risk hook sees
every accepted batch exactly once."""

from __future__ import annotations

import asyncio

import polars as pl
import pyarrow as pa
from sqlalchemy.engine import Engine

from zhibo.config import Settings
from zhibo.events import pipeline as pipeline_module
from zhibo.events.service import EventService

T0 = 1_793_500_000_000


def _frame(n: int, room_id: int = 9, session_id: int = 90) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"r{i}" for i in range(n)],
            "session_id": [session_id] * n,
            "room_id": [room_id] * n,
            "user_id": list(range(1, n + 1)),
            "type": ["enter"] * n,
            "ts": [T0 + i for i in range(n)],
        }
    )


def test_listeners_get_metric_updates_and_notices(engine: Engine, settings: Settings) -> None:
    seen_batches: list[int] = []

    def hook(table: pa.Table) -> None:
        seen_batches.append(table.num_rows)

    async def scenario() -> list[dict[str, object]]:
        service = EventService(settings, engine)
        await service.start()
        assert service.pipeline is not None
        service.pipeline.hooks = [hook]
        updates = service.listen(9)
        first = asyncio.ensure_future(updates.__anext__())
        await asyncio.sleep(0)
        await service.ingest([_frame(5)], "test")
        got = [await asyncio.wait_for(first, 5)]
        service.notify(9, "notice", {"kind": "pop_up", "text": "理性消费"})
        got.append(await asyncio.wait_for(updates.__anext__(), 5))
        for index in range(150):  # a listener that does not read keeps the latest 100
            service.notify(9, "notice", {"n": index})
        queue = next(iter(service.listeners[9]))
        assert queue.qsize() == 100
        await service.ingest([_frame(5)], "test")  # duplicates: the hook sees nothing new
        await updates.aclose()
        await service.close()
        return got

    got = asyncio.run(scenario())
    assert got[0]["event"] == "metrics"
    assert got[0]["data"]["unique_viewers"] == 5  # type: ignore[index]
    assert got[1] == {"event": "notice", "data": {"kind": "pop_up", "text": "理性消费"}}
    assert sum(seen_batches) == 5
    assert pipeline_module.RISK_HOOKS == []
