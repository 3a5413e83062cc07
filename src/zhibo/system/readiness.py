"""Readiness: may a load balancer send this process traffic? Yes when the database answers, its
schema is at the head revision, the read replica (if configured) answers and, when the bus is
NATS, the NATS server (JetStream) answers. The NATS answer is kept a few seconds, so probes
every second cost one connection per ``NATS_CACHE_SECONDS``.

Failures are named, never described with connection strings (they may hold passwords).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.engine import Engine

from zhibo.kit.migrate import current_revision, head_revision

NATS_CACHE_SECONDS = 5.0
NATS_TIMEOUT_SECONDS = 2.0
OK = "ok"


@lru_cache(maxsize=1)
def _head() -> str | None:
    return head_revision()  # reads the migration scripts: once per process


def _failure(error: BaseException) -> str:
    return f"unreachable ({type(error).__name__})"


def check_database(engine: Engine) -> dict[str, str]:
    """``database`` and ``schema``: ``ok`` or what is wrong."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except Exception as error:
        return {"database": _failure(error), "schema": "unknown (no database)"}
    head = _head()
    if revision != head:
        return {"database": OK, "schema": f"at {revision or 'empty'}, head is {head}"}
    return {"database": OK, "schema": OK}


def check_read_database(engine: Engine) -> str:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return _failure(error)
    return OK


def is_nats(url: str) -> bool:
    return url.startswith(("nats://", "tls://"))


@dataclass
class _Answer:
    at: float
    result: str


_nats_answers: dict[str, _Answer] = {}


async def _ask_nats(url: str) -> str:
    import nats

    async def quiet(*_args: object) -> None:
        return None

    servers = [part.strip() for part in url.split(",") if part.strip()]
    client = None
    try:
        client = await asyncio.wait_for(
            nats.connect(
                servers=servers,
                connect_timeout=1,
                allow_reconnect=False,
                # Each server tried once more after a short wait (0 would mean forever).
                max_reconnect_attempts=1,
                reconnect_time_wait=0.05,
                error_cb=quiet,
                disconnected_cb=quiet,
                closed_cb=quiet,
            ),
            NATS_TIMEOUT_SECONDS,
        )
        # JetStream, not just the server: the streams live there.
        await asyncio.wait_for(client.jetstream().account_info(), NATS_TIMEOUT_SECONDS)
    except Exception as error:
        return _failure(error)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
    return OK


async def check_nats(url: str, now: float | None = None) -> str:
    """``ok`` or why not, asked at most once per ``NATS_CACHE_SECONDS`` per URL."""
    now = time.monotonic() if now is None else now
    cached = _nats_answers.get(url)
    if cached is not None and now - cached.at < NATS_CACHE_SECONDS:
        return cached.result
    result = await _ask_nats(url)
    _nats_answers[url] = _Answer(time.monotonic(), result)
    return result


def forget_nats_answers() -> None:
    """Tests: ask again on the next probe."""
    _nats_answers.clear()
