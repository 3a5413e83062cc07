"""Text detectors: banned absolute terms and health claims (false advertising), and off-platform
lures (WeChat ids, QQ numbers, phone numbers, QR-code mentions).

Both match a *folded* form of the text, which undoes the usual evasions: every code point is
folded on its own (NFKC, so full-width letters and digits become ASCII; lower case; traditional
characters become simplified through OpenCC's character table; the lexicon's extra folds such as
壹 → 一), and everything that is not an ASCII letter or digit or a CJK ideograph is dropped, so
spaces and symbols inserted between characters disappear. Because each code point folds
independently, every character of the folded text comes from exactly one character of the
original, and a match's offsets are given in the *original* text.

The lexicon (``data/lexicon.toml``) is data: one Aho-Corasick automaton holds every banned term,
the pinyin spelling of the multi-character Chinese ones, and the allowlisted words. A term whose
span lies inside an allowlisted word (最 in 最近, 第一 in 第一次) is not a match; a term inside a
longer matched term is reported once, as the longer term. Latin terms and pinyin match only as
whole words: the original characters right before and after must not be letters or digits.

The matchers are pure: the same lexicon and text always give the same matches.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zhibo.kit.documents import read_document, validated
from zhibo.kit.errors import InvalidInput

#: What survives folding: ASCII letters and digits and CJK ideographs (BMP and the supplementary
#: ideographic plane).
_DROP = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]+")
_CJK = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
#: Code points whose folding is precomputed: the BMP plus the mathematical and enclosed
#: alphanumerics (𝐍𝐎𝟏, 🅽🅾). Other code points are kept or dropped as they are.
_TABLE_RANGES = (range(0x10000), range(0x1D400, 0x1D800), range(0x1F100, 0x1F200))
_CJK_RANGES = (range(0x3400, 0x4DC0), range(0x4E00, 0xA000), range(0xF900, 0xFB00))

LureKind = Literal["wechat", "qq", "qr_code", "phone"]
LURE_KINDS: tuple[LureKind, ...] = ("wechat", "qq", "qr_code", "phone")
#: A mainland mobile number (optionally after 86), as a whole run of digits in the folded text.
_PHONE = re.compile(r"(?<![0-9])(?:86)?1[3-9][0-9]{9}(?![0-9])")
#: The id that follows a WeChat or QQ marker (``vx: abc123``, ``扣扣 123456789``).
_CONTACT = re.compile(r"[0-9a-z]{5,20}")
#: "+V" / "➕V" (add me on WeChat): the plus sign is a symbol that folding drops, so this marker
#: is matched on the original text (after NFKC, which keeps offsets for these characters).
_PLUS_V = re.compile(
    r"(?<![0-9A-Za-z])[+➕]\s*[vV](?![A-Za-z])(?:\s*[:：]?\s*([0-9A-Za-z_-]{5,20}))?"
)


class InvalidLexicon(InvalidInput):
    """The lexicon file breaks a rule; ``detail`` names the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermCategory(_Strict):
    description: str = Field(min_length=1)
    #: The provision the category applies; shown in findings and notices.
    legal_basis: str = Field(min_length=1)
    #: Also match the pinyin spelling of the multi-character Chinese terms (最佳 → "zui jia").
    pinyin: bool = True
    terms: list[str] = Field(min_length=1)


class AllowList(_Strict):
    words: list[str] = Field(default_factory=list)


class Lexicon(_Strict):
    schema_version: Literal[1]
    version: str = Field(min_length=1)
    #: Extra single-character folds applied after NFKC and traditional → simplified.
    fold: dict[str, str] = Field(default_factory=dict)
    categories: dict[str, TermCategory] = Field(min_length=1)
    allow: AllowList = Field(default_factory=AllowList)
    lures: dict[LureKind, list[str]] = Field(default_factory=dict)

    @field_validator("fold")
    @classmethod
    def _single_characters(cls, value: dict[str, str]) -> dict[str, str]:
        for source, target in value.items():
            if len(source) != 1 or len(target) != 1:
                raise ValueError(f"{source!r} = {target!r}: folds map one character to one")
        return value


@lru_cache(maxsize=8)
def _fold_table(extra: tuple[tuple[str, str], ...]) -> dict[int, str | None]:
    """``str.translate`` table: code point → folded string ('' drops it) where folding changes
    the character."""
    import opencc  # a C++ converter: ~0.1 s for its character table, once per process

    to_simplified = opencc.OpenCC("t2s")
    simplified: dict[str, str] = {}
    for block in _CJK_RANGES:
        for code in block:
            char = chr(code)
            converted = to_simplified.convert(char)
            if converted != char and len(converted) == 1:
                simplified[char] = converted
    extras = dict(extra)
    table: dict[int, str | None] = {}
    for block in _TABLE_RANGES:
        for code in block:
            char = chr(code)
            folded = unicodedata.normalize("NFKC", char).lower()
            folded = "".join(extras.get(c, simplified.get(c, c)) for c in folded)
            folded = _DROP.sub("", folded)
            if folded != char:
                table[code] = folded or None
    return table


class Folder:
    """Folds text as described in the module docstring."""

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        self._table = _fold_table(tuple(sorted((extra or {}).items())))

    def flat(self, text: str) -> str:
        """The folded text (the fast path: C-level translate and one regex)."""
        return _DROP.sub("", text.translate(self._table))

    def with_origin(self, text: str) -> tuple[str, list[int]]:
        """The folded text and, for each of its characters, the index of the original character
        it came from. Equal to :meth:`flat` character for character."""
        parts: list[str] = []
        origin: list[int] = []
        table = self._table
        for index, char in enumerate(text):
            code = ord(char)
            folded = table.get(code, char)
            if folded:
                folded = _DROP.sub("", folded)
                parts.append(folded)
                origin.extend([index] * len(folded))
        return "".join(parts), origin

    def is_word_char(self, char: str) -> bool:
        """True when ``char`` folds to an ASCII letter or digit (a Latin word goes on)."""
        folded = self.flat(char)
        return bool(folded) and folded.isascii()

    def is_letter(self, char: str) -> bool:
        folded = self.flat(char)
        return bool(folded) and folded.isascii() and folded.isalpha()


@dataclass(frozen=True, slots=True)
class TextMatch:
    """One match: ``term`` as the lexicon writes it, its ``category``, the span ``[start, end)``
    in the original text, ``text`` (the span as written) and ``normalized`` (the folded form
    that matched: the term's characters, or its pinyin)."""

    term: str
    category: str
    start: int
    end: int
    normalized: str
    text: str
    #: ``characters`` or ``pinyin`` for banned terms; the contact id for lures, when one follows.
    form: str = "characters"
    contact: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Key:
    kind: Literal["term", "allow"]
    term: str
    category: str
    form: str
    latin: bool


def _pinyin(word: str) -> str | None:
    """The toneless pinyin of a multi-character Chinese word, or None when it has none worth
    matching (single characters and short spellings would match ordinary Latin text)."""
    if len(word) < 2 or not _CJK.match(word):
        return None
    from pypinyin import lazy_pinyin  # ~0.3 s to import: only when an automaton is built

    spelled = "".join(lazy_pinyin(word))
    return spelled if len(spelled) >= 4 and spelled.isascii() and spelled.isalpha() else None


class _Automaton:
    """An Aho-Corasick automaton over folded keys, with their payloads."""

    def __init__(self) -> None:
        import ahocorasick

        self._automaton = ahocorasick.Automaton()
        self._owner: dict[str, str] = {}

    def add(self, key: str, value: _Key, where: str) -> None:
        if not key:
            raise InvalidLexicon(f"{where}: {value.term!r} folds to nothing")
        if key.isascii() and len(key) < 2:
            raise InvalidLexicon(f"{where}: {value.term!r} folds to {key!r}, too short to match")
        if key in self._owner:
            raise InvalidLexicon(
                f"{where}: {value.term!r} folds to {key!r}, already defined at {self._owner[key]}"
            )
        self._owner[key] = where
        self._automaton.add_word(key, (len(key), value))

    def add_derived(self, key: str | None, value: _Key) -> None:
        """A pinyin spelling: skipped when it collides with an explicit key."""
        if key and key not in self._owner:
            self._owner[key] = f"pinyin of {value.term!r}"
            self._automaton.add_word(key, (len(key), value))

    def finish(self) -> Any:
        self._automaton.make_automaton()
        return self._automaton


class BannedTermMatcher:
    """Finds the lexicon's banned terms (all categories) in a text."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self.folder = Folder(lexicon.fold)
        automaton = _Automaton()
        for name, category in lexicon.categories.items():
            for index, term in enumerate(category.terms):
                key = self.folder.flat(term)
                value = _Key("term", term, name, "characters", key.isascii())
                automaton.add(key, value, f"categories.{name}.terms.{index}")
        for index, word in enumerate(lexicon.allow.words):
            key = self.folder.flat(word)
            automaton.add(
                key, _Key("allow", word, "", "characters", key.isascii()), f"allow.words.{index}"
            )
        for name, category in lexicon.categories.items():
            if category.pinyin:
                for term in category.terms:
                    automaton.add_derived(_pinyin(term), _Key("term", term, name, "pinyin", True))
        for word in lexicon.allow.words:
            automaton.add_derived(_pinyin(word), _Key("allow", word, "", "pinyin", True))
        self._automaton = automaton.finish()

    def find(self, text: str, flat: str | None = None) -> list[TextMatch]:
        """The matches in ``text``, ordered by start offset (``flat``: the text already folded
        by this lexicon's folding, to fold once for several matchers)."""
        flat = self.folder.flat(text) if flat is None else flat
        hits = list(self._automaton.iter(flat))
        if not hits or not any(value.kind == "term" for _end, (_n, value) in hits):
            return []
        flat_again, origin = self.folder.with_origin(text)
        assert flat_again == flat  # folding is per code point, so both paths agree
        allowed: list[tuple[int, int]] = []
        terms: list[tuple[int, int, _Key]] = []
        for end, (length, value) in hits:
            span = (end + 1 - length, end + 1)
            if not self._whole_word(text, origin, *span, flat[span[0] : span[1]]):
                continue
            if value.kind == "allow":
                allowed.append(span)
            else:
                terms.append((*span, value))
        kept = [
            (start, end, value)
            for start, end, value in terms
            if not any(a <= start and end <= b for a, b in allowed)
        ]
        longest = [
            (start, end, value)
            for start, end, value in kept
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _v in kept)
        ]
        matches = []
        for start, end, value in sorted(longest, key=lambda item: (item[0], -item[1])):
            first, last = origin[start], origin[end - 1] + 1
            matches.append(
                TextMatch(
                    term=value.term,
                    category=value.category,
                    start=first,
                    end=last,
                    normalized=flat[start:end],
                    text=text[first:last],
                    form=value.form,
                )
            )
        return matches

    def _whole_word(self, text: str, origin: list[int], start: int, end: int, key: str) -> bool:
        return _edges_free(self.folder, self.folder.is_word_char, text, origin, start, end, key)


class LureMatcher:
    """Finds off-platform contacts: WeChat and QQ markers (with the id that follows, if any),
    QR-code mentions and mainland mobile numbers, however spaced."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.folder = Folder(lexicon.fold)
        automaton = _Automaton()
        for kind, markers in lexicon.lures.items():
            for index, marker in enumerate(markers):
                key = self.folder.flat(marker)
                value = _Key("term", marker, kind, "characters", key.isascii())
                automaton.add(key, value, f"lures.{kind}.{index}")
        self._automaton = automaton.finish()

    def find(self, text: str, flat: str | None = None) -> list[TextMatch]:
        flat = self.folder.flat(text) if flat is None else flat
        hits = list(self._automaton.iter(flat))
        phones = list(_PHONE.finditer(flat))
        plus = list(_PLUS_V.finditer(text)) if ("+" in text or "➕" in text) else []
        if not hits and not phones and not plus:
            return []
        _flat, origin = self.folder.with_origin(text)
        position = {index: at for at, index in reversed(list(enumerate(origin)))}
        found: list[tuple[int, int, str, str, str | None, int | None]] = []
        for marker in plus:
            # Map the original span onto folded positions (the 'v' and the id survive folding).
            covered = [position[i] for i in range(marker.start(), marker.end()) if i in position]
            if covered:
                contact = marker.group(1)
                contact = self.folder.flat(contact) if contact else None
                found.append((covered[0], covered[-1] + 1, "+V", "wechat", contact, marker.start()))
        for end, (length, value) in hits:
            start, stop = end + 1 - length, end + 1
            if not self._stands_alone(text, origin, start, stop, flat[start:stop]):
                continue
            contact = None
            if value.category in ("wechat", "qq"):
                following = _CONTACT.match(flat, stop)
                if following:
                    contact = following.group()
                    stop = following.end()
            found.append((start, stop, value.term, value.category, contact, None))
        for phone in phones:
            found.append((phone.start(), phone.end(), "phone number", "phone", phone.group(), None))
        # A phone number that follows a marker is that marker's contact: report it once.
        found = [
            item
            for item in found
            if not any(
                s <= item[0] and item[1] <= e and (e - s) > (item[1] - item[0])
                for s, e, *_rest in found
            )
        ]
        matches = []
        for start, stop, term, kind, contact, original_start in sorted(found, key=lambda f: f[:2]):
            first = origin[start] if original_start is None else original_start
            last = origin[stop - 1] + 1
            matches.append(
                TextMatch(
                    term=term,
                    category=f"off_platform_{kind}",
                    start=first,
                    end=last,
                    normalized=flat[start:stop],
                    text=text[first:last],
                    contact=contact,
                )
            )
        return matches

    def _stands_alone(self, text: str, origin: list[int], start: int, end: int, key: str) -> bool:
        """Latin ends of markers: no letter right before or after (digits may follow:
        ``vx138...``)."""
        return _edges_free(self.folder, self.folder.is_letter, text, origin, start, end, key)


def _edges_free(
    folder: Folder,
    touches: Any,
    text: str,
    origin: list[int],
    start: int,
    end: int,
    key: str,
) -> bool:
    """A key that begins (ends) with an ASCII letter or digit matches only where the original
    character before (after) it does not continue the word: ``top1`` not in ``laptop1``,
    ``第1`` not in ``第10``."""
    before, after = origin[start] - 1, origin[end - 1] + 1
    if key[0].isascii() and before >= 0 and touches(text[before]):
        return False
    return not (key[-1].isascii() and after < len(text) and touches(text[after]))


def parse_lexicon(data: Any, source: str = "lexicon") -> Lexicon:
    return validated(Lexicon, data, source, InvalidLexicon)


def load_lexicon(path: Path) -> Lexicon:
    return parse_lexicon(read_document(path, InvalidLexicon, suffixes=(".toml",)), str(path))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    text = resources.files("zhibo.risk").joinpath("data/lexicon.toml").read_text("utf-8")
    return parse_lexicon(tomllib.loads(text), "zhibo/risk/data/lexicon.toml")


_matchers: dict[int, tuple[Lexicon, BannedTermMatcher, LureMatcher]] = {}


def _built(lexicon: Lexicon | None) -> tuple[Lexicon, BannedTermMatcher, LureMatcher]:
    lexicon = lexicon or default_lexicon()
    built = _matchers.get(id(lexicon))
    if built is None or built[0] is not lexicon:
        built = (lexicon, BannedTermMatcher(lexicon), LureMatcher(lexicon))
        _matchers[id(lexicon)] = built
    return built


def banned_term_matcher(lexicon: Lexicon | None = None) -> BannedTermMatcher:
    """The matcher for ``lexicon`` (the packaged one by default), built once per process."""
    return _built(lexicon)[1]


def lure_matcher(lexicon: Lexicon | None = None) -> LureMatcher:
    return _built(lexicon)[2]
