"""The fault tests' load generator: a few concurrent HTTP clients sending viewers' event batches
(unique event ids) and orders (one per buyer) while a fault is injected, retrying whatever
fails the way a careful client does.

- An event batch is simply sent again, unchanged: ingestion is idempotent by ``event_id``.
- An order has no idempotency key: a failed attempt (a dropped connection, a 5xx) may or may
  not have been committed, so the client first looks the order up (by its buyer: each buyer
  buys once) and sends it again only if it is not there.

It records what the API accepted, which the tests then count against the lake, the metrics,
the orders table and the ledger.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

#: How long one request may keep failing before the test fails (the system did not resume).
GIVE_UP_AFTER_S = 45.0
RETRY_PAUSE_S = 0.1
KINDS = ("enter", "like", "comment")


@dataclass
class Target:
    """What the load is sent to: an operator token, live sessions ``(session, room,
    product)`` and the viewers that may buy."""

    headers: dict[str, str]
    sessions: list[tuple[int, int, int]]
    buyers: list[int]


@dataclass
class Load:
    base_url: str
    target: Target
    #: At least this many event batches and orders are accepted...
    batches: int = 30
    batch_size: int = 100
    orders_wanted: int = 40
    #: ...the fault is injected once this many requests have succeeded...
    fault_after: int = 20
    #: ...and the load goes on until this many more have succeeded after the fault.
    after_fault: int = 15
    concurrency: int = 4
    #: Accepted events: id -> (session, kind).
    accepted_events: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: Placed orders: buyer -> order id.
    orders: dict[int, int] = field(default_factory=dict)
    #: Attempts that failed and were retried (or reconciled).
    failed_attempts: int = 0
    successes: int = 0

    def __post_init__(self) -> None:
        self._jobs = itertools.count()
        self._buyers = iter(self.target.buyers[: self.orders_wanted])
        self._batches_sent = 0
        self._fault_done = asyncio.Event()
        self._successes_at_fault_end = 0

    def expected_metrics(self) -> dict[int, tuple[int, int, int]]:
        """(enters, likes, comments) per session, from the accepted events."""
        counts: dict[int, list[int]] = {}
        for session_id, kind in self.accepted_events.values():
            counts.setdefault(session_id, [0, 0, 0])[KINDS.index(kind)] += 1
        return {session_id: (c[0], c[1], c[2]) for session_id, c in counts.items()}

    async def run(self, fault: Callable[[], Awaitable[None]]) -> None:
        """Send the load; run ``fault`` once ``fault_after`` requests have succeeded."""
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self.target.headers, timeout=30.0, limits=limits
        ) as client:
            clients = [self._client(client) for _ in range(self.concurrency)]
            await asyncio.gather(self._inject(fault), *clients)

    async def _inject(self, fault: Callable[[], Awaitable[None]]) -> None:
        while self.successes < self.fault_after:
            await asyncio.sleep(0.01)
        await fault()
        self._successes_at_fault_end = self.successes
        self._fault_done.set()

    def _finished(self) -> bool:
        return (
            self._fault_done.is_set()
            and self._batches_sent >= self.batches
            and len(self.orders) >= min(self.orders_wanted, len(self.target.buyers))
            and self.successes - self._successes_at_fault_end >= self.after_fault
        )

    async def _client(self, client: httpx.AsyncClient) -> None:
        while not self._finished():
            job = next(self._jobs)
            buyer = next(self._buyers, None) if job % 2 else None
            if buyer is not None:
                await self._order(client, buyer, job)
            else:
                await self._events(client, job)
            self.successes += 1

    def batch(self, job: int) -> list[dict[str, Any]]:
        """Event batch number ``job``: ``batch_size`` events of one session, ids unique."""
        session_id, room_id, _ = self.target.sessions[job % len(self.target.sessions)]
        now_ms = int(time.time() * 1000)
        rows = []
        for n in range(self.batch_size):
            kind = KINDS[n % len(KINDS)]
            row: dict[str, Any] = {
                "event_id": f"f{job}-{n}",
                "session_id": session_id,
                "room_id": room_id,
                "user_id": 10_000 + (job * 7 + n) % 500,
                "device_id": f"dev{n % 50}",
                "ip": f"10.1.{job % 250}.{n % 250}",
                "type": kind,
                "ts": now_ms + n,
            }
            if kind == "comment":
                row["text"] = "好看 nice"
            rows.append(row)
        return rows

    def accepted(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.accepted_events[row["event_id"]] = (row["session_id"], row["type"])

    def next_job(self) -> int:
        return next(self._jobs)

    async def _events(self, client: httpx.AsyncClient, job: int) -> None:
        rows = self.batch(job)
        response = await self._until_answered(lambda: client.post("/v1/events", json=rows))
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text
        self.accepted(rows)
        self._batches_sent += 1

    async def _order(self, client: httpx.AsyncClient, buyer: int, job: int) -> None:
        session_id, _, product_id = self.target.sessions[job % len(self.target.sessions)]
        body = {"session_id": session_id, "product_id": product_id, "buyer_id": buyer}
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        while True:
            try:
                response = await client.post("/v1/orders", json=body)
                if response.status_code == 201:
                    self.orders[buyer] = response.json()["id"]
                    return
                assert _retryable(response), response.text  # another 4xx is a bug
            except httpx.TransportError:
                pass
            self.failed_attempts += 1
            assert time.monotonic() < deadline, f"order of buyer {buyer}: no answer"
            await asyncio.sleep(RETRY_PAUSE_S)
            # The failed attempt may have been committed: look before sending it again.
            found = await self._find_order(client, session_id, buyer)
            if found is not None:
                self.orders[buyer] = found
                return

    async def _find_order(
        self, client: httpx.AsyncClient, session_id: int, buyer: int
    ) -> int | None:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"session_id": session_id, "limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = await self._until_answered(partial(client.get, "/v1/orders", params=params))
            assert page.status_code == 200, page.text
            body = page.json()
            for order in body["items"]:
                if order["buyer_id"] == buyer:
                    return int(order["id"])
            cursor = body["next_cursor"]
            if not cursor:
                return None

    async def _until_answered(
        self, send: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """``send`` again (unchanged) until the server answers, neither 5xx nor 429."""
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        while True:
            try:
                response = await send()
                if not _retryable(response):
                    return response
            except httpx.TransportError:
                pass
            self.failed_attempts += 1
            assert time.monotonic() < deadline, "the server did not answer again"
            await asyncio.sleep(RETRY_PAUSE_S)


def _retryable(response: httpx.Response) -> bool:
    """5xx (503 while PostgreSQL or a NATS node is away) and 429 (rate limited)."""
    return response.status_code >= 500 or response.status_code == 429
