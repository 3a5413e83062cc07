"""Text checks over arbitrary text, and the product pool's text screen.

:func:`check_text` runs every running text rule (banned terms, off-platform lures) over one text
and returns each match with the rule that reported it. :func:`install_text_screens` plugs the
*active* rules into ``zhibo.catalog.selection`` so the pool refuses a product whose title or
description carries a banned term or a contact; shadow rules are evaluated and logged, never
refuse. The app factory and the command line install it at start-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from zhibo.risk.rules import Measure, Rule, RuleSet, configured_rules
from zhibo.risk.text import TextMatch, banned_term_matcher, lure_matcher

log = logging.getLogger(__name__)

SCREEN_NAME = "risk.text"


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: Rule
    match: TextMatch

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.match.as_dict(),
            "detector": self.rule.detector,
            "rule_id": self.rule.id,
            "rule_version": self.rule.version,
            "rule_state": str(self.rule.state),
            "severity": str(self.rule.severity),
            "measures": [str(measure) for measure in self.rule.measures_to_apply()],
        }


def check_text(
    text: str, rules: RuleSet | None = None, field: str | None = None
) -> list[RuleMatch]:
    """Matches of every running text rule in ``text`` (only rules reading ``field``, if given),
    ordered by position. Pure: the same rules and text give the same answer."""
    term_rules, lure_rules = _text_rules(rules or configured_rules(), field)
    if not term_rules and not lure_rules:
        return []
    terms, lures = banned_term_matcher(), lure_matcher()
    flat = terms.folder.flat(text)  # both matchers fold with the same lexicon
    found: list[RuleMatch] = []
    if term_rules:
        for match in terms.find(text, flat):
            for rule in term_rules:
                if match.category in rule.parameters["categories"]:
                    found.append(RuleMatch(rule, match))
    if lure_rules:
        for match in lures.find(text, flat):
            kind = match.category.removeprefix("off_platform_")
            for rule in lure_rules:
                if kind in rule.parameters["kinds"]:
                    found.append(RuleMatch(rule, match))
    if len(found) > 1:
        found.sort(key=lambda item: (item.match.start, -item.match.end, item.rule.id))
    return found


_selected: dict[tuple[int, str | None], tuple[RuleSet, list[Rule], list[Rule]]] = {}


def _text_rules(rules: RuleSet, field: str | None) -> tuple[list[Rule], list[Rule]]:
    """The running text rules reading ``field``, worked out once per rule set (it is frozen)."""
    key = (id(rules), field)
    cached = _selected.get(key)
    if cached is None or cached[0] is not rules:
        cached = (
            rules,
            [r for r in rules.running("banned_terms") if _reads(r, field)],
            [r for r in rules.running("off_platform_lure") if _reads(r, field)],
        )
        _selected[key] = cached
    return cached[1], cached[2]


def _reads(rule: Rule, field: str | None) -> bool:
    return field is None or field in rule.parameters["fields"]


def product_screen(rules: RuleSet | None = None) -> Any:
    """A ``TextScreen`` for the pool: active rules refuse; shadow rules only log."""
    from zhibo.catalog.selection import ScreenFinding

    def screen(title: str, description: str) -> list[ScreenFinding]:
        findings: list[ScreenFinding] = []
        for field, text in (("title", title), ("description", description)):
            for item in check_text(text, rules, field):
                match = item.match
                reason = (
                    f"{match.category} term {match.term!r} as {match.text!r} "
                    f"at {match.start}-{match.end}"
                )
                if Measure.REFUSE_LISTING in item.rule.measures_to_apply():
                    findings.append(ScreenFinding(field=field, rule=item.rule.key, reason=reason))
                else:
                    log.info("shadow rule %s: %s in %s", item.rule.key, reason, field)
        return findings

    return screen


def install_text_screens(rules: RuleSet | None = None) -> None:
    """Register the risk text screen with the product pool (replacing an earlier one)."""
    from zhibo.catalog.selection import register_text_screen

    register_text_screen(SCREEN_NAME, product_screen(rules))
