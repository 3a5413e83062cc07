"""Live rooms, sessions and their shelves.

Streamers broadcast in fixed daily slots (China Standard Time): morning (09:30-12:00 start, at
most 3.5 h), evening (18:00-21:30 start, at most 6 h) and overnight (23:00-02:00 start, at most
8 h, live bases). A streamer's sessions are always at least two hours apart, so a one-hour window
never spans two of them. Audiences are heavy-tailed: they grow with followers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from zhibo.sim import patterns
from zhibo.sim.catalog import Catalog
from zhibo.sim.clock import DAY_MS, HOUR_MS, MINUTE_MS, midnight_ms
from zhibo.sim.identity import phones
from zhibo.sim.labels import Label
from zhibo.sim.people import (
    BANNED,
    STYLE_BOTH,
    STYLE_DAY,
    STYLE_EVENING,
    STYLE_OVERNIGHT,
    SUSPENDED,
    People,
)
from zhibo.sim.rng import Streams
from zhibo.sim.scales import Scale
from zhibo.sim.vocab import ROOTS, SESSION_OCCASIONS

SESSION_STATUSES = ("scheduled", "live", "ended", "suspended")
SCHEDULED, LIVE, ENDED, SUSPENDED_SESSION = 0, 1, 2, 3
#: Average events per viewer visit; sizes audiences to the scale's event budget.
EVENTS_PER_VISIT = 3.9

# Slot start windows (UTC hours) and longest durations.
_SLOTS = {
    "morning": (1.5, 4.0, 3.5),
    "evening": (10.0, 13.5, 6.0),
    "overnight": (15.0, 18.0, 8.0),
}


@dataclass
class Schedule:
    # Rooms, index = room_id - 1.
    room_streamer: np.ndarray
    room_of_streamer: np.ndarray
    room_created: np.ndarray
    room_titles: list[str]
    # Sessions, index = session_id - 1.
    streamer: np.ndarray
    room: np.ndarray
    day: np.ndarray
    scheduled: np.ndarray
    started: np.ndarray  # -1 when not started
    ended: np.ndarray  # -1 when not ended
    #: Where events stop: the end, the suspension, or the simulation's end for live sessions.
    events_end: np.ndarray
    status: np.ndarray
    titles: list[str]
    audience: np.ndarray
    conversion: np.ndarray
    # Shelf rows, sorted by (session, position).
    shelf_session: np.ndarray
    shelf_product: np.ndarray
    shelf_rate: np.ndarray
    shelf_slot_fee: np.ndarray  # 0 when none
    shelf_position: np.ndarray
    shelf_weight: np.ndarray
    shelf_offset: np.ndarray
    shelf_count: np.ndarray
    labels: list[Label] = field(default_factory=list)

    @property
    def session_count(self) -> int:
        return len(self.streamer)


def day_multiplier(day_start_ms: int) -> float:
    """Shopping festivals and weekends draw bigger audiences (local calendar day)."""
    local = datetime.fromtimestamp((day_start_ms + 8 * HOUR_MS) / 1000, tz=UTC)
    if (local.month, local.day) == (11, 11):
        return 2.5
    if (local.month, local.day) in ((11, 10), (12, 12)):
        return 1.7
    return 1.15 if local.weekday() >= 5 else 1.0


def _occasion(day_start_ms: int, rng: np.random.Generator) -> str:
    local = datetime.fromtimestamp((day_start_ms + 8 * HOUR_MS) / 1000, tz=UTC)
    if (local.month, local.day) in ((11, 10), (11, 11)):
        return "双11狂欢夜"
    if (local.month, local.day) == (12, 12):
        return "双12好价节"
    return SESSION_OCCASIONS[int(rng.integers(0, len(SESSION_OCCASIONS)))]


def build_schedule(
    streams: Streams,
    scale: Scale,
    start: date,
    days: int,
    people: People,
    catalog: Catalog,
    tactic_counts: dict[str, int],
) -> Schedule:
    start_ms = midnight_ms(start)
    end_ms = start_ms + days * DAY_MS
    rng = streams.get("schedule.sessions")
    n = people.streamer_count
    follower_rank = np.argsort(np.argsort(people.followers, kind="stable"), kind="stable") / max(
        1, n - 1
    )

    # Rooms: one per streamer, ids in a shuffled order (a room id is not a streamer id).
    room_order = rng.permutation(n)
    room_streamer = room_order
    room_of_streamer = np.empty(n, dtype=np.int64)
    room_of_streamer[room_order] = np.arange(n)
    room_created = people.created[room_streamer] + rng.integers(0, 3 * DAY_MS, n)
    room_titles = [f"{people.display_names[s]}的直播间" for s in room_streamer]

    rows_streamer: list[np.ndarray] = []
    rows_scheduled: list[np.ndarray] = []
    rows_duration: list[np.ndarray] = []
    rows_day: list[np.ndarray] = []
    suspended_first: dict[int, int] = {}
    for d in range(days + 1):
        day_ms = start_ms + d * DAY_MS
        eligible = (people.status != BANNED) & (people.created < day_ms)
        eligible &= (people.suspend_day < 0) | (d <= people.suspend_day)
        boost = min(1.3, day_multiplier(day_ms) ** 0.3)
        on = eligible & (rng.random(n) < np.minimum(0.97, people.activity * boost))
        # A streamer suspended today was live today.
        on |= eligible & (people.suspend_day == d)
        if d == days:
            # Only some of tomorrow's sessions are already announced.
            on &= rng.random(n) < 0.6
        style = people.style
        u = rng.random(n)
        both = on & (style == STYLE_BOTH) & (u < 0.35)
        morning = on & ((style == STYLE_DAY) | ((style == STYLE_BOTH) & ((u < 0.35) | (u > 0.8))))
        evening = on & ((style == STYLE_EVENING) | ((style == STYLE_BOTH) & (u <= 0.8)) | both)
        overnight = on & (style == STYLE_OVERNIGHT)
        for slot, mask in (("morning", morning), ("evening", evening), ("overnight", overnight)):
            who = np.flatnonzero(mask)
            if len(who) == 0:
                continue
            lo, hi, longest = _SLOTS[slot]
            start_h = lo + (hi - lo) * rng.random(len(who))
            scheduled = day_ms + (np.round(start_h * 2) / 2 * HOUR_MS).astype(np.int64)
            bigger = 1.0 + 0.5 * follower_rank[who]
            hours = np.minimum(longest, (1.0 + (longest - 1.0) * rng.beta(2, 3, len(who))) * bigger)
            rows_streamer.append(who)
            rows_scheduled.append(scheduled)
            rows_duration.append((hours * HOUR_MS).astype(np.int64))
            rows_day.append(np.full(len(who), d))

    streamer = np.concatenate(rows_streamer)
    scheduled = np.concatenate(rows_scheduled)
    duration = np.concatenate(rows_duration)
    day = np.concatenate(rows_day)
    order = np.lexsort((streamer, scheduled))
    streamer, scheduled, duration, day = (
        streamer[order],
        scheduled[order],
        duration[order],
        day[order],
    )
    m = len(streamer)
    delay = np.minimum(rng.lognormal(np.log(2 * MINUTE_MS), 0.8, m), 15 * MINUTE_MS)
    started = scheduled + delay.astype(np.int64)
    planned_end = started + duration

    # Suspensions: a suspended streamer's first session on their suspension day, and a few
    # random stream suspensions of active streamers.
    suspend = np.zeros(m, dtype=bool)
    drop = np.zeros(m, dtype=bool)
    for i in np.flatnonzero(people.suspend_day[streamer] == day):
        s = int(streamer[i])
        if s in suspended_first:
            drop[i] = True
        else:
            suspended_first[s] = int(i)
            suspend[i] = True
    suspend |= (rng.random(m) < 0.003) & (people.status[streamer] != SUSPENDED)
    keep = ~drop
    streamer, scheduled, day, started, planned_end, suspend = (
        streamer[keep],
        scheduled[keep],
        day[keep],
        started[keep],
        planned_end[keep],
        suspend[keep],
    )
    m = len(streamer)
    cut = started + ((planned_end - started) * rng.uniform(0.2, 0.8, m)).astype(np.int64)

    status = np.full(m, ENDED)
    ended = planned_end.copy()
    status[suspend] = SUSPENDED_SESSION
    ended[suspend] = cut[suspend]
    live = ended >= end_ms
    status[live] = LIVE
    ended[live] = -1
    not_started = started >= end_ms
    status[not_started] = SCHEDULED
    ended[not_started] = -1
    started = np.where(not_started, -1, started)
    events_end = np.where(status == LIVE, end_ms, ended)

    # Titles.
    titles: list[str] = []
    for j in range(m):
        host = int(streamer[j])
        themes = ROOTS[int(people.root[host])].themes
        theme = themes[int(rng.integers(0, len(themes)))]
        occasion = _occasion(start_ms + int(day[j]) * DAY_MS, rng)
        if rng.random() < 0.3:
            titles.append(f"{people.display_names[host]}·{theme}｜{occasion}")
        else:
            titles.append(f"{theme}｜{occasion}")

    # Audiences: heavy-tailed in followers, boosted on festival days, fitted to the budget.
    on_air = status != SCHEDULED
    day_mult = np.array([day_multiplier(start_ms + int(d_) * DAY_MS) for d_ in day])
    air_hours = np.where(on_air, (events_end - started) / HOUR_MS, 0.0)
    weight = (
        (people.followers[streamer].astype(np.float64) + 50.0) ** 1.05
        * day_mult
        * rng.lognormal(0.0, 0.35, m)
        * np.sqrt(np.maximum(air_hours, 0.05))
    )
    weight[~on_air] = 0.0
    visits_target = scale.events_target / EVENTS_PER_VISIT
    audience = _fit_audiences(weight, visits_target, cap=max(20, int(scale.viewers * 0.7)))
    # Top streamers convert far better (trust, negotiated prices, professional teams).
    conversion = (
        (0.6 + 2.0 * follower_rank[streamer] ** 6)
        * rng.lognormal(0.0, 0.25, m)
        * np.where(day_mult >= 2.0, 1.5, 1.0)
    )

    labels: list[Label] = []
    rng_t = streams.get("schedule.tactics")
    lure_sessions = np.flatnonzero(on_air)
    k = min(tactic_counts["off_platform_lure_session_title"], len(lure_sessions))
    chosen = np.sort(rng_t.choice(lure_sessions, k, replace=False)) if k else lure_sessions[:0]
    for i in chosen:
        kind, text = patterns.title_lure(rng_t, phones(rng_t, 1)[0])
        titles[i] = titles[i] + text
        labels.append(
            Label(
                tactic="off_platform_lure",
                entity_type="session",
                entity_id=int(i) + 1,
                session_id=int(i) + 1,
                window_start_ms=int(started[i]),
                window_end_ms=int(events_end[i]),
                detail={"field": "session_title", "kind": kind, "text": text.strip()},
            )
        )

    shelf = _build_shelves(streams, people, catalog, streamer, scheduled, follower_rank)
    return Schedule(
        room_streamer=room_streamer,
        room_of_streamer=room_of_streamer,
        room_created=room_created,
        room_titles=room_titles,
        streamer=streamer,
        room=room_of_streamer[streamer],
        day=day,
        scheduled=scheduled,
        started=started,
        ended=ended,
        events_end=events_end,
        status=status,
        titles=titles,
        audience=audience,
        conversion=conversion,
        labels=labels,
        **shelf,
    )


def _fit_audiences(weight: np.ndarray, total: float, cap: int) -> np.ndarray:
    """Audiences proportional to ``weight`` adding up to ``total``, none above ``cap``: what a
    capped session cannot take goes to the others (a few rounds of water-filling)."""
    audience = np.zeros(len(weight))
    free = weight > 0
    remaining = total
    for _ in range(6):
        if remaining <= 0 or not free.any():
            break
        share = np.where(free, weight, 0.0)
        raw = share / share.sum() * remaining
        audience = np.where(free, np.minimum(audience + raw, cap), audience)
        free &= audience < cap
        remaining = total - audience.sum()
    out = np.round(audience).astype(np.int64)
    out[weight > 0] = np.maximum(out[weight > 0], 2)
    return out


def _build_shelves(
    streams: Streams,
    people: People,
    catalog: Catalog,
    streamer: np.ndarray,
    scheduled: np.ndarray,
    follower_rank: np.ndarray,
) -> dict[str, np.ndarray]:
    rng = streams.get("schedule.shelves")
    m = len(streamer)
    rank = follower_rank[streamer]
    size = np.minimum(40, 5 + np.floor(35 * rank**1.5 * rng.uniform(0.6, 1.0, m))).astype(np.int64)

    # Active products grouped by root, with cumulative popularity for weighted draws.
    active = np.flatnonzero(catalog.active)
    by_root = active[np.argsort(catalog.root[active], kind="stable")]
    cum = np.concatenate([[0.0], np.cumsum(catalog.popularity[by_root])])
    n_roots = len(ROOTS)
    seg_counts = np.bincount(catalog.root[by_root], minlength=n_roots)
    seg_hi = np.cumsum(seg_counts)
    seg_lo = seg_hi - seg_counts
    # Roots without an active product draw from the whole pool.
    empty = seg_counts == 0
    seg_lo = np.where(empty, 0, seg_lo)
    seg_hi = np.where(empty, len(by_root), seg_hi)

    draws = size + 6
    row_session = np.repeat(np.arange(m), draws)
    u = rng.random(len(row_session))
    s = streamer[row_session]
    root = np.where(u < 0.7, people.root[s], people.root2[s])
    anywhere = u >= 0.9
    lo = np.where(anywhere, 0, seg_lo[root])
    hi = np.where(anywhere, len(by_root), seg_hi[root])
    target = cum[lo] + rng.random(len(row_session)) * (cum[hi] - cum[lo])
    pos = np.clip(np.searchsorted(cum, target, side="right") - 1, lo, hi - 1)
    product = by_root[pos]

    # One row per (session, product); keep the session's first ``size`` in a random order.
    key = row_session.astype(np.int64) * (catalog.product_count + 1) + product
    key, first = np.unique(key, return_index=True)
    row_session = row_session[first]
    product = product[first]
    shuffle = rng.random(len(product))
    order = np.lexsort((shuffle, row_session))
    row_session, product = row_session[order], product[order]
    counts = np.bincount(row_session, minlength=m)
    offsets = np.cumsum(counts) - counts
    position = np.arange(len(row_session)) - np.repeat(offsets, counts)
    keep = position < size[row_session]
    row_session, product, position = row_session[keep], product[keep], position[keep] + 1
    counts = np.bincount(row_session, minlength=m)
    offsets = np.cumsum(counts) - counts

    rows = catalog.row_at(product, scheduled[row_session])
    base_rate = catalog.ph_rate[rows].astype(np.int64)
    top = rank[row_session] >= 0.95
    bump = np.where(top, np.round(rng.uniform(0, 1500, len(product)) / 50) * 50, 0)
    rate = np.clip(base_rate + bump, 0, 10_000).astype(np.int32)
    fee_eligible = (rank[row_session] >= 0.9) & (rng.random(len(product)) < 0.4)
    followers = people.followers[streamer[row_session]].astype(np.float64)
    fee_yuan = rng.lognormal(np.log(2000.0 * np.sqrt(np.maximum(followers, 1e3) / 1e5)), 0.5)
    slot_fee = np.where(fee_eligible, np.round(fee_yuan / 100) * 100 * 100, 0).astype(np.int64)
    weight = catalog.popularity[product] / position**0.3
    return {
        "shelf_session": row_session,
        "shelf_product": product,
        "shelf_rate": rate,
        "shelf_slot_fee": slot_fee,
        "shelf_position": position.astype(np.int32),
        "shelf_weight": weight,
        "shelf_offset": offsets,
        "shelf_count": counts,
    }
