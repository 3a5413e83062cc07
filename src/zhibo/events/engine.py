"""The metrics engine: exact per-session and per-minute room metrics, updated one Arrow batch
at a time with Polars group-bys merged into NumPy state. Pure and in memory; the pipeline
persists it and rebuilds it from the lake.

Definitions (also in ``docs/data-formats.md``):

- Duplicates (same ``event_id``) have no effect after the first.
- A viewer's *visit* in a session runs from their first ``enter`` to their last ``leave``, if
  their latest enter/leave event is a leave (at equal times a leave counts as later); otherwise
  the viewer is still in, and the visit runs to the session's last event (of any type). A
  leave-before-enter (a ``leave`` earlier than any ``enter`` of the user) closes nothing; a user
  with leaves only is no viewer. Gaps between a leave and a re-enter count as watch time (mobile
  reconnects look like that).
- ``online`` in a minute = viewers whose visit overlaps that minute; ``peak_online`` = the
  largest per-minute online of the session; ``online_now`` = viewers still in.
- ``avg_watch_seconds`` = total visit length / ``unique_viewers``.

Every definition depends on the set of events only, never on their arrival order, so late and
re-ordered events give the same figures as an in-order stream, and a recomputation from the lake
(``tests/events``) matches exactly.

Memory: ``evict`` drops every trace of some sessions (their rows, viewers, minutes and seen
event ids, compacting the arrays), so the engine holds the sessions in play, not every session
it has seen. Since the figures depend on the set of events only, replaying an evicted session's
events from the lake rebuilds its state exactly (``Pipeline`` does that when a late event for
it arrives).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from zhibo.events.hashset import U64Index, U64Set, mix
from zhibo.events.schemas import COUNTER_FIELDS, EVENT_TYPES

I64 = npt.NDArray[np.int64]
NO_ENTER = np.iinfo(np.int64).max
NO_EVENT = np.iinfo(np.int64).min
MINUTE_MS = 60_000
_TYPES = pl.Enum(list(EVENT_TYPES))
#: Seed of the event-id hash; any fixed value (the lake keeps the ids, not the hashes).
_HASH_SEED = 20211111


def _counter_expressions() -> list[pl.Expr]:
    code = pl.col("type")

    def count(name: str) -> pl.Expr:
        return (code == name).sum().cast(pl.Int64)

    return [
        count("enter").alias("enters"),
        count("leave").alias("leaves"),
        pl.col("count").fill_null(1).filter(code == "like").sum().cast(pl.Int64).alias("likes"),
        count("comment").alias("comments"),
        count("share").alias("shares"),
        count("follow").alias("follows"),
        count("add_to_cart").alias("add_to_carts"),
        count("order").alias("orders"),
        pl.col("amount_fen").filter(code == "order").sum().cast(pl.Int64).alias("gmv_fen"),
        count("gift").alias("gifts"),
        pl.col("amount_fen").filter(code == "gift").sum().cast(pl.Int64).alias("gift_fen"),
    ]


_COUNTERS = _counter_expressions()
_LIKE = EVENT_TYPES.index("like")
_ORDER = EVENT_TYPES.index("order")
_GIFT = EVENT_TYPES.index("gift")
_GMV = COUNTER_FIELDS.index("gmv_fen")
_GIFT_FEN = COUNTER_FIELDS.index("gift_fen")
#: Counter column that each event type's count (like: its like units) adds to.
_COUNTER_OF_TYPE = np.array(
    [
        COUNTER_FIELDS.index(name)
        for name in (
            "enters",
            "leaves",
            "likes",
            "comments",
            "follows",
            "shares",
            "add_to_carts",
            "orders",
            "gifts",
        )
    ],
    dtype=np.int64,
)


@dataclass
class Rows:
    """Rows for a table, column-wise: names and one list of values per row."""

    columns: list[str]
    values: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.values)

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.values]


def _compact(grow: _Grow, kept: I64, size: int) -> None:
    """Move rows ``kept`` (ascending) of the first ``size`` rows to the front; blank the rest."""
    for name, array in grow.arrays.items():
        array[: len(kept)] = array[kept]
        array[len(kept) : size] = grow.fill[name]


def _rows(columns: dict[str, np.ndarray]) -> Rows:
    values = [column.tolist() for column in columns.values()]
    return Rows(list(columns), list(zip(*values, strict=True)))


class _Grow:
    """Columns that grow with an index (amortised doubling)."""

    def __init__(self, **columns: tuple[np.dtype[np.generic] | type, object, int]) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.fill: dict[str, object] = {}
        for name, (dtype, fill, width) in columns.items():
            shape = (1024, width) if width > 1 else (1024,)
            self.arrays[name] = np.full(shape, fill, dtype=dtype)
            self.fill[name] = fill

    def ensure(self, size: int) -> None:
        for name, array in self.arrays.items():
            if size > len(array):
                capacity = max(size, len(array) * 2)
                grown = np.full((capacity, *array.shape[1:]), self.fill[name], dtype=array.dtype)
                grown[: len(array)] = array
                self.arrays[name] = grown

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays.values())


@dataclass
class Applied:
    """What one batch did: the events that took effect (deduplicated) and the duplicates."""

    accepted: pa.Table
    duplicates: int


@dataclass
class SessionSnapshot:
    session_id: int
    room_id: int
    counters: dict[str, int]
    unique_viewers: int
    buyers: int
    online_now: int
    peak_online: int
    watch_ms: int
    first_event_ms: int
    last_event_ms: int


@dataclass
class MinuteSnapshot:
    session_id: int
    minute_ms: int
    room_id: int
    counters: dict[str, int]
    online_change: int


@dataclass
class MetricsEngine:
    """Per-session and per-minute metrics with the state that keeps them exact."""

    seen: U64Set = field(default_factory=lambda: U64Set(1 << 22))
    viewers: U64Index = field(default_factory=lambda: U64Index(1 << 14))
    minute_index: U64Index = field(default_factory=lambda: U64Index(1 << 12))
    session_ids: dict[int, int] = field(default_factory=dict)
    #: Seconds on a monotonic clock: when each session last received events (``idle_sessions``).
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        n_counters = len(COUNTER_FIELDS)
        self.s = _Grow(
            session=(np.int64, 0, 1),
            room=(np.int64, 0, 1),
            counters=(np.int64, 0, n_counters),
            unique=(np.int64, 0, 1),
            buyers=(np.int64, 0, 1),
            open=(np.int64, 0, 1),
            open_start_sum=(np.int64, 0, 1),
            closed_watch=(np.int64, 0, 1),
            first=(np.int64, NO_ENTER, 1),
            last=(np.int64, NO_EVENT, 1),
            peak=(np.int64, 0, 1),
            touched=(np.float64, 0.0, 1),
        )
        self.v = _Grow(
            sidx=(np.int64, 0, 1),
            first_enter=(np.int64, NO_ENTER, 1),
            last=(np.int64, NO_EVENT, 1),
            last_is_leave=(np.bool_, False, 1),
            ordered=(np.bool_, False, 1),
        )
        self.m = _Grow(
            sidx=(np.int64, 0, 1),
            minute=(np.int64, 0, 1),
            counters=(np.int64, 0, n_counters),
            online_change=(np.int64, 0, 1),
        )
        self.dirty_sessions: set[int] = set()
        self.dirty_minutes: list[np.ndarray] = []

    # --- applying batches ----------------------------------------------------------------

    def apply(self, table: pa.Table) -> Applied:
        if table.num_rows == 0:
            return Applied(table, 0)
        event_ids = pl.Series(table.column("event_id"))
        hashed = event_ids.hash(seed=_HASH_SEED)
        keys = hashed.to_numpy()
        # Equal ids have equal hashes; distinct ids colliding in 64 bits are as unlikely as
        # in the seen set itself (see docs).
        first = hashed.is_first_distinct().to_numpy()
        # Each seen id is tagged with its session, so evicting a session drops its ids.
        sessions = table.column("session_id").to_numpy()
        absent = self.seen.add(keys[first], sessions[first])
        keep = np.zeros(len(keys), dtype=bool)
        keep[np.flatnonzero(first)[absent]] = True
        duplicates = int(len(keys) - keep.sum())
        accepted = table if duplicates == 0 else table.filter(pa.array(keep))
        if accepted.num_rows:
            self._aggregate(accepted)
        return Applied(accepted, duplicates)

    def _session_indices(self, session_ids: np.ndarray, room_ids: np.ndarray) -> I64:
        result = np.empty(len(session_ids), dtype=np.int64)
        for position, (session_id, room_id) in enumerate(
            zip(session_ids.tolist(), room_ids.tolist(), strict=True)
        ):
            index = self.session_ids.get(session_id)
            if index is None:
                index = len(self.session_ids)
                self.session_ids[session_id] = index
                self.s.ensure(index + 1)
                self.s["session"][index] = session_id
                self.s["room"][index] = room_id
            result[position] = index
        return result

    def _aggregate(self, table: pa.Table) -> None:
        frame = pl.from_arrow(
            table.select(["session_id", "room_id", "user_id", "type", "ts", "count", "amount_fen"])
        )
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_columns(
            pl.col("type").cast(_TYPES).to_physical().alias("code"),
            pl.col("ts").dt.epoch("ms").alias("ts"),
        )
        # One small group-by per (session, minute, type); the counters are spread by type code
        # in NumPy, which is cheaper than one filtered aggregation per counter.
        grouped = frame.group_by(
            "session_id", (pl.col("ts") // MINUTE_MS * MINUTE_MS).alias("minute"), "code"
        ).agg(
            pl.col("room_id").first(),
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("count").fill_null(1).sum().cast(pl.Int64).alias("units"),
            pl.col("amount_fen").sum().cast(pl.Int64).alias("amount"),
            pl.col("ts").min().alias("min_ts"),
            pl.col("ts").max().alias("max_ts"),
        )
        g_session = grouped["session_id"].to_numpy()
        g_room = grouped["room_id"].to_numpy()
        unique_sessions, first_row, g_sess_pos = np.unique(
            g_session, return_index=True, return_inverse=True
        )
        sidx_of = self._session_indices(unique_sessions, g_room[first_row])
        lookup = dict(zip(unique_sessions.tolist(), sidx_of.tolist(), strict=True))
        self.dirty_sessions.update(sidx_of.tolist())
        self.s["touched"][sidx_of] = self.clock()
        g_sidx = sidx_of[g_sess_pos]
        np.minimum.at(self.s["first"], g_sidx, grouped["min_ts"].to_numpy())
        np.maximum.at(self.s["last"], g_sidx, grouped["max_ts"].to_numpy())

        minutes = grouped["minute"].to_numpy()
        code = grouped["code"].to_numpy().astype(np.int64)
        n = grouped["n"].to_numpy()
        units = grouped["units"].to_numpy()
        amount = grouped["amount"].to_numpy()
        pair_keys = mix(g_sidx, minutes)
        distinct, pair_first, pair_pos = np.unique(
            pair_keys, return_index=True, return_inverse=True
        )
        rows_of_pairs = self._minute_rows(g_sidx[pair_first], minutes[pair_first])
        rows = rows_of_pairs[pair_pos]
        values = np.where(code == _LIKE, units, n)
        counters = self.m["counters"]
        session_counters = self.s["counters"]
        np.add.at(counters, (rows, _COUNTER_OF_TYPE[code]), values)
        np.add.at(session_counters, (g_sidx, _COUNTER_OF_TYPE[code]), values)
        for type_code, column in ((_ORDER, _GMV), (_GIFT, _GIFT_FEN)):
            chosen = code == type_code
            if chosen.any():
                np.add.at(counters, (rows[chosen], column), amount[chosen])
                np.add.at(session_counters, (g_sidx[chosen], column), amount[chosen])
        _ = distinct

        visits = frame.filter((pl.col("code") <= 1) | (pl.col("code") == _ORDER))
        if visits.height:
            self._merge_viewers(visits, lookup)

    def _minute_rows(self, sidx: I64, minutes: I64) -> I64:
        # Keyed by session id, not index: indices change when sessions are evicted.
        rows, absent = self.minute_index.lookup(mix(self.s["session"][sidx], minutes), insert=True)
        if absent.any():
            self.m.ensure(self.minute_index.size)
            self.m["sidx"][rows[absent]] = sidx[absent]
            self.m["minute"][rows[absent]] = minutes[absent]
        self.dirty_minutes.append(rows)
        return rows

    def _merge_viewers(self, visits: pl.DataFrame, lookup: dict[int, int]) -> None:
        kind = pl.col("code")
        batch = visits.group_by("session_id", "user_id").agg(
            pl.col("ts").filter(kind == 0).min().alias("first_enter"),
            pl.col("ts").filter(kind <= 1).max().alias("last"),
            pl.col("ts").filter(kind == 1).max().alias("last_leave"),
            (kind == _ORDER).any().alias("ordered"),
        )
        session_ids = batch["session_id"].to_numpy()
        user_ids = batch["user_id"].to_numpy()
        sidx = np.array([lookup[s] for s in batch["session_id"].to_list()], dtype=np.int64)
        b_first = batch["first_enter"].fill_null(NO_ENTER).to_numpy()
        b_last = batch["last"].fill_null(NO_EVENT).to_numpy()
        b_leave = batch["last_leave"].fill_null(NO_EVENT).to_numpy()
        b_last_is_leave = (b_leave == b_last) & (b_last != NO_EVENT)
        b_ordered = batch["ordered"].to_numpy()

        ids, _ = self.viewers.lookup(mix(session_ids, user_ids), insert=True)
        self.v.ensure(self.viewers.size)
        old_first = self.v["first_enter"][ids]
        old_last = self.v["last"][ids]
        old_leave = self.v["last_is_leave"][ids]
        old_ordered = self.v["ordered"][ids]

        new_first = np.minimum(old_first, b_first)
        new_last = np.maximum(old_last, b_last)
        new_leave = np.where(
            b_last > old_last,
            b_last_is_leave,
            np.where(b_last < old_last, old_leave, old_leave | b_last_is_leave),
        )
        new_ordered = old_ordered | b_ordered

        self._visit_contribution(sidx, old_first, old_last, old_leave, sign=-1)
        self._visit_contribution(sidx, new_first, new_last, new_leave, sign=+1)
        np.add.at(
            self.s["unique"],
            sidx,
            ((new_first != NO_ENTER) & (old_first == NO_ENTER)).astype(np.int64),
        )
        np.add.at(self.s["buyers"], sidx, (new_ordered & ~old_ordered).astype(np.int64))

        self.v["sidx"][ids] = sidx
        self.v["first_enter"][ids] = new_first
        self.v["last"][ids] = new_last
        self.v["last_is_leave"][ids] = new_leave
        self.v["ordered"][ids] = new_ordered

    def _visit_contribution(
        self, sidx: I64, first: I64, last: I64, is_leave: np.ndarray, *, sign: int
    ) -> None:
        has_visit = first != NO_ENTER
        closed = has_visit & is_leave
        open_ = has_visit & ~is_leave
        if closed.any():
            s = sidx[closed]
            np.add.at(self.s["closed_watch"], s, sign * (last[closed] - first[closed]))
            self._online_change(s, first[closed] // MINUTE_MS * MINUTE_MS, sign)
            self._online_change(s, (last[closed] // MINUTE_MS + 1) * MINUTE_MS, -sign)
        if open_.any():
            s = sidx[open_]
            np.add.at(self.s["open"], s, sign)
            np.add.at(self.s["open_start_sum"], s, sign * first[open_])
            self._online_change(s, first[open_] // MINUTE_MS * MINUTE_MS, sign)

    def _online_change(self, sidx: I64, minutes: I64, delta: int) -> None:
        rows = self._minute_rows(sidx, minutes)
        np.add.at(self.m["online_change"], rows, delta)

    # --- forgetting ----------------------------------------------------------------------

    def idle_sessions(self, since: float) -> list[int]:
        """Sessions that received no events after ``since`` (on ``clock``)."""
        count = len(self.session_ids)
        idle = np.flatnonzero(self.s["touched"][:count] < since)
        return self.s["session"][idle].tolist()

    def evict(self, session_ids: Iterable[int]) -> int:
        """Forget ``session_ids`` entirely (unknown ones are ignored); returns how many were
        evicted. Only between batches with nothing dirty (right after ``take_dirty``): the
        arrays are compacted, so row numbers change."""
        if self.dirty_sessions or self.dirty_minutes:
            raise RuntimeError("evict only after take_dirty: changed rows would be lost")
        evicted = [s for s in set(session_ids) if s in self.session_ids]
        if not evicted:
            return 0
        gone = [self.session_ids[s] for s in evicted]
        count = len(self.session_ids)
        keep = np.ones(count, dtype=bool)
        keep[gone] = False
        new_of_old = np.cumsum(keep, dtype=np.int64) - 1
        _compact(self.s, np.flatnonzero(keep), count)
        self.session_ids = {
            session_id: int(new_of_old[index])
            for session_id, index in self.session_ids.items()
            if keep[index]
        }
        for index_, rows in ((self.viewers, self.v), (self.minute_index, self.m)):
            size = index_.size
            kept = index_.compact(keep[rows["sidx"][:size]])
            _compact(rows, kept, size)
            rows["sidx"][: len(kept)] = new_of_old[rows["sidx"][: len(kept)]]
        self.seen.discard_tagged(np.array(evicted, dtype=np.int64))
        return len(gone)

    # --- reading -------------------------------------------------------------------------

    def take_dirty(self) -> tuple[Rows, Rows]:
        """Rows of the sessions and minutes that changed since the last call, in the metric
        tables' columns (built column-wise)."""
        sessions = np.array(sorted(self.dirty_sessions), dtype=np.int64)
        minute_rows = (
            np.unique(np.concatenate(self.dirty_minutes))
            if self.dirty_minutes
            else np.array([], dtype=np.int64)
        )
        self.dirty_sessions = set()
        self.dirty_minutes = []
        self._peaks(sessions)
        s = self.s
        last = s["last"][sessions]
        session_columns: dict[str, np.ndarray] = {
            "session_id": s["session"][sessions],
            "room_id": s["room"][sessions],
            "unique_viewers": s["unique"][sessions],
            "buyers": s["buyers"][sessions],
            "online_now": s["open"][sessions],
            "peak_online": s["peak"][sessions],
            "watch_ms": s["closed_watch"][sessions]
            + s["open"][sessions] * last
            - s["open_start_sum"][sessions],
            "first_event_ms": s["first"][sessions],
            "last_event_ms": last,
        }
        for position, name in enumerate(COUNTER_FIELDS):
            session_columns[name] = s["counters"][sessions, position]
        m_sidx = self.m["sidx"][minute_rows]
        minute_columns: dict[str, np.ndarray] = {
            "session_id": s["session"][m_sidx],
            "minute_ms": self.m["minute"][minute_rows],
            "room_id": s["room"][m_sidx],
            "online_change": self.m["online_change"][minute_rows],
        }
        for position, name in enumerate(COUNTER_FIELDS):
            minute_columns[name] = self.m["counters"][minute_rows, position]
        return _rows(session_columns), _rows(minute_columns)

    def _peaks(self, sessions: I64) -> dict[int, int]:
        """Peak per-minute online of ``sessions``: a running sum of the online changes over
        each session's minutes, up to the minute of its last event."""
        if not len(sessions):
            return {}
        size = self.minute_index.size
        sidx = self.m["sidx"][:size]
        chosen = np.flatnonzero(np.isin(sidx, sessions))
        order = chosen[np.lexsort((self.m["minute"][chosen], sidx[chosen]))]
        s = sidx[order]
        minute = self.m["minute"][order]
        running = np.cumsum(self.m["online_change"][order])
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        base = np.repeat(np.r_[0, running[starts[1:] - 1]], np.diff(np.r_[starts, len(s)]))
        online = running - base
        within = minute <= self.s["last"][s] // MINUTE_MS * MINUTE_MS
        online = np.where(within, online, 0)
        peak = np.maximum.reduceat(online, starts) if len(starts) else np.array([])
        result = {int(a): int(b) for a, b in zip(s[starts].tolist(), peak.tolist(), strict=True)}
        for index, value in result.items():
            self.s["peak"][index] = value
        return result

    def _session_snapshot(self, index: int, peak: int) -> SessionSnapshot:
        s = self.s
        last = int(s["last"][index])
        watch = int(s["closed_watch"][index] + s["open"][index] * last - s["open_start_sum"][index])
        return SessionSnapshot(
            session_id=int(s["session"][index]),
            room_id=int(s["room"][index]),
            counters=dict(zip(COUNTER_FIELDS, s["counters"][index].tolist(), strict=True)),
            unique_viewers=int(s["unique"][index]),
            buyers=int(s["buyers"][index]),
            online_now=int(s["open"][index]),
            peak_online=peak,
            watch_ms=watch,
            first_event_ms=int(s["first"][index]),
            last_event_ms=last,
        )

    def _minute_snapshot(self, row: int) -> MinuteSnapshot:
        sidx = int(self.m["sidx"][row])
        return MinuteSnapshot(
            session_id=int(self.s["session"][sidx]),
            minute_ms=int(self.m["minute"][row]),
            room_id=int(self.s["room"][sidx]),
            counters=dict(zip(COUNTER_FIELDS, self.m["counters"][row].tolist(), strict=True)),
            online_change=int(self.m["online_change"][row]),
        )

    def session(self, session_id: int) -> SessionSnapshot | None:
        index = self.session_ids.get(session_id)
        if index is None:
            return None
        peak = self._peaks(np.array([index], dtype=np.int64)).get(index, 0)
        return self._session_snapshot(index, peak)

    def sessions(self) -> Iterable[int]:
        return self.session_ids.keys()

    @property
    def nbytes(self) -> int:
        return (
            self.seen.nbytes
            + self.viewers.nbytes
            + self.minute_index.nbytes
            + self.s.nbytes
            + self.v.nbytes
            + self.m.nbytes
        )
