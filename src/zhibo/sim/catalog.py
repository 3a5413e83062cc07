"""The product pool: categories, brands, products and their price history, with the
product-level tactics (banned terms, off-platform lures, fake original prices) injected."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhibo.sim import patterns
from zhibo.sim.clock import DAY_MS, HOUR_MS, YEAR_MS, iso, midnight_ms
from zhibo.sim.identity import phones, social_credit_codes
from zhibo.sim.labels import Label
from zhibo.sim.rng import Streams
from zhibo.sim.scales import Scale
from zhibo.sim.vocab import (
    BRAND_CHARS_FIRST,
    BRAND_CHARS_SECOND,
    BRAND_CHARS_THIRD,
    BRAND_SYLLABLES,
    ROOTS,
)

#: Share of the product pool per root category (same order as ``ROOTS``).
ROOT_WEIGHTS = np.array([0.16, 0.14, 0.07, 0.12, 0.2, 0.12, 0.07, 0.04, 0.04, 0.04])
NO_REFERENCE = -1


@dataclass
class CategoryTree:
    ids: np.ndarray  # category_id per row
    parent_ids: np.ndarray  # -1 for roots
    names: list[str]
    paths: list[str]
    risk: list[str]
    #: Per leaf (0..L-1): its category id and root index.
    leaf_category_id: np.ndarray
    leaf_root: np.ndarray


@dataclass
class Catalog:
    tree: CategoryTree
    brand_count: int
    brand_names: list[str]
    brand_codes: list[str]
    brand_new_date: np.ndarray  # days since epoch, -1 when not new
    brand_blacklisted: np.ndarray
    brand_created: np.ndarray
    # Products, index = product_id - 1.
    brand: np.ndarray
    leaf: np.ndarray
    root: np.ndarray
    created: np.ndarray
    active: np.ndarray
    popularity: np.ndarray
    titles: pa.Array
    descriptions: pa.Array
    external_ids: pa.Array
    # Price history, sorted by (product, effective_at).
    ph_product: np.ndarray
    ph_time: np.ndarray
    ph_price: np.ndarray
    ph_reference: np.ndarray  # NO_REFERENCE when none
    ph_rate: np.ndarray
    ph_stock: np.ndarray
    labels: list[Label] = field(default_factory=list)

    @property
    def product_count(self) -> int:
        return len(self.brand)

    def _key(self, products: np.ndarray, times: np.ndarray) -> np.ndarray:
        return (products.astype(np.int64) << 40) | (times - self._epoch)

    def __post_init__(self) -> None:
        self._epoch = int(self.ph_time.min())
        self._keys = self._key(self.ph_product, self.ph_time)

    def row_at(self, products: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Price-history row in effect for each (product index, time)."""
        rows = np.searchsorted(self._keys, self._key(products, times), side="right") - 1
        return rows

    def current_rows(self) -> np.ndarray:
        """The last price-history row of every product."""
        last = np.flatnonzero(np.r_[self.ph_product[1:] != self.ph_product[:-1], True])
        return last


def build_categories() -> CategoryTree:
    ids: list[int] = []
    parents: list[int] = []
    names: list[str] = []
    paths: list[str] = []
    risk: list[str] = []
    leaf_ids: list[int] = []
    leaf_root: list[int] = []
    next_id = 1
    for r, root in enumerate(ROOTS):
        root_id = next_id
        next_id += 1
        ids.append(root_id)
        parents.append(-1)
        names.append(root.name)
        paths.append(root.slug)
        risk.append(root.risk_class)
        for leaf in root.leaves:
            ids.append(next_id)
            parents.append(root_id)
            names.append(leaf.name)
            paths.append(f"{root.slug}/{leaf.slug}")
            risk.append(leaf.risk_class)
            leaf_ids.append(next_id)
            leaf_root.append(r)
            next_id += 1
    return CategoryTree(
        ids=np.array(ids, dtype=np.int64),
        parent_ids=np.array(parents, dtype=np.int64),
        names=names,
        paths=paths,
        risk=risk,
        leaf_category_id=np.array(leaf_ids, dtype=np.int64),
        leaf_root=np.array(leaf_root, dtype=np.int64),
    )


def _brand_names(rng: np.random.Generator, latin: np.ndarray) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for is_latin in latin:
        while True:
            if is_latin:
                n = 2 if rng.random() < 0.7 else 3
                parts = [BRAND_SYLLABLES[i] for i in rng.integers(0, len(BRAND_SYLLABLES), n)]
                name = "".join(parts)
                name = name.upper() if rng.random() < 0.15 else name.capitalize()
            else:
                name = (
                    BRAND_CHARS_FIRST[int(rng.integers(0, len(BRAND_CHARS_FIRST)))]
                    + BRAND_CHARS_SECOND[int(rng.integers(0, len(BRAND_CHARS_SECOND)))]
                )
                if rng.random() < 0.3:
                    name += BRAND_CHARS_THIRD[int(rng.integers(0, len(BRAND_CHARS_THIRD)))]
            if name not in seen:
                seen.add(name)
                out.append(name)
                break
            # Name space exhausted at this length: allow a longer name next time.
            if rng.random() < 0.05:
                name = name + BRAND_CHARS_THIRD[int(rng.integers(0, len(BRAND_CHARS_THIRD)))]
                if name not in seen:
                    seen.add(name)
                    out.append(name)
                    break
    return out


def _round_price(fen: np.ndarray) -> np.ndarray:
    """Shop prices: whole yuan minus 10 fen above 10 yuan (198.90), else whole 10 fen."""
    fen = np.maximum(fen, 100.0)
    whole = np.round(fen / 100.0) * 100 - 10
    small = np.round(fen / 10.0) * 10
    return np.where(fen >= 1000, whole, small).astype(np.int64)


class _WordTable:
    """All words in one Arrow array, so titles are built by vectorised ``take`` and joins."""

    def __init__(self) -> None:
        self.words: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

    def add(self, word: str) -> int:
        if word not in self.index:
            self.index[word] = len(self.words)
            self.words.append(word)
        return self.index[word]

    def group(self, groups: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per group (leaf or root): offset and count into a flat index array of word ids."""
        flat: list[int] = []
        offsets: list[int] = []
        counts: list[int] = []
        for words in groups:
            offsets.append(len(flat))
            counts.append(len(words))
            flat.extend(self.add(w) for w in words)
        return np.array(flat), np.array(offsets), np.array(counts)

    def pick(
        self,
        rng: np.random.Generator,
        grouped: tuple[np.ndarray, np.ndarray, np.ndarray],
        which: np.ndarray,
    ) -> np.ndarray:
        flat, offsets, counts = grouped
        within = (rng.random(len(which)) * counts[which]).astype(np.int64)
        return flat[offsets[which] + within]

    def array(self) -> pa.Array:
        return pa.array(self.words, type=pa.string())


def _join(table: pa.Array, parts: list[np.ndarray], sep: str) -> pa.Array:
    columns = [table.take(pa.array(p)) for p in parts]
    joined = pc.binary_join_element_wise(*columns, sep)
    if sep:
        # Empty parts leave doubled or trailing separators.
        joined = pc.utf8_trim(joined, sep)
        joined = pc.replace_substring(joined, sep + sep, sep)
    return joined


def build_catalog(
    streams: Streams, scale: Scale, start: date, days: int, tactic_counts: dict[str, int]
) -> Catalog:
    start_ms = midnight_ms(start)
    end_ms = start_ms + days * DAY_MS
    tree = build_categories()
    leaves = [leaf for root in ROOTS for leaf in root.leaves]

    # Brands.
    rng = streams.get("catalog.brands")
    nb = scale.brands
    brand_root = rng.choice(len(ROOTS), nb, p=ROOT_WEIGHTS / ROOT_WEIGHTS.sum())
    latin_share = np.array([r.latin_brand_share for r in ROOTS])
    brand_latin = rng.random(nb) < latin_share[brand_root]
    brand_names = _brand_names(rng, brand_latin)
    brand_codes = social_credit_codes(rng, nb)
    is_new = rng.random(nb) < 0.12
    year_start = midnight_ms(date(start.year, 1, 1))
    new_lo = year_start if start_ms - year_start >= 60 * DAY_MS else start_ms - 365 * DAY_MS
    new_hi = start_ms - 14 * DAY_MS
    new_day = (new_lo + rng.random(nb) * (new_hi - new_lo)).astype(np.int64) // DAY_MS
    old_created = start_ms - (1 + 14 * rng.random(nb) ** 1.5) * YEAR_MS
    new_created = new_day * DAY_MS + (8 + rng.random(nb) * 10) * HOUR_MS
    brand_created = np.where(is_new, new_created, old_created).astype(np.int64)
    brand_new_date = np.where(is_new, new_day, -1)
    blacklisted = rng.random(nb) < 0.01
    # Ids follow creation time.
    order = np.argsort(brand_created, kind="stable")
    brand_root = brand_root[order]
    brand_names = [brand_names[i] for i in order]
    brand_codes = [brand_codes[i] for i in order]
    brand_created = brand_created[order]
    brand_new_date = brand_new_date[order]
    blacklisted = blacklisted[order]
    brand_size = rng.lognormal(0.0, 1.2, nb)
    # Each brand concentrates on one leaf of its root.
    # Leaves are numbered root by root: a root's leaves are a contiguous range.
    leaves_per_root = np.bincount(tree.leaf_root, minlength=len(ROOTS))
    first_leaf = np.cumsum(leaves_per_root) - leaves_per_root

    def random_leaf(roots: np.ndarray) -> np.ndarray:
        within = (rng.random(len(roots)) * leaves_per_root[roots]).astype(np.int64)
        return first_leaf[roots] + within

    brand_main_leaf = random_leaf(brand_root)

    # Products.
    rng = streams.get("catalog.products")
    n = scale.products
    brand = rng.choice(nb, n, p=brand_size / brand_size.sum())
    root = brand_root[brand]
    leaf = np.where(rng.random(n) < 0.7, brand_main_leaf[brand], random_leaf(root))
    lo = np.maximum(brand_created[brand] + DAY_MS, start_ms - 3 * YEAR_MS)
    hi = start_ms - DAY_MS
    created = (hi - (hi - lo) * rng.random(n) ** 2).astype(np.int64)
    order = np.lexsort((rng.random(n), created))
    brand, root, leaf, created = brand[order], root[order], leaf[order], created[order]
    active = ~blacklisted[brand] & (rng.random(n) >= 0.03)
    popularity = rng.lognormal(0.0, 1.0, n) * (0.5 + brand_size[brand] / brand_size.mean()) ** 0.3

    # Titles and descriptions from category vocabularies.
    words = _WordTable()
    nouns_zh = words.group([leaf_.nouns_zh for leaf_ in leaves])
    nouns_en = words.group([leaf_.nouns_en for leaf_ in leaves])
    points_zh = words.group([leaf_.points_zh for leaf_ in leaves])
    points_en = words.group([leaf_.points_en for leaf_ in leaves])
    specs = words.group([leaf_.specs for leaf_ in leaves])
    root_desc = words.group([r.descriptions for r in ROOTS])
    brand_word = np.array([words.add(b) for b in brand_names])
    comma, period, spec_label = words.add("，"), words.add("。"), words.add("规格：")
    u = rng.random(n)
    b_latin = np.array([name.isascii() for name in brand_names])[brand]
    # Pattern: 0 = Chinese, 1 = English, 2 = mixed.
    pattern = np.where(
        b_latin,
        np.where(u < 0.4, 0, np.where(u < 0.7, 1, 2)),
        np.where(u < 0.75, 0, 2),
    )
    # One noun per product, named in both languages (English titles use translated nouns).
    zh_flat, zh_off, zh_cnt = nouns_zh
    en_flat, en_off, en_cnt = nouns_en
    pick = rng.random(n)
    j = np.where(pattern == 0, pick * zh_cnt[leaf], pick * en_cnt[leaf]).astype(np.int64)
    noun_zh = zh_flat[zh_off[leaf] + j]
    noun_en = en_flat[en_off[leaf] + np.minimum(j, en_cnt[leaf] - 1)]
    point_zh = words.pick(rng, points_zh, leaf)
    point_en = words.pick(rng, points_en, leaf)
    spec = words.pick(rng, specs, leaf)
    c2 = np.select([pattern == 0], [noun_zh], spec)
    c3 = np.select([pattern == 0], [point_zh], noun_en)
    c4 = np.select([pattern == 0, pattern == 1], [spec, point_en], point_zh)
    table = words.array()
    titles = _join(table, [brand_word[brand], c2, c3, c4], " ")
    desc_sentence = words.pick(rng, root_desc, root)
    descriptions = _join(
        table,
        [
            noun_zh,
            np.full(n, comma),
            point_zh,
            np.full(n, comma),
            desc_sentence,
            np.full(n, period),
            np.full(n, spec_label),
            spec,
            np.full(n, period),
        ],
        "",
    )

    # External ids: the brand's own SKU code, unique within the brand.
    prefix_letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
    brand_prefix = pa.array(
        ["".join(prefix_letters[rng.integers(0, len(prefix_letters), 2)]) + "-" for _ in range(nb)]
    )
    seq_start = rng.integers(0, 400_000, nb)
    by_brand = np.argsort(brand, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    counts = np.bincount(brand, minlength=nb)
    starts = np.cumsum(counts) - counts
    rank[by_brand] = np.arange(n) - np.repeat(starts, counts)
    seq = seq_start[brand] + rank
    seq_text = pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), 6, "0")
    external_ids = pc.binary_join_element_wise(brand_prefix.take(pa.array(brand)), seq_text, "")

    labels: list[Label] = []
    rng_t = streams.get("catalog.tactics")
    # The few texts tactics rewrite, by product index (the rest stay in Arrow arrays).
    new_titles: dict[int, str] = {}
    new_descriptions: dict[int, str] = {}

    def title_of(p: int) -> str:
        return new_titles.get(p) or str(titles[p].as_py())

    def description_of(p: int) -> str:
        return new_descriptions.get(p) or str(descriptions[p].as_py())

    # Old products first in line for fake original prices, which need a week of history.
    old = active & (created <= start_ms - 30 * DAY_MS)
    fake_candidates = rng_t.permutation(np.flatnonzero(old))
    fake_set = np.sort(fake_candidates[: tactic_counts["fake_original_price"]])
    is_fake = np.zeros(n, dtype=bool)
    is_fake[fake_set] = True
    candidates = rng_t.permutation(np.flatnonzero(active & ~is_fake))
    cursor = 0

    def take(k: int) -> np.ndarray:
        nonlocal cursor
        chosen = candidates[cursor : cursor + k]
        cursor += k
        return np.sort(chosen)

    # Banned absolute terms, plain and evaded.
    terms = list(patterns.INJECTED_TERMS)
    for p in map(int, take(tactic_counts["banned_terms"])):
        term = terms[int(rng_t.integers(0, len(terms)))]
        evasion = patterns.EVASIONS[int(rng_t.integers(0, len(patterns.EVASIONS)))]
        surface = patterns.evade(term, evasion, rng_t)
        phrase = patterns.wrap_term(surface, rng_t)
        if rng_t.random() < 0.7:
            field_name = "title"
            new_titles[p] = (
                f"{phrase} {title_of(p)}" if rng_t.random() < 0.5 else f"{title_of(p)} {phrase}"
            )
        else:
            field_name = "description"
            new_descriptions[p] = f"{description_of(p)}{phrase}，放心下单。"
        labels.append(
            Label(
                tactic="banned_terms",
                entity_type="product",
                entity_id=int(p) + 1,
                window_start_ms=int(created[p]),
                detail={
                    "term": patterns.normalise(term),
                    "surface": surface,
                    "evasion": evasion,
                    "field": field_name,
                },
            )
        )

    # Off-platform lures in product texts.
    for p in map(int, take(tactic_counts["off_platform_lure_product"])):
        phone = phones(rng_t, 1)[0]
        if rng_t.random() < 0.5:
            kind, text = patterns.title_lure(rng_t, phone)
            new_titles[p] = title_of(p) + text
            field_name = "title"
        else:
            kind, text = patterns.description_lure(rng_t, phone)
            new_descriptions[p] = description_of(p) + text
            field_name = "description"
        labels.append(
            Label(
                tactic="off_platform_lure",
                entity_type="product",
                entity_id=int(p) + 1,
                window_start_ms=int(created[p]),
                detail={"field": field_name, "kind": kind, "text": text.strip()},
            )
        )

    # Price history.
    rng = streams.get("catalog.prices")
    leaf_median = np.array([leaf_.price_median_yuan for leaf_ in leaves]) * 100
    leaf_sigma = np.array([leaf_.price_sigma for leaf_ in leaves])
    price0 = _round_price(
        leaf_median[leaf]
        * np.exp(leaf_sigma[leaf] * rng.standard_normal(n))
        * rng.lognormal(0, 0.2, nb)[brand]
    )
    rate_lo = np.array([leaf_.commission_bp[0] for leaf_ in leaves])
    rate_hi = np.array([leaf_.commission_bp[1] for leaf_ in leaves])
    rate0 = _rates(rate_lo[leaf] + rng.random(n) * (rate_hi[leaf] - rate_lo[leaf]))
    stock0 = _stock(rng, n)

    rows_p: list[np.ndarray] = [np.arange(n)]
    rows_t: list[np.ndarray] = [created]
    rows_price: list[np.ndarray] = [price0]
    rows_ref: list[np.ndarray] = [np.full(n, NO_REFERENCE)]
    rows_rate: list[np.ndarray] = [rate0]
    rows_stock: list[np.ndarray] = [stock0]

    # Ordinary price drift.
    drift = (rng.random(n) < 0.3) & ~is_fake
    d_idx = np.flatnonzero(drift)
    d_lo = created[d_idx] + DAY_MS
    d_time = (d_lo + rng.random(len(d_idx)) * (end_ms - HOUR_MS - d_lo)).astype(np.int64)
    ok = d_time > created[d_idx]
    d_idx, d_time = d_idx[ok], d_time[ok]
    d_price = _round_price(price0[d_idx] * rng.uniform(0.9, 1.1, len(d_idx)))
    d_rate = np.where(
        rng.random(len(d_idx)) < 0.5,
        rate0[d_idx],
        _rates(rate0[d_idx] * rng.uniform(0.8, 1.2, len(d_idx))),
    )
    d_stock = _stock(rng, len(d_idx))
    rows_p.append(d_idx)
    rows_t.append(d_time)
    rows_price.append(d_price)
    rows_ref.append(np.full(len(d_idx), NO_REFERENCE))
    rows_rate.append(d_rate)
    rows_stock.append(d_stock)
    last_time = created.copy()
    last_time[d_idx] = d_time
    last_price = price0.copy()
    last_price[d_idx] = d_price
    last_rate = rate0.copy()
    last_rate[d_idx] = d_rate

    # Lawful promotions: the struck-through price is the price charged over the 7 days before.
    promo = (rng.random(n) < 0.25) & ~is_fake & active
    p_idx = np.flatnonzero(promo)
    t_lo = np.maximum(last_time[p_idx] + 7 * DAY_MS + HOUR_MS, start_ms - 20 * DAY_MS)
    t_hi = end_ms - HOUR_MS
    ok = t_lo < t_hi
    p_idx, t_lo = p_idx[ok], t_lo[ok]
    t0 = (t_lo + rng.random(len(p_idx)) * (t_hi - t_lo)).astype(np.int64)
    reference = last_price[p_idx]
    p_price = np.minimum(
        _round_price(reference * rng.uniform(0.6, 0.95, len(p_idx))), reference - 100
    )
    p_price = np.maximum(p_price, 100)
    keep = p_price < reference
    p_idx, t0, reference, p_price = p_idx[keep], t0[keep], reference[keep], p_price[keep]
    p_stock = _stock(rng, len(p_idx))
    rows_p.append(p_idx)
    rows_t.append(t0)
    rows_price.append(p_price)
    rows_ref.append(reference)
    rows_rate.append(last_rate[p_idx])
    rows_stock.append(p_stock)
    # Half of them end, back to the usual price and no struck-through price.
    t1 = t0 + (2 + 8 * rng.random(len(p_idx))) * DAY_MS
    ends = (rng.random(len(p_idx)) < 0.5) & (t1 < end_ms)
    rows_p.append(p_idx[ends])
    rows_t.append(t1[ends].astype(np.int64))
    rows_price.append(reference[ends])
    rows_ref.append(np.full(int(ends.sum()), NO_REFERENCE))
    rows_rate.append(last_rate[p_idx[ends]])
    rows_stock.append(_stock(rng, int(ends.sum())))

    # Fake original prices: "raise then discount", or a reference never charged.
    for p in fake_set:
        low = int(price0[p])
        claim = int(
            start_ms - 10 * DAY_MS + rng.random() * (end_ms - 2 * HOUR_MS - start_ms + 10 * DAY_MS)
        )
        if rng.random() < 0.5:
            variant = "raise_then_discount"
            raised = int(_round_price(np.array([low * rng.uniform(1.3, 2.0)]))[0])
            raise_at = int(claim - (1 + 4 * rng.random()) * DAY_MS)
            sale = int(_round_price(np.array([low * rng.uniform(0.92, 1.05)]))[0])
            sale = min(sale, raised - 100)
            extra_t, extra_price = [raise_at, claim], [raised, sale]
            extra_ref = [NO_REFERENCE, raised]
            reference_price = raised
        else:
            variant = "never_charged"
            reference_price = int(_round_price(np.array([low * rng.uniform(1.4, 2.5)]))[0])
            sale = int(_round_price(np.array([low * rng.uniform(0.85, 1.0)]))[0])
            extra_t, extra_price, extra_ref = [claim], [sale], [reference_price]
        k = len(extra_t)
        rows_p.append(np.full(k, p))
        rows_t.append(np.array(extra_t, dtype=np.int64))
        rows_price.append(np.array(extra_price, dtype=np.int64))
        rows_ref.append(np.array(extra_ref, dtype=np.int64))
        rows_rate.append(np.full(k, rate0[p]))
        rows_stock.append(_stock(rng, k))
        labels.append(
            Label(
                tactic="fake_original_price",
                entity_type="product",
                entity_id=int(p) + 1,
                window_start_ms=claim,
                detail={
                    "variant": variant,
                    "reference_price_fen": reference_price,
                    "lowest_price_7d_fen": low,
                    "price_fen": sale,
                    "claimed_at": iso(claim),
                },
            )
        )

    ph_product = np.concatenate(rows_p).astype(np.int64)
    ph_time = np.concatenate(rows_t).astype(np.int64)
    ph_order = np.lexsort((ph_time, ph_product))
    return Catalog(
        tree=tree,
        brand_count=nb,
        brand_names=brand_names,
        brand_codes=brand_codes,
        brand_new_date=brand_new_date,
        brand_blacklisted=blacklisted,
        brand_created=brand_created,
        brand=brand,
        leaf=leaf,
        root=root,
        created=created,
        active=active,
        popularity=popularity,
        titles=_replaced(titles, new_titles),
        descriptions=_replaced(descriptions, new_descriptions),
        external_ids=external_ids,
        ph_product=ph_product[ph_order],
        ph_time=ph_time[ph_order],
        ph_price=np.concatenate(rows_price).astype(np.int64)[ph_order],
        ph_reference=np.concatenate(rows_ref).astype(np.int64)[ph_order],
        ph_rate=np.concatenate(rows_rate).astype(np.int32)[ph_order],
        ph_stock=np.concatenate(rows_stock).astype(np.int32)[ph_order],
        labels=labels,
    )


def _replaced(values: pa.Array, changes: dict[int, str]) -> pa.Array:
    """``values`` with the strings at the given positions replaced (vectorised take)."""
    positions = np.array(sorted(changes), dtype=np.int64)
    index = np.arange(len(values), dtype=np.int64)
    index[positions] = len(values) + np.arange(len(positions))
    extra = pa.array([changes[int(p)] for p in positions], type=pa.string())
    return pa.concat_arrays([values, extra]).take(pa.array(index))


def _rates(bp: np.ndarray) -> np.ndarray:
    """Commission rates rounded to 50 bp, within 1%..50%."""
    return np.clip(np.round(bp / 50.0) * 50, 100, 5000).astype(np.int32)


def _stock(rng: np.random.Generator, n: int) -> np.ndarray:
    stock = rng.lognormal(np.log(300), 1.2, n).astype(np.int64)
    stock[rng.random(n) < 0.05] = 0
    return np.minimum(stock, 1_000_000).astype(np.int32)
