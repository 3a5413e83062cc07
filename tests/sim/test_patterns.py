"""Identifier check characters, evasions of banned terms, and lure recognition."""

from __future__ import annotations

import numpy as np
import pytest
from stdnum.cn import ric, uscc

from zhibo.sim import patterns
from zhibo.sim.identity import hashed_ids, resident_ids, social_credit_codes
from zhibo.sim.vocab import (
    HIRED_COMMENTS,
    LONG_COMMENT_BODIES,
    LONG_COMMENT_ENDINGS,
    LONG_COMMENT_OPENERS,
    ROOTS,
    SESSION_OCCASIONS,
    SHORT_COMMENTS,
)


def test_resident_ids_validate_for_every_birth_year() -> None:
    rng = np.random.default_rng(1)
    days = np.arange(np.datetime64("1950-01-01"), np.datetime64("2012-12-31"), 97)
    numbers = resident_ids(rng, days, rng.random(len(days)) < 0.5)
    for number, day in zip(numbers, days, strict=True):
        assert ric.is_valid(number), number
        assert str(ric.get_birth_date(number)) == str(day)


def test_social_credit_codes_validate_and_are_distinct() -> None:
    codes = social_credit_codes(np.random.default_rng(2), 2_000)
    assert len(set(codes)) == len(codes)
    assert all(uscc.is_valid(code) for code in codes)


def test_hashed_ids_are_distinct_hex() -> None:
    values = hashed_ids("dv", np.arange(100_000), salt=7).to_pylist()
    assert len(set(values)) == len(values)
    assert all(len(v) == 18 and v.startswith("dv") for v in values[:100])
    int(values[0][2:], 16)


@pytest.mark.parametrize("term", list(patterns.INJECTED_TERMS))
@pytest.mark.parametrize("evasion", patterns.EVASIONS)
def test_every_evasion_normalises_back_to_its_term(term: str, evasion: str) -> None:
    rng = np.random.default_rng(3)
    surface = patterns.evade(term, evasion, rng)
    canonical = patterns.normalise(term)
    assert canonical in patterns.BANNED_TERMS
    assert canonical in patterns.normalise(patterns.wrap_term(surface, rng))


def test_lure_texts_are_recognised() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        _kind, contact, template = patterns.comment_lure(rng, "13812345678")
        assert patterns.has_lure(patterns.fill(template, contact)), template
        assert patterns.has_lure(patterns.title_lure(rng, "13912345678")[1])
        assert patterns.has_lure(patterns.description_lure(rng, "13712345678")[1])


def test_clean_vocabularies_carry_no_banned_term_or_lure() -> None:
    words: list[str] = [*SHORT_COMMENTS, *LONG_COMMENT_OPENERS, *LONG_COMMENT_BODIES]
    words += [*LONG_COMMENT_ENDINGS, *HIRED_COMMENTS, *SESSION_OCCASIONS]
    for root in ROOTS:
        words += [root.name, *root.themes, *root.descriptions]
        for leaf in root.leaves:
            words += [*leaf.nouns_zh, *leaf.nouns_en, *leaf.points_zh, *leaf.points_en]
            words += list(leaf.specs)
    for word in words:
        assert not patterns.banned_terms_in(word), word
        assert not patterns.has_lure(word), word
