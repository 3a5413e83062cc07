"""Text analysis: one path for product text and queries, Chinese and English alike."""

from __future__ import annotations

import pytest
import rjieba

from zhibo.catalog.search import analysis
from zhibo.catalog.search.analysis import ANALYZER, normalize, tokens
from zhibo.sim.vocab import ROOTS


def _corpus() -> list[str]:
    texts = []
    for root in ROOTS:
        texts += list(root.descriptions) + list(root.themes)
        for leaf in root.leaves:
            for words in (leaf.nouns_zh, leaf.nouns_en, leaf.points_zh, leaf.points_en):
                texts += list(words)
            texts.append("，".join(leaf.nouns_zh) + "。规格：" + "/".join(leaf.specs))
    return texts


def test_full_width_case_and_punctuation_are_normalised() -> None:
    assert tokens("ＴＯＴＥ　ＢＡＧ") == tokens("tote bag") == ["tote", "bag"]
    assert tokens("保湿，面霜！", query=True) == tokens("保湿 面霜", query=True)
    assert tokens("Tote-Bag/Backpack") == ["tote", "bag", "backpack"]
    assert normalize("A\x00B\tC") == "a b c"


def test_english_is_stemmed_and_chinese_kept_whole() -> None:
    assert tokens("Tote Bags", query=True) == ["tote", "bag"]
    assert tokens("running shoes") == ["run", "shoe"]
    for text in _corpus():
        for word in rjieba.cut_for_search(normalize(text), hmm=False):
            if word.strip() and not word.isascii():
                assert ANALYZER.analyze(word) == [word], word


def test_chunk_by_chunk_equals_the_whole_text() -> None:
    texts = _corpus()
    texts.append(" ".join(texts[:50]))
    for text in texts:
        whole = [w for w in rjieba.cut_for_search(normalize(text), hmm=False) if not w.isspace()]
        expected = ANALYZER.analyze(" ".join(whole)) if whole else []
        assert tokens(text) == expected, text


def test_queries_segment_with_cut_and_products_with_cut_for_search() -> None:
    assert tokens("猫罐头", query=True) == [w for w in rjieba.cut("猫罐头", hmm=False) if w.strip()]
    assert set(tokens("保湿精华液")) >= set(tokens("保湿精华液", query=True))
    assert tokens("面霜 面霜", query=True) == ["面霜"]
    assert tokens("(((") == []


def test_the_chunk_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "CACHE_CHUNKS", 10)
    for i in range(50):
        analysis.index_text(f"词{i} word{i}")
    assert len(analysis._INDEX_CACHE) <= 10
