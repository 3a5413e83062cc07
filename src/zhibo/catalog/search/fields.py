"""The index's fields, its filter tags, and the sort keys and buckets that let sorts stop early.

Filters are *tags*: short terms in one whitespace-tokenized field: ``c12`` category 12 or any
descendant, ``b7`` brand 7, ``r2`` risk class, ``i1`` in stock, ``s``/``m``/``p`` sort buckets,
``c12.s3``/``c12.m25``/``c12.p118`` the sort buckets within category 12, ``h5`` a sample slot.
One text field of tags indexes several times faster than one numeric field per filter.

Each sort has a *composite key*, one unsigned 64-bit fast field whose order is exactly the sort
order including the tie-break by id, so top-k by a fast field is exact and cursors are one number:

- sales (descending):      ``sales << 32 | (2**32 - 1 - id)``
- commission (descending): ``commission_rate_bp << 32 | (2**32 - 1 - id)``
- price (ascending):       ``price_fen << 32 | id``

and a *bucket* tag per document that is a non-decreasing function of that key, so a better
bucket never holds a worse document: the search visits buckets best first and stops as soon as
it holds a page (see :mod:`zhibo.catalog.search.plan`).
"""

from __future__ import annotations

import numpy as np
import tantivy

from zhibo.catalog.search.analysis import TAGS_TOKENIZER, WORDS_TOKENIZER
from zhibo.models import RiskClass

#: Bumped whenever the fields or tags change: an index of another version must be rebuilt.
FORMAT_VERSION = 1
ID_BITS = 32
#: Ids must fit the low half of a composite key.
MAX_ID = (1 << ID_BITS) - 1
#: Largest value a key holds for sales and price (fen); larger values sort as this one
#: (42,949,672.95 yuan, 4.29 billion units in 30 days).
MAX_KEY_VALUE = (1 << 32) - 1
#: Sales tiers 0 and 1 (0 and 1 units) hold most products and one sales value each, so they are
#: split further by id blocks of this many bits: the order inside them is by id alone.
SALES_ID_BLOCK_BITS = 20
#: Commission buckets are whole percents.
COMMISSION_BUCKET_BP = 100
#: Price buckets: 8 per doubling of the price (~9 % wide).
PRICE_BUCKETS_PER_OCTAVE_BITS = 3

RISK_CODES: dict[RiskClass, int] = {
    RiskClass.LOW: 0,
    RiskClass.MEDIUM: 1,
    RiskClass.HIGH: 2,
    RiskClass.RESTRICTED: 3,
}
RISK_BY_NAME: dict[str, int] = {str(risk): code for risk, code in RISK_CODES.items()}

# Field names.
ID = "id"
TEXT = "text"
TAGS = "tags"
BRAND = "brand"
CATEGORY = "category"
RISK = "risk"
STOCK = "stock"
SALES_KEY = "sales_key"
COMMISSION_KEY = "commission_key"
PRICE_KEY = "price_key"

FAST_FIELDS = (ID, BRAND, CATEGORY, RISK, STOCK, SALES_KEY, COMMISSION_KEY, PRICE_KEY)


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Indexed for delete-by-term (upserts), fast for reading ids of hits.
    builder.add_unsigned_field(ID, indexed=True, fast=True)
    # Relevance needs term frequencies but no positions (no phrase queries).
    builder.add_text_field(TEXT, tokenizer_name=WORDS_TOKENIZER, index_option="freq")
    builder.add_text_field(TAGS, tokenizer_name=TAGS_TOKENIZER, index_option="basic")
    # Fast fields: read by hits, facets (own category) and `catalog check`, and filtered by range
    # where another clause drives the search (risk code, sort keys).
    for name in FAST_FIELDS[1:]:
        builder.add_unsigned_field(name, fast=True)
    return builder.build()


# Tags -----------------------------------------------------------------------------------------


def category_tag(category_id: int) -> str:
    return f"c{category_id}"


def brand_tag(brand_id: int) -> str:
    return f"b{brand_id}"


def risk_tag(code: int) -> str:
    return f"r{code}"


#: Every document is in one of this many sample slots (``h<id % SAMPLE_SLOTS>``): facets of a
#: very broad search count a few slots and scale up.
SAMPLE_SLOTS = 64


def sample_tag(slot: int) -> str:
    return f"h{slot}"


IN_STOCK_TAG = "i1"
OUT_OF_STOCK_TAG = "i0"


def sales_tier(sales: int) -> int:
    """The bit length of the sales: 0 for none, 1 for one unit, 2 for 2-3, 3 for 4-7 ...
    (⌊log2(sales)⌋ + 1; tiers 0 and 1 hold a single value each)."""
    return min(max(sales, 0), MAX_KEY_VALUE).bit_length()


def sales_tag(sales: int, product_id: int) -> str:
    tier = sales_tier(sales)
    if tier <= 1:
        return f"s{tier}.{product_id >> SALES_ID_BLOCK_BITS}"
    return f"s{tier}"


def commission_bucket(rate_bp: int) -> int:
    return rate_bp // COMMISSION_BUCKET_BP


def commission_tag(rate_bp: int) -> str:
    return f"m{commission_bucket(rate_bp)}"


def price_bucket(price_fen: int) -> int:
    """Monotone log buckets: the octave and the next 3 bits of the price (exact below 16 fen)."""
    price = min(max(price_fen, 0), MAX_KEY_VALUE)
    octave = price.bit_length()
    if octave <= PRICE_BUCKETS_PER_OCTAVE_BITS + 1:
        return price
    shift = octave - PRICE_BUCKETS_PER_OCTAVE_BITS - 1
    return (octave << PRICE_BUCKETS_PER_OCTAVE_BITS) + ((price >> shift) & 0b111)


def price_tag(price_fen: int) -> str:
    return f"p{price_bucket(price_fen)}"


# Composite keys -------------------------------------------------------------------------------


def sales_key(sales: int, product_id: int) -> int:
    return (min(sales, MAX_KEY_VALUE) << ID_BITS) | (MAX_ID - product_id)


def commission_key(rate_bp: int, product_id: int) -> int:
    return (rate_bp << ID_BITS) | (MAX_ID - product_id)


def price_key(price_fen: int, product_id: int) -> int:
    return (min(price_fen, MAX_KEY_VALUE) << ID_BITS) | product_id


def key_value(key: int) -> int:
    """The sales, commission or price a composite key holds."""
    return key >> ID_BITS


def key_id(key: int, *, descending: bool) -> int:
    low = key & MAX_ID
    return MAX_ID - low if descending else low


def ids_at(searcher: tantivy.Searcher, addresses: list[tantivy.DocAddress]) -> list[int]:
    """The product ids of documents, read from the price key (``price << 32 | id``).

    Not from the ``id`` column: ids grow with the documents' order, so tantivy stores that
    column block-wise linear, and opening it (``fast_field_values`` opens one column per
    segment on every call) reads every block's parameters: ~10 ms per call at 100M products,
    against ~0.1 ms for the price key, whose values come in no order (bit-packed)."""
    if not addresses:
        return []
    return [int(key or 0) & MAX_ID for key in searcher.fast_field_values(PRICE_KEY, addresses)]


# Vectorised forms for bulk indexing (NumPy, int64 in, uint64 / int64 out) ---------------------


def _bit_length(values: np.ndarray) -> np.ndarray:
    """Bit length of non-negative integers below 2**53 (exact through float64)."""
    return np.frexp(values.astype(np.float64))[1].astype(np.int64)


def sales_tiers(sales: np.ndarray) -> np.ndarray:
    return _bit_length(np.clip(sales, 0, MAX_KEY_VALUE))


def price_buckets(prices: np.ndarray) -> np.ndarray:
    price = np.clip(prices, 0, MAX_KEY_VALUE)
    octave = _bit_length(price)
    shift = np.maximum(octave - PRICE_BUCKETS_PER_OCTAVE_BITS - 1, 0)
    upper = (octave << PRICE_BUCKETS_PER_OCTAVE_BITS) + ((price >> shift) & 0b111)
    return np.where(octave <= PRICE_BUCKETS_PER_OCTAVE_BITS + 1, price, upper)


def composite_keys(values: np.ndarray, ids: np.ndarray, *, descending: bool) -> np.ndarray:
    high = np.minimum(values.astype(np.int64), MAX_KEY_VALUE).astype(np.uint64) << np.uint64(
        ID_BITS
    )
    low = ids.astype(np.uint64)
    if descending:
        low = np.uint64(MAX_ID) - low
    return high | low
