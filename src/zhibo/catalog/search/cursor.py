"""Opaque, signed search cursors.

A cursor names where the previous page ended (the composite sort key, or the score and id for
relevance) and is bound to the search it came from: a cursor that was altered, forged, or
replayed on another query or sort is refused with 422, never interpreted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

from zhibo.kit.pagination import InvalidCursor

_VERSION = 1
_MAC_BYTES = 12


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: ``key`` for key sorts; ``score`` and ``id`` for relevance. ``seen``
    counts the hits already returned (it sizes the next relevance window)."""

    key: int | None = None
    score: float | None = None
    id: int | None = None
    seen: int = 0


def _key() -> bytes:
    from zhibo.config import get_settings

    secret = get_settings().secret_key.get_secret_value().encode()
    return hashlib.sha256(b"zhibo-search-cursor\x00" + secret).digest()


def _mac(payload: bytes) -> bytes:
    return hmac.new(_key(), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode(position: Position, fingerprint: str) -> str:
    body: dict[str, Any] = {"v": _VERSION, "f": fingerprint, "n": position.seen}
    if position.key is not None:
        body["k"] = position.key
    if position.score is not None:
        body["s"] = position.score
        body["i"] = position.id
    payload = orjson.dumps(body)
    return base64.urlsafe_b64encode(_mac(payload) + payload).decode().rstrip("=")


def decode(cursor: str, fingerprint: str) -> Position:
    """The position a cursor names; raises ``InvalidCursor`` for anything this API did not issue
    for this very search."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise InvalidCursor("cursor: not a cursor this API issued") from exc
    mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(payload)):
        raise InvalidCursor("cursor: not a cursor this API issued")
    body = orjson.loads(payload)
    if body.get("v") != _VERSION or body.get("f") != fingerprint:
        raise InvalidCursor("cursor: issued for another search (query, filters or sort differ)")
    return Position(
        key=body.get("k"), score=body.get("s"), id=body.get("i"), seen=int(body.get("n", 0))
    )
