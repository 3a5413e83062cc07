"""What clients see while a backing service is away: 503 with Retry-After (not a 500 "bug"),
so they retry; and the bus URL naming a cluster."""

from __future__ import annotations

import nats.errors
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from zhibo.kit.api import install_error_handlers
from zhibo.kit.bus import servers_of


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused")),
        nats.errors.NoRespondersError(),
    ],
)
def test_a_backing_service_away_is_503_with_retry_after(error: Exception) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "ServiceUnavailable"


def test_a_bus_url_may_name_several_servers() -> None:
    assert servers_of("nats://a:4222") == ["nats://a:4222"]
    assert servers_of("nats://a:4222, nats://b:4223,") == ["nats://a:4222", "nats://b:4223"]
