"""How a :class:`SearchRequest` runs on a tantivy searcher, without scanning the pool.

Queries are built programmatically from analysed terms and tags; no user text ever reaches a
query parser. Tag filters are terms; range filters (price, commission, risk) are fast-field
ranges that only check the candidates another clause drives. Three shapes:

- **key sorts** (commission, sales, price): when the rarest required word or tag is rare
  (``DRIVEN_MAX_DOCS``), top-k by the composite key over all its matches. Otherwise the
  *ladder* of sort buckets, best first (the category's own buckets under a category filter),
  each with the range of composite keys it covers. Buckets are searched in growing groups (a group's
  documents are ~4x the previous group's), each with top-k by the composite key; the search
  stops once it holds a page. A lower bucket never beats a higher one and keys are unique, so
  the page is exact. Range filters on the sort key (price range, minimum commission, the
  cursor) drop whole buckets and check only the boundary buckets with a fast-field range.
- **relevance**: BM25 top-k over the query words with the filters as zero-score clauses, the
  window widened until the tie group at its edge is complete, then ordered by (score desc,
  id asc). When the request's rarest required term holds more than
  :data:`RELEVANCE_EXACT_DOCS` documents, scoring every match would grow with the pool, so the
  candidates are *tiered* by 30-day sales: the sales buckets (the category's own under a
  category filter) are taken best first until they hold at least
  :data:`RELEVANCE_CANDIDATES` matches, and only those are ranked (a static-rank tier, as large
  web and shop search engines do). The cursor carries the tier, so every page ranks the same
  candidates; the total is then an estimate.
- **facets**: a terms aggregation on the own-category fast field, rolled up to the children of
  the filtered category.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import tantivy
from tantivy import Occur, Query

from zhibo.catalog.search import cursor as cursors
from zhibo.catalog.search import fields as f
from zhibo.catalog.search.analysis import MAX_QUERY_CHARS, MAX_QUERY_WORDS, tokens
from zhibo.catalog.search.schemas import (
    Hit,
    SearchRequest,
    SearchResult,
    Sort,
    UnsearchableQuery,
)

#: Widest relevance window: pages past this many hits are not offered (like a search engine's
#: result window); tie groups wider than it are ordered by id only within the window.
MAX_RELEVANCE_WINDOW = 10_000
#: Relevance scores every match when the rarest required term holds at most this many
#: documents (exact); above, it ranks the best-selling tier holding RELEVANCE_CANDIDATES matches.
RELEVANCE_EXACT_DOCS = 100_000
RELEVANCE_CANDIDATES = 500
#: Hits taken at once when ranking a tier (it holds ~1-4x RELEVANCE_CANDIDATES matches), so
#: its ranking is one search, not a window grown search by search.
TIER_WINDOW = 2_048
#: Facets count every match when the rarest required term holds at most this many documents;
#: above, they count about FACET_SAMPLE_DOCS of them (whole sample slots) and scale up.
FACET_EXACT_LIMIT = 2_000_000
FACET_SAMPLE_DOCS = 500_000
#: A key sort whose rarest word or tag (other than its category) matches at most this many
#: documents sorts all of them (~15 ns each, so <0.5 ms); above, it walks the sort's buckets.
DRIVEN_MAX_DOCS = 30_000
MAX_KEY = (1 << 64) - 1
#: Query words that are query-language operators elsewhere; a query of nothing else is refused
#: (it is a query written for a parser, which this search does not have).
OPERATOR_WORDS = frozenset({"and", "or", "not", "to"})


@dataclass(frozen=True, slots=True)
class Rung:
    """One sort bucket: its tag, the composite keys it can hold and its document count."""

    tag: str
    low: int
    high: int
    docs: int


@dataclass(frozen=True, slots=True)
class SortSpec:
    field: str
    descending: bool
    prefix: str
    rung_bounds: Callable[[str], tuple[int, int]]


def _sales_bounds(tag: str) -> tuple[int, int]:
    body = tag[1:]
    if "." in body:
        tier_text, block_text = body.split(".", 1)
        tier, block = int(tier_text), int(block_text)
        first_id = block << f.SALES_ID_BLOCK_BITS
        last_id = min(((block + 1) << f.SALES_ID_BLOCK_BITS) - 1, f.MAX_ID)
        return f.sales_key(tier, last_id), f.sales_key(tier, first_id)
    tier = int(body)
    low_sales, high_sales = 1 << (tier - 1), (1 << tier) - 1
    return f.sales_key(low_sales, f.MAX_ID), f.sales_key(min(high_sales, f.MAX_KEY_VALUE), 0)


def _commission_bounds(tag: str) -> tuple[int, int]:
    bucket = int(tag[1:])
    low = bucket * f.COMMISSION_BUCKET_BP
    return f.commission_key(low, f.MAX_ID), f.commission_key(low + f.COMMISSION_BUCKET_BP - 1, 0)


def price_bucket_range(bucket: int) -> tuple[int, int]:
    """The prices (fen) a price bucket holds."""
    bits = f.PRICE_BUCKETS_PER_OCTAVE_BITS
    if bucket < (1 << (bits + 1)):
        return bucket, bucket
    octave, mantissa = bucket >> bits, bucket & ((1 << bits) - 1)
    shift = octave - bits - 1
    low = ((1 << bits) + mantissa) << shift
    return low, (((1 << bits) + mantissa + 1) << shift) - 1


def _price_bounds(tag: str) -> tuple[int, int]:
    low, high = price_bucket_range(int(tag[1:]))
    return f.price_key(low, 0), f.price_key(high, f.MAX_ID)


SORTS: dict[Sort, SortSpec] = {
    Sort.SALES: SortSpec(f.SALES_KEY, True, "s", _sales_bounds),
    Sort.COMMISSION: SortSpec(f.COMMISSION_KEY, True, "m", _commission_bounds),
    Sort.PRICE: SortSpec(f.PRICE_KEY, False, "p", _price_bounds),
}


class Ladders:
    """The rungs of each sort, best first, for the whole pool or within one category; read
    lazily from the term dictionary of one searcher."""

    def __init__(self, searcher: tantivy.Searcher) -> None:
        self._searcher = searcher
        self._rungs: dict[tuple[Sort, int | None], list[Rung]] = {}

    def rungs(self, sort: Sort, category_id: int | None = None) -> list[Rung]:
        key = (sort, category_id)
        found = self._rungs.get(key)
        if found is None:
            spec = SORTS[sort]
            prefix = spec.prefix if category_id is None else f"c{category_id}.{spec.prefix}"
            skip = len(prefix) - len(spec.prefix)
            found = []
            for tag, docs in self._searcher.terms_with_prefix(f.TAGS, prefix):
                low, high = spec.rung_bounds(tag[skip:])
                found.append(Rung(tag, low, high, int(docs)))
            found.sort(key=lambda rung: -rung.high if spec.descending else rung.low)
            self._rungs[key] = found
        return found


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated request, turned into terms, tags and key bounds."""

    request: SearchRequest
    words: tuple[str, ...]
    tags: tuple[str, ...]
    risk_codes: tuple[int, ...] | None
    sort: Sort
    fingerprint: str


def prepare(request: SearchRequest) -> Prepared:
    words: tuple[str, ...] = ()
    text = (request.query or "").strip()
    if text:
        if len(text) > MAX_QUERY_CHARS:
            raise UnsearchableQuery(f"q: longer than {MAX_QUERY_CHARS} characters")
        if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in text):
            raise UnsearchableQuery("q: holds control characters")
        words = tuple(tokens(text, query=True))
        if not words:
            raise UnsearchableQuery("q: holds no words to search for")
        if len(words) > MAX_QUERY_WORDS:
            raise UnsearchableQuery(f"q: more than {MAX_QUERY_WORDS} words")
        if all(word in OPERATOR_WORDS for word in words):
            raise UnsearchableQuery(
                "q: only query operators (AND, OR, NOT); words are matched as typed"
            )
    tags: list[str] = []
    if request.category_id is not None:
        tags.append(f.category_tag(request.category_id))
    if request.brand_id is not None:
        tags.append(f.brand_tag(request.brand_id))
    if request.in_stock:
        tags.append(f.IN_STOCK_TAG)
    risk_codes = None
    if request.risk_classes is not None:
        risk_codes = tuple(sorted(f.RISK_CODES[risk] for risk in request.risk_classes))
    sort = request.sort
    if sort == Sort.RELEVANCE and not words:
        # Without words there is nothing to score: browse by best sellers.
        sort = Sort.SALES
    shape = (
        words,
        tuple(tags),
        risk_codes,
        request.min_price_fen,
        request.max_price_fen,
        request.min_commission_bp,
        sort.value,
    )
    fingerprint = hashlib.sha256(repr(shape).encode()).hexdigest()[:16]
    return Prepared(request, words, tuple(tags), risk_codes, sort, fingerprint)


# Query building -------------------------------------------------------------------------------


def _term(schema: tantivy.Schema, tag: str) -> Query:
    return Query.term_query(schema, f.TAGS, tag, index_option="basic")


def _any(queries: Sequence[Query]) -> Query:
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Should, query) for query in queries])


def _all(queries: Sequence[Query]) -> Query:
    if not queries:
        return Query.all_query()
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Must, query) for query in queries])


def _walked(prepared: Prepared) -> frozenset[str]:
    """The category tag a key sort walks its own ladder for (and so need not filter on)."""
    category = prepared.request.category_id
    return frozenset() if category is None else frozenset({f.category_tag(category)})


def _count_above(scores: list[float], edge: float) -> int:
    """How many of ``scores`` (descending) are above ``edge``."""
    return bisect.bisect_left([-score for score in scores], -edge)


def _count(result: tantivy.SearchResult) -> int:
    return int(getattr(result, "count", None) or 0)


def _range(schema: tantivy.Schema, field_name: str, low: int, high: int) -> Query:
    return Query.range_query(schema, field_name, tantivy.FieldType.Unsigned, low, high)


def rung_clauses(
    schema: tantivy.Schema, spec: SortSpec, rungs: Iterable[Rung], low: int, high: int
) -> list[Query]:
    """A clause per rung within [low, high]: the tag alone when the rung lies inside, the tag
    and a fast-field range on the key when the rung straddles a bound."""
    clauses = []
    inside: list[str] = []
    for rung in rungs:
        if rung.high < low or rung.low > high:
            continue
        if low <= rung.low and rung.high <= high:
            inside.append(rung.tag)
        else:
            clauses.append(
                _all(
                    [
                        _term(schema, rung.tag),
                        _range(schema, spec.field, max(low, rung.low), min(high, rung.high)),
                    ]
                )
            )
    if len(inside) > 8:
        clauses.append(Query.term_set_query(schema, f.TAGS, inside))
    else:
        clauses.extend(_term(schema, tag) for tag in inside)
    return clauses


def key_bounds(prepared: Prepared, sort: Sort) -> tuple[int, int]:
    """The composite keys of ``sort`` that the request's range filters allow."""
    request = prepared.request
    low, high = 0, MAX_KEY
    if sort == Sort.PRICE:
        if request.min_price_fen is not None:
            low = f.price_key(request.min_price_fen, 0)
        if request.max_price_fen is not None:
            high = f.price_key(request.max_price_fen, f.MAX_ID)
    if sort == Sort.COMMISSION and request.min_commission_bp is not None:
        low = f.commission_key(request.min_commission_bp, f.MAX_ID)
    return low, high


class Planner:
    """Runs prepared requests on one searcher."""

    def __init__(
        self,
        searcher: tantivy.Searcher,
        schema: tantivy.Schema,
        ladders: Ladders,
        ancestry: dict[int, tuple[int, ...]],
    ) -> None:
        self.searcher = searcher
        self.schema = schema
        self.ladders = ladders
        self.ancestry = ancestry

    # Filters ----------------------------------------------------------------------------------

    def filters(
        self,
        prepared: Prepared,
        *,
        except_sort: Sort | None = None,
        except_tags: frozenset[str] = frozenset(),
        driver_docs: int | None = None,
    ) -> list[Query]:
        """Every filter as a clause. Range filters (price, commission, a prefix of risk classes)
        are fast-field ranges: another clause always drives (words, tags or the sort ladder), so
        they only check candidates. Range filters on ``except_sort``'s key are left to it, and
        ``except_tags`` to whoever asks. ``driver_docs``: the documents of a clause the caller
        adds (a relevance tier), which drives when it is rarer than a range's buckets."""
        schema = self.schema
        clauses = [_term(schema, tag) for tag in prepared.tags if tag not in except_tags]
        if prepared.risk_codes is not None:
            codes = prepared.risk_codes
            if not codes:
                clauses.append(Query.empty_query())
            elif codes == tuple(range(len(codes))):
                # Levels unlock classes in order, so a level's classes are codes 0..k.
                clauses.append(_range(schema, f.RISK, 0, codes[-1]))
            else:
                clauses.append(_any([_term(schema, f.risk_tag(code)) for code in codes]))
        ranges = self.range_filters(prepared, except_sort=except_sort)
        if ranges:
            rarest_term = self.estimated_matches(
                prepared, except_tags=except_tags, with_ranges=False
            )
            if driver_docs is not None:
                rarest_term = min(rarest_term, driver_docs)
            for sort, low, high, rungs, docs in ranges:
                if docs < rarest_term:
                    # Rarer than any word or tag: its buckets drive, boundary buckets checked.
                    parts = rung_clauses(schema, SORTS[sort], rungs, low, high)
                    clauses.append(_any(parts) if parts else Query.empty_query())
                else:
                    clauses.append(_range(schema, SORTS[sort].field, low, high))
        return clauses

    def range_filters(
        self, prepared: Prepared, *, except_sort: Sort | None = None
    ) -> list[tuple[Sort, int, int, list[Rung], int]]:
        """The price and commission ranges asked for (but not on ``except_sort``'s key): each
        with its key bounds, the buckets it covers (the category's, under a category filter)
        and their document count."""
        found = []
        for sort in (Sort.PRICE, Sort.COMMISSION):
            if sort == except_sort:
                continue
            low, high = key_bounds(prepared, sort)
            if (low, high) == (0, MAX_KEY):
                continue
            rungs = [
                rung
                for rung in self.ladders.rungs(sort, prepared.request.category_id)
                if rung.high >= low and rung.low <= high
            ]
            found.append((sort, low, high, rungs, sum(rung.docs for rung in rungs)))
        return found

    def word_clauses(self, prepared: Prepared) -> list[Query]:
        return [
            Query.term_query(self.schema, f.TEXT, word, index_option="freq")
            for word in prepared.words
        ]

    def words_and_filters(
        self,
        prepared: Prepared,
        *,
        except_sort: Sort | None,
        except_tags: frozenset[str] = frozenset(),
    ) -> list[Query]:
        return self.word_clauses(prepared) + self.filters(
            prepared, except_sort=except_sort, except_tags=except_tags
        )

    def estimated_matches(
        self,
        prepared: Prepared,
        *,
        except_tags: frozenset[str] = frozenset(),
        except_sort: Sort | None = None,
        with_ranges: bool = True,
    ) -> int:
        """An upper bound of the matches, from the rarest word, tag or range bucket set the
        request requires."""
        counts = [self.searcher.doc_freq(f.TEXT, word) for word in prepared.words]
        counts += [
            self.searcher.doc_freq(f.TAGS, tag) for tag in prepared.tags if tag not in except_tags
        ]
        if with_ranges:
            counts += [docs for *_, docs in self.range_filters(prepared, except_sort=except_sort)]
        return min(counts) if counts else int(self.searcher.num_docs)

    # Search -----------------------------------------------------------------------------------

    def search(self, prepared: Prepared, position: cursors.Position | None) -> SearchResult:
        request = prepared.request
        if prepared.sort == Sort.RELEVANCE:
            hits, total, exact, next_position = self._relevance(prepared, position)
        else:
            hits, total, exact, next_position = self._by_key(prepared, position)
        facets, facets_exact = (None, True)
        if request.facets:
            facets, facets_exact = self.facets(prepared)
        next_cursor = cursors.encode(next_position, prepared.fingerprint) if next_position else None
        return SearchResult(
            hits=hits,
            next_cursor=next_cursor,
            total=total,
            total_exact=exact,
            facets=facets,
            facets_exact=facets_exact,
        )

    def _by_key(
        self, prepared: Prepared, position: cursors.Position | None
    ) -> tuple[list[Hit], int, bool, cursors.Position | None]:
        sort = prepared.sort
        spec = SORTS[sort]
        limit = prepared.request.limit
        need = limit + 1  # one more tells whether a next page exists
        low, high = key_bounds(prepared, sort)
        if position is not None:
            if position.key is None:
                raise cursors.InvalidCursor("cursor: not a cursor for this sort")
            if spec.descending:
                high = min(high, position.key - 1)
            else:
                low = max(low, position.key + 1)
        order = tantivy.Order.Desc if spec.descending else tantivy.Order.Asc
        # A category filter has its own exact ladder: only a rarer word or tag beats walking it.
        walked = _walked(prepared)
        estimate = self.estimated_matches(prepared, except_tags=walked, except_sort=sort)
        found: list[tuple[int, tantivy.DocAddress]] = []
        if estimate <= DRIVEN_MAX_DOCS:
            # A rare word or tag drives: top-k by key over all its matches is cheap and exact.
            clauses = self.words_and_filters(prepared, except_sort=sort)
            if (low, high) != (0, MAX_KEY):
                clauses.append(_range(self.schema, spec.field, low, high))
            result = self.searcher.search(
                _all(clauses), limit=need, count=True, order_by_field=spec.field, order=order
            )
            total, exhausted = _count(result), True
            found = [(int(key), address) for key, address in result.hits]
        else:
            total, exhausted = self._ladder(prepared, spec, low, high, need, found)
        page = found[:limit]
        # The composite key holds the sort value and the id: no fast field to read.
        hits = [
            Hit(id=f.key_id(key, descending=spec.descending), sort_value=f.key_value(key))
            for key, _ in page
        ]
        next_position = None
        if len(found) > limit:
            next_position = cursors.Position(
                key=page[-1][0], seen=(position.seen if position else 0) + limit
            )
        return hits, total, exhausted, next_position

    def _ladder(
        self,
        prepared: Prepared,
        spec: SortSpec,
        low: int,
        high: int,
        need: int,
        found: list[tuple[int, tantivy.DocAddress]],
    ) -> tuple[int, bool]:
        """Visit the sort's buckets best first, in groups of ~4x more documents each time, until
        ``need`` hits are found; returns the matches counted and whether every bucket was seen.

        With a category filter the category's own buckets are walked (their counts are exact
        for it, and the category clause becomes redundant)."""
        order = tantivy.Order.Desc if spec.descending else tantivy.Order.Asc
        category = prepared.request.category_id
        rungs = [
            rung
            for rung in self.ladders.rungs(prepared.sort, category)
            if rung.high >= low and rung.low <= high
        ]
        walked = _walked(prepared)
        base = self.words_and_filters(prepared, except_sort=prepared.sort, except_tags=walked)
        universe = sum(rung.docs for rung in rungs) or 1
        driver = self.estimated_matches(prepared, except_tags=walked, except_sort=prepared.sort)
        estimate = min(driver, universe)
        share = max(min(estimate / max(self.searcher.num_docs, 1), 1.0), 1e-9)
        target = max(2 * need / share, need) if estimate < universe else need
        total = 0
        start = 0
        while start < len(rungs) and len(found) < need:
            end, docs = start, 0
            while end < len(rungs) and (docs < target or end == start):
                docs += rungs[end].docs
                end += 1
            if docs > driver and driver < universe:
                # The filters were rarer than estimated: the rarest word or tag now visits fewer
                # documents than the next group would; sort the rest of the key range by it.
                rest_low, rest_high = low, high
                if spec.descending:
                    rest_high = min(high, rungs[start].high)
                else:
                    rest_low = max(low, rungs[start].low)
                clauses = self.words_and_filters(prepared, except_sort=prepared.sort)
                clauses.append(_range(self.schema, spec.field, rest_low, rest_high))
                result = self.searcher.search(
                    _all(clauses),
                    limit=need - len(found),
                    count=True,
                    order_by_field=spec.field,
                    order=order,
                )
                found.extend((int(key), address) for key, address in result.hits)
                return total + _count(result), True
            group = _any(rung_clauses(self.schema, spec, rungs[start:end], low, high))
            result = self.searcher.search(
                _all([*base, group]),
                limit=need - len(found),
                count=True,
                order_by_field=spec.field,
                order=order,
            )
            total += _count(result)
            found.extend((int(key), address) for key, address in result.hits)
            start = end
            target *= 4
        return total, start >= len(rungs)

    def _relevance(
        self, prepared: Prepared, position: cursors.Position | None
    ) -> tuple[list[Hit], int, bool, cursors.Position | None]:
        """Top hits by (score desc, id asc). Scores tie often, so the window of top hits grows
        until the hits above its edge score (complete tie groups only) cover the page."""
        limit = prepared.request.limit
        seen = position.seen if position else 0
        if position is not None and (position.score is None or position.id is None):
            raise cursors.InvalidCursor("cursor: not a cursor for this sort")
        # The candidate tier: the cursor's (every page ranks the same candidates), or chosen now.
        tier: int | None = position.key if position is not None else None
        tier_clause: Query | None = None
        tier_share = 1.0
        window = min(seen + limit + 1 + 32, MAX_RELEVANCE_WINDOW)
        result: tantivy.SearchResult | None = None
        estimate = self.estimated_matches(prepared)
        if tier is None and estimate > RELEVANCE_EXACT_DOCS:
            # A tier holds a few times RELEVANCE_CANDIDATES matches: one window takes them all.
            window = min(max(window, TIER_WINDOW), MAX_RELEVANCE_WINDOW)
            chosen = self._relevance_tier(
                prepared, max(RELEVANCE_CANDIDATES, seen + limit + 1), window
            )
            if chosen is not None:
                tier, query, result = chosen
                tier_share = self._tier_share(prepared, tier)
        elif tier is not None or estimate > TIER_WINDOW * 8:
            # A tier, or many matches: few distinct scores (short texts), so a tie group at a
            # small window's edge is likely; one wide window instead of one search per growth.
            window = min(max(window, TIER_WINDOW), MAX_RELEVANCE_WINDOW)
        if result is None:
            tier_docs = None
            if tier is not None:
                tier_clause = self._tier_clause(prepared, tier)
                tier_docs = self._tier_docs(prepared, tier)
                tier_share = self._tier_share(prepared, tier)
            query = self._scored(prepared, tier_clause, tier_docs)
            result = self.searcher.search(query, limit=window, count=True)
        total = _count(result)
        while True:
            scored = result.hits
            scores = [float(score) for score, _ in scored]
            complete = len(scored) < window
            # Hits scoring above the window's edge score come with their whole tie group.
            exact = len(scores) if complete else _count_above(scores, scores[-1])
            if complete or window >= MAX_RELEVANCE_WINDOW:
                break
            if self._after_cursor(scored, scores, exact, position) > limit:
                break
            # A small result is taken whole in one more search; a large one 4x the window.
            grown = total + 1 if total < 4 * window else window * 4
            window = min(grown, MAX_RELEVANCE_WINDOW)
            result = self.searcher.search(query, limit=window, count=False)
        if exact <= limit and not complete:
            # The window is at its widest and one tie group fills its edge: order what it holds.
            exact = len(scored)
        if position is None and exact > limit + 1:
            # A first page needs the top limit + 1 by (score, id): the hits scoring at least
            # the (limit + 1)-th's, its tie group included; only those ids are read.
            exact = _count_above(scores, scores[limit]) + scores[:exact].count(scores[limit])
        addresses = [address for _, address in scored[:exact]]
        ids = f.ids_at(self.searcher, addresses)
        ranked = sorted((-scores[i], ids[i], i) for i in range(exact))
        if position is not None:
            after = (-(position.score or 0.0), position.id or 0)
            ranked = [entry for entry in ranked if (entry[0], entry[1]) > after]
        page = ranked[:limit]
        hits = [Hit(id=product_id, score=-score) for score, product_id, _ in page]
        next_position = None
        if len(ranked) > limit and seen + limit < MAX_RELEVANCE_WINDOW:
            last_score, last_id, _ = page[-1]
            next_position = cursors.Position(
                key=tier, score=-last_score, id=last_id, seen=seen + limit
            )
        if tier is None:
            return hits, total, True, next_position
        # Matches outside the tier were not counted: scale by the tier's share of the documents.
        scaled = min(round(total / tier_share), estimate)
        return hits, max(scaled, total), False, next_position

    def _scored(
        self, prepared: Prepared, tier_clause: Query | None, tier_docs: int | None = None
    ) -> Query:
        """BM25 over the words; every filter (and the tier of ``tier_docs`` documents, if any)
        a zero-score clause."""
        walked = _walked(prepared) if tier_clause is not None else frozenset()
        filters = self.filters(prepared, except_tags=walked, driver_docs=tier_docs)
        if tier_clause is not None:
            filters.append(tier_clause)
        # Each filter its own zero-score clause of the one intersection: wrapped together they
        # would be intersected on their own first, without the words to drive (at 100M, a
        # tier of ~1M documents checked against two ranges: 137 ms against 29 ms).
        clauses = self.word_clauses(prepared)
        clauses.extend(Query.const_score_query(clause, 0.0) for clause in filters)
        return _all(clauses)

    def _relevance_tier(
        self, prepared: Prepared, need: int, window: int
    ) -> tuple[int, Query, tantivy.SearchResult] | None:
        """The best-selling buckets that hold at least ``need`` matches: their lowest sales key,
        the ranking query over them and its first ``window`` hits (None when that takes every
        bucket: then every match is ranked).

        Buckets are added in growing groups, each ranked at once: the search that counts a
        group's matches is the one whose hits are used. The next group is sized from the
        matches per document the last one held (at least 4x its documents; 16x after none)."""
        category = prepared.request.category_id
        rungs = self.ladders.rungs(Sort.SALES, category)
        walked = _walked(prepared)
        universe = sum(rung.docs for rung in rungs) or 1
        estimate = min(self.estimated_matches(prepared, except_tags=walked), universe)
        share = max(min(estimate / universe, 1.0), 1e-9)
        target = max(2 * need / share, need)
        end, docs = 0, 0
        spec = SORTS[Sort.SALES]
        while end < len(rungs):
            while end < len(rungs) and (docs < target or end == 0):
                docs += rungs[end].docs
                end += 1
            if end >= len(rungs):
                return None
            group = _any(rung_clauses(self.schema, spec, rungs[:end], 0, MAX_KEY))
            query = self._scored(prepared, group, docs)
            result = self.searcher.search(query, limit=window, count=True)
            found = _count(result)
            if found >= need:
                return rungs[end - 1].low, query, result
            # Grow by what this group's match rate says is needed (with a margin), at least 4x.
            rate = found / docs if found else 1 / (16 * docs)
            target = max(4 * docs, 1.5 * need / rate)
        return None

    def _tier_docs(self, prepared: Prepared, tier: int) -> int:
        """The documents of the sales buckets at or above ``tier``."""
        rungs = self.ladders.rungs(Sort.SALES, prepared.request.category_id)
        return sum(rung.docs for rung in rungs if rung.low >= tier)

    def _tier_share(self, prepared: Prepared, tier: int) -> float:
        """The share of the documents that the sales buckets at or above ``tier`` hold."""
        rungs = self.ladders.rungs(Sort.SALES, prepared.request.category_id)
        universe = sum(rung.docs for rung in rungs) or 1
        return max(self._tier_docs(prepared, tier) / universe, 1e-9)

    def _tier_clause(self, prepared: Prepared, tier: int) -> Query:
        """The sales buckets at or above ``tier`` (a bucket's lowest key) as one clause."""
        rungs = self.ladders.rungs(Sort.SALES, prepared.request.category_id)
        chosen = [rung for rung in rungs if rung.low >= tier]
        if not chosen:
            return Query.empty_query()
        # A bucket split by a later index change still counts whole: filter the keys too.
        return _any(rung_clauses(self.schema, SORTS[Sort.SALES], chosen, tier, MAX_KEY))

    def _after_cursor(
        self,
        scored: list[tuple[Any, tantivy.DocAddress]],
        scores: list[float],
        exact: int,
        position: cursors.Position | None,
    ) -> int:
        """How many of the first ``exact`` hits come after the cursor (ids are read only for
        the cursor's own tie group)."""
        if position is None:
            return exact
        cursor_score, cursor_id = position.score or 0.0, position.id or 0
        lower = sum(1 for score in scores[:exact] if score < cursor_score)
        ties = [scored[i][1] for i in range(exact) if scores[i] == cursor_score]
        if ties:
            lower += sum(1 for value in f.ids_at(self.searcher, ties) if value > cursor_id)
        return lower

    # Facets -----------------------------------------------------------------------------------

    def facets(self, prepared: Prepared) -> tuple[dict[int, int], bool]:
        """Matches per child of the filtered category (or per root), from a terms aggregation
        on the own-category fast field. Above :data:`FACET_EXACT_LIMIT` likely matches, only
        some sample slots are counted and the counts scaled (``exact`` false)."""
        clauses = self.words_and_filters(prepared, except_sort=None)
        slots = f.SAMPLE_SLOTS
        estimate = self.estimated_matches(prepared)
        if estimate > FACET_EXACT_LIMIT:
            slots = max(1, math.ceil(f.SAMPLE_SLOTS * FACET_SAMPLE_DOCS / estimate))
            clauses.append(_any([_term(self.schema, f.sample_tag(s)) for s in range(slots)]))
        scale = f.SAMPLE_SLOTS / slots
        query = _all(clauses) if clauses else Query.all_query()
        size = max(len(self.ancestry), 1) + 16
        result: dict[str, Any] = self.searcher.aggregate(
            query, {"own": {"terms": {"field": f.CATEGORY, "size": size}}}
        )
        counts: dict[int, int] = {}
        parent = prepared.request.category_id
        for bucket in result.get("own", {}).get("buckets", []):
            own, count = int(bucket["key"]), int(bucket["doc_count"])
            path = self.ancestry.get(own, (own,))
            if parent is None:
                child: int | None = path[0]
            elif parent in path[:-1]:
                child = path[path.index(parent) + 1]
            else:
                child = None  # products directly in the filtered category
            if child is not None:
                counts[child] = counts.get(child, 0) + count
        exact = slots == f.SAMPLE_SLOTS
        if not exact:
            counts = {child: round(count * scale) for child, count in counts.items()}
        return dict(sorted(counts.items())), exact
