"""How grading reads its inputs from the database and stores runs, results and notices.

Reads are a handful of column queries turned into Polars frames (no ORM objects per row);
results and notices are written with one executemany each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

import polars as pl
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from zhibo.grading.metrics import window_end
from zhibo.grading.scoring_model import WINDOWS, ScoringModel
from zhibo.kit.errors import Conflict
from zhibo.kit.time import utcnow
from zhibo.models import LiveRoom, Order, Streamer
from zhibo.models.grading import (
    Complaint,
    ComplaintStatus,
    GradedKind,
    GradeResult,
    GradingModel,
    GradingRun,
    LevelNotification,
    Violation,
)

UTC_US = pl.Datetime("us", "UTC")


class ModelVersionReused(Conflict):
    """A scoring model version was already used with different content: bump ``version``."""


def _frame(rows: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([tuple(row) for row in rows], schema=schema, orient="row")


def load_streamers(db: Session) -> pl.DataFrame:
    rows = db.execute(
        select(Streamer.id, Streamer.partner_id, Streamer.status, Streamer.created_at)
    ).all()
    return _frame(
        [(r[0], r[1], str(r[2]), r[3]) for r in rows],
        {
            "streamer_id": pl.Int64,
            "partner_id": pl.Int64,
            "status": pl.String,
            "created_at": UTC_US,
        },
    )


def load_rooms(db: Session) -> pl.DataFrame:
    rows = db.execute(select(LiveRoom.id, LiveRoom.streamer_id)).all()
    return _frame(rows, {"room_id": pl.Int64, "streamer_id": pl.Int64})


def load_orders(db: Session, as_of: date) -> pl.DataFrame:
    end = window_end(as_of)
    start = end - timedelta(days=max(WINDOWS))
    rows = db.execute(
        select(
            Order.streamer_id,
            Order.room_id,
            Order.partner_id,
            Order.buyer_id,
            Order.product_id,
            Order.amount_fen,
            Order.refunded_fen,
            Order.paid_at,
        ).where(Order.paid_at >= start, Order.paid_at < end)
    ).all()
    return _frame(
        rows,
        {
            "streamer_id": pl.Int64,
            "room_id": pl.Int64,
            "partner_id": pl.Int64,
            "buyer_id": pl.Int64,
            "product_id": pl.Int64,
            "amount_fen": pl.Int64,
            "refunded_fen": pl.Int64,
            "paid_at": UTC_US,
        },
    )


def load_complaints(db: Session, as_of: date) -> pl.DataFrame:
    """Complaints by received time, open or resolved: one rejected as baseless must not lower
    a level."""
    end = window_end(as_of)
    rows = db.execute(
        select(Complaint.streamer_id, Complaint.received_at).where(
            Complaint.received_at >= end - timedelta(days=max(WINDOWS)),
            Complaint.received_at < end,
            Complaint.status != ComplaintStatus.REJECTED,
        )
    ).all()
    return _frame(rows, {"streamer_id": pl.Int64, "received_at": UTC_US})


def load_violations(db: Session, as_of: date) -> pl.DataFrame:
    end = window_end(as_of)
    rows = db.execute(
        select(Violation.streamer_id, Violation.severity, Violation.occurred_at).where(
            Violation.occurred_at >= end - timedelta(days=max(WINDOWS)),
            Violation.occurred_at < end,
            Violation.overturned_at.is_(None),
        )
    ).all()
    return _frame(
        [(r[0], str(r[1]), r[2]) for r in rows],
        {"streamer_id": pl.Int64, "severity": pl.String, "occurred_at": UTC_US},
    )


def credit_frame(balances: dict[int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"streamer_id": list(balances), "balance_tenths": list(balances.values())},
        schema={"streamer_id": pl.Int64, "balance_tenths": pl.Int64},
    )


def record_model(db: Session, model: ScoringModel) -> None:
    """Keep the model document; refuse a known version with different content."""
    digest = model.digest()
    row = db.get(GradingModel, model.version)
    if row is None:
        db.add(
            GradingModel(
                version=model.version,
                sha256=digest,
                document=json.dumps(model.document(), sort_keys=True, ensure_ascii=False),
                first_used_at=utcnow(),
            )
        )
        db.flush()
    elif row.sha256 != digest:
        raise ModelVersionReused(
            f"version: model {model.version!r} was used before with other content "
            f"(sha256 {row.sha256[:12]}…, this one {digest[:12]}…)"
        )


def stored_model(db: Session, version: str) -> dict[str, Any] | None:
    row = db.get(GradingModel, version)
    return None if row is None else dict(json.loads(row.document))


def start_run(db: Session, as_of: date, model_version: str) -> tuple[GradingRun, dict[Any, Any]]:
    """The run for ``as_of`` (replacing an earlier one's results) and the previous levels its
    results compare with: those the replaced run compared with, else the latest earlier run's."""
    run = db.scalar(select(GradingRun).where(GradingRun.as_of == as_of))
    previous: dict[Any, Any] = {}
    if run is not None:
        previous = {
            (kind, subject): level
            for kind, subject, level in db.execute(
                select(GradeResult.kind, GradeResult.subject_id, GradeResult.previous_level).where(
                    GradeResult.run_id == run.id
                )
            )
        }
        # Streamers created since that run was first made compare with their starting level.
        for sid, level in db.execute(select(Streamer.id, Streamer.level)):
            previous.setdefault((GradedKind.STREAMER, sid), level)
        db.execute(delete(LevelNotification).where(LevelNotification.run_id == run.id))
        db.execute(delete(GradeResult).where(GradeResult.run_id == run.id))
        run.model_version = model_version
        run.started_at = utcnow()
        run.finished_at = None
    else:
        earlier = db.scalar(
            select(GradingRun.id)
            .where(GradingRun.as_of < as_of)
            .order_by(GradingRun.as_of.desc())
            .limit(1)
        )
        if earlier is not None:
            previous = {
                (kind, subject): level
                for kind, subject, level in db.execute(
                    select(GradeResult.kind, GradeResult.subject_id, GradeResult.level).where(
                        GradeResult.run_id == earlier
                    )
                )
            }
        else:
            previous = {
                (GradedKind.STREAMER, sid): level
                for sid, level in db.execute(select(Streamer.id, Streamer.level))
            }
        run = GradingRun(as_of=as_of, model_version=model_version, started_at=utcnow())
        db.add(run)
    db.flush()
    return run, previous


def is_latest(db: Session, as_of: date) -> bool:
    later = db.scalar(select(GradingRun.id).where(GradingRun.as_of > as_of).limit(1))
    return later is None


def _table(model: type) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def insert_results(db: Session, rows: list[dict[str, Any]]) -> None:
    # Core executemany: the driver binds all rows to one prepared statement (the ORM's bulk
    # path would fetch the new ids back, which nobody needs here).
    if rows:
        db.connection().execute(insert(_table(GradeResult)), rows)


def insert_notifications(db: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        db.connection().execute(insert(_table(LevelNotification)), rows)


def set_streamer_levels(db: Session, levels: dict[int, int]) -> int:
    """Write levels that differ from the stored ones; returns how many changed."""
    current = dict(db.execute(select(Streamer.id, Streamer.level)).all())
    changed = [
        {"id": sid, "level": level} for sid, level in levels.items() if current.get(sid) != level
    ]
    if changed:
        db.execute(update(Streamer), changed)
        _expire(db, Streamer)
    return len(changed)


def _expire(db: Session, model: type) -> None:
    """Rows of ``model`` the session already holds must be read again (bulk updates bypass
    them), so a permission check later in the same unit of work sees the new level."""
    for instance in list(db.identity_map.values()):
        if isinstance(instance, model):
            db.expire(instance)


def set_key_rooms(db: Session, key_rooms: set[int]) -> None:
    current = dict(db.execute(select(LiveRoom.id, LiveRoom.is_key_room)).all())
    changed = [
        {"id": rid, "is_key_room": rid in key_rooms}
        for rid, flag in current.items()
        if bool(flag) != (rid in key_rooms)
    ]
    if changed:
        db.execute(update(LiveRoom), changed)
        _expire(db, LiveRoom)


def finish_run(db: Session, run: GradingRun, summary: dict[str, Any], at: datetime) -> None:
    run.summary = json.dumps(summary, sort_keys=True)
    run.finished_at = at
    db.flush()


def latest_result(db: Session, kind: GradedKind, subject_id: int) -> GradeResult | None:
    return db.scalar(
        select(GradeResult)
        .join(GradingRun, GradingRun.id == GradeResult.run_id)
        .where(GradeResult.kind == kind, GradeResult.subject_id == subject_id)
        .order_by(GradingRun.as_of.desc())
        .limit(1)
    )


def results_history(
    db: Session, kind: GradedKind, subject_id: int, limit: int
) -> list[tuple[date, GradeResult]]:
    rows = db.execute(
        select(GradingRun.as_of, GradeResult)
        .join(GradingRun, GradingRun.id == GradeResult.run_id)
        .where(GradeResult.kind == kind, GradeResult.subject_id == subject_id)
        .order_by(GradingRun.as_of.desc())
        .limit(limit)
    ).all()
    return [(as_of, result) for as_of, result in rows]


def run_for(db: Session, run_id: int) -> GradingRun | None:
    return db.get(GradingRun, run_id)
