"""Session-level illegal tactics: which sessions get them, the accounts they need, and their
events. Every instance yields a :class:`Label`; nothing about it is written to the data files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from zhibo.sim import patterns
from zhibo.sim.activity import (
    BRUSHED_REFUNDED,
    BRUSHED_SHIPPED,
    CART,
    COMMENT,
    ENTER,
    GIFT,
    GIFT_ID,
    GIFT_PRICE,
    LEAVE,
    LIKE,
    ORDER,
    Activity,
    EventBatch,
    order_columns,
)
from zhibo.sim.clock import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from zhibo.sim.identity import hashed_ids, phones
from zhibo.sim.labels import Label
from zhibo.sim.output import ADDRESS_SALT
from zhibo.sim.people import AccountGroup, People
from zhibo.sim.rng import Streams
from zhibo.sim.schedule import ENDED, Schedule
from zhibo.sim.vocab import HIRED_COMMENTS, HIRED_SUFFIXES

#: Instances per tactic at ``tactic_factor`` 1 (the small scale).
BASE_COUNTS = {
    "order_brushing": 12,
    "bot_viewers": 6,
    "like_storm": 8,
    "banned_terms": 30,
    "fake_original_price": 20,
    "minor_tipping": 10,
    "blacklist_evasion": 6,
    "off_platform_lure_comment": 10,
    "off_platform_lure_product": 10,
    "off_platform_lure_session_title": 4,
    "duplicate_comments": 10,
}
SESSION_TACTICS = (
    "order_brushing",
    "bot_viewers",
    "like_storm",
    "minor_tipping",
    "off_platform_lure_comment",
    "duplicate_comments",
)
#: Brushing rings' share of orders / unique buyers in their window is at least this.
BRUSHING_RATIO = 3


def tactic_counts(factor: float) -> dict[str, int]:
    return {name: max(1, math.ceil(count * factor)) for name, count in BASE_COUNTS.items()}


@dataclass
class Instance:
    tactic: str
    session: int
    group: AccountGroup | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _own_devices(k: int) -> list[list[int]]:
    return [[i] for i in range(k)]


def plan_session_tactics(
    streams: Streams, schedule: Schedule, people: People, counts: dict[str, int]
) -> tuple[list[Instance], list[AccountGroup]]:
    """Choose disjoint target sessions per tactic and describe the accounts each needs."""
    rng = streams.get("tactics.plan")
    sch = schedule
    duration = sch.events_end - sch.started
    candidates = np.flatnonzero(
        (sch.status == ENDED)
        & (duration >= 75 * MINUTE_MS)
        & (sch.audience >= 3)
        & (sch.shelf_count > 0)
    )
    n_streamers = people.streamer_count
    rank = np.argsort(np.argsort(people.followers, kind="stable"), kind="stable") / max(
        1, n_streamers - 1
    )
    candidates = rng.permutation(candidates)
    used: set[int] = set()

    def pick(k: int, ok: np.ndarray | None = None) -> list[int]:
        chosen: list[int] = []
        for s in candidates:
            if len(chosen) >= k:
                break
            if int(s) in used or (ok is not None and not ok[s]):
                continue
            used.add(int(s))
            chosen.append(int(s))
        return sorted(chosen)

    instances: list[Instance] = []
    groups: list[AccountGroup] = []
    # Brushing targets small and mid-size streamers, whose rank the fake orders move.
    not_top = rank[sch.streamer] < 0.9
    for s in pick(counts["order_brushing"], not_top):
        k = int(rng.integers(3, 9))
        n_dev = 1 if rng.random() < 0.5 else 2
        member_devices = [
            [i % n_dev] if rng.random() < 0.6 else list(range(n_dev)) for i in range(k)
        ]
        created = sch.started[s] - (3 * DAY_MS + 37 * DAY_MS * rng.random(k)).astype(np.int64)
        group = AccountGroup(
            key=f"ring:{s}",
            created=created,
            verified=True,
            n_devices=n_dev,
            member_devices=member_devices,
            n_ips=1,
            member_ip=np.zeros(k, dtype=np.int64),
            shared_address=True,
        )
        groups.append(group)
        instances.append(
            Instance("order_brushing", s, group, {"refund_fast": bool(rng.random() < 0.5)})
        )

    # Bot farms: each serves a few flooded sessions.
    bot_sessions = pick(counts["bot_viewers"])
    sizes = [int(np.clip(sch.audience[s] * rng.uniform(3, 6), 120, 600)) for s in bot_sessions]
    n_farms = max(1, math.ceil(len(bot_sessions) / 3))
    for f in range(n_farms):
        served = bot_sessions[f::n_farms]
        if not served:
            continue
        farm_size = int(max(sizes[i] for i in range(f, len(bot_sessions), n_farms)) * 1.3)
        first_use = min(int(sch.started[s]) for s in served)
        created = first_use - (5 * DAY_MS + 55 * DAY_MS * rng.random(farm_size)).astype(np.int64)
        n_dev = max(2, farm_size // 8)
        n_ips = max(2, farm_size // 40)
        group = AccountGroup(
            key=f"farm:{f}",
            created=created,
            verified=False,
            n_devices=n_dev,
            member_devices=[[int(d)] for d in rng.integers(0, n_dev, farm_size)],
            n_ips=n_ips,
            member_ip=rng.integers(0, n_ips, farm_size),
        )
        groups.append(group)
        for i in range(f, len(bot_sessions), n_farms):
            instances.append(Instance("bot_viewers", bot_sessions[i], group, {"bots": sizes[i]}))

    for s in pick(counts["like_storm"]):
        k = int(rng.integers(2, 6))
        created = sch.started[s] - (DAY_MS + 29 * DAY_MS * rng.random(k)).astype(np.int64)
        group = AccountGroup(
            key=f"storm:{s}",
            created=created,
            verified=False,
            n_devices=k,
            member_devices=_own_devices(k),
            n_ips=k,
            member_ip=np.arange(k),
        )
        groups.append(group)
        instances.append(Instance("like_storm", s, group))

    for s in pick(counts["minor_tipping"]):
        instances.append(Instance("minor_tipping", s, None, {"minors": int(rng.integers(1, 5))}))

    for s in pick(counts["off_platform_lure_comment"]):
        k = int(rng.integers(1, 3))
        created = sch.started[s] - (DAY_MS + 19 * DAY_MS * rng.random(k)).astype(np.int64)
        group = AccountGroup(
            key=f"lure:{s}",
            created=created,
            verified=False,
            n_devices=k,
            member_devices=_own_devices(k),
            n_ips=k,
            member_ip=np.arange(k),
        )
        groups.append(group)
        instances.append(Instance("off_platform_lure", s, group))

    for s in pick(counts["duplicate_comments"]):
        k = int(rng.integers(5, 16))
        created = sch.started[s] - (10 * DAY_MS + 190 * DAY_MS * rng.random(k)).astype(np.int64)
        n_dev = max(2, k // 3)
        group = AccountGroup(
            key=f"hired:{s}",
            created=created,
            verified=bool(rng.random() < 0.5),
            n_devices=n_dev,
            member_devices=[[int(d)] for d in rng.integers(0, n_dev, k)],
            n_ips=2,
            member_ip=rng.integers(0, 2, k),
        )
        groups.append(group)
        instances.append(Instance("duplicate_comments", s, group))
    return instances, groups


class Injector:
    """Generates the events (and labels) of planned instances, one day at a time."""

    def __init__(
        self,
        streams: Streams,
        activity: Activity,
        instances: list[Instance],
    ) -> None:
        self.streams = streams
        self.activity = activity
        self.schedule = activity.schedule
        self.viewers = activity.viewers
        self.catalog = activity.catalog
        self.instances = instances
        self.labels: list[Label] = []

    def day(self, day: int, clean: EventBatch) -> EventBatch:
        batches: list[EventBatch] = []
        for instance in self.instances:
            if int(self.schedule.day[instance.session]) != day:
                continue
            rng = self.streams.get(f"tactics.{instance.tactic}.{instance.session}")
            handler = getattr(self, "_" + instance.tactic)
            batches.append(handler(rng, instance, clean))
        return EventBatch.concat(batches)

    # -- helpers ------------------------------------------------------------------------------

    def _window(self, s: int) -> tuple[int, int]:
        return int(self.schedule.started[s]), int(self.schedule.events_end[s])

    def _visits(
        self,
        s: int,
        members: np.ndarray,
        devices: np.ndarray,
        ips: np.ndarray,
        enter: np.ndarray,
        leave: np.ndarray,
    ) -> list[EventBatch]:
        k = len(members)
        session = np.full(k, s)
        return [
            EventBatch.build(enter, session, members, devices, ips, np.full(k, ENTER)),
            EventBatch.build(leave, session, members, devices, ips, np.full(k, LEAVE)),
        ]

    def _member_devices(self, group: AccountGroup, rng: np.random.Generator) -> np.ndarray:
        v = self.viewers
        m = group.members
        row = v.device_offset[m] + np.floor(rng.random(len(m)) * v.device_count[m]).astype(np.int64)
        return v.vd_device[row]

    def _label(
        self, instance: Instance, users: np.ndarray, start: int, end: int, **detail: Any
    ) -> None:
        s = instance.session
        tactic = instance.tactic
        self.labels.append(
            Label(
                tactic=tactic,
                entity_type="session",
                entity_id=s + 1,
                session_id=s + 1,
                user_ids=sorted(int(u) + 1 for u in users),
                window_start_ms=start,
                window_end_ms=end,
                detail=detail,
            )
        )

    # -- tactics ------------------------------------------------------------------------------

    def _order_brushing(
        self, rng: np.random.Generator, instance: Instance, clean: EventBatch
    ) -> EventBatch:
        s = instance.session
        group = instance.group
        assert group is not None
        t0, t1 = self._window(s)
        w0 = t0 + int(rng.random() * max(0, t1 - t0 - 65 * MINUTE_MS))
        w1 = w0 + HOUR_MS
        in_window = (
            (clean.session == s) & (clean.type == ORDER) & (clean.ts >= w0) & (clean.ts < w1)
        )
        clean_orders = int(in_window.sum())
        clean_buyers = len(np.unique(clean.viewer[in_window]))
        members = group.members
        k = len(members)
        need = BRUSHING_RATIO * (k + clean_buyers) - clean_orders
        ring_orders = max(need, BRUSHING_RATIO * k) + int(rng.integers(0, k + 1))
        per_member = 1 + rng.multinomial(ring_orders - k, np.full(k, 1.0 / k))
        buyer_idx = np.repeat(np.arange(k), per_member)
        ts = w0 + rng.integers(MINUTE_MS, 55 * MINUTE_MS, ring_orders)
        # Distinct, increasing times per member (one order per millisecond at most).
        order = np.lexsort((ts, buyer_idx))
        buyer_idx, ts = buyer_idx[order], ts[order]
        ts = ts + np.arange(ring_orders) % 1000
        # Most orders go to one product: the one whose rank the ring is buying up.
        lo = int(self.schedule.shelf_offset[s])
        count = int(self.schedule.shelf_count[s])
        main = lo + int(rng.integers(0, count))
        rows = np.where(
            rng.random(ring_orders) < 0.8, main, lo + rng.integers(0, count, ring_orders)
        )
        cols = order_columns(
            rng, self.schedule, self.catalog, rows, ts, np.ones(ring_orders, dtype=np.int64)
        )
        # Each member buys from one of the ring's shared devices.
        member_dev = self._member_devices(group, rng)
        devices = member_dev[buyer_idx]
        ip = np.full(ring_orders, group.ips[0])
        viewer = members[buyer_idx]
        session = np.full(ring_orders, s)
        kind = BRUSHED_REFUNDED if instance.params["refund_fast"] else BRUSHED_SHIPPED
        cart_ts = ts - rng.integers(3 * SECOND_MS, 30 * SECOND_MS, ring_orders)
        batches = [
            EventBatch.build(
                cart_ts,
                session,
                viewer,
                devices,
                ip,
                np.full(ring_orders, CART),
                product=cols["product"],
            ),
            EventBatch.build(
                ts,
                session,
                viewer,
                devices,
                ip,
                np.full(ring_orders, ORDER),
                product=cols["product"],
                amount=cols["amount"],
                quantity=cols["quantity"],
                unit_price=cols["unit_price"],
                rate=cols["rate"],
                address=np.full(ring_orders, group.address),
                kind=np.full(ring_orders, kind),
            ),
        ]
        first = np.array([cart_ts[buyer_idx == i].min() for i in range(k)])
        last = np.array([ts[buyer_idx == i].max() for i in range(k)])
        enter = np.maximum(first - rng.integers(30 * SECOND_MS, 3 * MINUTE_MS, k), t0)
        leave = np.minimum(last + rng.integers(10 * SECOND_MS, 2 * MINUTE_MS, k), t1)
        batches += self._visits(s, members, member_dev, np.full(k, group.ips[0]), enter, leave)
        self.labels.append(
            Label(
                tactic="order_brushing",
                entity_type="streamer",
                entity_id=int(self.schedule.streamer[s]) + 1,
                session_id=s + 1,
                user_ids=sorted(int(u) + 1 for u in members),
                window_start_ms=w0,
                window_end_ms=w1,
                detail={
                    "ring_orders": ring_orders,
                    "orders_in_window": ring_orders + clean_orders,
                    "unique_buyers_in_window": k + clean_buyers,
                    "ring_size": k,
                    "refunded_after_stream": bool(instance.params["refund_fast"]),
                    "shared_device_count": group.n_devices,
                    "address_hash": hashed_ids(
                        "", np.array([group.address], dtype=np.int64), ADDRESS_SALT
                    )[0].as_py(),
                },
            )
        )
        return EventBatch.concat(batches)

    def _bot_viewers(
        self, rng: np.random.Generator, instance: Instance, clean: EventBatch
    ) -> EventBatch:
        s = instance.session
        group = instance.group
        assert group is not None
        t0, t1 = self._window(s)
        m = min(int(instance.params["bots"]), len(group.members))
        # A flood runs on a block of the farm's phones: all accounts on those phones.
        by_phone = np.argsort([d[0] for d in group.member_devices], kind="stable")
        first = int(rng.integers(0, len(by_phone) - m + 1))
        bots = np.sort(group.members[by_phone[first : first + m]])
        # Arrivals in one to three synchronised bursts; the same dwell for every bot.
        bursts = int(rng.integers(1, 4))
        burst_at = t0 + (rng.uniform(0.1, 0.6, bursts) * (t1 - t0)).astype(np.int64)
        which = rng.integers(0, bursts, m)
        enter = burst_at[which] + rng.integers(0, 60 * SECOND_MS, m)
        dwell_s = int(rng.integers(300, 900))
        leave = np.minimum(enter + dwell_s * SECOND_MS + rng.integers(-2000, 2000, m), t1)
        v = self.viewers
        row = v.device_offset[bots]
        devices = v.vd_device[row]
        ips = v.home_ip[bots]
        audience = int(((clean.session == s) & (clean.type == ENTER)).sum())
        self._label(
            instance,
            bots,
            int(enter.min()),
            int(leave.max()),
            bots=m,
            devices=len(np.unique(devices)),
            ips=len(np.unique(ips)),
            dwell_s=dwell_s,
            bursts=bursts,
            ordinary_viewers=audience,
        )
        return EventBatch.concat(self._visits(s, bots, devices, ips, enter, leave))

    def _like_storm(
        self, rng: np.random.Generator, instance: Instance, clean: EventBatch
    ) -> EventBatch:
        s = instance.session
        group = instance.group
        assert group is not None
        t0, t1 = self._window(s)
        members = group.members
        k = len(members)
        span = int(rng.integers(2, 6)) * MINUTE_MS
        w0 = t0 + int(rng.random() * max(1, t1 - t0 - span - 2 * MINUTE_MS)) + MINUTE_MS
        w1 = w0 + span
        n_events = rng.integers(40, 121, k)
        who = np.repeat(np.arange(k), n_events)
        ts = w0 + rng.integers(0, span, len(who))
        likes = rng.integers(200, 1000, len(who))
        devices = self._member_devices(group, rng)
        ips = self.viewers.home_ip[members]
        total = int(likes.sum())
        self._label(instance, members, w0, w1, likes=total, like_events=len(who))
        enter = np.maximum(w0 - rng.integers(0, 60 * SECOND_MS, k), t0)
        leave = np.minimum(w1 + rng.integers(1, 60 * SECOND_MS, k), t1)
        batches = [
            EventBatch.build(
                ts,
                np.full(len(who), s),
                members[who],
                devices[who],
                ips[who],
                np.full(len(who), LIKE),
                count=likes,
            )
        ]
        batches += self._visits(s, members, devices, ips, enter, leave)
        return EventBatch.concat(batches)

    def _minor_tipping(
        self, rng: np.random.Generator, instance: Instance, clean: EventBatch
    ) -> EventBatch:
        s = instance.session
        t0, t1 = self._window(s)
        v = self.viewers
        present = np.unique(clean.viewer[clean.session == s])
        minors = np.flatnonzero(v.minor & (v.created < t0))
        minors = np.setdiff1d(minors, present)
        k = min(int(instance.params["minors"]), len(minors))
        if k == 0:
            return EventBatch.empty()
        who_minors = np.sort(rng.choice(minors, k, replace=False))
        devices, ips = self.activity.device_and_ip(rng, who_minors)
        n_gifts = rng.integers(3, 21, k)
        who = np.repeat(np.arange(k), n_gifts)
        span = int(rng.integers(10, 41)) * MINUTE_MS
        w0 = t0 + int(rng.random() * max(1, t1 - t0 - span - 2 * MINUTE_MS)) + MINUTE_MS
        ts = w0 + rng.integers(0, span, len(who))
        # Minors tipping tend to send mid-priced gifts, sometimes expensive ones.
        gift = rng.choice(len(GIFT_ID), len(who), p=_MINOR_GIFT_P)
        enter = np.maximum(
            np.array([ts[who == i].min() for i in range(k)])
            - rng.integers(SECOND_MS, 5 * MINUTE_MS, k),
            t0,
        )
        leave = np.minimum(
            np.array([ts[who == i].max() for i in range(k)])
            + rng.integers(SECOND_MS, 5 * MINUTE_MS, k),
            t1,
        )
        amount = GIFT_PRICE[gift]
        self._label(
            instance,
            who_minors,
            int(ts.min()),
            int(ts.max()),
            gifts=len(who),
            amount_fen=int(amount.sum()),
        )
        batches = [
            EventBatch.build(
                ts,
                np.full(len(who), s),
                who_minors[who],
                devices[who],
                ips[who],
                np.full(len(who), GIFT),
                gift=GIFT_ID[gift],
                amount=amount,
            )
        ]
        batches += self._visits(s, who_minors, devices, ips, enter, leave)
        return EventBatch.concat(batches)

    def _off_platform_lure(
        self, rng: np.random.Generator, instance: Instance, clean: EventBatch
    ) -> EventBatch:
        s = instance.session
        group = instance.group
        assert group is not None
        t0, t1 = self._window(s)
        members = group.members
        k = len(members)
        kind, contact, template = patterns.comment_lure(rng, phones(rng, 1)[0])
        n_comments = rng.integers(1, 4, k)
        who = np.repeat(np.arange(k), n_comments)
        ts = t0 + MINUTE_MS + (rng.random(len(who)) * (t1 - t0 - 2 * MINUTE_MS)).astype(np.int64)
        texts = [patterns.fill(template, contact) for _ in who]
        devices = self._member_devices(group, rng)
        ips = self.viewers.home_ip[members]
        enter = np.array([ts[who == i].min() for i in range(k)]) - rng.integers(
            SECOND_MS, MINUTE_MS, k
        )
        leave = np.array([ts[who == i].max() for i in range(k)]) + rng.integers(
            SECOND_MS, MINUTE_MS, k
        )
        self._label(
            instance,
            members,
            int(ts.min()),
            int(ts.max()),
            kind=kind,
            contact=contact,
            text=texts[0],
            comments=len(texts),
        )
        batches = [
            EventBatch.build(
                ts,
                np.full(len(who), s),
                members[who],
                devices[who],
                ips[who],
                np.full(len(who), COMMENT),
                text=pa.array(texts, type=pa.string()),
            )
        ]
        batches += self._visits(
            s, members, devices, ips, np.maximum(enter, t0), np.minimum(leave, t1)
        )
        return EventBatch.concat(batches)

    def _duplicate_comments(
        self, rng: np.random.Generator, instance: Instance, clean: EventBatch
    ) -> EventBatch:
        s = instance.session
        group = instance.group
        assert group is not None
        t0, t1 = self._window(s)
        members = group.members
        k = len(members)
        base = HIRED_COMMENTS[int(rng.integers(0, len(HIRED_COMMENTS)))]
        span = int(rng.integers(10, 31)) * MINUTE_MS
        w0 = t0 + int(rng.random() * max(1, t1 - t0 - span - 2 * MINUTE_MS)) + MINUTE_MS
        n_comments = rng.integers(1, 5, k)
        who = np.repeat(np.arange(k), n_comments)
        ts = w0 + rng.integers(0, span, len(who))
        suffix = rng.integers(0, len(HIRED_SUFFIXES), len(who))
        texts = [base + HIRED_SUFFIXES[j] for j in suffix]
        devices = self._member_devices(group, rng)
        ips = self.viewers.home_ip[members]
        enter = np.maximum(
            np.array([ts[who == i].min() for i in range(k)])
            - rng.integers(SECOND_MS, 3 * MINUTE_MS, k),
            t0,
        )
        leave = np.minimum(
            np.array([ts[who == i].max() for i in range(k)])
            + rng.integers(SECOND_MS, 3 * MINUTE_MS, k),
            t1,
        )
        self._label(instance, members, int(ts.min()), int(ts.max()), text=base, comments=len(texts))
        batches = [
            EventBatch.build(
                ts,
                np.full(len(who), s),
                members[who],
                devices[who],
                ips[who],
                np.full(len(who), COMMENT),
                text=pa.array(texts, type=pa.string()),
            )
        ]
        batches += self._visits(s, members, devices, ips, enter, leave)
        return EventBatch.concat(batches)


# Gift choice for minors: skewed to mid and high prices (玫瑰 .. 火箭).
_MINOR_GIFT_P = np.array([0.05, 0.1, 0.1, 0.15, 0.15, 0.2, 0.13, 0.08, 0.04, 0.0])
_MINOR_GIFT_P = _MINOR_GIFT_P / _MINOR_GIFT_P.sum()

__all__ = ["BASE_COUNTS", "Injector", "Instance", "plan_session_tactics", "tactic_counts"]
