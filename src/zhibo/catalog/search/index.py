"""The on-disk product index: bulk and incremental writes, and search.

``ProductIndex`` wraps one tantivy index directory. Writes take Arrow tables (the bulk path the
importer, the rebuild and the benchmarks share); text analysis runs in this thread while
tantivy's indexing thread indexes the previous documents, so both cores work.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tantivy

from zhibo.catalog.search import analysis, plan
from zhibo.catalog.search import cursor as cursors
from zhibo.catalog.search import fields as f
from zhibo.catalog.search.schemas import SearchRequest, SearchResult
from zhibo.kit.errors import Conflict, ZhiboError

#: The sidecar file beside tantivy's own: format version and the category ancestry (facets).
META_FILE = "zhibo-search.json"
#: Rows per Arrow batch while indexing: large enough for vectorised work, small enough to stream.
BATCH_ROWS = 16_384
#: The Arrow columns ``add_table`` reads.
COLUMNS = (
    "id",
    "brand_id",
    "brand",
    "category_ids",
    "risk_class",
    "title",
    "description",
    "price_fen",
    "commission_rate_bp",
    "stock",
    "sales_30d",
)


class IndexLocked(Conflict):
    """Another writer (in this process or another) holds the index; only one may write."""


class IndexFormatMismatch(ZhiboError):
    """The index on disk was built by another version of zhibo: rebuild it."""

    status_code = 503


class ProductIndex:
    """One tantivy index of sellable products (see :mod:`zhibo.catalog.search.fields`)."""

    def __init__(self, index: tantivy.Index, path: Path, meta: dict[str, Any]) -> None:
        self._index = index
        self.path = path
        self._meta = meta
        self._ancestry = _ancestry(meta)
        self._writer: tantivy.IndexWriter | None = None
        self._heap_bytes = 128_000_000
        self._threads = 1
        self._lock = threading.Lock()
        self._stamp = _stamp(path)
        self._view: tuple[tantivy.Searcher, plan.Ladders] | None = None
        index.register_tokenizer(analysis.WORDS_TOKENIZER, analysis.INDEX_TOKENIZER)
        index.register_tokenizer(analysis.TAGS_TOKENIZER, analysis.TAGS_ANALYZER)
        index.config_reader("Manual")

    # Opening ----------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        heap_bytes: int = 1_000_000_000,
        threads: int = 1,
        sort_by_field: str | None = None,
        sort_descending: bool = False,
    ) -> ProductIndex:
        """A new, empty index at ``path`` (created; must not hold an index), open for writing.

        ``sort_by_field`` (e.g. ``"sales_key"``) stores each segment sorted by that fast field
        (evaluated, off by default: see docs/search.md).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if tantivy.Index.exists(str(path)):
            raise Conflict(f"path: {path} already holds an index")
        index = tantivy.Index(
            f.build_schema(),
            str(path),
            reuse=False,
            sort_by_field=sort_by_field,
            sort_order=tantivy.Order.Desc if sort_descending else tantivy.Order.Asc,
        )
        meta: dict[str, Any] = {"format": f.FORMAT_VERSION, "categories": {}}
        _write_meta(path, meta)
        product_index = cls(index, path, meta)
        product_index._heap_bytes = heap_bytes
        product_index._threads = threads
        product_index._open_writer()
        return product_index

    @classmethod
    def open(
        cls, path: str | Path, heap_bytes: int = 128_000_000, threads: int = 1
    ) -> ProductIndex:
        """The index at ``path`` (a symlink to a generation is followed), for searching; the
        first write takes the writer lock."""
        path = Path(path).resolve()
        try:
            meta = json.loads((path / META_FILE).read_text())
            index = tantivy.Index.open(str(path))
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"no product index at {path}: {exc}") from exc
        if meta.get("format") != f.FORMAT_VERSION:
            raise IndexFormatMismatch(
                f"index: format {meta.get('format')} on disk, {f.FORMAT_VERSION} expected: "
                "run `zhibo catalog index --rebuild`"
            )
        product_index = cls(index, path, meta)
        product_index._heap_bytes = heap_bytes
        product_index._threads = threads
        return product_index

    def _open_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self._index.writer(self._heap_bytes, self._threads)
            except ValueError as exc:
                if "LockBusy" in str(exc) or "lock" in str(exc).lower():
                    raise IndexLocked(
                        f"index: another writer holds {self.path} (only one indexer may run)"
                    ) from exc
                raise
        return self._writer

    def close(self) -> None:
        """Release the writer after letting background merges finish."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.wait_merging_threads()

    # Writing ----------------------------------------------------------------------------------

    def add_table(self, table: pa.Table) -> int:
        """Index every row of ``table`` (columns: :data:`COLUMNS`); returns the rows added.

        Ids are not checked for duplicates: use :meth:`upsert_table` for rows that may exist.
        """
        writer = self._open_writer()
        missing = [name for name in COLUMNS if name not in table.column_names]
        if missing:
            raise ValueError(f"table: missing columns {missing}")
        added = 0
        add = writer.add_json
        index_text = analysis.index_text
        for batch in table.select(list(COLUMNS)).to_batches(max_chunksize=BATCH_ROWS):
            columns, texts = self._columns(batch)
            documents = zip(*columns, map(index_text, texts), strict=True)
            for document in map(_DOCUMENT.__mod__, documents):
                add(document)
            added += batch.num_rows
        return added

    def upsert_table(self, table: pa.Table) -> int:
        """Replace the documents of the table's ids (or add them)."""
        self.delete_ids(table.column("id").to_pylist())
        return self.add_table(table)

    def delete_ids(self, ids: Iterable[int]) -> int:
        """Delete the documents of these ids (at the next commit; documents added after this
        call survive it)."""
        writer = self._open_writer()
        chosen = [int(product_id) for product_id in ids]
        # One term-set delete per chunk (delete_documents_by_term misses u64 terms here).
        for start in range(0, len(chosen), 10_000):
            chunk = chosen[start : start + 10_000]
            writer.delete_documents_by_query(
                tantivy.Query.term_set_query(self._index.schema, f.ID, chunk)
            )
        return len(chosen)

    def commit(self) -> None:
        """Make every write so far durable and visible to this index's searches."""
        writer = self._open_writer()
        writer.commit()
        _write_meta(self.path, self._meta)
        self.reload()

    def _columns(self, batch: pa.RecordBatch) -> tuple[list[list[Any]], list[str]]:
        """The values :data:`_DOCUMENT` formats, column by column (all but the text), and the
        text of each document.

        Tags and keys are computed column-wise; Python only formats (cheaper than Arrow string
        kernels for this many small columns, measured).
        """
        ids = _int64(batch, "id")
        if len(ids) and (ids.min() < 0 or ids.max() > f.MAX_ID):
            raise ValueError(f"id: must be within 0..{f.MAX_ID}")
        brands = _int64(batch, "brand_id")
        sales = np.maximum(_int64(batch, "sales_30d"), 0)
        prices = np.maximum(_int64(batch, "price_fen"), 0)
        rates = np.clip(_int64(batch, "commission_rate_bp"), 0, 10_000)
        stock = np.maximum(_int64(batch, "stock"), 0)

        categories = batch.column("category_ids")
        if not isinstance(categories, pa.ListArray | pa.LargeListArray):
            raise ValueError("category_ids: must be a list of ids")
        # A batch is a slice: its offsets start anywhere in the shared child array.
        offsets = categories.offsets.to_numpy().astype(np.int64)
        offsets -= offsets[0]
        if len(ids) and (np.diff(offsets) < 1).any():
            raise ValueError("category_ids: every product needs its category")
        flat_array = categories.flatten()
        if flat_array.null_count:
            raise ValueError("category_ids: holds nulls")
        flat = flat_array.to_numpy(zero_copy_only=False).astype(np.int64)
        own = flat[offsets[1:] - 1]
        category_formats = self._category_formats(own, flat, offsets)

        risk_names = batch.column("risk_class").to_pylist()
        try:
            risk = [f.RISK_BY_NAME[name] for name in risk_names]
        except KeyError as exc:
            raise ValueError(f"risk_class: unknown class {exc.args[0]!r}") from exc

        tiers = f.sales_tiers(sales)
        # Tiers 0 and 1 are split by id block (see fields.sales_tag).
        blocks = np.where(tiers <= 1, ids >> f.SALES_ID_BLOCK_BITS, -1)
        sales_tags = _sales_tags(tiers, blocks)
        commission_buckets = (rates // f.COMMISSION_BUCKET_BP).tolist()
        price_buckets = f.price_buckets(prices).tolist()
        own_ids = own.tolist()
        columns = [
            ids.tolist(),
            [
                category_formats[c].format(s, m, p)
                for c, s, m, p in zip(
                    own_ids, sales_tags, commission_buckets, price_buckets, strict=True
                )
            ],
            brands.tolist(),
            risk,
            (stock > 0).astype(np.int64).tolist(),
            sales_tags,
            commission_buckets,
            price_buckets,
            (ids % f.SAMPLE_SLOTS).tolist(),
            brands.tolist(),
            own_ids,
            risk,
            stock.tolist(),
            f.composite_keys(sales, ids, descending=True).tolist(),
            f.composite_keys(rates, ids, descending=True).tolist(),
            f.composite_keys(prices, ids, descending=False).tolist(),
        ]
        texts = pc.binary_join_element_wise(
            batch.column("brand"), batch.column("title"), batch.column("description"), " "
        )
        return columns, texts.to_pylist()

    def _category_formats(
        self, own: np.ndarray, flat: np.ndarray, offsets: np.ndarray
    ) -> dict[int, str]:
        """Own category → a format of its tags: ``c<id>`` for it and every ancestor, and for
        each of them its own sort buckets (``c<id>.<sales tag>``, ``c<id>.m<bucket>``,
        ``c<id>.p<bucket>``, filled by ``str.format(sales_tag, commission, price)``), so a
        category's ladder counts only its products. Learns the ancestry for facets."""
        known = self._meta["categories"]
        formats: dict[int, str] = {}
        distinct, first = np.unique(own, return_index=True)
        for category, row in zip(distinct.tolist(), first.tolist(), strict=True):
            path = flat[offsets[row] : offsets[row + 1]].tolist()
            formats[category] = " ".join(
                [f"c{c}" for c in path] + [f"c{c}.{{0}} c{c}.m{{1}} c{c}.p{{2}}" for c in path]
            )
            known[str(category)] = path
        self._ancestry = _ancestry(self._meta)
        return formats

    # Reading ----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Show the last commit (of any writer) to the next searches."""
        with self._lock:
            self._index.reload()
            if self._writer is None:
                # Another writer may have learnt categories: take its sidecar.
                with contextlib.suppress(OSError, ValueError):
                    self._meta = json.loads((self.path / META_FILE).read_text())
                    self._ancestry = _ancestry(self._meta)
            self._stamp = _stamp(self.path)
            self._view = None

    def refresh(self) -> bool:
        """Reload when another writer committed since; cheap (one ``stat``). True if reloaded."""
        if _stamp(self.path) != self._stamp:
            self.reload()
            return True
        return False

    def doc_count(self) -> int:
        return int(self._index.searcher().num_docs)

    def search(self, request: SearchRequest) -> SearchResult:
        prepared = plan.prepare(request)
        position = cursors.decode(request.cursor, prepared.fingerprint) if request.cursor else None
        view = self._view
        if view is None:
            # A searcher and the ladders read from it belong together (same segments).
            searcher = self._index.searcher()
            view = self._view = (searcher, plan.Ladders(searcher))
        planner = plan.Planner(view[0], self._index.schema, view[1], self._ancestry)
        return planner.search(prepared, position)

    def scan(self, first_id: int, last_id: int) -> dict[str, np.ndarray]:
        """Every indexed document with an id in [first_id, last_id], ordered by id, as columns
        (id, brand, category, stock, sales, commission, price): what ``catalog check`` reads."""
        searcher = self._index.searcher()
        query = tantivy.Query.range_query(
            self._index.schema, f.ID, tantivy.FieldType.Unsigned, first_id, last_id
        )
        found = int(getattr(searcher.search(query, limit=1, count=True), "count", 0) or 0)
        addresses = []
        if found:
            result = searcher.search(
                query, limit=found, count=False, order_by_field=f.ID, order=tantivy.Order.Asc
            )
            addresses = [address for _, address in result.hits]
        columns = {}
        for name in f.FAST_FIELDS:
            values = searcher.fast_field_values(name, addresses) if addresses else []
            columns[name] = np.array([int(v or 0) for v in values], dtype=np.uint64)
        return {
            "id": columns[f.ID].astype(np.int64),
            "brand_id": columns[f.BRAND].astype(np.int64),
            "category_id": columns[f.CATEGORY].astype(np.int64),
            "risk": columns[f.RISK].astype(np.int64),
            "stock": columns[f.STOCK].astype(np.int64),
            "sales_30d": (columns[f.SALES_KEY] >> np.uint64(f.ID_BITS)).astype(np.int64),
            "commission_rate_bp": (columns[f.COMMISSION_KEY] >> np.uint64(f.ID_BITS)).astype(
                np.int64
            ),
            "price_fen": (columns[f.PRICE_KEY] >> np.uint64(f.ID_BITS)).astype(np.int64),
        }

    def max_id(self) -> int:
        searcher = self._index.searcher()
        result = searcher.search(
            tantivy.Query.all_query(), limit=1, count=False, order_by_field=f.ID
        )
        return int(result.hits[0][0]) if result.hits else 0

    def __enter__(self) -> ProductIndex:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


#: One document (the text needs no escaping: analysis leaves only letters, marks, digits and
#: spaces; tags are ASCII).
_DOCUMENT = (
    '{"id":%d,"tags":"%s b%d r%d i%d %s m%d p%d h%d","brand":%d,"category":%d,"risk":%d,'
    '"stock":%d,"sales_key":%d,"commission_key":%d,"price_key":%d,"text":"%s"}'
)


def _sales_tags(tiers: np.ndarray, blocks: np.ndarray) -> list[str]:
    names: dict[tuple[int, int], str] = {}
    out = []
    for key in zip(tiers.tolist(), blocks.tolist(), strict=True):
        name = names.get(key)
        if name is None:
            name = names[key] = f"s{key[0]}.{key[1]}" if key[1] >= 0 else f"s{key[0]}"
        out.append(name)
    return out


def _int64(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if column.null_count:
        raise ValueError(f"{name}: holds nulls")
    return column.to_numpy(zero_copy_only=False).astype(np.int64)


def _text(values: Any) -> pa.Array:
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    return pc.cast(array, pa.string())


def _ancestry(meta: dict[str, Any]) -> dict[int, tuple[int, ...]]:
    return {int(own): tuple(path) for own, path in meta.get("categories", {}).items()}


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = os.stat(path / "meta.json")
    except OSError:
        return (0, 0)
    return (status.st_mtime_ns, status.st_size)


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    temporary = path / f".{META_FILE}.{os.getpid()}.{threading.get_ident()}"
    temporary.write_text(json.dumps(meta, sort_keys=True))
    os.replace(temporary, path / META_FILE)
