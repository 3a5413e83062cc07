"""The search index's outbox: products whose indexed form may be stale."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId


class SearchOutbox(Base):
    """One row per product change not yet applied to the search index.

    Written in the same transaction as the change; the indexer deletes a row only after the
    index holds the product's state, so no change is lost between the store and the index, on
    either database, whatever the order in which concurrent transactions commit.
    """

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: No foreign key: the outbox must outlive nothing and block no delete.
    product_id: Mapped[int] = mapped_column(BigInteger, index=True)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime)
