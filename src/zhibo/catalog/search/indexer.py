"""Keeping the index equal to the store: full rebuilds, and following the outbox.

- :func:`rebuild` streams every sellable product (active, brand not blacklisted) from the
  database in id order, builds a new generation beside the live index, and swaps it in.
- :func:`apply_pending` applies queued changes (``search_outbox``): claim, load the products,
  upsert or delete, commit, then acknowledge, so a crash repeats work but loses none.
- :class:`Follower` polls the outbox (every 0.3 s by default) as the one writer of the live
  index: in a thread of ``zhibo serve`` (``search_indexer = "embedded"``) or in
  ``zhibo catalog index --follow`` (``"external"``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection, Engine

from zhibo.catalog import outbox
from zhibo.catalog.search import store
from zhibo.catalog.search.index import ProductIndex
from zhibo.kit.db import unit_of_work
from zhibo.models import Brand, BrandStatus, Category, Product, ProductStatus, SearchOutbox

logger = logging.getLogger("zhibo.search")

#: Products read from the database per query while rebuilding.
REBUILD_BATCH = 50_000
#: Outbox rows applied per commit while following.
FOLLOW_BATCH = 10_000
POLL_SECONDS = 0.3
#: A change queue longer than this (and than a fifth of the index) triggers a rebuild.
REBUILD_BACKLOG = 1_000_000
#: Writer memory: large for a rebuild (fewer, larger segments), small for following.
REBUILD_HEAP_BYTES = 1_000_000_000
FOLLOW_HEAP_BYTES = 64_000_000


# Reading products -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CategoryTree:
    ancestry: dict[int, list[int]]
    risk: dict[int, str]

    @classmethod
    def load(cls, connection: Connection) -> CategoryTree:
        rows = connection.execute(
            select(Category.id, Category.parent_id, Category.risk_class)
        ).all()
        parents = {int(row[0]): row[1] for row in rows}
        risk = {int(row[0]): str(row[2]) for row in rows}
        ancestry: dict[int, list[int]] = {}

        def path(category: int) -> list[int]:
            found = ancestry.get(category)
            if found is None:
                parent = parents.get(category)
                found = ([*path(int(parent))] if parent is not None else []) + [category]
                ancestry[category] = found
            return found

        for category in parents:
            path(category)
        return cls(ancestry, risk)


def sellable_products() -> Select[*tuple[Any, ...]]:
    """Products that may be sold (active, brand not blacklisted), with what the index needs."""
    return (
        select(
            Product.id,
            Product.brand_id,
            Brand.name,
            Product.category_id,
            Product.title,
            Product.description,
            Product.price_fen,
            Product.commission_rate_bp,
            Product.stock,
            Product.sales_30d,
        )
        .join(Brand, Brand.id == Product.brand_id)
        .where(Product.status == ProductStatus.ACTIVE, Brand.status != BrandStatus.BLACKLISTED)
    )


def to_table(rows: Sequence[Sequence[Any]], tree: CategoryTree) -> pa.Table:
    """Rows of :func:`sellable_products` as the table :meth:`ProductIndex.add_table` reads."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 10
    categories = [int(c) for c in columns[3]]
    return pa.table(
        {
            "id": pa.array(columns[0], pa.int64()),
            "brand_id": pa.array(columns[1], pa.int64()),
            "brand": pa.array(columns[2], pa.string()),
            "category_ids": pa.array([tree.ancestry[c] for c in categories], pa.list_(pa.int64())),
            "risk_class": pa.array([tree.risk[c] for c in categories], pa.string()),
            "title": pa.array(columns[4], pa.string()),
            "description": pa.array([d or "" for d in columns[5]], pa.string()),
            "price_fen": pa.array(columns[6], pa.int64()),
            "commission_rate_bp": pa.array(columns[7], pa.int64()),
            "stock": pa.array(columns[8], pa.int64()),
            "sales_30d": pa.array(columns[9], pa.int64()),
        }
    )


def stream_tables(
    engine: Engine,
    batch: int = REBUILD_BATCH,
    query: Select[*tuple[Any, ...]] | None = None,
) -> Iterator[pa.Table]:
    """Sellable products in id order, a table per ``batch`` rows (keyset pages: each page is one
    indexed range scan however deep the pool)."""
    base = query if query is not None else sellable_products()
    with engine.connect() as connection:
        tree = CategoryTree.load(connection)
        after = 0
        while True:
            rows = connection.execute(
                base.where(Product.id > after).order_by(Product.id).limit(batch)
            ).all()
            if not rows:
                return
            after = int(rows[-1][0])
            yield to_table(rows, tree)
            if len(rows) < batch:
                return


def _prefetched(tables: Iterator[pa.Table], depth: int = 2) -> Iterator[pa.Table]:
    """Read the next tables in a thread while the caller indexes this one."""
    pipe: queue.Queue[pa.Table | BaseException | None] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for table in tables:
                pipe.put(table)
            pipe.put(None)
        except BaseException as exc:  # handed to the consumer
            pipe.put(exc)

    threading.Thread(target=produce, name="zhibo-search-read", daemon=True).start()
    while True:
        item = pipe.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


# Rebuild --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RebuildReport:
    products: int
    seconds: float
    path: Path


def rebuild(
    engine: Engine,
    progress: bool | Callable[[int, int], None] = True,
    *,
    data_dir: Path | None = None,
    heap_bytes: int = REBUILD_HEAP_BYTES,
    threads: int = 1,
    as_indexer: bool = False,
) -> RebuildReport:
    """Build a new index from the database and make it the live one.

    ``progress``: a Rich bar on standard error, nothing, or a callable given the products
    indexed so far and the number expected (the console's progress page).
    ``as_indexer``: the caller holds the indexer lock (a follower building a missing index).
    Without a follower running, the rebuild also applies and acknowledges the changes queued
    meanwhile; with one, the follower replays them on the new index once it is live.
    """
    from zhibo.config import get_settings

    data_dir = Path(data_dir or get_settings().data_dir)
    started = time.monotonic()
    with store.holding(store.rebuild_lock(data_dir), "a rebuild", timeout=5.0):
        indexer = store.indexer_lock(data_dir)
        is_indexer = as_indexer or indexer.try_acquire()
        generation = store.new_generation(data_dir)
        try:
            index = ProductIndex.create(generation, heap_bytes=heap_bytes, threads=threads)
            with engine.connect() as connection:
                expected = int(
                    connection.execute(
                        select(func.count()).select_from(sellable_products().subquery())
                    ).scalar_one()
                )
            count = 0
            with _progress(progress, expected) as advance:
                for table in _prefetched(stream_tables(engine)):
                    count += index.add_table(table)
                    advance(table.num_rows)
            # Changes queued before and during the build: applying them again is harmless, and
            # without a follower nobody else will.
            applied = _apply_all(engine, index) if is_indexer else []
            index.commit()
            index.close()
            previous = store.swap(data_dir, generation)
            for chunk in applied:
                with unit_of_work(engine) as session:
                    outbox.acknowledge(session, chunk.tolist())
            # A follower in another process may write the previous generation until it notices
            # the swap: then keep that one until the next rebuild.
            keep = [generation] if is_indexer or previous is None else [generation, previous]
            store.remove_old_generations(data_dir, keep)
        except BaseException:
            store.remove_generation(generation)
            raise
        finally:
            if is_indexer and not as_indexer:
                indexer.release()
    return RebuildReport(count, time.monotonic() - started, generation)


class _progress:
    """A Rich progress bar on standard error (or nothing)."""

    def __init__(self, enabled: bool | Callable[[int, int], None], total: int) -> None:
        self.enabled = enabled
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if callable(self.enabled):
            report, done = self.enabled, [0]

            def advance(n: int) -> None:
                done[0] += n
                report(done[0], self.total)

            report(0, self.total)
            return advance
        if not self.enabled:
            return lambda _n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("indexing products"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._bar.start()
        task = self._bar.add_task("index", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# Following the outbox -------------------------------------------------------------------------


def _claim(engine: Engine, after: int, limit: int | None) -> list[tuple[int, int]]:
    with unit_of_work(engine) as session:
        if after == 0 and limit is not None:
            return outbox.claim(session, limit)
        query = (
            select(SearchOutbox.id, SearchOutbox.product_id)
            .where(SearchOutbox.id > after)
            .order_by(SearchOutbox.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [(int(row[0]), int(row[1])) for row in session.execute(query).all()]


def _apply(
    engine: Engine, index: ProductIndex, *, outbox_after: int, limit: int | None
) -> tuple[int, int, list[int]]:
    """Upsert or delete the products of the outbox rows after ``outbox_after`` (not committed);
    returns (products applied, highest outbox id, the outbox ids)."""
    claimed = _claim(engine, outbox_after, limit)
    if not claimed:
        return 0, outbox_after, []
    product_ids = sorted({product_id for _, product_id in claimed})
    rows: list[Any] = []
    with engine.connect() as connection:
        tree = CategoryTree.load(connection)
        for start in range(0, len(product_ids), 5_000):
            chunk = product_ids[start : start + 5_000]
            rows.extend(
                connection.execute(
                    sellable_products().where(Product.id.in_(chunk)).order_by(Product.id)
                ).all()
            )
    present = {int(row[0]) for row in rows}
    index.delete_ids(pid for pid in product_ids if pid not in present)
    if rows:
        index.upsert_table(to_table(rows, tree))
    return len(product_ids), claimed[-1][0], [outbox_id for outbox_id, _ in claimed]


def _apply_all(engine: Engine, index: ProductIndex) -> list[np.ndarray]:
    """Apply every queued change, a batch at a time (not committed); returns the outbox ids."""
    applied: list[np.ndarray] = []
    after = 0
    while True:
        _count, after, outbox_ids = _apply(engine, index, outbox_after=after, limit=FOLLOW_BATCH)
        if not outbox_ids:
            return applied
        applied.append(np.array(outbox_ids, dtype=np.int64))


def apply_pending(
    engine: Engine,
    index: ProductIndex,
    *,
    limit: int = FOLLOW_BATCH,
    acknowledge: bool = True,
    after: int = 0,
) -> tuple[int, int]:
    """Apply up to ``limit`` queued changes (outbox ids above ``after``), commit the index, then
    acknowledge them. Returns (products applied, highest outbox id applied)."""
    count, highest, outbox_ids = _apply(engine, index, outbox_after=after, limit=limit)
    if not outbox_ids:
        return 0, after
    index.commit()
    if acknowledge:
        with unit_of_work(engine) as session:
            outbox.acknowledge(session, outbox_ids)
    return count, highest


class Follower:
    """The one writer of the live index: applies the outbox as it fills.

    ``activation``: when given, a missing index is built only once the event is set (the first
    search asks for it), so an API that nobody searches costs nothing.
    """

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        *,
        interval: float = POLL_SECONDS,
        activation: threading.Event | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.interval = interval
        self.activation = activation
        self.on_commit = on_commit
        self.lock = store.indexer_lock(self.data_dir)
        self._index: ProductIndex | None = None
        self._generation: Path | None = None
        self._held_back = False
        self._after = 0
        self.active = threading.Event()

    def run(self, stop: threading.Event, *, wait_for_lock: bool = True) -> None:
        """Follow until ``stop`` is set. Without the indexer lock: wait for it (standby), or
        raise :class:`store.IndexerBusy` when ``wait_for_lock`` is false."""
        if self.activation is not None:
            # Nothing to keep fresh (and no file touched) until an index exists or is asked for.
            while not self.activation.wait(self.interval):
                if stop.is_set():
                    return
                if store.current_generation(self.data_dir) is not None:
                    self.activation.set()
        announced = False
        while not self.lock.try_acquire():
            if not wait_for_lock:
                raise store.IndexerBusy(
                    f"index: another indexer (pid {self.lock.holder()}) follows it"
                )
            if not announced:
                logger.info("search indexer on standby: pid %s holds the index", self.lock.holder())
                announced = True
            if stop.wait(2.0):
                return
        self.active.set()
        try:
            while not stop.is_set():
                try:
                    applied = self.step()
                except Exception:
                    logger.exception("search indexer step failed; retrying")
                    self._close()
                    stop.wait(1.0)
                    continue
                if not applied:
                    stop.wait(self.interval)
        finally:
            self._close()
            self.lock.release()
            self.active.clear()

    def step(self) -> int:
        """One poll: returns how many products it applied."""
        generation = store.current_generation(self.data_dir)
        if generation is None:
            rebuild(self.engine, progress=False, data_dir=self.data_dir, as_indexer=True)
            self._notify()
            return 1
        if self._index is None or generation != self._generation:
            self._close()
            self._index = ProductIndex.open(generation, heap_bytes=FOLLOW_HEAP_BYTES)
            self._generation = generation
            self._after = 0
        held_back = store.rebuild_lock(self.data_dir).is_held_elsewhere()
        if self._held_back and not held_back:
            self._after = 0  # acknowledge what was applied while the rebuild ran
        self._held_back = held_back
        count, highest = apply_pending(
            self.engine,
            self._index,
            acknowledge=not held_back,
            after=self._after if held_back else 0,
        )
        if held_back:
            self._after = highest
        if count:
            self._notify()
        if count >= FOLLOW_BATCH and not held_back and self._backlog_needs_rebuild():
            logger.info("search indexer: the change queue is long, rebuilding instead")
            self._close()
            rebuild(self.engine, progress=False, data_dir=self.data_dir, as_indexer=True)
        return count

    def _backlog_needs_rebuild(self) -> bool:
        """A queue of more than a fifth of the index (and over REBUILD_BACKLOG) is faster to
        rebuild than to apply a batch at a time (e.g. after a bulk import)."""
        with unit_of_work(self.engine) as session:
            backlog = outbox.pending(session)
        documents = self._index.doc_count() if self._index is not None else 0
        return backlog > max(REBUILD_BACKLOG, documents // 5)

    def _notify(self) -> None:
        if self.on_commit is not None:
            self.on_commit()

    def _close(self) -> None:
        index, self._index = self._index, None
        self._generation = None
        if index is not None:
            try:
                index.close()
            except Exception:  # pragma: no cover - a writer on a removed generation
                logger.warning("search indexer: closing the previous index failed", exc_info=True)


class EmbeddedIndexer:
    """The follower as a daemon thread of the API process (``search_indexer = "embedded"``)."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.activation = threading.Event()
        self.follower = Follower(engine, data_dir, activation=self.activation)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if store.current_generation(self.follower.data_dir) is not None:
            self.activation.set()
        self._thread = threading.Thread(
            target=self.follower.run, args=(self._stop,), name="zhibo-search-indexer", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
