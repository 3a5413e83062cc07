"""Health, readiness, metrics and identity endpoints."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from zhibo import __version__
from zhibo.kit.api import ALL_ROLES, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, Unauthenticated
from zhibo.kit.migrate import current_revision, head_revision

router = APIRouter(tags=["system"], responses=ERROR_RESPONSES)


class Health(BaseModel):
    status: str
    version: str
    database: str
    schema_revision: str | None
    schema_current: bool


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    #: Each check: ``ok``, ``skipped`` (not configured) or what is wrong.
    checks: dict[str, str]
    #: The checks that are not ``ok`` (empty when ready).
    failed: list[str]


class Me(BaseModel):
    role: str
    subject_id: int | None


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Any:
    engine = request.app.state.engine
    revision = current_revision(engine)
    return Health(
        status="ok",
        version=__version__,
        database=engine.dialect.name,
        schema_revision=revision,
        schema_current=revision == head_revision(),
    )


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: `failed` names why"}},
)
async def readyz(request: Request) -> Any:
    """For load balancers (no token): 200 when the database answers with its schema at the
    head revision, the read replica (if set) answers and, on NATS, JetStream answers; else 503
    naming what failed."""
    from zhibo.system import readiness

    settings = request.app.state.settings
    checks = await run_in_threadpool(readiness.check_database, request.app.state.engine)
    read_engine = getattr(request.app.state, "read_engine", None)
    if read_engine is not None and read_engine is not request.app.state.engine:
        checks["database_read"] = await run_in_threadpool(
            readiness.check_read_database, read_engine
        )
    else:
        checks["database_read"] = "skipped"
    if readiness.is_nats(settings.bus_url):
        checks["nats"] = await readiness.check_nats(settings.bus_url)
    else:
        checks["nats"] = "skipped"
    failed = [name for name, state in checks.items() if state not in ("ok", "skipped")]
    body = Readiness(status="not ready" if failed else "ready", checks=checks, failed=failed)
    return JSONResponse(body.model_dump(), status_code=503 if failed else 200)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format. With ``ZHIBO_METRICS_TOKEN`` set, callers send it as a bearer
    token; unset, only loopback clients may read."""
    from zhibo.kit.metrics import exposition

    secret = request.app.state.settings.metrics_token
    token = secret.get_secret_value() if secret is not None else ""
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthenticated("authorization: the metrics token is missing or wrong")
    elif not _loopback(request.client.host if request.client else ""):
        raise Forbidden("no metrics token is configured, so only loopback clients may read")
    payload, content_type = exposition()
    return Response(payload, media_type=content_type)


@router.get("/v1/me", response_model=Me)
def me(principal: Annotated[Principal, Depends(require(*ALL_ROLES))]) -> Me:
    return Me(role=str(principal.role), subject_id=principal.subject_id)
