"""Upsert chunks of product rows: resolve brands and categories, skip unchanged products,
insert new ones, update changed ones, append price history and queue search re-indexing.

Everything is set-based: per chunk one query per kind of lookup (brands, categories, existing
products by ``(brand_id, external_id)``) and one executemany per kind of write. The caller owns
the transaction (a request, or the file job's unit of work per chunk).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

import orjson
from sqlalchemy import (
    Table,
    TextClause,
    TextualSelect,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from zhibo.catalog import outbox
from zhibo.catalog.importer.fields import CANONICAL_FIELDS
from zhibo.catalog.importer.readers import Problem, Record
from zhibo.catalog.importer.rows import CheckedRow, check_row
from zhibo.catalog.schemas import ProductPut
from zhibo.catalog.service import UnknownCategory
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Forbidden, InvalidInput, NotFound
from zhibo.kit.time import utcnow
from zhibo.models import Brand, Category, Product, ProductPriceHistory, Role
from zhibo.models.brand import BrandStatus
from zhibo.models.category import RiskClass
from zhibo.models.product import ProductStatus


def _table(model: Any) -> Table:
    return model.__table__


PRODUCTS = _table(Product)
BRANDS = _table(Brand)
CATEGORIES = _table(Category)
HISTORY = _table(ProductPriceHistory)
#: Columns whose change is a new price-history row (the risk checks read the history).
PRICED = ("price_fen", "reference_price_fen", "currency", "commission_rate_bp", "stock")
#: Columns whose change only makes the product ``updated``.
DESCRIBED = ("category_id", "title", "description", "status")
COMPARED = DESCRIBED + PRICED
#: Rows an API batch may hold.
MAX_BATCH_ITEMS = 1_000


def _typed(statement: TextClause) -> TextualSelect:
    return statement.columns(
        PRODUCTS.c.brand_id,
        PRODUCTS.c.external_id,
        PRODUCTS.c.id,
        *(PRODUCTS.c[name] for name in COMPARED),
    )


_SELECT_EXISTING = (
    "SELECT p.brand_id, p.external_id, p.id, "
    + ", ".join(f"p.{name}" for name in COMPARED)
    + " FROM wanted JOIN products AS p ON p.brand_id = wanted.brand_id"
    " AND p.external_id = wanted.external_id"
)
# The existing products of a chunk: its keys joined to ``products``, so that each key is one
# probe of the unique (brand_id, external_id) index. The keys travel as one or two parameters
# whatever their number: a row-value ``IN`` makes SQLite scan the whole index, and a
# VALUES list of thousands of placeholders costs more to bind than the query (psycopg even
# re-parses such a statement on every execution). The same join, two spellings of the list.
_EXISTING_BY_DIALECT = {
    "postgresql": _typed(
        text(
            "WITH wanted (brand_id, external_id) AS (SELECT * FROM unnest("
            "CAST(:brand_ids AS BIGINT[]), CAST(:external_ids AS VARCHAR[]))) " + _SELECT_EXISTING
        )
    ),
    "sqlite": _typed(
        text(
            "WITH wanted (brand_id, external_id) AS (SELECT json_extract(value, '$[0]'), "
            "json_extract(value, '$[1]') FROM json_each(:keys)) " + _SELECT_EXISTING
        )
    ),
}


@dataclass(slots=True)
class Counts:
    """What an import did, per row."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        self.imported += other.imported
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected

    def as_dict(self) -> dict[str, int]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


@dataclass(frozen=True, slots=True)
class Reject:
    """One problem of one row (a row with three problems gives three rejects)."""

    row: int
    field: str
    reason: str
    value: object


@dataclass(slots=True)
class ChunkResult:
    counts: Counts = field(default_factory=Counts)
    rejects: list[Reject] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Ready:
    row: CheckedRow
    brand_id: int
    category_id: int


def _all_digits(ref: str) -> bool:
    return ref.isascii() and ref.isdigit()


def _is_brand_id(ref: str) -> bool:
    return _all_digits(ref) and len(ref) <= 18


class Importer:
    """Applies chunks of rows of one import; remembers resolved brands and categories, and
    the first row of each (brand, product_id) so later duplicates in the file are refused."""

    def __init__(self, *, create_missing: bool = False, brand_scope: int | None = None) -> None:
        #: Create unknown brands (by name) and categories (with their ancestors).
        self.create_missing = create_missing
        #: A brand principal's own brand id: rows of other brands are refused.
        self.brand_scope = brand_scope
        self._brands: dict[str, int | None] = {}
        self._categories: dict[str, int | None] = {}
        self._first_row: dict[tuple[int, str], int] = {}

    def know_brand(self, brand_id: int) -> None:
        """Resolve the reference ``str(brand_id)`` to that id only (never to a brand name)."""
        self._brands[str(brand_id)] = brand_id

    def apply(
        self, session: Session, records: Iterable[Record], at: datetime | None = None
    ) -> ChunkResult:
        now = at or utcnow()
        problems: dict[int, list[Problem]] = {}
        checked = []
        for record in records:
            if record.values is None:
                problems.setdefault(record.row, []).extend(record.problems)
                continue
            outcome = check_row(record.row, record.values)
            found = [*record.problems, *outcome.problems]
            if found:
                problems.setdefault(record.row, []).extend(found)
            checked.append(outcome)

        clean = [outcome.row for outcome in checked if outcome.row is not None]
        clean = [row for row in clean if row.row not in problems]
        self._resolve_brands(
            session, {o.brand for o in checked if o.brand}, {r.brand for r in clean}, now
        )
        self._resolve_categories(
            session, {o.category for o in checked if o.category}, {r.category for r in clean}
        )

        ready: list[_Ready] = []
        for outcome in checked:
            found = self._reference_problems(outcome.brand, outcome.category)
            if found:
                problems.setdefault(outcome.number, []).extend(found)
            if outcome.row is None or outcome.number in problems:
                continue
            brand_id = self._brands[outcome.row.brand]
            category_id = self._categories[outcome.row.category]
            assert brand_id is not None and category_id is not None
            ready.append(_Ready(outcome.row, brand_id, category_id))

        unique = []
        for item in ready:
            key = (item.brand_id, item.row.product_id)
            first = self._first_row.setdefault(key, item.row.row)
            if first != item.row.row:
                reason = f"duplicate of row {first} (same brand and product_id); the first is kept"
                problems.setdefault(item.row.row, []).append(
                    ("product_id", reason, item.row.product_id)
                )
            else:
                unique.append(item)

        result = ChunkResult()
        self._write(session, unique, now, result.counts)
        result.counts.rejected = len(problems)
        result.rejects = [
            Reject(number, name, reason, value)
            for number in sorted(problems)
            for name, reason, value in problems[number]
        ]
        return result

    # --- references -------------------------------------------------------------------

    def _reference_problems(self, brand: str | None, category: str | None) -> list[Problem]:
        found: list[Problem] = []
        if brand is not None:
            brand_id = self._brands.get(brand)
            if brand_id is None:
                found.append(("brand", f"no brand with id or name {brand!r}", brand))
            elif self.brand_scope is not None and brand_id != self.brand_scope:
                found.append(("brand", "a brand may publish only its own products", brand))
        if category is not None and self._categories.get(category) is None:
            found.append(("category", f"no category with path {category!r}", category))
        return found

    def _resolve_brands(
        self, session: Session, refs: set[str], creatable: set[str], now: datetime
    ) -> None:
        todo = [ref for ref in refs if ref not in self._brands]
        if todo:
            ids = {int(ref) for ref in todo if _is_brand_id(ref)}
            found_ids = set(session.scalars(select(BRANDS.c.id).where(BRANDS.c.id.in_(ids))))
            names = [ref for ref in todo if not (_is_brand_id(ref) and int(ref) in found_ids)]
            by_name = dict(
                session.execute(
                    select(BRANDS.c.name, BRANDS.c.id).where(BRANDS.c.name.in_(names))
                ).all()
            )
            for ref in todo:
                if _is_brand_id(ref) and int(ref) in found_ids:
                    self._brands[ref] = int(ref)
                else:
                    self._brands[ref] = by_name.get(ref)
        # An all-digit reference that matches nothing is a wrong id, not a new brand's name.
        new = sorted(
            ref
            for ref in creatable
            if self._brands.get(ref) is None and not _all_digits(ref) and self.create_missing
        )
        if new:
            rows = [{"name": name, "status": BrandStatus.ACTIVE, "created_at": now} for name in new]
            created = session.execute(
                insert(BRANDS).returning(BRANDS.c.name, BRANDS.c.id), rows
            ).all()
            self._brands.update(dict(created))

    def _lookup_categories(self, session: Session, paths: Iterable[str]) -> None:
        todo = [path for path in paths if path not in self._categories]
        if not todo:
            return
        found = dict(
            session.execute(
                select(CATEGORIES.c.path, CATEGORIES.c.id).where(CATEGORIES.c.path.in_(todo))
            ).all()
        )
        for path in todo:
            self._categories[path] = found.get(path)

    def _resolve_categories(self, session: Session, paths: set[str], creatable: set[str]) -> None:
        self._lookup_categories(session, paths)
        if not self.create_missing:
            return
        missing = [path for path in creatable if self._categories.get(path) is None]
        if not missing:
            return
        needed: set[str] = set()
        for path in missing:
            names = path.split("/")
            needed.update("/".join(names[:depth]) for depth in range(1, len(names) + 1))
        self._lookup_categories(session, needed)
        absent = sorted(
            (path for path in needed if self._categories.get(path) is None),
            key=lambda path: (path.count("/"), path),
        )
        # Parents before children: one insert per depth of the tree.
        for _, group in groupby(absent, key=lambda path: path.count("/")):
            rows = []
            for path in group:
                parent, _, name = path.rpartition("/")
                rows.append(
                    {
                        "name": name,
                        "path": path,
                        "parent_id": self._categories[parent] if parent else None,
                        "risk_class": RiskClass.LOW,
                    }
                )
            created = session.execute(
                insert(CATEGORIES).returning(CATEGORIES.c.path, CATEGORIES.c.id), rows
            ).all()
            self._categories.update(dict(created))

    # --- writes -----------------------------------------------------------------------

    def _existing(
        self, session: Session, keys: Sequence[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[Any, ...]]:
        """``(brand_id, external_id)`` → ``(id, *COMPARED)`` of the products that exist."""
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            params: dict[str, Any] = {
                "brand_ids": [brand_id for brand_id, _ in keys],
                "external_ids": [external_id for _, external_id in keys],
            }
        else:
            params = {"keys": orjson.dumps(keys).decode()}
        rows = session.execute(_EXISTING_BY_DIALECT[dialect], params)
        return {(row[0], row[1]): tuple(row[2:]) for row in rows}

    def _write(
        self, session: Session, items: Sequence[_Ready], now: datetime, counts: Counts
    ) -> None:
        if not items:
            return
        existing = self._existing(session, [(item.brand_id, item.row.product_id) for item in items])
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        repriced: list[dict[str, Any]] = []
        for item in items:
            row = item.row
            current = existing.get((item.brand_id, row.product_id))
            if current is None:
                inserts.append(
                    {
                        "brand_id": item.brand_id,
                        "external_id": row.product_id,
                        "category_id": item.category_id,
                        "title": row.title,
                        "description": row.description,
                        "status": row.status or ProductStatus.ACTIVE,
                        "price_fen": row.price_fen,
                        "reference_price_fen": row.reference_price_fen,
                        "currency": row.currency or "CNY",
                        "commission_rate_bp": row.commission_rate_bp,
                        "stock": row.stock,
                        "sales_30d": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            product_id, *before = current
            after = (
                item.category_id,
                row.title,
                before[2] if "description" in row.absent else row.description,
                row.status or before[3],
                row.price_fen,
                before[5] if "reference_price_fen" in row.absent else row.reference_price_fen,
                row.currency or before[6],
                row.commission_rate_bp,
                row.stock,
            )
            if tuple(before) == after:
                counts.unchanged += 1
                continue
            counts.updated += 1
            state = dict(zip(COMPARED, after, strict=True))
            updates.append(state | {"product_row_id": product_id, "updated_at": now})
            if before[len(DESCRIBED) :] != list(after[len(DESCRIBED) :]):
                repriced.append({name: state[name] for name in PRICED} | {"product_id": product_id})

        touched = [update["product_row_id"] for update in updates]
        if inserts:
            # No RETURNING: a plain executemany is the drivers' fast path; the ids are looked
            # up again, as cheaply as before the insert.
            session.execute(insert(PRODUCTS), inserts)
            created = self._existing(
                session, [(entry["brand_id"], entry["external_id"]) for entry in inserts]
            )
            for entry in inserts:
                product_id = created[(entry["brand_id"], entry["external_id"])][0]
                repriced.append({name: entry[name] for name in PRICED} | {"product_id": product_id})
                touched.append(product_id)
            counts.imported += len(inserts)
        if updates:
            session.execute(
                update(PRODUCTS).where(PRODUCTS.c.id == bindparam("product_row_id")), updates
            )
        if repriced:
            session.execute(insert(HISTORY), [entry | {"effective_at": now} for entry in repriced])
        outbox.enqueue(session, touched, now)


# --- API entry points -------------------------------------------------------------------------


def import_batch(
    session: Session,
    principal: Principal,
    items: Sequence[dict[str, Any]],
    create_missing: bool = False,
    at: datetime | None = None,
) -> ChunkResult:
    """An API batch: every item a canonical row; row numbers are 1-based item indexes."""
    if create_missing and principal.role != Role.OPERATOR:
        raise Forbidden("create_missing: only an operator may create brands and categories")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidInput(f"items: at most {MAX_BATCH_ITEMS} per batch (got {len(items)})")
    scope = principal.subject_id if principal.role == Role.BRAND else None
    importer = Importer(create_missing=create_missing, brand_scope=scope)
    records = []
    for number, item in enumerate(items, start=1):
        unknown = tuple(
            (str(key), "unknown field", value)
            for key, value in item.items()
            if key not in CANONICAL_FIELDS
        )
        records.append(Record(number, item, unknown))
    return importer.apply(session, records, at)


def put_product(
    session: Session,
    principal: Principal,
    brand_id: int,
    external_id: str,
    body: ProductPut,
    at: datetime | None = None,
) -> tuple[Product, bool]:
    """Create or replace one product keyed by the brand's own id; True when it was created."""
    if principal.role == Role.BRAND and principal.subject_id != brand_id:
        raise Forbidden("brand_id: a brand may publish only its own products")
    if session.get(Brand, brand_id) is None:
        raise NotFound(f"brand: no brand with id {brand_id}")
    importer = Importer()
    importer.know_brand(brand_id)
    values = body.model_dump(mode="json") | {"product_id": external_id, "brand": str(brand_id)}
    result = importer.apply(session, [Record(1, values)], at)
    if result.rejects:
        detail = "; ".join(f"{reject.field}: {reject.reason}" for reject in result.rejects)
        if all(reject.field == "category" for reject in result.rejects):
            raise UnknownCategory(detail)
        raise InvalidInput(detail)
    product = session.scalars(
        select(Product)
        .where(Product.brand_id == brand_id, Product.external_id == external_id.strip())
        .execution_options(populate_existing=True)
    ).one()
    return product, result.counts.imported == 1
