"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Engine

from zhibo import __version__
from zhibo.config import Settings, get_settings
from zhibo.kit.api import BodySizeLimit, install_error_handlers
from zhibo.kit.db import get_engine


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from zhibo.catalog.search.service import background_indexing
    from zhibo.events.feed import forward_notices_to
    from zhibo.live.tasks import background_session_sweep

    # Room notices (risk prompts and viewer notices) reach this app's SSE listeners.
    with background_indexing(app), forward_notices_to(app.state), background_session_sweep(app):
        yield


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="zhibo",
        version=__version__,
        description=(
            "Regulated livestream e-commerce: product pool, live rooms, orders, settlement, "
            "graded management and risk control. Authenticate with `Authorization: Bearer "
            "<token>` (create one with `zhibo token create`). Money is integer fen, rates are "
            'basis points, times are UTC. Errors: `{"error": Name, "detail": ...}`.'
        ),
        lifespan=_lifespan,
    )
    app.state.settings = settings
    _log_decisions_to_stderr(settings)
    app.state.engine = engine or get_engine(settings.effective_database_url)
    # Read-only endpoints that may lag a second read the replica (docs/operations.md).
    app.state.read_engine = (
        get_engine(settings.database_read_url) if settings.database_read_url else app.state.engine
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    from zhibo.system.middleware import RequestObservability

    # Outside the size limit: refused requests get a request id, a metric and a log line too.
    app.add_middleware(RequestObservability)

    from zhibo.accounts.endpoints import router as accounts
    from zhibo.catalog.endpoints import router as catalog
    from zhibo.catalog.search.endpoints import router as pool_search
    from zhibo.events.endpoints import router as events
    from zhibo.grading.endpoints import router as grading
    from zhibo.live.endpoints import media as media_hooks
    from zhibo.live.endpoints import router as live
    from zhibo.orders.endpoints import router as orders
    from zhibo.settlement.endpoints import router as settlement
    from zhibo.system.endpoints import router as system

    for router in (system, catalog, pool_search, accounts, live, media_hooks, orders, events):
        app.include_router(router)
    app.include_router(settlement)
    app.include_router(grading)
    from zhibo.risk.endpoints import router as risk
    from zhibo.risk.screens import install_text_screens

    app.include_router(risk)
    from zhibo.identity.endpoints import router as identity

    app.include_router(identity)
    from zhibo.goals.endpoints import router as goals

    app.include_router(goals)
    from zhibo.console.pages import install as install_console

    install_console(app)  # the web console at /console (docs/console.md)

    install_text_screens()  # the pool refuses titles failing the banned-term and lure rules
    return app


def _log_decisions_to_stderr(settings: Settings) -> None:
    """zhibo's own INFO records (e.g. which RTMP pushes went on air) reach stderr, unless the
    host already configured logging (a test runner, a --log-config, `zhibo serve`'s). Every
    record has ID and phone numbers masked either way (zhibo.system.logs)."""
    from zhibo.system.logs import install_redaction, stderr_handler

    install_redaction()
    zhibo = logging.getLogger("zhibo")
    if zhibo.handlers or logging.getLogger().handlers:
        return
    zhibo.addHandler(stderr_handler(settings))  # text or JSON lines (ZHIBO_LOG_FORMAT)
    zhibo.setLevel(logging.INFO)


def database_ok(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"database": engine.dialect.name}
