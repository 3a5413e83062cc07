"""Retention: policies per data class (``data/retention.toml``, validated against the legal
minimums), legal holds, and the purge job ``zhibo retention run`` that deletes expired
database rows and event-lake files, keeps what is under a legal hold or belongs to a key room
still inside its longer period, and records what it removed (``retention_runs``).

Lake files mix rooms (one file per bus partition and batch), so a file holding some rows to
keep is rewritten with only those rows (to a temporary file renamed into place).
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import and_, delete, func, not_, or_, select
from sqlalchemy.orm import Session

from zhibo.identity.schemas import LegalHoldIn
from zhibo.kit.errors import Conflict, InvalidInput, NotFound
from zhibo.kit.time import ensure_utc, utcnow
from zhibo.models import DeadLetter, LiveRoom, LiveSession, MinuteMetrics
from zhibo.models.identity import LegalHold, RetentionRun, Tip, TipRefusal, TipStatus

logger = logging.getLogger("zhibo.identity.retention")

POLICY_FILE = Path(__file__).with_name("data") / "retention.toml"
#: Three years in days, whichever leap day they span.
THREE_YEARS_DAYS = 3 * 365 + 1
#: The legal minimums, in days, per data class (2021 Measures; DOMAIN.md §2).
LEGAL_MINIMUM_DAYS = {"live_content": 60, "transactions": THREE_YEARS_DAYS}
KEY_ROOM_MINIMUM_DAYS = THREE_YEARS_DAYS
TARGETS = {
    "live_content": {"lake_events", "event_minute_metrics", "event_dead_letters"},
    "transactions": {"tips", "tip_refusals"},
}


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_class: str
    description: str = ""
    keep_days: int = Field(strict=True, gt=0)
    key_room_keep_days: int | None = Field(default=None, strict=True, gt=0)
    targets: list[str]

    @model_validator(mode="after")
    def _legal(self) -> Policy:
        minimum = LEGAL_MINIMUM_DAYS.get(self.data_class)
        if minimum is None:
            raise ValueError(f"data_class: unknown {self.data_class!r}")
        if self.keep_days < minimum:
            raise ValueError(f"keep_days: {self.data_class} must be kept {minimum}+ days")
        if self.key_room_keep_days is not None and self.key_room_keep_days < max(
            KEY_ROOM_MINIMUM_DAYS, self.keep_days
        ):
            raise ValueError(f"key_room_keep_days: key rooms keep {KEY_ROOM_MINIMUM_DAYS}+ days")
        unknown = set(self.targets) - TARGETS[self.data_class]
        if unknown:
            raise ValueError(f"targets: {sorted(unknown)} are not {self.data_class} targets")
        return self


class Policies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=64)
    policies: list[Policy]


class InvalidRetentionPolicy(InvalidInput):
    """A retention policy file is malformed or keeps data shorter than the law requires."""


def load_policies(path: Path | None = None) -> Policies:
    source = path or POLICY_FILE
    try:
        return Policies.model_validate(tomllib.loads(source.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise InvalidRetentionPolicy(f"{source.name}: {exc}") from exc


# Legal holds ---------------------------------------------------------------------------------


def place_hold(session: Session, data: LegalHoldIn, at: datetime | None = None) -> LegalHold:
    if data.room_id is None and data.session_id is None and data.streamer_id is None:
        raise InvalidInput("room_id: a hold names a room, session or streamer")
    if data.data_class is not None and data.data_class not in LEGAL_MINIMUM_DAYS:
        raise InvalidInput(f"data_class: one of {sorted(LEGAL_MINIMUM_DAYS)} or null (all)")
    hold = LegalHold(**data.model_dump(), placed_at=at or utcnow())
    session.add(hold)
    session.flush()
    return hold


def release_hold(session: Session, hold_id: int, at: datetime | None = None) -> LegalHold:
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound(f"legal hold: no hold with id {hold_id}")
    if hold.released_at is not None:
        raise Conflict(f"legal hold {hold_id} was already released")
    hold.released_at = at or utcnow()
    session.flush()
    return hold


@dataclass
class Held:
    """What holds in force protect for one data class."""

    rooms: set[int] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    streamers: set[int] = field(default_factory=set)


def _held(session: Session, data_class: str) -> Held:
    held = Held()
    rows = session.scalars(
        select(LegalHold).where(
            LegalHold.released_at.is_(None),
            or_(LegalHold.data_class.is_(None), LegalHold.data_class == data_class),
        )
    ).all()
    for hold in rows:
        if hold.room_id is not None:
            held.rooms.add(hold.room_id)
        if hold.session_id is not None:
            held.sessions.add(hold.session_id)
        if hold.streamer_id is not None:
            held.streamers.add(hold.streamer_id)
    if held.streamers:
        held.rooms.update(
            session.scalars(select(LiveRoom.id).where(LiveRoom.streamer_id.in_(held.streamers)))
        )
    return held


# The purge -----------------------------------------------------------------------------------


@dataclass
class TargetResult:
    data_class: str
    target: str
    cutoff: str
    removed: int = 0
    kept_on_hold: int = 0
    kept_key_room: int = 0
    files_deleted: int = 0
    files_rewritten: int = 0


@dataclass
class Context:
    session: Session
    as_of: datetime
    dry_run: bool
    data_dir: Path
    policy: Policy
    held: Held
    key_rooms: set[int]

    @property
    def cutoff(self) -> datetime:
        return self.as_of - timedelta(days=self.policy.keep_days)

    @property
    def key_cutoff(self) -> datetime:
        return self.as_of - timedelta(days=self.policy.key_room_keep_days or self.policy.keep_days)


def _count_and_delete(ctx: Context, table: Any, where: Any) -> int:
    count = int(ctx.session.scalar(select(func.count()).select_from(table).where(where)) or 0)
    if count and not ctx.dry_run:
        ctx.session.execute(delete(table).where(where))
    return count


def _purge_minute_metrics(ctx: Context, result: TargetResult) -> None:
    cutoff_ms = int(ctx.cutoff.timestamp() * 1000)
    key_ms = int(ctx.key_cutoff.timestamp() * 1000)
    old = MinuteMetrics.minute_ms < cutoff_ms
    protected = or_(
        MinuteMetrics.room_id.in_(ctx.held.rooms or {-1}),
        MinuteMetrics.session_id.in_(ctx.held.sessions or {-1}),
    )
    key = and_(MinuteMetrics.room_id.in_(ctx.key_rooms or {-1}), MinuteMetrics.minute_ms >= key_ms)
    select_count = ctx.session.scalar
    result.kept_on_hold = int(
        select_count(select(func.count()).select_from(MinuteMetrics).where(old, protected)) or 0
    )
    result.kept_key_room = int(
        select_count(
            select(func.count()).select_from(MinuteMetrics).where(old, not_(protected), key)
        )
        or 0
    )
    result.removed = _count_and_delete(ctx, MinuteMetrics, and_(old, not_(protected), not_(key)))


def _purge_dead_letters(ctx: Context, result: TargetResult) -> None:
    result.removed = _count_and_delete(ctx, DeadLetter, DeadLetter.received_at < ctx.cutoff)


def _purge_tips(ctx: Context, result: TargetResult) -> None:
    old = and_(Tip.sent_at < ctx.cutoff, Tip.status != TipStatus.HELD)
    protected = or_(
        Tip.room_id.in_(ctx.held.rooms or {-1}),
        Tip.session_id.in_(ctx.held.sessions or {-1}),
        Tip.streamer_id.in_(ctx.held.streamers or {-1}),
    )
    result.kept_on_hold = int(
        ctx.session.scalar(select(func.count()).select_from(Tip).where(old, protected)) or 0
    )
    result.removed = _count_and_delete(ctx, Tip, and_(old, not_(protected)))


def _purge_tip_refusals(ctx: Context, result: TargetResult) -> None:
    old = TipRefusal.refused_at < ctx.cutoff
    held_sessions = set(ctx.held.sessions)
    if ctx.held.rooms or ctx.held.streamers:
        held_sessions.update(
            ctx.session.scalars(
                select(LiveSession.id).where(
                    or_(
                        LiveSession.room_id.in_(ctx.held.rooms or {-1}),
                        LiveSession.streamer_id.in_(ctx.held.streamers or {-1}),
                    )
                )
            )
        )
    protected = TipRefusal.session_id.in_(held_sessions or {-1})
    result.kept_on_hold = int(
        ctx.session.scalar(select(func.count()).select_from(TipRefusal).where(old, protected)) or 0
    )
    result.removed = _count_and_delete(ctx, TipRefusal, and_(old, not_(protected)))


def _hour_end(path: Path) -> datetime | None:
    try:
        day = path.parent.parent.name.removeprefix("date=")
        hour = int(path.parent.name.removeprefix("hour="))
        start = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)
    except ValueError:
        return None
    return start + timedelta(hours=1)


def _purge_lake(ctx: Context, result: TargetResult) -> None:
    from zhibo.events.lake import lake_root

    root = lake_root(ctx.data_dir)
    if not root.is_dir():
        return
    held_rooms = pa.array(sorted(ctx.held.rooms), pa.int64())
    held_sessions = pa.array(sorted(ctx.held.sessions), pa.int64())
    key_rooms = pa.array(sorted(ctx.key_rooms), pa.int64())
    for path in sorted(root.glob("date=*/hour=*/*.parquet")):
        end = _hour_end(path)
        # A file's rows all lie in its hour: it expires once the whole hour is past the cutoff.
        if end is None or end > ctx.cutoff:
            continue
        table = pq.read_table(path)
        hold = pc.or_(
            pc.is_in(table["room_id"], value_set=held_rooms),
            pc.is_in(table["session_id"], value_set=held_sessions),
        )
        key = pc.and_(
            pc.is_in(table["room_id"], value_set=key_rooms),
            pa.scalar(end > ctx.key_cutoff),
        )
        keep = pc.or_(hold, key)
        kept = table.filter(keep)
        on_hold = int(pc.sum(hold.cast(pa.int64())).as_py() or 0)
        result.kept_on_hold += on_hold
        result.kept_key_room += kept.num_rows - on_hold
        result.removed += table.num_rows - kept.num_rows
        if kept.num_rows == table.num_rows:
            continue
        if kept.num_rows == 0:
            result.files_deleted += 1
            if not ctx.dry_run:
                path.unlink()
        else:
            result.files_rewritten += 1
            if not ctx.dry_run:
                temporary = path.with_name(f".{path.name}.retention.tmp")
                pq.write_table(kept, temporary)
                os.replace(temporary, path)


_PURGES = {
    "lake_events": _purge_lake,
    "event_minute_metrics": _purge_minute_metrics,
    "event_dead_letters": _purge_dead_letters,
    "tips": _purge_tips,
    "tip_refusals": _purge_tip_refusals,
}


def run(
    session: Session,
    *,
    data_dir: Path,
    as_of: datetime | None = None,
    dry_run: bool = False,
    policies: Policies | None = None,
) -> tuple[RetentionRun, list[TargetResult]]:
    """Purge what has expired at ``as_of`` (now by default: pass a later time to see what a
    moved clock would remove). The caller commits; lake files are removed as the job goes, so
    run it where the database commit follows at once (the CLI does)."""
    started = utcnow()
    now = ensure_utc(as_of, "as_of") if as_of is not None else started
    policies = policies or load_policies()
    key_rooms = set(session.scalars(select(LiveRoom.id).where(LiveRoom.is_key_room.is_(True))))
    results: list[TargetResult] = []
    for policy in policies.policies:
        held = _held(session, policy.data_class)
        ctx = Context(session, now, dry_run, Path(data_dir), policy, held, key_rooms)
        for target in policy.targets:
            result = TargetResult(policy.data_class, target, ctx.cutoff.isoformat())
            _PURGES[target](ctx, result)
            results.append(result)
            logger.info(
                "retention%s: %s/%s removed %d (kept: %d on hold, %d key rooms) before %s",
                " (dry run)" if dry_run else "",
                policy.data_class,
                target,
                result.removed,
                result.kept_on_hold,
                result.kept_key_room,
                result.cutoff,
            )
    summary = [vars(result) for result in results]
    record = RetentionRun(
        as_of=now,
        dry_run=dry_run,
        policy_version=policies.version,
        summary=json.dumps(summary, sort_keys=True),
        removed=sum(result.removed for result in results),
        started_at=started,
    )
    session.add(record)
    session.flush()
    return record, results
