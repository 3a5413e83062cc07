"""Cursor pagination: opaque cursors over a strictly increasing key (the primary key).

Cursors survive inserts between pages (no skipped or repeated rows, unlike offsets).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from zhibo.kit.errors import InvalidInput

T = TypeVar("T")


class InvalidCursor(InvalidInput):
    """The cursor was not one this API issued."""


class Page(BaseModel, Generic[T]):
    items: list[T]
    #: Pass as ``cursor`` to get the next page; null on the last page.
    next_cursor: str | None = None


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": after_id})).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        after = data["after"]
        if not isinstance(after, int) or isinstance(after, bool):
            raise TypeError(after)
        return after
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidCursor("cursor: not a valid cursor from this API") from exc


def paginate(
    session: Session, query: Select[Any], id_column: Any, cursor: str | None, limit: int
) -> tuple[Sequence[Any], str | None]:
    """Rows of ``query`` after the cursor, ordered by ``id_column``, and the next cursor."""
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(id_column > after)
    rows = session.scalars(query.order_by(id_column).limit(limit + 1)).all()
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
