"""The real-time risk engine: it sees every accepted batch of the live event pipeline and every
placed order, runs the running real-time rules, and hands what they find to ``cases.record``
(shadow findings are recorded only; active ones trigger their measures).

Rules run in real time:

- ``banned_terms`` / ``off_platform_lure`` rules reading ``comment``: each comment's text
  (one finding per rule and comment, keyed by the event id; the commenter is the case's person);
- ``like_storm``: per room, hopping windows of ``window_seconds`` (advancing by half) over the
  likes' event times; a window with at least ``min_likes`` likes of which the ``max_accounts``
  most active accounts gave at least ``min_share_bp`` is a storm (the room's streamer is the
  case's person; the accounts are in the evidence);
- ``order_concentration`` (order brushing, exactly the batch rule) over each room's orders of
  the last window: ``order`` events in the pipeline, and the room's placed orders on each
  ``place_order``;
- the ``minor_tipping`` rules named in ``REALTIME_GIFT_RULES`` (``minors.tipping_realtime``,
  shadow by default): ``gift`` events by viewers the ``viewers`` table marks as minors (or
  whose birth date makes them one), judged by the batch detector itself (one finding per
  session and batch, keyed by its first event). Gift events are viewer-side telemetry and move
  no money (tips are charged only through ``POST /v1/gifts``, which refuses minors); the rule
  shows a minor trying. The ``viewers`` table is read only for batches holding gifts.

Cost: a batch is looked at column-wise (Polars); only comments are visited one by one (the
text matchers' fast path), and the database is touched only when something is found. The
state kept is the last window of likes (aggregated per room, bucket and account) and of order
events. A hook must never stop the pipeline: errors are logged and the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.kit.db import begin_write, unit_of_work
from zhibo.live.media import MediaServer
from zhibo.models import LiveRoom, Order
from zhibo.models.risk import SubjectKind
from zhibo.risk import audit, effects
from zhibo.risk.brushing import concentration_findings
from zhibo.risk.cases import Context, Detected, Recorded, record
from zhibo.risk.rules import LikeStormParams, Rule, RuleSet
from zhibo.risk.schemas import Finding
from zhibo.risk.screens import check_text

log = logging.getLogger(__name__)

_US = 1_000_000
_LIKES_SCHEMA = {
    "room_id": pl.Int64,
    "bucket": pl.Int64,
    "user_id": pl.Int64,
    "likes": pl.Int64,
    "session_id": pl.Int64,
    "ts_ms": pl.Int64,
}
_ORDERS_SCHEMA = {
    "order_id": pl.String,
    "seller_id": pl.Int64,
    "buyer_id": pl.Int64,
    "t": pl.Int64,
    "session_id": pl.Int64,
}

#: Like rows (account × half-step) a like storm's evidence keeps.
_LIKE_ROWS = 200

#: Distinct comment texts whose matches are remembered (the cache is emptied when full).
TEXT_CACHE_SIZE = 100_000

#: ``minor_tipping`` rules the engine runs on gift events (the batch rule ``minors.tipping``
#: keeps to batch scans).
REALTIME_GIFT_RULES = ("minors.tipping_realtime",)

#: Overrides the media server the engine cuts streams with (default: from the settings).
MEDIA: MediaServer | None = None


def _media() -> MediaServer:
    if MEDIA is not None:
        return MEDIA
    from zhibo.config import get_settings
    from zhibo.live.media import media_server_for

    return media_server_for(get_settings())


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


@dataclass
class Stats:
    batches: int = 0
    events: int = 0
    findings: int = 0
    seconds: float = 0.0


@dataclass
class RealtimeRisk:
    """One per pipeline: the rules' state over the last window, and where findings go."""

    engine: Engine | None
    ctx: Context = field(default_factory=Context)
    stats: Stats = field(default_factory=Stats)
    #: Called with what each batch's findings recorded (tests and the console look at it).
    on_recorded: list[Callable[[list[Recorded]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        rules = self.ctx.rules
        self.comment_rules = [
            rule
            for rule in [*rules.running("banned_terms"), *rules.running("off_platform_lure")]
            if "comment" in rule.params().fields
        ]
        self.storm_rules = rules.running("like_storm")
        self.brushing_rules = rules.running("order_concentration")
        self.gift_rules = [
            rule for rule in rules.running("minor_tipping") if rule.id in REALTIME_GIFT_RULES
        ]
        self._likes: dict[str, pl.DataFrame] = {
            rule.id: pl.DataFrame(schema=_LIKES_SCHEMA) for rule in self.storm_rules
        }
        self._orders = pl.DataFrame(schema=_ORDERS_SCHEMA)
        #: Comment text → its matches: live comments repeat a lot ("666", "好看").
        self._text_cache: dict[str, list[Any]] = {}
        self._order_window_us = max(
            (rule.params().window_seconds * _US for rule in self.brushing_rules), default=0
        )

    # --- the pipeline hook -----------------------------------------------------------------

    def __call__(self, table: pa.Table) -> None:
        started = time.perf_counter()
        try:
            detected = self.evaluate(table)
            if detected:
                self.act(detected)
        except Exception:
            log.exception("real-time risk evaluation of a batch failed; the batch goes on")
        finally:
            self.stats.batches += 1
            self.stats.events += table.num_rows
            self.stats.seconds += time.perf_counter() - started

    def evaluate(self, table: pa.Table) -> list[Detected]:
        """What the running rules find in one accepted batch (pure but for the window state)."""
        if table.num_rows == 0:
            return []
        kinds = table.column("type")
        frame = pl.from_arrow(
            table.select(["event_id", "session_id", "room_id", "user_id", "type", "ts", "count"])
        )
        assert isinstance(frame, pl.DataFrame)
        found: list[Detected] = []
        if self.comment_rules:
            found.extend(self._comments(table, kinds))
        if self.storm_rules:
            likes = frame.filter(pl.col("type") == "like")
            if likes.height:
                for rule in self.storm_rules:
                    found.extend(self._storms(rule, likes))
        if self.brushing_rules:
            orders = frame.filter(pl.col("type") == "order")
            if orders.height:
                found.extend(self._brushing(orders))
        if self.gift_rules and self.engine is not None:
            found.extend(self._minor_gifts(table))
        return found

    def act(self, detected: list[Detected]) -> list[Recorded]:
        """Record the findings and apply their measures in one transaction; room notices and
        stream cuts follow its commit."""
        if self.engine is None:
            return []
        if self.ctx.media is None:
            self.ctx.media = _media()
        done: list[Recorded] = []
        with unit_of_work(self.engine) as db:
            begin_write(db)  # each finding reads (already recorded?) then writes
            streamers: dict[int, int | None] = {}
            for item in detected:
                _resolve_streamer(db, item, streamers)
                queued = effects.mark(db)
                try:
                    with db.begin_nested():  # one bad finding does not lose the others
                        result = record(db, item, self.ctx)
                except Exception:
                    effects.discard_since(db, queued)
                    log.exception("recording a finding of %s failed", item.finding.rule_id)
                    continue
                if result is not None:
                    done.append(result)
        self.stats.findings += len(done)
        for callback in self.on_recorded:
            callback(done)
        return done

    # --- comments --------------------------------------------------------------------------

    def _comments(self, table: pa.Table, kinds: Any) -> list[Detected]:
        import pyarrow.compute as pc

        mask = pc.and_(pc.equal(kinds, "comment"), pc.is_valid(table.column("text")))
        comments = table.filter(mask)
        if comments.num_rows == 0:
            return []
        found = []
        rules = self.ctx.rules
        cache = self._text_cache
        hits: list[tuple[int, list[Any]]] = []
        # Only the texts are converted for every comment; the other columns for the matches.
        for index, text in enumerate(comments.column("text").to_pylist()):
            matches = cache.get(text)
            if matches is None:
                if len(cache) >= TEXT_CACHE_SIZE:
                    cache.clear()
                matches = cache[text] = check_text(text, rules, "comment")
            if matches:
                hits.append((index, matches))
        if not hits:
            return []
        rows = comments.take([index for index, _ in hits]).select(
            ["event_id", "session_id", "room_id", "user_id", "ts", "text"]
        )
        for (event_id, session_id, room_id, user_id, ts, text), (_, matches) in zip(
            zip(*(column.to_pylist() for column in rows.columns), strict=True), hits, strict=True
        ):
            by_rule: dict[str, list[Any]] = {}
            for item in matches:
                by_rule.setdefault(item.rule.id, []).append(item)
            for items in by_rule.values():
                rule = items[0].rule
                spans = [item.match.as_dict() for item in items]
                first = items[0].match
                finding = Finding.of(
                    rule,
                    entity_type="comment",
                    entity_id=event_id,
                    user_ids=[user_id],
                    window_start=ts,
                    window_end=ts,
                    evidence={
                        "field": "comment",
                        "event_id": event_id,
                        "session_id": session_id,
                        "room_id": room_id,
                        "text": text,
                        "matches": spans,
                    },
                )
                found.append(
                    Detected(
                        finding=finding,
                        dedup_key=f"{rule.key}:comment:{event_id}",
                        room_id=room_id,
                        session_id=session_id,
                        subject_kind=SubjectKind.VIEWER,
                        subject_id=user_id,
                        event_at=ts,
                        summary=(
                            f"comment by viewer {user_id} in room {room_id} at "
                            f"{ts.isoformat()}: {first.category} {first.term!r} as "
                            f"{first.text!r}"
                        ),
                    )
                )
        return found

    # --- like storms -----------------------------------------------------------------------

    def _storms(self, rule: Rule, likes: pl.DataFrame) -> list[Detected]:
        params: LikeStormParams = rule.params()
        half_ms = max(1, params.window_seconds * 1000 // 2)
        batch = (
            likes.select(
                "room_id",
                (pl.col("ts").dt.epoch("ms") // half_ms).alias("bucket"),
                "user_id",
                pl.col("count").fill_null(1).cast(pl.Int64).alias("likes"),
                "session_id",
                pl.col("ts").dt.epoch("ms").alias("ts_ms"),
            )
            .group_by("room_id", "bucket", "user_id")
            .agg(pl.col("likes").sum(), pl.col("session_id").max(), pl.col("ts_ms").max())
        )
        state = (
            pl.concat([self._likes[rule.id], batch.select(list(_LIKES_SCHEMA))])
            .group_by("room_id", "bucket", "user_id")
            .agg(pl.col("likes").sum(), pl.col("session_id").max(), pl.col("ts_ms").max())
            .select(list(_LIKES_SCHEMA))
        )
        # Kept for later batches: two buckets before the newest (every window a later like can
        # still complete). This batch's windows are judged on everything, so a batch spanning
        # hours (a file) loses none.
        newest = int(batch["bucket"].max())  # type: ignore[arg-type]
        self._likes[rule.id] = state.filter(pl.col("bucket") >= newest - 2)
        touched = batch.select("room_id", "bucket").unique()
        windows = pl.concat(
            [
                touched.rename({"bucket": "w"}),
                touched.select("room_id", (pl.col("bucket") + 1).alias("w")),
            ]
        ).unique()
        expanded = pl.concat(
            [
                state.with_columns(pl.col("bucket").alias("w")),
                state.with_columns((pl.col("bucket") + 1).alias("w")),
            ]
        ).join(windows, on=["room_id", "w"], how="semi")
        per_user = expanded.group_by("room_id", "w", "user_id").agg(
            pl.col("likes").sum(), pl.col("session_id").max(), pl.col("ts_ms").max()
        )
        # Only windows with enough likes can be storms: the per-account ranking below (sorts
        # within each group) runs for those alone.
        enough = (
            per_user.group_by("room_id", "w")
            .agg(pl.col("likes").sum().alias("total"))
            .filter(pl.col("total") >= params.min_likes)
        )
        if enough.is_empty():
            return []
        per_user = per_user.join(enough.select("room_id", "w"), on=["room_id", "w"], how="semi")
        k = params.max_accounts
        per_room = per_user.group_by("room_id", "w").agg(
            pl.col("likes").sum().alias("total"),
            pl.len().alias("accounts"),
            pl.col("likes").top_k(k).sum().alias("top"),
            pl.col("user_id")
            .sort_by(["likes", "user_id"], descending=[True, False])
            .head(k)
            .alias("top_users"),
            pl.col("likes").sort(descending=True).head(k).alias("top_likes"),
            pl.col("session_id").sort_by("ts_ms").last().alias("session_id"),
            pl.col("ts_ms").max().alias("last_ms"),
        )
        storms = per_room.filter(
            (pl.col("total") >= params.min_likes)
            & (pl.col("top") * 10_000 >= pl.col("total") * params.min_share_bp)
        )
        found = []
        for row in storms.iter_rows(named=True):
            share_bp = row["top"] * 10_000 // row["total"]
            start, end = _ms((row["w"] - 1) * half_ms), _ms((row["w"] + 1) * half_ms)
            # The window's likes per account and half-step (the latest time, the count), most
            # first, capped: what a replay feeds the same rule again.
            behind = expanded.filter(
                (pl.col("room_id") == row["room_id"]) & (pl.col("w") == row["w"])
            ).sort(["likes", "bucket", "user_id"], descending=[True, False, False])
            finding = Finding.of(
                rule,
                entity_type="room",
                entity_id=row["room_id"],
                user_ids=list(row["top_users"]),
                window_start=start,
                window_end=end,
                evidence={
                    "likes": row["total"],
                    "accounts": row["accounts"],
                    "top_accounts": [
                        {"user_id": u, "likes": n}
                        for u, n in zip(row["top_users"], row["top_likes"], strict=True)
                    ],
                    "top_share_bp": share_bp,
                    "like_events": behind.head(_LIKE_ROWS)
                    .select("user_id", "ts_ms", pl.col("likes").alias("count"))
                    .to_dicts(),
                    "like_rows": behind.height,
                    "truncated": behind.height > _LIKE_ROWS,
                    "parameters": params.model_dump(),
                },
            )
            found.append(
                Detected(
                    finding=finding,
                    dedup_key=f"{rule.key}:room:{row['room_id']}:w:{row['w']}",
                    room_id=row["room_id"],
                    session_id=row["session_id"],
                    subject_kind=SubjectKind.STREAMER,
                    subject_id=None,  # the room's streamer, resolved when recorded
                    event_at=_ms(row["last_ms"]),
                    summary=(
                        f"room {row['room_id']}: {row['total']} likes between "
                        f"{start.isoformat()} and {end.isoformat()}, {share_bp / 100:.1f}% of "
                        f"them from {min(k, row['accounts'])} accounts"
                    ),
                    uncertain=share_bp < params.min_share_bp + params.uncertain_margin_bp,
                )
            )
        return found

    # --- gifts by minors -------------------------------------------------------------------

    def _minor_gifts(self, table: pa.Table) -> list[Detected]:
        import pyarrow.compute as pc

        from zhibo.models import Viewer
        from zhibo.risk.detectors import ScanInputs
        from zhibo.risk.detectors.minors import minor_tipping

        types = {t for rule in self.gift_rules for t in rule.params().tip_types}
        mask = pc.and_(
            pc.is_in(table.column("type"), pa.array(sorted(types))),
            pc.is_valid(table.column("amount_fen")),
        )
        gifts = pl.from_arrow(
            table.filter(mask).select(
                ["event_id", "session_id", "room_id", "user_id", "type", "ts", "amount_fen"]
            )
        )
        assert isinstance(gifts, pl.DataFrame)
        gifts = gifts.filter(pl.col("user_id").is_not_null())
        if gifts.height == 0:
            return []
        assert self.engine is not None
        with Session(self.engine) as db:
            rows = db.execute(
                select(Viewer.id, Viewer.is_minor, Viewer.birth_date).where(
                    Viewer.id.in_(gifts["user_id"].unique().to_list())
                )
            ).all()
        viewers = pl.DataFrame(
            {
                "user_id": [row.id for row in rows],
                "is_minor": [bool(row.is_minor) for row in rows],
                "birth_date": [row.birth_date for row in rows],
            },
            schema={"user_id": pl.Int64, "is_minor": pl.Boolean, "birth_date": pl.Date},
        )
        events = gifts.with_columns(pl.col("ts").dt.epoch("us").alias("t")).drop("ts")
        inputs = ScanInputs(events=events, viewers=viewers)
        found = []
        for rule in self.gift_rules:
            for finding in minor_tipping(inputs, rule):
                session_id = int(finding.entity_id)
                tips = finding.evidence["tips"]
                room = gifts.filter(pl.col("session_id") == session_id)["room_id"]
                found.append(
                    Detected(
                        finding=finding,
                        dedup_key=f"{rule.key}:session:{session_id}:gift:{tips[0]['event_id']}",
                        room_id=int(room[0]) if len(room) and room[0] is not None else None,
                        session_id=session_id,
                        subject_kind=SubjectKind.VIEWER,
                        subject_id=int(finding.user_ids[0]),
                        event_at=finding.window_end,
                        summary=(
                            f"gift events by minor viewer(s) {finding.user_ids} in session "
                            f"{session_id} ({len(tips)} gifts); no money moved"
                        ),
                    )
                )
        return found

    # --- order brushing --------------------------------------------------------------------

    def _brushing(self, orders: pl.DataFrame) -> list[Detected]:
        batch = orders.select(
            pl.col("event_id").alias("order_id"),
            pl.col("room_id").alias("seller_id"),
            pl.col("user_id").alias("buyer_id"),
            (pl.col("ts").dt.epoch("us")).alias("t"),
            "session_id",
        )
        state = pl.concat([self._orders, batch]).unique("order_id", keep="first")
        newest = int(batch["t"].max())  # type: ignore[arg-type]
        oldest_new = batch.group_by("seller_id").agg(pl.col("t").min().alias("since"))
        # What a window holding one of the new orders can hold, in the rooms that have them.
        rooms = state.join(oldest_new, on="seller_id", how="inner").filter(
            pl.col("t") >= pl.col("since") - self._order_window_us
        )
        rooms = rooms.drop("since")
        self._orders = state.filter(pl.col("t") >= newest - self._order_window_us)
        found = []
        since = dict(oldest_new.iter_rows())
        for rule in self.brushing_rules:
            for finding in concentration_findings(rooms.to_arrow(), rule):
                room_id = int(finding.entity_id)
                found.extend(_brushing_detected(rule, finding, room_id, since[room_id], rooms))
        return found


def _brushing_detected(
    rule: Rule, finding: Finding, room_id: int, since_us: int, orders: pl.DataFrame
) -> list[Detected]:
    """The finding if a brushing period holds one of the new orders (at or after
    ``since_us``), keyed by that period's start."""
    for period in finding.evidence["periods"]:
        end_us = int(datetime.fromisoformat(period["end"]).timestamp() * _US)
        if end_us < since_us:
            continue
        sessions = orders.filter(pl.col("seller_id") == room_id).sort("t")["session_id"]
        return [
            Detected(
                finding=finding,
                dedup_key=f"{rule.key}:room:{room_id}:period:{period['start']}",
                room_id=room_id,
                session_id=int(sessions[-1]) if len(sessions) else None,
                subject_kind=SubjectKind.STREAMER,
                subject_id=None,
                event_at=datetime.fromisoformat(period["end"]),
                summary=(
                    f"room {room_id}: {period['orders']} orders between {period['start']} and "
                    f"{period['end']} from buyers {finding.user_ids} at a concentration of at "
                    f"least {finding.evidence['min_orders_per_buyer']} orders per buyer"
                ),
            )
        ]
    return []


def _resolve_streamer(db: Session, item: Detected, cache: dict[int, int | None]) -> None:
    """The room's streamer for room-level findings; a room the database does not know is
    dropped from the case (its id stays in the evidence), and a room-level finding in it is
    recorded without a case."""
    if item.room_id is not None and item.room_id not in cache:
        room = db.get(LiveRoom, item.room_id)
        cache[item.room_id] = room.streamer_id if room is not None else None
    streamer_id = cache.get(item.room_id) if item.room_id is not None else None
    if streamer_id is None:
        item.room_id = None
    if item.subject_kind == SubjectKind.STREAMER and item.subject_id is None:
        item.subject_id = streamer_id
        if streamer_id is None:
            item.subject_kind = None


def pipeline_hook(engine: Engine | None, rules: RuleSet | None = None) -> RealtimeRisk:
    """The hook the event pipeline runs on every accepted batch."""
    return RealtimeRisk(engine, Context(rules=rules) if rules is not None else Context())


# --- placed orders -----------------------------------------------------------------------------

#: The context ``on_order_placed`` decides with (tests replace it).
ORDER_CONTEXT: Context | None = None


def on_order_placed(db: Session, order: Order) -> list[Recorded]:
    """Run the brushing rules over the room's orders of the last window, in the order's own
    transaction (a savepoint: a failure here never refuses the order). Room notices and stream
    cuts follow the commit."""
    global ORDER_CONTEXT
    if ORDER_CONTEXT is None:
        ORDER_CONTEXT = Context(actor=audit.ORDERS)
    ctx = ORDER_CONTEXT
    rules = ctx.rules.running("order_concentration")
    if not rules or order.room_id is None:
        return []
    if ctx.media is None:
        ctx.media = _media()
    queued = effects.mark(db)
    try:
        with db.begin_nested():
            return _check_room_orders(db, order, rules, ctx)
    except Exception:
        effects.discard_since(db, queued)
        log.exception("real-time risk check of order %s failed; the order stands", order.id)
        return []


def _check_room_orders(
    db: Session, order: Order, rules: list[Rule], ctx: Context
) -> list[Recorded]:
    window_s = max(rule.params().window_seconds for rule in rules)
    at, room_id = order.paid_at, order.room_id
    assert room_id is not None  # on_order_placed checked it
    rows = db.execute(
        select(Order.id, Order.buyer_id, Order.paid_at, Order.session_id).where(
            Order.room_id == room_id,
            Order.paid_at >= at - timedelta(seconds=window_s),
            Order.paid_at <= at,
        )
    ).all()
    if len(rows) < 3:
        return []
    table = pa.table(
        {
            "order_id": [row.id for row in rows],
            "seller_id": [room_id] * len(rows),
            "buyer_id": [row.buyer_id for row in rows],
            "t": [int(row.paid_at.timestamp() * _US) for row in rows],
            "session_id": [row.session_id for row in rows],
        }
    )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    since = int(at.timestamp() * _US)
    done = []
    streamers: dict[int, int | None] = {}
    for rule in rules:
        for finding in concentration_findings(table, rule):
            for item in _brushing_detected(rule, finding, room_id, since, frame):
                item.dedup_key = item.dedup_key.replace(":room:", ":orders:room:", 1)
                item.session_id = order.session_id
                item.event_at = at
                _resolve_streamer(db, item, streamers)
                result = record(db, item, ctx)
                if result is not None:
                    done.append(result)
    return done
