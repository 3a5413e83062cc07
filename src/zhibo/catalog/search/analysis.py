"""Text analysis: how product text and query text become index terms.

One path for both sides, so a query word matches exactly when the product's text holds the same
term: NFKC (full-width → half-width), lowercase, every character that is not a letter, mark or
digit becomes a space, then jieba segments each space-separated chunk (``cut_for_search`` for
product text, ``cut`` for queries, no HMM), then tantivy's analyzer (whitespace, lowercase,
English stemmer: ``bags`` → ``bag``; Chinese and mixed tokens pass unchanged) gives the terms.

jieba never segments across a space, so analysing chunk by chunk gives exactly the terms of the
whole text; product text repeats its chunks (brand names, nouns, selling points, specs), so a
bounded per-chunk cache makes indexing several times faster without changing a single term.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import rjieba
import tantivy

#: Name under which the index registers :data:`INDEX_TOKENIZER`.
WORDS_TOKENIZER = "zhibo_words"
#: Name under which the index registers the tag tokenizer (filter terms such as ``c12``).
TAGS_TOKENIZER = "zhibo_tags"
#: Longest query accepted, in characters (longer is refused, not truncated).
MAX_QUERY_CHARS = 200
#: Most distinct words a query may hold (each one is a posting list to intersect).
MAX_QUERY_WORDS = 16
#: Chunks kept per cache before it is emptied (bounds memory on unbounded vocabularies).
CACHE_CHUNKS = 400_000

#: What :func:`tokens` applies after jieba: the same lowercase and stemmer on both sides.
ANALYZER = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)
#: What the index runs on the text field: the terms arrive analysed (lowercased and stemmed by
#: :func:`index_text`), so the field only splits on spaces. Stemming twice is not idempotent, and
#: tantivy's lowercase filter, redundant here, costs a third of indexing throughput (measured).
INDEX_TOKENIZER = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
TAGS_ANALYZER = INDEX_TOKENIZER


class _Separators(dict[int, str]):
    """``str.translate`` table: letters, marks and digits map to themselves, the rest to a space.

    Filled on first sight of each code point, so the table costs nothing up front.
    """

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = char if unicodedata.category(char)[0] in "LMN" else " "
        self[code] = value
        return value


_SEPARATORS = _Separators()


def normalize(text: str) -> str:
    """NFKC, lowercase, and a space for every character that is not a letter, mark or digit."""
    return unicodedata.normalize("NFKC", text).lower().translate(_SEPARATORS)


def _analyse(chunk: str, cut: Callable[..., list[str]]) -> list[str]:
    words: list[str] = []
    for part in normalize(chunk).split():
        words.extend(word for word in cut(part, hmm=False) if not word.isspace())
    if not words:
        return []
    return list(ANALYZER.analyze(" ".join(words)))


_INDEX_CACHE: dict[str, str] = {}
_QUERY_CACHE: dict[str, tuple[str, ...]] = {}


def _index_chunk(chunk: str) -> str:
    if len(_INDEX_CACHE) >= CACHE_CHUNKS:
        _INDEX_CACHE.clear()
    terms = " ".join(_analyse(chunk, rjieba.cut_for_search))
    _INDEX_CACHE[chunk] = terms
    return terms


def index_text(text: str) -> str:
    """The product text as the index stores it: its terms joined by spaces."""
    cache = _INDEX_CACHE
    parts = []
    for chunk in text.split():
        terms = cache.get(chunk)
        if terms is None:
            terms = _index_chunk(chunk)
        if terms:
            parts.append(terms)
    return " ".join(parts)


def tokens(text: str, *, query: bool = False) -> list[str]:
    """The terms matching uses: a product matches a query when it holds every query term.

    ``query=False`` gives the terms indexed for a product's text (brand, title, description);
    ``query=True`` the terms a query must all match (segmented with ``cut``), deduplicated.
    """
    if not query:
        return index_text(text).split()
    found: dict[str, None] = {}
    for chunk in text.split():
        terms = _QUERY_CACHE.get(chunk)
        if terms is None:
            if len(_QUERY_CACHE) >= CACHE_CHUNKS:
                _QUERY_CACHE.clear()
            terms = _QUERY_CACHE[chunk] = tuple(_analyse(chunk, rjieba.cut))
        found.update(dict.fromkeys(terms))
    return list(found)
