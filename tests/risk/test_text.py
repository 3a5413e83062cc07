"""False advertising and off-platform lures in text: evasions, allowlist, offsets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.processes import zhibo
from zhibo.risk.rules import default_rules, parse_rules
from zhibo.risk.screens import check_text
from zhibo.risk.text import (
    InvalidLexicon,
    banned_term_matcher,
    default_lexicon,
    lure_matcher,
    parse_lexicon,
)
from zhibo.sim import patterns


def _terms(text: str) -> list[tuple[str, str, int, int, str]]:
    return [
        (m.term, m.category, m.start, m.end, m.normalized) for m in banned_term_matcher().find(text)
    ]


@pytest.mark.parametrize(
    ("text", "term", "category", "span", "normalized"),
    [
        ("最佳面霜", "最佳", "absolute_superlative", (0, 2), "最佳"),
        ("面霜 全网最低价 快抢", "全网最低价", "absolute_price", (3, 8), "全网最低价"),
        ("国家级 认证", "国家级", "absolute_grade", (0, 3), "国家级"),
        ("销量第一的面霜", "销量第一", "absolute_rank", (0, 4), "销量第一"),
        ("减肥茶 一周见效", "减肥", "weight_loss_claim", (0, 2), "减肥"),
        ("根治脱发", "根治", "medical_claim", (0, 2), "根治"),
        # evasions: spaces, symbols, full-width, traditional, variant numerals, pinyin
        ("面霜 最 佳 品质", "最佳", "absolute_superlative", (3, 6), "最佳"),
        ("顶*级面霜", "顶级", "absolute_grade", (0, 3), "顶级"),
        ("唯·一 好物", "唯一", "absolute_rank", (0, 3), "唯一"),
        ("第\u3000一品质", "第一", "absolute_rank", (0, 3), "第一"),
        ("Ｎｏ．1 精华", "NO.1", "absolute_rank", (0, 4), "no1"),
        ("TOP 1 推荐", "TOP1", "absolute_rank", (0, 5), "top1"),
        ("國家級品質", "国家级", "absolute_grade", (0, 3), "国家级"),
        ("全網最低價", "全网最低价", "absolute_price", (0, 5), "全网最低价"),
        ("第壹好物", "第一", "absolute_rank", (0, 2), "第一"),
        ("ZUI JIA 面霜", "最佳", "absolute_superlative", (0, 7), "zuijia"),
        ("品质 guo jia ji", "国家级", "absolute_grade", (3, 13), "guojiaji"),
        ("ｄｉ ｙｉ 好物", "第一", "absolute_rank", (0, 5), "diyi"),
    ],
)
def test_banned_terms_are_found_through_evasions_with_original_offsets(
    text: str, term: str, category: str, span: tuple[int, int], normalized: str
) -> None:
    assert _terms(text) == [(term, category, *span, normalized)]
    match = banned_term_matcher().find(text)[0]
    assert match.text == text[span[0] : span[1]]


@pytest.mark.parametrize(
    "text",
    [
        "最近很火的面霜",  # 最 inside the allowlisted 最近
        "第一次用就爱上",  # 第一 inside 第一次
        "第1件半价",
        "最新款 保湿面霜",
        "万能胶 强力",
        "diyici shiyong",  # pinyin of 第一次 + other words
        "laptop1 stand",  # top1 inside a Latin word
        "第10名 纪念款",  # 第1 followed by a digit
        "保湿面霜 Moisturiser 50ml",
        "Zemarra 20W Power Bank 氮化镓快充",
        "",
        "!!! ... ---",
    ],
)
def test_lawful_contexts_and_clean_titles_do_not_match(text: str) -> None:
    assert _terms(text) == []


def test_an_allowlisted_word_does_not_hide_a_term_beside_it() -> None:
    assert [m.term for m in banned_term_matcher().find("最近最火")] == ["最火"]
    assert [m.term for m in banned_term_matcher().find("第一次 第一品牌")] == ["第一品牌"]


def test_a_term_inside_a_longer_term_is_reported_once_as_the_longer() -> None:
    assert [m.term for m in banned_term_matcher().find("全网最低价")] == ["全网最低价"]


def test_every_term_the_simulator_injects_is_found_in_every_evasion() -> None:
    rng = np.random.default_rng(20261126)
    for term in patterns.INJECTED_TERMS:
        for evasion in patterns.EVASIONS:
            surface = patterns.evade(term, evasion, rng)
            title = f"温和面霜 {patterns.wrap_term(surface, rng)} 50ml"
            found = banned_term_matcher().find(title)
            assert found, (term, evasion, title)
            assert any(surface in m.text or m.text in surface for m in found), (title, found)


def test_lexicon_mistakes_are_refused_naming_the_entry() -> None:
    data = default_lexicon().model_dump()
    data["categories"]["absolute_rank"]["terms"].append("No 1")
    from zhibo.risk.text import BannedTermMatcher

    with pytest.raises(InvalidLexicon, match=r"categories\.absolute_rank\.terms\.\d+: 'No 1'"):
        BannedTermMatcher(parse_lexicon(data))
    data = default_lexicon().model_dump()
    data["fold"] = {"壹壹": "一"}
    with pytest.raises(InvalidLexicon, match="fold: "):
        parse_lexicon(data)
    data = default_lexicon().model_dump()
    data["categories"]["absolute_rank"]["terms"] = []
    with pytest.raises(InvalidLexicon, match=r"categories\.absolute_rank\.terms"):
        parse_lexicon(data)


@pytest.mark.parametrize(
    ("text", "category", "contact", "span"),
    [
        ("加V: abc123 领券", "off_platform_wechat", "abc123", (0, 10)),
        ("vx 138 1234 5678", "off_platform_wechat", "13812345678", (0, 16)),
        ("私聊加薇信wxid88888", "off_platform_wechat", "wxid88888", (3, 14)),
        ("扣扣123456789", "off_platform_qq", "123456789", (0, 11)),
        ("电话 138-1234-5678 咨询", "off_platform_phone", "13812345678", (3, 16)),
        ("ＶＸ：ｋｅｆｕ２０２６", "off_platform_wechat", "kefu2026", (0, 11)),
        ("扫码进店", "off_platform_qr_code", None, (0, 2)),
        ("➕V qsa68138 有优惠", "off_platform_wechat", "qsa68138", (0, 11)),
        ("想要的 +v abc123", "off_platform_wechat", "abc123", (4, 13)),
    ],
)
def test_lures_are_found_with_the_contact(
    text: str, category: str, contact: str | None, span: tuple[int, int]
) -> None:
    found = lure_matcher().find(text)
    assert [(m.category, m.contact, m.start, m.end) for m in found][:1] == [
        (category, contact, *span)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "vxlan 交换机",
        "5V 2A 充电器",
        "规格 12 15 18 20 22 24",
        "订单号 2026112612345678",
        "WXGA 屏幕",
        "C++ vector 教程",
        "+VIP会员 专享",
        "1+1 套装",
    ],
)
def test_ordinary_texts_are_not_lures(text: str) -> None:
    assert lure_matcher().find(text) == []


def test_check_text_names_the_rule_and_shadow_rules_apply_nothing() -> None:
    found = check_text("最佳面霜 扫码领券")
    by_rule = {item.rule.id: item for item in found}
    assert by_rule["false_advertising.absolute_terms"].as_dict()["measures"]
    qr = by_rule["off_platform.qr_code"].as_dict()
    assert qr["rule_state"] == "shadow" and qr["measures"] == []
    document = default_rules().model_dump(mode="json")
    for rule in document["rules"]:
        rule["state"] = "draft"
    assert check_text("最佳面霜 扫码领券", parse_rules(document)) == []


def test_check_text_cli_prints_matches_as_json(tmp_path: Path) -> None:
    env = {**os.environ, "ZHIBO_DATA_DIR": str(tmp_path / "data")}
    text = "全网最低价 最 佳面霜 加V: abc123"
    done = zhibo("risk", "check-text", text, "--json", env=env)
    assert done.returncode == 0, done.stderr
    matches = json.loads(done.stdout)
    assert [(m["term"], m["category"], m["start"], m["end"], m["normalized"]) for m in matches] == [
        ("全网最低价", "absolute_price", 0, 5, "全网最低价"),
        ("最佳", "absolute_superlative", 6, 9, "最佳"),
        ("加V", "off_platform_wechat", 12, 22, "加vabc123"),
    ]
    assert all(text[m["start"] : m["end"]] == m["text"] for m in matches)
    clean = zhibo("risk", "check-text", "温和保湿面霜", "--json", env=env)
    assert clean.returncode == 0 and json.loads(clean.stdout) == []


def test_clean_pool_titles_and_descriptions_carry_no_match() -> None:
    # The simulator's product vocabulary is clean by construction (tests/sim checks it with its
    # own recogniser); lawful phrases in it such as 乙类非处方药 must not be flagged.
    from zhibo.sim.pool import pool_batch, vocabulary

    table = pool_batch(vocabulary(3), 3, 0, 20_000)
    flagged = [
        (text, [m.term for m in banned_term_matcher().find(text) + lure_matcher().find(text)])
        for column in ("title", "description")
        for text in table.column(column).to_pylist()
    ]
    assert [item for item in flagged if item[1]] == []
    assert _terms("禾色 蒙脱石散 乙类非处方药 9袋") == []
    assert _terms("处方级配方 面霜") == [("处方", "medical_claim", 0, 2, "处方")]
