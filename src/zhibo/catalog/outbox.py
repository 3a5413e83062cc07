"""Tell the search index which products changed: rows in ``search_outbox``, written in the
same transaction as the change and removed by the indexer once the index holds it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from zhibo.kit.time import utcnow
from zhibo.models import Product, SearchOutbox


def enqueue(session: Session, product_ids: Iterable[int], at: datetime | None = None) -> int:
    """Mark products for re-indexing; returns how many rows were queued."""
    now = at or utcnow()
    rows = [{"product_id": int(pid), "enqueued_at": now} for pid in dict.fromkeys(product_ids)]
    if rows:
        session.execute(insert(SearchOutbox), rows)
    return len(rows)


def enqueue_brand(session: Session, brand_id: int) -> int:
    """Every product of a brand (its status or name changed)."""
    ids = session.scalars(select(Product.id).where(Product.brand_id == brand_id)).all()
    return enqueue(session, ids)


def enqueue_categories(session: Session, category_ids: Iterable[int]) -> int:
    """Every product directly in these categories (e.g. a risk class changed)."""
    ids = session.scalars(
        select(Product.id).where(Product.category_id.in_(list(category_ids)))
    ).all()
    return enqueue(session, ids)


def claim(session: Session, limit: int = 10_000) -> list[tuple[int, int]]:
    """The oldest ``(outbox_id, product_id)`` pairs, without removing them."""
    rows = session.execute(
        select(SearchOutbox.id, SearchOutbox.product_id).order_by(SearchOutbox.id).limit(limit)
    ).all()
    return [(int(row[0]), int(row[1])) for row in rows]


def acknowledge(session: Session, outbox_ids: Sequence[int]) -> None:
    """Remove rows the index now reflects (call after the index commit)."""
    for start in range(0, len(outbox_ids), 5_000):
        chunk = list(outbox_ids[start : start + 5_000])
        session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_(chunk)))


def pending(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(SearchOutbox)) or 0)
