"""Text checks: product titles per second on one core.

Titles come from the simulator's product-pool vocabulary (``zhibo.sim.pool``, seed 7), clean by
construction; 2% get a banned term or contact written with the simulator's evasions
(``zhibo.sim.patterns``). The measured path is ``check_text`` (every running text rule: banned
terms and health claims, off-platform lures) returning matches with offsets. Baseline in the same
run: the naive check, ``term in title`` for every lexicon term and marker, with no folding (so it
also misses every evasion: its recall is printed beside it).
"""

from __future__ import annotations

import os
import time

import numpy as np

from bench.common import median_seconds
from zhibo.risk.screens import check_text
from zhibo.risk.text import banned_term_matcher, default_lexicon
from zhibo.sim import patterns
from zhibo.sim.pool import pool_batch, vocabulary

TITLES = int(os.environ.get("ZHIBO_BENCH_RISK_TITLES", "100000"))
TAINTED_SHARE = 0.02


def titles(n: int, seed: int = 7) -> tuple[list[str], list[bool]]:
    table = pool_batch(vocabulary(seed), seed, 0, n)
    texts = table.column("title").to_pylist()
    rng = np.random.default_rng(seed)
    tainted = rng.random(n) < TAINTED_SHARE
    terms = list(patterns.INJECTED_TERMS)
    for index in np.flatnonzero(tainted):
        if rng.random() < 0.75:
            term = terms[int(rng.integers(0, len(terms)))]
            evasion = patterns.EVASIONS[int(rng.integers(0, len(patterns.EVASIONS)))]
            phrase = patterns.wrap_term(patterns.evade(term, evasion, rng), rng)
        else:
            _kind, phrase = patterns.title_lure(rng, "13812345678")
        texts[index] = f"{texts[index]} {phrase}"
    return texts, tainted.tolist()


def main() -> None:
    texts, tainted = titles(TITLES)
    lexicon = default_lexicon()
    naive_terms = [t for c in lexicon.categories.values() for t in c.terms] + [
        m for markers in lexicon.lures.values() for m in markers
    ]
    started = time.perf_counter()
    banned_term_matcher()
    check_text("预热")
    print(f"lexicon load and automaton build: {time.perf_counter() - started:.2f} s")

    def run() -> list[bool]:
        return [bool(check_text(text)) for text in texts]

    def naive() -> list[bool]:
        return [any(term in text for term in naive_terms) for text in texts]

    flagged = run()
    naive_flagged = naive()
    seconds = median_seconds(run, repeat=3)
    naive_seconds = median_seconds(naive, repeat=3)
    positives = sum(tainted)
    hits = sum(f and t for f, t in zip(flagged, tainted, strict=True))
    false = sum(f and not t for f, t in zip(flagged, tainted, strict=True))
    naive_hits = sum(f and t for f, t in zip(naive_flagged, tainted, strict=True))
    print(f"titles: {len(texts):,} ({positives:,} tainted, evasions included)")
    print(
        f"check_text: {len(texts) / seconds:,.0f} titles/s (one core) — "
        f"recall {hits / positives:.3f}, false positives {false}"
    )
    print(
        f"baseline `term in title` x {len(naive_terms)} terms: "
        f"{len(texts) / naive_seconds:,.0f} titles/s — recall {naive_hits / positives:.3f}"
    )
    print(f"ratio: {naive_seconds / seconds:.2f}x the baseline's speed")


if __name__ == "__main__":
    main()
