"""``generate``: build a whole simulated platform and write it as Parquet files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zhibo.sim import output
from zhibo.sim.activity import EVENT_TYPES, FOLLOW, ORDER, Activity, EventBatch
from zhibo.sim.catalog import NO_REFERENCE, Catalog, build_catalog
from zhibo.sim.clock import DAY_MS, midnight_ms
from zhibo.sim.identity import hashed_ids
from zhibo.sim.labels import TACTICS, Label
from zhibo.sim.orders import ORDER_STATUSES, REFUNDED, lifecycles
from zhibo.sim.output import ADDRESS_SALT, CURRENCY, DEVICE_SALT, IP_SALT, NULL
from zhibo.sim.people import (
    PARTNER_KINDS,
    STREAMER_STATUSES,
    People,
    Viewers,
    build_people,
    build_viewers,
)
from zhibo.sim.rng import Streams
from zhibo.sim.scales import Scale, resolve_scale
from zhibo.sim.schedule import SCHEDULED, SESSION_STATUSES, Schedule, build_schedule
from zhibo.sim.tactics import Injector, plan_session_tactics, tactic_counts
from zhibo.sim.vocab import BLACKLIST_REASONS

DEFAULT_START = date(2026, 11, 1)
FORMAT_VERSION = 1


class _Steps:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]simulate[/] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._progress.add_task("starting", total=total)

    def __enter__(self) -> _Steps:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def doing(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def done(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)


@dataclass
class _Orders:
    """Order events collected in written order (order_id = index + 1)."""

    parts: list[EventBatch] = field(default_factory=list)

    def add(self, batch: EventBatch) -> None:
        self.parts.append(batch.take(np.flatnonzero(batch.type == ORDER)))

    def all(self) -> EventBatch:
        return EventBatch.concat(self.parts)


def generate(
    seed: int,
    scale: str | Scale,
    out: Path,
    start: date | None = None,
    days: int | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Simulate a platform from ``seed`` and write it to ``out``; returns rows per file (by
    file stem, e.g. ``"events"``). The same arguments always write byte-identical files."""
    sc = resolve_scale(scale, days)
    start = start or DEFAULT_START
    n_days = sc.days
    start_ms = midnight_ms(start)
    end_ms = start_ms + n_days * DAY_MS
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    streams = Streams(seed)
    counts = tactic_counts(sc.tactic_factor)
    rows: dict[str, int] = {}

    with _Steps(progress, total=6 + n_days + len(output.FILES)) as steps:
        steps.doing("catalogue")
        catalog = build_catalog(streams, sc, start, n_days, counts)
        steps.done()
        steps.doing("people")
        people = build_people(streams, sc, start, n_days, counts)
        steps.done()
        steps.doing("sessions")
        schedule = build_schedule(streams, sc, start, n_days, people, catalog, counts)
        instances, groups = plan_session_tactics(streams, schedule, people, counts)
        steps.done()
        steps.doing("viewers")
        viewers = build_viewers(streams, sc, start, groups)
        steps.done()

        activity = Activity(schedule, catalog, viewers)
        injector = Injector(streams, activity, instances)
        events = output.StreamWriter(out / "events.parquet", "events")
        collected = _Orders()
        followed = np.zeros(0, dtype=np.int64)
        carry = EventBatch.empty()
        next_event = 0
        n_rooms = len(schedule.room_streamer)
        for d in range(n_days):
            steps.doing(f"events day {d + 1}/{n_days}")
            sessions = np.flatnonzero((schedule.day == d) & (schedule.status != SCHEDULED))
            rng = streams.get(f"activity.day.{d}")
            clean = EventBatch.concat(
                [activity.day(rng, chunk) for chunk in _chunks(sessions, schedule.audience)]
            )
            clean, followed = _first_follows(clean, schedule, followed, n_rooms)
            batch = EventBatch.concat([carry, clean, injector.day(d, clean)])
            del clean
            keep = np.flatnonzero(batch.ts < end_ms)
            order = keep[
                np.lexsort(
                    (batch.viewer[keep], batch.session[keep], batch.type[keep], batch.ts[keep])
                )
            ]
            # Events after midnight (overnight sessions) wait for the next day's file chunk.
            day_end = start_ms + (d + 1) * DAY_MS
            now = batch.ts[order] < day_end
            written = batch.take(order[now])
            carry = batch.take(order[~now])
            del batch
            events.write(_events_table(written, schedule, next_event))
            next_event += len(written)
            collected.add(written)
            steps.done()
        events.close()
        rows["events"] = events.rows

        steps.doing("orders")
        orders = collected.all()
        tables = _tables(streams, start_ms, end_ms, catalog, people, schedule, viewers, orders)
        labels = catalog.labels + people.labels + schedule.labels + injector.labels
        tables["labels"] = _labels_table(labels)
        steps.done()

        for name in output.FILES:
            if name == "events":
                steps.done()
                continue
            steps.doing(f"writing {name}")
            output.write(out / f"{name}.parquet", tables[name])
            rows[name] = tables[name].num_rows
            steps.done()

        steps.doing("manifest")
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "generator": "zhibo.sim",
            "seed": seed,
            "scale": sc.name,
            "start": start.isoformat(),
            "days": n_days,
            "end": date.fromordinal(start.toordinal() + n_days).isoformat(),
            "timezone": "UTC",
            "currency": CURRENCY,
            "files": {
                f"{name}.parquet": {
                    "rows": rows[name],
                    "sha256": output.sha256(out / f"{name}.parquet"),
                }
                for name in output.FILES
            },
        }
        output.write_manifest(out / "manifest.json", manifest)
        steps.done()
    return {name: rows[name] for name in output.FILES}


#: Most viewer visits generated at once (bounds the memory of a festival day).
VISITS_PER_CHUNK = 750_000


def _chunks(sessions: np.ndarray, audience: np.ndarray) -> list[np.ndarray]:
    """Consecutive groups of sessions with at most ``VISITS_PER_CHUNK`` visits (or one)."""
    if len(sessions) == 0:
        return []
    total = np.cumsum(audience[sessions])
    group = total // VISITS_PER_CHUNK
    bounds = np.flatnonzero(np.diff(group)) + 1
    return [part for part in np.split(sessions, bounds) if len(part)]


def _first_follows(
    batch: EventBatch, schedule: Schedule, followed: np.ndarray, n_rooms: int
) -> tuple[EventBatch, np.ndarray]:
    """A viewer follows a room once: drop repeated follows (earlier days and within the day)."""
    is_follow = np.flatnonzero(batch.type == FOLLOW)
    if len(is_follow) == 0:
        return batch, followed
    keys = batch.viewer[is_follow] * n_rooms + schedule.room[batch.session[is_follow]]
    by_time = np.lexsort((keys, batch.ts[is_follow]))
    _, first = np.unique(keys[by_time], return_index=True)
    first_rows = by_time[first]
    fresh = ~np.isin(keys[first_rows], followed)
    keep_follow = is_follow[first_rows[fresh]]
    keep = np.ones(len(batch), dtype=bool)
    keep[is_follow] = False
    keep[keep_follow] = True
    followed = np.union1d(followed, keys[first_rows[fresh]])
    return batch.take(np.flatnonzero(keep)), followed


def _events_table(batch: EventBatch, schedule: Schedule, first_id: int) -> pa.Table:
    n = len(batch)
    seq = pa.array(np.arange(first_id + 1, first_id + n + 1, dtype=np.int64))
    event_id = pc.binary_join_element_wise(
        "ev", pc.utf8_lpad(pc.cast(seq, pa.string()), 10, "0"), ""
    )
    has_amount = batch.amount != NULL
    return output.table(
        "events",
        {
            "event_id": event_id,
            "session_id": pa.array(batch.session + 1),
            "room_id": pa.array(schedule.room[batch.session] + 1),
            "user_id": pa.array(batch.viewer + 1),
            "device_id": hashed_ids("dv", batch.device, DEVICE_SALT),
            "ip": hashed_ids("", batch.ip, IP_SALT),
            "type": output.codes(EVENT_TYPES, batch.type),
            "ts": output.ts_array(batch.ts),
            "text": batch.text,
            "count": pa.array(batch.count, type=pa.int32(), mask=batch.count == 0),
            "product_id": pa.array(batch.product + 1, mask=batch.product == NULL),
            "amount_fen": pa.array(batch.amount, mask=~has_amount),
            "currency": pa.array(
                np.full(n, CURRENCY, dtype=object), type=pa.string(), mask=~has_amount
            ),
            "gift_id": pa.array(batch.gift, mask=batch.gift == NULL),
        },
    )


def _tables(
    streams: Streams,
    start_ms: int,
    end_ms: int,
    catalog: Catalog,
    people: People,
    schedule: Schedule,
    viewers: Viewers,
    orders: EventBatch,
) -> dict[str, pa.Table]:
    tables: dict[str, pa.Table] = {}
    tree = catalog.tree
    tables["categories"] = output.table(
        "categories",
        {
            "category_id": pa.array(tree.ids),
            "parent_id": output.nullable(tree.parent_ids, pa.int64()),
            "name": output.strings(tree.names),
            "path": output.strings(tree.paths),
            "risk_class": output.strings(tree.risk),
        },
    )
    nb = catalog.brand_count
    tables["brands"] = output.table(
        "brands",
        {
            "brand_id": output.ids(nb),
            "name": output.strings(catalog.brand_names),
            "social_credit_code": output.strings(catalog.brand_codes),
            "new_brand_date": output.date_array(catalog.brand_new_date),
            "status": output.codes(
                ("active", "blacklisted"), catalog.brand_blacklisted.astype(np.int64)
            ),
            "created_at": output.ts_array(catalog.brand_created),
        },
    )

    # Orders and their lifecycle.
    n_orders = len(orders)
    session = orders.session
    streamer = schedule.streamer[session]
    life = lifecycles(
        streams,
        paid=orders.ts,
        amount=orders.amount,
        quantity=orders.quantity.astype(np.int64),
        root=catalog.root[orders.product],
        kind=orders.kind,
        session_end=np.where(schedule.ended[session] == NULL, end_ms, schedule.ended[session]),
        end_ms=end_ms,
    )
    partner = people.partner[streamer]
    tables["orders"] = output.table(
        "orders",
        {
            "order_id": output.ids(n_orders),
            "buyer_id": pa.array(orders.viewer + 1),
            "product_id": pa.array(orders.product + 1),
            "quantity": pa.array(orders.quantity, type=pa.int32()),
            "unit_price_fen": pa.array(orders.unit_price),
            "amount_fen": pa.array(orders.amount),
            "currency": output.constant(CURRENCY, n_orders),
            "commission_rate_bp": pa.array(orders.rate, type=pa.int32()),
            "session_id": pa.array(session + 1),
            "room_id": pa.array(schedule.room[session] + 1),
            "streamer_id": pa.array(streamer + 1),
            "partner_id": pa.array(partner + 1, mask=partner == NULL),
            "status": output.codes(ORDER_STATUSES, life.status),
            "paid_at": output.ts_array(orders.ts),
            "shipped_at": output.ts_array(life.shipped),
            "delivered_at": output.ts_array(life.delivered),
            "confirmed_at": output.ts_array(life.confirmed),
            "refunded_fen": pa.array(life.refunded_fen),
            "refunded_at": output.ts_array(life.refunded_at),
            "device_id": hashed_ids("dv", orders.device, DEVICE_SALT),
            "address_hash": hashed_ids("", orders.address, ADDRESS_SALT),
        },
    )
    n_refunds = len(life.refund_order)
    tables["refunds"] = output.table(
        "refunds",
        {
            "refund_id": output.ids(n_refunds),
            "order_id": pa.array(life.refund_order + 1),
            "amount_fen": pa.array(life.refund_amount),
            "currency": output.constant(CURRENCY, n_refunds),
            "reason": output.strings(life.refund_reason),
            "refunded_at": output.ts_array(life.refund_at),
        },
    )

    # Products: current state is the last price-history row; sales over the last 30 days.
    n = catalog.product_count
    last = catalog.current_rows()
    sold = life.status != REFUNDED
    window = orders.ts >= end_ms - 30 * DAY_MS
    units = np.bincount(
        orders.product[sold & window], weights=orders.quantity[sold & window], minlength=n
    )
    days = (end_ms - start_ms) // DAY_MS
    before = max(0, 30 - days)
    rng = streams.get("catalog.sales")
    active_pop = np.where(catalog.active, catalog.popularity, 0.0)
    per_day = units.sum() / max(1, days) * active_pop / max(active_pop.sum(), 1e-9)
    baseline = rng.poisson(per_day * before) if before else np.zeros(n, dtype=np.int64)
    ref = catalog.ph_reference[last]
    tables["products"] = output.table(
        "products",
        {
            "product_id": output.ids(n),
            "brand_id": pa.array(catalog.brand + 1),
            "category_id": pa.array(tree.leaf_category_id[catalog.leaf]),
            "external_id": catalog.external_ids,
            "title": catalog.titles,
            "description": catalog.descriptions,
            "price_fen": pa.array(catalog.ph_price[last]),
            "reference_price_fen": pa.array(ref, mask=ref == NO_REFERENCE),
            "currency": output.constant(CURRENCY, n),
            "commission_rate_bp": pa.array(catalog.ph_rate[last], type=pa.int32()),
            "stock": pa.array(catalog.ph_stock[last], type=pa.int32()),
            "status": output.codes(("delisted", "active"), catalog.active.astype(np.int64)),
            "sales_30d": pa.array((units + baseline).astype(np.int64)),
            "created_at": output.ts_array(catalog.created),
        },
    )
    n_ph = len(catalog.ph_product)
    tables["price_history"] = output.table(
        "price_history",
        {
            "product_id": pa.array(catalog.ph_product + 1),
            "price_fen": pa.array(catalog.ph_price),
            "reference_price_fen": pa.array(
                catalog.ph_reference, mask=catalog.ph_reference == NO_REFERENCE
            ),
            "currency": output.constant(CURRENCY, n_ph),
            "commission_rate_bp": pa.array(catalog.ph_rate, type=pa.int32()),
            "stock": pa.array(catalog.ph_stock, type=pa.int32()),
            "effective_at": output.ts_array(catalog.ph_time),
        },
    )

    n_partners = len(people.partner_kind)
    tables["partners"] = output.table(
        "partners",
        {
            "partner_id": output.ids(n_partners),
            "name": output.strings(people.partner_names),
            "kind": output.codes(PARTNER_KINDS, people.partner_kind),
            "social_credit_code": output.strings(people.partner_codes),
            "created_at": output.ts_array(people.partner_created),
        },
    )
    ns = people.streamer_count
    tables["streamers"] = output.table(
        "streamers",
        {
            "streamer_id": output.ids(ns),
            "display_name": output.strings(people.display_names),
            "real_name": output.strings(people.real_names),
            "id_number": output.strings(people.id_numbers),
            "phone": output.strings(people.phones),
            "birth_date": output.date_array(people.birth_day),
            "partner_id": pa.array(people.partner + 1, mask=people.partner == NULL),
            "status": output.codes(STREAMER_STATUSES, people.status),
            "is_virtual": pa.array(people.virtual, type=pa.bool_()),
            "followers": pa.array(people.followers),
            "created_at": output.ts_array(people.created),
        },
    )
    nc = len(people.contract_streamer)
    tables["contracts"] = output.table(
        "contracts",
        {
            "contract_id": output.ids(nc),
            "partner_id": pa.array(people.contract_partner + 1),
            "streamer_id": pa.array(people.contract_streamer + 1),
            "partner_share_bp": pa.array(people.contract_share_bp, type=pa.int32()),
            "valid_from": output.ts_array(people.contract_valid_from),
        },
    )
    nv = viewers.count
    tables["viewers"] = output.table(
        "viewers",
        {
            "viewer_id": output.ids(nv),
            "account_created_at": output.ts_array(viewers.created),
            "real_name_verified": pa.array(viewers.verified, type=pa.bool_()),
            "is_minor": pa.array(viewers.minor, type=pa.bool_()),
            "birth_date": output.date_array(viewers.birth_day),
        },
    )
    tables["viewer_devices"] = output.table(
        "viewer_devices",
        {
            "viewer_id": pa.array(viewers.vd_viewer + 1),
            "device_id": hashed_ids("dv", viewers.vd_device, DEVICE_SALT),
        },
    )
    nr = len(schedule.room_streamer)
    tables["rooms"] = output.table(
        "rooms",
        {
            "room_id": output.ids(nr),
            "streamer_id": pa.array(schedule.room_streamer + 1),
            "title": output.strings(schedule.room_titles),
            "created_at": output.ts_array(schedule.room_created),
        },
    )
    m = schedule.session_count
    tables["sessions"] = output.table(
        "sessions",
        {
            "session_id": output.ids(m),
            "room_id": pa.array(schedule.room + 1),
            "streamer_id": pa.array(schedule.streamer + 1),
            "title": output.strings(schedule.titles),
            "status": output.codes(SESSION_STATUSES, schedule.status),
            "scheduled_start_at": output.ts_array(schedule.scheduled),
            "started_at": output.ts_array(schedule.started),
            "ended_at": output.ts_array(schedule.ended),
        },
    )
    n_shelf = len(schedule.shelf_session)
    tables["shelf"] = output.table(
        "shelf",
        {
            "session_id": pa.array(schedule.shelf_session + 1),
            "product_id": pa.array(schedule.shelf_product + 1),
            "commission_rate_bp": pa.array(schedule.shelf_rate, type=pa.int32()),
            "slot_fee_fen": pa.array(schedule.shelf_slot_fee, type=pa.int64()),
            "currency": output.constant(CURRENCY, n_shelf),
            "position": pa.array(schedule.shelf_position, type=pa.int32()),
        },
    )
    n_bl = len(people.bl_id_numbers)
    flat = np.array([v for values in people.bl_device_values for v in values], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in people.bl_device_values])])
    device_lists = pa.ListArray.from_arrays(
        pa.array(offsets, type=pa.int32()), hashed_ids("dv", flat, DEVICE_SALT)
    ).cast(output.SCHEMAS["blacklist"].field("device_ids").type)
    tables["blacklist"] = output.table(
        "blacklist",
        {
            "entry_id": output.ids(n_bl),
            "id_number": output.strings(people.bl_id_numbers),
            "phone": output.strings(people.bl_phones),
            "device_ids": device_lists,
            "reason": output.strings(people.bl_reasons),
            "legal_basis": output.strings([BLACKLIST_REASONS[r] for r in people.bl_reasons]),
            "listed_at": output.ts_array(people.bl_listed),
            "expires_at": output.ts_array(people.bl_expires),
        },
    )
    return tables


def _labels_table(labels: list[Label]) -> pa.Table:
    rank = {t: i for i, t in enumerate(TACTICS)}
    ordered = sorted(
        labels, key=lambda lb: (rank[lb.tactic], lb.entity_type, lb.entity_id, lb.window_start_ms)
    )
    n = len(ordered)
    user_type = output.SCHEMAS["labels"].field("user_ids").type
    return output.table(
        "labels",
        {
            "label_id": output.ids(n),
            "tactic": output.strings([lb.tactic for lb in ordered]),
            "entity_type": output.strings([lb.entity_type for lb in ordered]),
            "entity_id": pa.array([lb.entity_id for lb in ordered], type=pa.int64()),
            "session_id": pa.array([lb.session_id for lb in ordered], type=pa.int64()),
            "user_ids": pa.array([lb.user_ids for lb in ordered], type=user_type),
            "window_start": output.ts_array(
                np.array([lb.window_start_ms for lb in ordered], dtype=np.int64)
            ),
            "window_end": output.ts_array(
                np.array(
                    [NULL if lb.window_end_ms is None else lb.window_end_ms for lb in ordered],
                    dtype=np.int64,
                )
            ),
            "detail": output.strings([lb.detail_json() for lb in ordered]),
        },
    )
