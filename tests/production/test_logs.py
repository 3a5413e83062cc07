"""Structured logs: JSON lines with the request id, one access line per request (route template,
status, duration), ``X-Request-ID`` accepted and returned, and the redaction net: an ID or phone
number in a request's query or body never reaches the logs in clear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from stdnum.cn import ric

from tests.conftest import sqlite_copy
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.system.logs import (
    JsonLinesFormatter,
    RequestIdFilter,
    TextFormatter,
    install_redaction,
    redact,
)


def make_id(birth: str, region: str = "110101", sequence: str = "123") -> str:
    body = region + birth + sequence
    return body + ric.calc_check_digit(body + "0")


ID_NUMBER = make_id("19900307")
PHONE = "13812345678"


def test_redact_masks_ids_phones_and_query_secrets_only() -> None:
    text = f"id={ID_NUMBER} tel +86 {PHONE} 86{PHONE} url=/h?secret=abc&x=1 token=t"
    clean = redact(text)
    assert ID_NUMBER not in clean and PHONE not in clean and "abc" not in clean
    assert f"{ID_NUMBER[:4]}**********{ID_NUMBER[-4:]}" in clean
    assert "138****5678" in clean and "secret=***&x=1" in clean
    with_x = next(
        number
        for number in (make_id("19851120", sequence=f"{n:03d}") for n in range(100))
        if number.endswith("X")
    )
    assert with_x not in redact(f"ID {with_x}.") and with_x.lower() not in redact(with_x.lower())
    # Longer digit runs are ids and timestamps, not personal numbers; they stay.
    for harmless in ("1764161353000", "1234567890123456789", "order 42 at 2026-11-26", "8000"):
        assert redact(harmless) == harmless


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """zhibo's JSON handler on the root logger, writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture
def app_client(tmp_path: Path, sqlite_template: Path) -> Iterator[TestClient]:
    from zhibo.kit.db import make_engine

    url = sqlite_copy(sqlite_template, tmp_path)
    engine: Engine = make_engine(url)
    settings = Settings(database_url=url, data_dir=tmp_path / "data")
    app = create_app(settings, engine)
    chatty = logging.getLogger("zhibo.tests.chatty")

    @app.post("/test/echo")
    async def echo(request: Request) -> dict[str, str]:
        # Careless code: logs what it was sent, then fails quoting it.
        body = await request.body()
        chatty.info("got query %s and body %s", request.url.query, body.decode())
        chatty.info("extra fields too", extra={"payload": body.decode()})
        raise RuntimeError(f"cannot use {body.decode()}")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    engine.dispose()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_an_id_number_in_query_and_body_never_reaches_the_logs(
    app_client: TestClient, captured: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = app_client.post(
        f"/test/echo?id_number={ID_NUMBER}&phone={PHONE}",
        content=json.dumps({"id_number": ID_NUMBER, "phone": f"+86{PHONE}"}),
    )
    assert response.status_code == 500
    # A real endpoint that takes an ID number (refused without a token, body and all).
    refused = app_client.post(
        "/v1/streamers", json={"display_name": "x", "id_number": ID_NUMBER, "phone": PHONE}
    )
    assert refused.status_code == 401
    written = captured.getvalue()
    assert "got query" in written and "cannot use" in written  # the records were logged...
    assert ID_NUMBER not in written and PHONE not in written  # ...masked
    assert f"{ID_NUMBER[:4]}**********" in written
    # Every handler sees masked records, not only zhibo's (here pytest's own capture).
    assert "got query" in caplog.text and "cannot use" in caplog.text
    assert ID_NUMBER not in caplog.text and PHONE not in caplog.text
    for record in caplog.records:
        assert ID_NUMBER not in record.getMessage()


def test_json_access_lines_carry_the_request_id_route_status_and_duration(
    app_client: TestClient, captured: io.StringIO
) -> None:
    response = app_client.get("/v1/sessions/12345", headers={"X-Request-ID": "lb-7f3a.1"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "lb-7f3a.1"
    fresh = app_client.get("/v1/sessions/12345", headers={"X-Request-ID": "bad id\twith tab"})
    generated = fresh.headers["X-Request-ID"]
    assert generated != "bad id\twith tab" and len(generated) == 24
    lines = _lines(captured)
    access = [line for line in lines if line["logger"] == "zhibo.access"]
    assert len(access) == 2
    first = access[0]
    assert first["request_id"] == "lb-7f3a.1"
    assert first["route"] == "/v1/sessions/{session_id}"  # the template, never the raw path
    assert first["status"] == 401 and first["method"] == "GET"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert {"time", "level", "message"} <= first.keys() and first["level"] == "INFO"
    assert "12345" not in json.dumps(access)
    assert access[1]["request_id"] == generated


def test_every_record_made_during_a_request_has_its_id(
    app_client: TestClient, captured: io.StringIO
) -> None:
    app_client.post("/test/echo?x=1", content=b"hello", headers={"X-Request-ID": "req-42"})
    chatty = [line for line in _lines(captured) if line["logger"] == "zhibo.tests.chatty"]
    assert chatty and all(line["request_id"] == "req-42" for line in chatty)
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "outside", None, None)
    assert json.loads(JsonLinesFormatter().format(outside))["request_id"] == "-"


def test_text_format_masks_tracebacks_too() -> None:
    install_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("zhibo.tests.text")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"bad {ID_NUMBER}")
        except ValueError:
            logger.exception("failed for %s", PHONE)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "ValueError: bad 1101" in text and "failed for 138****5678" in text
    assert ID_NUMBER not in text and PHONE not in text
    assert " [-]: " in text  # no request: the id is a dash


def test_generated_request_ids_survive_the_redaction_net() -> None:
    """Hex ids held runs of 11 digits often enough (about one in eight) that the phone mask
    garbled them in the logs; the base32 ids have no such runs."""
    from zhibo.system.logs import redact
    from zhibo.system.middleware import new_request_id

    ids = [new_request_id() for _ in range(2_000)]
    assert len(set(ids)) == len(ids)
    assert all(redact(f"[{request_id}]") == f"[{request_id}]" for request_id in ids)
