"""How event results are stored: metric rows (upserted whole, so writing one again is
harmless), applied positions, dead letters, and placeholder sessions for replayed files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from zhibo.events.engine import Rows
from zhibo.events.validation import Rejection, payload_json
from zhibo.models import (
    DeadLetter,
    EventPosition,
    LiveRoom,
    LiveSession,
    MinuteMetrics,
    SessionMetrics,
    SessionStatus,
    Streamer,
    StreamerStatus,
)


def _upsert(db: Session, table: Table, rows: Rows, keys: list[str]) -> None:
    """Insert or overwrite whole rows: one prepared statement, executed for all rows by the
    driver (no per-row SQL compilation; both SQLite and PostgreSQL have ON CONFLICT)."""
    if not rows:
        return
    columns = rows.columns
    mark = "%s" if db.get_bind().dialect.name == "postgresql" else "?"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )
    db.connection().exec_driver_sql(sql, rows.values)


def _stamp(db: Session, now: datetime) -> datetime | str:
    """A time as the driver takes it: aware for PostgreSQL, SQLAlchemy's text form for SQLite."""
    if db.get_bind().dialect.name == "postgresql":
        return now
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def save_metrics(db: Session, sessions: Rows, minutes: Rows, now: datetime) -> None:
    stamp = _stamp(db, now)
    stamped = Rows([*sessions.columns, "updated_at"], [(*row, stamp) for row in sessions.values])
    _upsert(db, SessionMetrics.__table__, stamped, ["session_id"])  # type: ignore[arg-type]
    _upsert(db, MinuteMetrics.__table__, minutes, ["session_id", "minute_ms"])  # type: ignore[arg-type]


def positions(db: Session, consumer: str) -> dict[int, int]:
    rows = db.execute(
        select(EventPosition.partition, EventPosition.position).where(
            EventPosition.consumer == consumer
        )
    )
    return {partition: position for partition, position in rows}


def save_positions(db: Session, consumer: str, applied: dict[int, int], now: datetime) -> None:
    stamp = _stamp(db, now)
    rows = Rows(
        ["consumer", "partition", "position", "updated_at"],
        [(consumer, p, pos, stamp) for p, pos in applied.items()],
    )
    _upsert(db, EventPosition.__table__, rows, ["consumer", "partition"])  # type: ignore[arg-type]


def add_dead_letters(
    db: Session, rejections: Sequence[Rejection], source: str, now: datetime
) -> None:
    if not rejections:
        return
    db.execute(
        insert(DeadLetter),
        [
            {
                "received_at": now,
                "source": source[:200],
                "row_number": r.row,
                "reason": r.reason,
                "payload": payload_json(r.payload),
            }
            for r in rejections
        ],
    )


def session_rooms(db: Session, session_ids: Sequence[int]) -> dict[int, int]:
    result: dict[int, int] = {}
    for start in range(0, len(session_ids), 5000):
        chunk = list(session_ids[start : start + 5000])
        rows = db.execute(
            select(LiveSession.id, LiveSession.room_id).where(LiveSession.id.in_(chunk))
        )
        result.update({session_id: room_id for session_id, room_id in rows})
    return result


def create_placeholders(
    db: Session, sessions: dict[int, tuple[int, datetime]], now: datetime
) -> None:
    """Sessions a replayed file names but this database does not know, with their rooms and a
    placeholder (unverified) streamer per new room: ``{session_id: (room_id, first_event_at)}``."""
    if not sessions:
        return
    room_ids = sorted({room_id for room_id, _ in sessions.values()})
    known_rooms = dict(
        db.execute(select(LiveRoom.id, LiveRoom.streamer_id).where(LiveRoom.id.in_(room_ids))).all()
    )
    for room_id in room_ids:
        if room_id in known_rooms:
            continue
        streamer = Streamer(
            display_name=f"imported room {room_id}",
            status=StreamerStatus.PENDING,
            created_at=now,
        )
        db.add(streamer)
        db.flush()
        db.add(
            LiveRoom(
                id=room_id,
                streamer_id=streamer.id,
                title=f"imported room {room_id}",
                created_at=now,
            )
        )
        known_rooms[room_id] = streamer.id
    db.flush()
    for session_id, (room_id, first_at) in sorted(sessions.items()):
        db.add(
            LiveSession(
                id=session_id,
                room_id=room_id,
                streamer_id=known_rooms[room_id],
                title=f"imported session {session_id}",
                status=SessionStatus.LIVE,
                scheduled_start_at=first_at,
                started_at=first_at,
            )
        )
    db.flush()
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        for table in ("live_rooms", "live_sessions"):
            db.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            )


def session_metrics(db: Session, session_id: int) -> SessionMetrics | None:
    return db.get(SessionMetrics, session_id)


def latest_session_metrics(db: Session, room_id: int) -> SessionMetrics | None:
    return db.scalars(
        select(SessionMetrics)
        .where(SessionMetrics.room_id == room_id)
        .order_by(SessionMetrics.last_event_ms.desc())
        .limit(1)
    ).first()


def minute_rows(db: Session, session_id: int) -> list[MinuteMetrics]:
    return list(
        db.scalars(
            select(MinuteMetrics)
            .where(MinuteMetrics.session_id == session_id)
            .order_by(MinuteMetrics.minute_ms)
        )
    )


def live_sessions(db: Session, order_by: str, limit: int) -> list[SessionMetrics]:
    column = SessionMetrics.gmv_fen if order_by == "gmv" else SessionMetrics.online_now
    return list(
        db.scalars(
            select(SessionMetrics)
            .join(LiveSession, LiveSession.id == SessionMetrics.session_id)
            .where(LiveSession.status == SessionStatus.LIVE)
            .order_by(column.desc(), SessionMetrics.session_id)
            .limit(limit)
        )
    )


def session_spans(db: Session, session_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``{session_id: (first_event_ms, last_event_ms)}`` of the sessions with stored metrics."""
    result: dict[int, tuple[int, int]] = {}
    for start in range(0, len(session_ids), 5000):
        chunk = list(session_ids[start : start + 5000])
        rows = db.execute(
            select(
                SessionMetrics.session_id,
                SessionMetrics.first_event_ms,
                SessionMetrics.last_event_ms,
            ).where(SessionMetrics.session_id.in_(chunk))
        )
        result.update({session_id: (first, last) for session_id, first, last in rows})
    return result
