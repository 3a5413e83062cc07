"""Request size and batch size limits: bodies over ``max_request_bytes`` are refused (declared
or chunked), event batches over ``max_batch_events`` and catalog batches over 1,000 items get a
clear error naming the field and the limit."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.security.conftest import World


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A JSON array streamed in pieces, so the client sends no Content-Length."""
    yield b"["
    sent = 1
    piece = b'{"x": "' + b"a" * (size - 12) + b'"},'
    while sent + len(piece) < total:
        yield piece
        sent += len(piece)
    yield b"{}]"


def test_a_declared_body_over_the_limit_is_refused(world: World) -> None:
    limit = world.settings.max_request_bytes
    body = b"[" + b" " * limit + b"]"
    for path in ("/v1/events", "/v1/risk/check-text", "/v1/products/batch"):
        response = world.client.post(
            path,
            content=body,
            headers={**world.headers("operator"), "Content-Type": "application/json"},
        )
        assert response.status_code == 413, (path, response.text)
        assert response.json() == {
            "error": "RequestTooLarge",
            "detail": f"request body over the {limit}-byte limit",
        }


def test_a_chunked_body_without_content_length_is_cut_at_the_limit(world: World) -> None:
    limit = world.settings.max_request_bytes
    headers = {**world.headers("operator"), "Content-Type": "application/json"}
    request = world.client.build_request(
        "POST", "/v1/events", content=_chunks(limit * 3), headers=headers
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = world.client.send(request)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "RequestTooLarge"
    # Under the limit the same kind of body goes through.
    small = world.client.post("/v1/events", content=_chunks(limit // 4), headers=headers)
    assert small.status_code == 200, small.text


@pytest.mark.parametrize("kind", ["application/json", "application/x-ndjson", "text/csv"])
def test_an_event_batch_over_max_batch_events_is_413_naming_the_limit(
    world: World, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(world.settings, "max_batch_events", 5)
    rows = [{"event_id": f"e{i}", "type": "view"} for i in range(6)]
    if kind == "application/json":
        body = orjson.dumps(rows)
    elif kind == "application/x-ndjson":
        body = b"\n".join(orjson.dumps(row) for row in rows)
    else:
        body = ("event_id,type\n" + "".join(f"e{i},view\n" for i in range(6))).encode()
    headers = {**world.headers("operator"), "Content-Type": kind}
    response = world.client.post("/v1/events", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "BatchTooLarge"
    detail = response.json()["detail"]
    assert detail.startswith("body: 6 events") and "limit is 5" in detail
    # At the limit the batch is taken (its rows judged one by one).
    body = orjson.dumps(rows[:5])
    response = world.client.post("/v1/events", content=body, headers=world.headers("operator"))
    assert response.status_code == 200, response.text


def test_a_catalog_batch_over_1000_items_is_422_naming_the_field(world: World) -> None:
    items = [{"product_id": f"p{i}"} for i in range(1001)]
    response = world.client.post(
        "/v1/products/batch", json={"items": items}, headers=world.headers("operator")
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "body.items"
    assert "1000" in problem["reason"]
