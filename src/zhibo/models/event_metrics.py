"""Room metrics computed from viewer events, the pipeline's applied positions and dead letters.

The metric rows are projections of the event lake (``zhibo.events``): a worker rebuilds its
in-memory state from the lake on start, so these tables hold what readers need, written in
the same transaction as the position they reflect.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhibo.kit.db import Base, UTCDateTime
from zhibo.models._types import BigId


class SessionMetrics(Base):
    """Cumulative metrics of one live session (see ``docs/data-formats.md`` for definitions)."""

    __tablename__ = "event_session_metrics"
    __table_args__ = (Index("ix_event_session_metrics_room_last", "room_id", "last_event_ms"),)

    #: No foreign key: workers consume the bus without the session rows (the ingestion edge
    #: creates those); the metrics of a session outlive nothing else.
    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    room_id: Mapped[int] = mapped_column(BigInteger)
    enters: Mapped[int] = mapped_column(BigInteger, default=0)
    leaves: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sum of like counts (a like event without a count is one like).
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    follows: Mapped[int] = mapped_column(BigInteger, default=0)
    add_to_carts: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sum of ``amount_fen`` of order events, in fen.
    gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    gifts: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sum of ``amount_fen`` of gift events, in fen.
    gift_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    unique_viewers: Mapped[int] = mapped_column(BigInteger, default=0)
    buyers: Mapped[int] = mapped_column(BigInteger, default=0)
    online_now: Mapped[int] = mapped_column(BigInteger, default=0)
    peak_online: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Total watch time of all viewers, in milliseconds, as of the last event.
    watch_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    first_event_ms: Mapped[int] = mapped_column(BigInteger)
    last_event_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MinuteMetrics(Base):
    """Metrics of one session in one minute (UTC, floor of the event time)."""

    __tablename__ = "event_minute_metrics"

    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: Epoch milliseconds of the minute's start.
    minute_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    room_id: Mapped[int] = mapped_column(BigInteger)
    enters: Mapped[int] = mapped_column(BigInteger, default=0)
    leaves: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    follows: Mapped[int] = mapped_column(BigInteger, default=0)
    add_to_carts: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    gmv_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    gifts: Mapped[int] = mapped_column(BigInteger, default=0)
    gift_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Change of the online count at this minute; online = running sum over the session.
    online_change: Mapped[int] = mapped_column(BigInteger, default=0)


class EventPosition(Base):
    """The last batch position of a bus partition whose effects are in the lake and here."""

    __tablename__ = "event_positions"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadLetter(Base):
    """An event refused at ingestion, with the reason; IPs in ``payload`` are already hashed."""

    __tablename__ = "event_dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: ``http``, ``file:<name>`` or ``bus``.
    source: Mapped[str] = mapped_column(String(200))
    #: 0-based row of the event in its request or file.
    row_number: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
