"""What injected text tactics look like, and a reference recogniser for them.

Banned absolute terms (Advertising Law Art. 9(3) and terms of the same meaning) are injected in
plain form and in the evasions sellers use: spaces or symbols between characters, full-width
forms, traditional characters and pinyin. :func:`normalise` undoes those evasions; the tests use
it to check that labelled products carry a term and that clean data carries none. Off-platform
lures are WeChat ids, QQ numbers and phone numbers in comments and titles."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

# Traditional forms of the characters in the banned terms.
_TRADITIONAL = {
    "國": "国",
    "級": "级",
    "頂": "顶",
    "網": "网",
    "價": "价",
    "極": "极",
    "選": "选",
    "萬": "万",
    "絕": "绝",
    "獨": "独",
    "對": "对",
    "優": "优",
    "個": "个",
}
_TRADITIONAL_TABLE = str.maketrans(_TRADITIONAL)
_SIMPLIFIED_TABLE = str.maketrans({v: k for k, v in _TRADITIONAL.items()})
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")

#: Banned terms in normalised form (see :func:`normalise`).
BANNED_TERMS: tuple[str, ...] = (
    "国家级",
    "世界级",
    "最高级",
    "最佳",
    "最好",
    "最优",
    "最低价",
    "全网最低价",
    "第一",
    "第1",
    "唯一",
    "首选",
    "首个",
    "顶级",
    "极品",
    "万能",
    "绝对",
    "独家",
    "no1",
    "top1",
)
# Pinyin spellings sellers use instead of the characters, in normalised form.
_PINYIN = {
    "guojiaji": "国家级",
    "zuijia": "最佳",
    "diyi": "第一",
    "weiyi": "唯一",
    "dingji": "顶级",
}

#: Terms the simulator injects, with their pinyin where sellers spell it out.
INJECTED_TERMS: dict[str, str | None] = {
    "国家级": "guo jia ji",
    "最高级": None,
    "最佳": "zui jia",
    "第一": "di yi",
    "唯一": "wei yi",
    "顶级": "ding ji",
    "全网最低价": None,
    "首选": None,
    "极品": None,
    "世界级": None,
    "万能": None,
    "NO.1": None,
}
EVASIONS = ("plain", "spaced", "symbol", "fullwidth", "traditional", "pinyin")
_SYMBOLS = ("*", "·", "-", "_", "|", "/", "~", "★", ".", "#")
_TERM_WRAPPERS = ("【{}】", "{}好物", "{}品质", "销量{}", "{}推荐", "品质{}")


def normalise(text: str) -> str:
    """Undo the usual evasions: full-width → half-width (NFKC), lower case, traditional →
    simplified for the banned terms' characters, drop everything but letters, digits and CJK
    characters (spaces and symbols between characters), and pinyin spellings → characters."""
    folded = unicodedata.normalize("NFKC", text).lower().translate(_TRADITIONAL_TABLE)
    flat = _NOT_WORD.sub("", folded)
    for pinyin, term in _PINYIN.items():
        flat = flat.replace(pinyin, term)
    return flat


def banned_terms_in(text: str) -> list[str]:
    """The banned terms ``text`` contains once normalised."""
    flat = normalise(text)
    return [term for term in BANNED_TERMS if term in flat]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def evade(term: str, evasion: str, rng: np.random.Generator) -> str:
    """``term`` written with ``evasion``; falls back to a spaced form where an evasion does not
    apply to the term (a Chinese term has no full-width form, a Latin one no traditional)."""
    latin = term.isascii()
    if evasion == "plain":
        return term
    if evasion == "symbol":
        symbol = _SYMBOLS[int(rng.integers(0, len(_SYMBOLS)))]
        return symbol.join(term)
    if evasion == "fullwidth":
        if latin:
            return _fullwidth(term)
        # Chinese terms: ideographic spaces between the characters.
        return "\u3000".join(term)
    if evasion == "traditional" and not latin:
        traditional = term.translate(_SIMPLIFIED_TABLE)
        if traditional != term:
            return traditional
    if evasion == "pinyin":
        pinyin = INJECTED_TERMS.get(term)
        if pinyin:
            return pinyin.upper() if rng.random() < 0.3 else pinyin
    return " ".join(term)


def wrap_term(surface: str, rng: np.random.Generator) -> str:
    """The term in a short selling phrase, the way it appears in a title."""
    return _TERM_WRAPPERS[int(rng.integers(0, len(_TERM_WRAPPERS)))].format(surface)


_LURE_RE = re.compile(r"(微信|薇信|威信|v信|加v|vx|wx|➕v|\+v|扣扣|qq)", re.IGNORECASE)
_PHONE_RE = re.compile(r"1[3-9]\d{9}")
_LONG_DIGITS_RE = re.compile(r"\d{7,}")


def has_lure(text: str) -> bool:
    """True when ``text`` carries an off-platform contact (a marker or a phone/QQ number)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if _LURE_RE.search(folded):
        return True
    digits = re.sub(r"[\s\-_.·]+", "", folded)
    return bool(_PHONE_RE.search(digits) or _LONG_DIGITS_RE.search(digits))


_WXID_CHARS = "abcdefghjkmnpqrstuvwxyz"


def wechat_id(rng: np.random.Generator) -> str:
    letters = "".join(
        _WXID_CHARS[i] for i in rng.integers(0, len(_WXID_CHARS), 3 + rng.integers(0, 4))
    )
    return f"{letters}{int(rng.integers(100, 100_000))}"


def qq_number(rng: np.random.Generator) -> str:
    return str(int(rng.integers(10_000_000, 3_000_000_000)))


def spaced_phone(phone: str, rng: np.random.Generator) -> str:
    style = int(rng.integers(0, 3))
    if style == 0:
        return phone
    sep = " " if style == 1 else "-"
    return f"{phone[:3]}{sep}{phone[3:7]}{sep}{phone[7:]}"


_COMMENT_LURES = (
    ("wechat", "加V: {c}"),
    ("phone", "vx {c}"),
    ("wechat", "+v {c} 私聊更便宜"),
    ("wechat", "加薇信{c}领券"),
    ("wechat", "想要便宜的加我 wx:{c}"),
    ("phone", "主页有vx，{c}"),
    ("wechat", "威信 {c} 拿内部价"),
    ("qq", "扣扣{c}进群领福利"),
    ("wechat", "私聊加微信{c}"),
    ("wechat", "➕V {c} 有优惠"),
)
_TITLE_LURES = (
    ("wechat", " 加V:{c}"),
    ("phone", " 咨询vx{c}"),
    ("wechat", " 微信{c}更优惠"),
)
_DESCRIPTION_LURES = (
    ("wechat", "更多优惠请联系微信{c}。"),
    ("phone", "下单前请加vx:{c}确认库存。"),
    ("qq", "售后加QQ群{c}。"),
)


def _contact(kind: str, rng: np.random.Generator, phone: str) -> str:
    if kind == "wechat":
        return wechat_id(rng)
    if kind == "qq":
        return qq_number(rng)
    return spaced_phone(phone, rng)


def comment_lure(rng: np.random.Generator, phone: str) -> tuple[str, str, str]:
    """(kind, contact, template) for a lure comment; fill the template with :func:`fill`."""
    kind, template = _COMMENT_LURES[int(rng.integers(0, len(_COMMENT_LURES)))]
    return kind, _contact(kind, rng, phone), template


def title_lure(rng: np.random.Generator, phone: str) -> tuple[str, str]:
    """(kind, suffix) to append to a product or session title."""
    kind, template = _TITLE_LURES[int(rng.integers(0, len(_TITLE_LURES)))]
    contact = _contact(kind, rng, phone)
    return kind, template.format(c=contact)


def description_lure(rng: np.random.Generator, phone: str) -> tuple[str, str]:
    """(kind, sentence) to append to a product description."""
    kind, template = _DESCRIPTION_LURES[int(rng.integers(0, len(_DESCRIPTION_LURES)))]
    contact = _contact(kind, rng, phone)
    return kind, template.format(c=contact)


def fill(template: str, contact: str) -> str:
    return template.format(c=contact)
