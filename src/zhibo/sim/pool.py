"""A product pool of any size (up to 100 million and beyond) from the simulator's vocabulary,
generated in independent, deterministic batches: for search benchmarks and scale tests.

Unlike ``generate`` (a whole platform with histories and tactics), this makes products only, in
the column layout the search index takes (``zhibo.catalog.search.index.ProductIndex.add_table``)
plus the import fields (``product_id``, ``category_path``, ``reference_price_fen``). Batch ``k``
depends only on ``(seed, k, batch_rows)``, so batches can be made in parallel or skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhibo.sim.catalog import (
    ROOT_WEIGHTS,
    _brand_names,
    _join,
    _rates,
    _round_price,
    _stock,
    _WordTable,
    build_categories,
)
from zhibo.sim.vocab import ROOTS

DEFAULT_BRANDS = 40_000


@dataclass(frozen=True)
class PoolVocabulary:
    """Everything shared by all batches: categories, brands, the word table."""

    brand_names: pa.Array
    brand_root: np.ndarray
    brand_leaf: np.ndarray
    brand_weight: np.ndarray
    brand_latin: np.ndarray
    leaf_ids: np.ndarray
    leaf_root_ids: np.ndarray
    leaf_paths: pa.Array
    leaf_risk: pa.Array
    leaf_price: np.ndarray
    leaf_sigma: np.ndarray
    leaf_commission: np.ndarray
    leaves_per_root: np.ndarray
    first_leaf: np.ndarray
    words: pa.Array
    nouns_zh: tuple[np.ndarray, np.ndarray, np.ndarray]
    nouns_en: tuple[np.ndarray, np.ndarray, np.ndarray]
    points_zh: tuple[np.ndarray, np.ndarray, np.ndarray]
    points_en: tuple[np.ndarray, np.ndarray, np.ndarray]
    specs: tuple[np.ndarray, np.ndarray, np.ndarray]
    root_desc: tuple[np.ndarray, np.ndarray, np.ndarray]
    brand_word: np.ndarray
    comma: int
    period: int


def vocabulary(seed: int, brands: int = DEFAULT_BRANDS) -> PoolVocabulary:
    rng = np.random.default_rng([seed, 0])
    tree = build_categories()
    leaves = [leaf for root in ROOTS for leaf in root.leaves]
    root_ids = tree.ids[tree.parent_ids == -1]
    brand_root = rng.choice(len(ROOTS), brands, p=ROOT_WEIGHTS / ROOT_WEIGHTS.sum())
    latin_share = np.array([r.latin_brand_share for r in ROOTS])
    brand_latin = rng.random(brands) < latin_share[brand_root]
    names = _brand_names(rng, brand_latin)
    leaves_per_root = np.bincount(tree.leaf_root, minlength=len(ROOTS))
    first_leaf = np.cumsum(leaves_per_root) - leaves_per_root
    within = (rng.random(brands) * leaves_per_root[brand_root]).astype(np.int64)
    words = _WordTable()
    group = words.group
    vocab = dict(
        nouns_zh=group([leaf.nouns_zh for leaf in leaves]),
        nouns_en=group([leaf.nouns_en for leaf in leaves]),
        points_zh=group([leaf.points_zh for leaf in leaves]),
        points_en=group([leaf.points_en for leaf in leaves]),
        specs=group([leaf.specs for leaf in leaves]),
        root_desc=group([r.descriptions for r in ROOTS]),
    )
    brand_word = np.array([words.add(name) for name in names])
    comma, period = words.add("，"), words.add("。")
    leaf_index = {int(c): i for i, c in enumerate(tree.ids)}
    return PoolVocabulary(
        brand_names=pa.array(names, type=pa.string()),
        brand_root=brand_root,
        brand_leaf=first_leaf[brand_root] + within,
        brand_weight=rng.lognormal(0.0, 1.2, brands),
        brand_latin=brand_latin,
        leaf_ids=tree.leaf_category_id,
        leaf_root_ids=root_ids[tree.leaf_root],
        leaf_paths=pa.array([tree.paths[leaf_index[int(c)]] for c in tree.leaf_category_id]),
        leaf_risk=pa.array([leaf.risk_class for leaf in leaves]),
        leaf_price=np.array([leaf.price_median_yuan for leaf in leaves]) * 100,
        leaf_sigma=np.array([leaf.price_sigma for leaf in leaves]),
        leaf_commission=np.array([leaf.commission_bp for leaf in leaves], dtype=np.float64),
        leaves_per_root=leaves_per_root,
        first_leaf=first_leaf,
        words=words.array(),
        brand_word=brand_word,
        comma=comma,
        period=period,
        **vocab,
    )


def _pick(
    rng: np.random.Generator, grouped: tuple[np.ndarray, np.ndarray, np.ndarray], which: np.ndarray
) -> np.ndarray:
    flat, offsets, counts = grouped
    return flat[offsets[which] + (rng.random(len(which)) * counts[which]).astype(np.int64)]


def pool_batch(vocab: PoolVocabulary, seed: int, index: int, batch_rows: int) -> pa.Table:
    """Batch ``index`` of the pool: products ``index * batch_rows + 1`` onwards."""
    rng = np.random.default_rng([seed, 1, index])
    n = batch_rows
    first_id = index * batch_rows + 1
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    weights = vocab.brand_weight / vocab.brand_weight.sum()
    brand = rng.choice(len(weights), n, p=weights)
    root = vocab.brand_root[brand]
    other = vocab.first_leaf[root] + (rng.random(n) * vocab.leaves_per_root[root]).astype(np.int64)
    leaf = np.where(rng.random(n) < 0.7, vocab.brand_leaf[brand], other)

    latin = vocab.brand_latin[brand]
    u = rng.random(n)
    pattern = np.where(
        latin, np.where(u < 0.4, 0, np.where(u < 0.7, 1, 2)), np.where(u < 0.75, 0, 2)
    )
    zh_flat, zh_off, zh_cnt = vocab.nouns_zh
    en_flat, en_off, en_cnt = vocab.nouns_en
    pick = rng.random(n)
    j = np.where(pattern == 0, pick * zh_cnt[leaf], pick * en_cnt[leaf]).astype(np.int64)
    noun_zh = zh_flat[zh_off[leaf] + np.minimum(j, zh_cnt[leaf] - 1)]
    noun_en = en_flat[en_off[leaf] + np.minimum(j, en_cnt[leaf] - 1)]
    point_zh = _pick(rng, vocab.points_zh, leaf)
    point_en = _pick(rng, vocab.points_en, leaf)
    spec = _pick(rng, vocab.specs, leaf)
    c2 = np.where(pattern == 0, noun_zh, spec)
    c3 = np.where(pattern == 0, point_zh, noun_en)
    c4 = np.select([pattern == 0, pattern == 1], [spec, point_en], point_zh)
    titles = _join(vocab.words, [vocab.brand_word[brand], c2, c3, c4], " ")
    sentence = _pick(rng, vocab.root_desc, root)
    comma = np.full(n, vocab.comma)
    descriptions = _join(
        vocab.words, [noun_zh, comma, point_zh, comma, sentence, np.full(n, vocab.period)], ""
    )

    price = _round_price(vocab.leaf_price[leaf] * rng.lognormal(0.0, vocab.leaf_sigma[leaf]))
    lo, hi = vocab.leaf_commission[leaf, 0], vocab.leaf_commission[leaf, 1]
    commission = _rates(lo + (hi - lo) * rng.random(n))
    has_reference = rng.random(n) < 0.4
    reference = np.where(
        has_reference, _round_price(price * (1.1 + rng.random(n) * 0.8)), -1
    ).astype(np.int64)
    # Most of a big pool never sells in a month; a few products sell enormously.
    sales = np.floor(rng.lognormal(-1.5, 2.4, n)).astype(np.int64)
    sales = np.minimum(sales, 5_000_000)

    category_ids = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
        pa.array(np.column_stack([vocab.leaf_root_ids[leaf], vocab.leaf_ids[leaf]]).ravel()),
    )
    brand_ids = brand.astype(np.int64) + 1
    product_ids = pc.binary_join_element_wise(
        pa.array(np.char.add("P", brand_ids.astype(str))),
        pc.cast(pa.array(ids), pa.string()),
        "-",
    )
    return pa.table(
        {
            "id": pa.array(ids),
            "product_id": product_ids,
            "brand_id": pa.array(brand_ids),
            "brand": vocab.brand_names.take(pa.array(brand)),
            "category_id": pa.array(vocab.leaf_ids[leaf]),
            "category_ids": category_ids,
            "category_path": vocab.leaf_paths.take(pa.array(leaf)),
            "risk_class": vocab.leaf_risk.take(pa.array(leaf)),
            "title": titles,
            "description": descriptions,
            "price_fen": pa.array(price),
            "reference_price_fen": pa.array(reference, mask=~has_reference),
            "commission_rate_bp": pa.array(commission.astype(np.int64)),
            "stock": pa.array(_stock(rng, n).astype(np.int64)),
            "sales_30d": pa.array(sales),
        }
    )


def pool_batches(
    seed: int, count: int, batch_rows: int = 1_000_000, brands: int = DEFAULT_BRANDS
) -> Iterator[pa.Table]:
    """``count`` products in batches of ``batch_rows`` (the last one shorter)."""
    vocab = vocabulary(seed, brands)
    for index in range((count + batch_rows - 1) // batch_rows):
        table = pool_batch(vocab, seed, index, batch_rows)
        remaining = count - index * batch_rows
        yield table if remaining >= batch_rows else table.slice(0, remaining)
