"""Backtests: score a rule set against labelled data, and show what a rule change changes.

The labels are the simulator's ``labels.parquet`` (``tactic``, ``entity_type``, ``entity_id``):
every injected instance of an illegal tactic, kept apart from the data. The data are the files
beside it (``zhibo simulate`` output, read by :func:`zhibo.risk.scan.read_sim`). Each detector
looks for one tactic (:data:`TACTIC_OF`); a finding counts for its tactic on the entity it names
(a seller is the simulator's streamer, an account its streamer account). Per tactic and entity
type that the labels use: true positives (flagged and labelled), false positives (flagged, not
labelled), false negatives (labelled, not flagged), precision, recall and F1. Only rules whose
findings apply measures (*active*) flag; shadow rules are scored on their own lines, which is
what shadow is for. Findings on entity types the labels of their tactic never use (an absolute
term in a viewer's comment) are counted apart as ``unlabelled``.

The diff runs the built-in rules and the candidate file over the same data and lists, per rule,
the findings (rule, entity) only one of them makes, each marked labelled or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from zhibo.kit.errors import InvalidInput
from zhibo.risk.detectors import ScanInputs
from zhibo.risk.rules import RuleSet, configured_rules
from zhibo.risk.scan import read_sim, run_rules
from zhibo.risk.schemas import Finding

#: The tactic (simulator label) each detector looks for; ``None``: no labels exist for it.
TACTIC_OF: dict[str, str | None] = {
    "order_concentration": "order_brushing",
    "buyer_rings": "order_brushing",
    "refund_after_stream": "order_brushing",
    "self_purchase": "order_brushing",
    "bot_viewers": "bot_viewers",
    "viewer_engagement": "bot_viewers",
    "shared_devices": "bot_viewers",
    "like_storm": "like_storm",
    "duplicate_comments": "duplicate_comments",
    "banned_terms": "banned_terms",
    "off_platform_lure": "off_platform_lure",
    "reference_price": "fake_original_price",
    "raise_then_discount": "fake_original_price",
    "minor_tipping": "minor_tipping",
    "blacklist_evasion": "blacklist_evasion",
    "minor_purchases": None,
    "tipping_caps": None,
}
#: Finding entity types as the simulator's labels name them.
ENTITY_OF = {"seller": "streamer", "account": "streamer"}


class InvalidLabels(InvalidInput):
    """The labels file cannot be used; ``detail`` says why."""


def _key(finding: Finding) -> tuple[str, str, Any] | None:
    tactic = TACTIC_OF.get(finding.detector)
    if tactic is None:
        return None
    return tactic, ENTITY_OF.get(finding.entity_type, finding.entity_type), finding.entity_id


@dataclass
class Score:
    tactic: str
    entity_type: str
    labelled: int
    flagged: int
    true_positives: int
    #: Set when the line scores one rule rather than the active rules of a tactic.
    rule: str | None = None
    unlabelled_entity_findings: int = 0

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.labelled if self.labelled else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "tactic": self.tactic,
            "entity_type": self.entity_type,
            "rule": self.rule,
            "labelled": self.labelled,
            "flagged": self.flagged,
            "true_positives": self.true_positives,
            "false_positives": self.flagged - self.true_positives,
            "false_negatives": self.labelled - self.true_positives,
            "precision": rounded(self.precision),
            "recall": rounded(self.recall),
            "f1": rounded(self.f1),
            "unlabelled_entity_findings": self.unlabelled_entity_findings,
        }


def read_labels(path: Path) -> pl.DataFrame:
    path = Path(path)
    try:
        labels = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    except FileNotFoundError as exc:
        raise InvalidLabels(f"{path}: no such file") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidLabels(f"{path}: cannot read ({exc})") from exc
    missing = {"tactic", "entity_type", "entity_id"} - set(labels.columns)
    if missing:
        raise InvalidLabels(f"{path}: missing columns {sorted(missing)}")
    return labels.select("tactic", "entity_type", "entity_id")


def _label_keys(labels: pl.DataFrame) -> set[tuple[str, str, Any]]:
    return {(t, e, i) for t, e, i in labels.iter_rows()}


def score(
    findings: Iterable[Finding], labels: pl.DataFrame, rules: RuleSet | None = None
) -> list[Score]:
    """Per (tactic, labelled entity type): the active rules together; then each running rule
    on its own (shadow rules included; with ``rules``, also those that found nothing)."""
    truth = _label_keys(labels)
    types: dict[str, set[str]] = {}
    for tactic, entity_type, _ in truth:
        types.setdefault(tactic, set()).add(entity_type)
    findings = list(findings)
    active: set[tuple[str, str, Any]] = set()
    by_rule: dict[str, set[tuple[str, str, Any]]] = {}
    outside: dict[str, int] = {}
    for finding in findings:
        key = _key(finding)
        if key is None:
            continue
        if key[1] not in types.get(key[0], set()):
            outside[key[0]] = outside.get(key[0], 0) + 1
            continue
        by_rule.setdefault(f"{finding.rule_id}@{finding.rule_version}", set()).add(key)
        if finding.measures:
            active.add(key)
    scores: list[Score] = []
    for tactic in sorted(types):
        for entity_type in sorted(types[tactic]):
            labelled = {k for k in truth if k[0] == tactic and k[1] == entity_type}
            flagged = {k for k in active if k[0] == tactic and k[1] == entity_type}
            scores.append(
                Score(
                    tactic,
                    entity_type,
                    len(labelled),
                    len(flagged),
                    len(flagged & labelled),
                    unlabelled_entity_findings=outside.get(tactic, 0),
                )
            )
    tactic_of_rule: dict[str, str] = {}
    for rule in rules.rules if rules is not None else []:
        rule_tactic = TACTIC_OF.get(rule.detector)
        if rule.runs and rule_tactic is not None:
            tactic_of_rule[rule.key] = rule_tactic
            by_rule.setdefault(rule.key, set())
    for rule_key in sorted(by_rule):
        keys = by_rule[rule_key]
        tactic = next(iter(keys))[0] if keys else tactic_of_rule[rule_key]
        labelled = {k for k in truth if k[0] == tactic}
        scores.append(
            Score(tactic, "*", len(labelled), len(keys), len(keys & labelled), rule=rule_key)
        )
    return scores


@dataclass
class Backtest:
    rules_version: str
    scores: list[Score]
    findings: list[Finding]
    unlabelled: dict[str, int] = field(default_factory=dict)


def backtest(inputs: ScanInputs, labels: pl.DataFrame, rules: RuleSet | None = None) -> Backtest:
    rules = rules or configured_rules()
    findings = run_rules(inputs, rules)
    unlabelled: dict[str, int] = {}
    for finding in findings:
        if TACTIC_OF.get(finding.detector) is None:
            key = f"{finding.rule_id}@{finding.rule_version}"
            unlabelled[key] = unlabelled.get(key, 0) + 1
    return Backtest(rules.version, score(findings, labels, rules), findings, unlabelled)


def _finding_keys(findings: Iterable[Finding]) -> dict[tuple[str, str, Any], Finding]:
    return {(f.rule_id, f.entity_type, f.entity_id): f for f in findings}


def _describe(
    keys: set[tuple[str, str, Any]],
    side: dict[tuple[str, str, Any], Finding],
    truth: set[tuple[str, str, Any]],
) -> list[dict[str, Any]]:
    items = []
    for key in sorted(keys, key=lambda item: (item[1], str(item[2]))):
        label_key = _key(side[key])
        items.append(
            {
                "entity_type": key[1],
                "entity_id": key[2],
                "labelled": label_key in truth if label_key else None,
            }
        )
    return items


def diff(before: list[Finding], after: list[Finding], labels: pl.DataFrame) -> list[dict[str, Any]]:
    """Per rule id: findings (entities) only the old or only the new rules make."""
    truth = _label_keys(labels)
    old, new = _finding_keys(before), _finding_keys(after)
    rules = sorted({key[0] for key in old} | {key[0] for key in new})
    changes = []
    for rule_id in rules:
        old_keys = {k for k in old if k[0] == rule_id}
        new_keys = {k for k in new if k[0] == rule_id}

        added, removed = new_keys - old_keys, old_keys - new_keys
        versions = sorted(
            {f"{f.rule_id}@{f.rule_version}" for k, f in {**old, **new}.items() if k[0] == rule_id}
        )
        if not added and not removed and len(versions) <= 1:
            continue
        changes.append(
            {
                "rule_id": rule_id,
                "versions": versions,
                "findings_before": len(old_keys),
                "findings_after": len(new_keys),
                "added": _describe(added, new, truth),
                "removed": _describe(removed, old, truth),
            }
        )
    return changes


def run_backtest(labels_path: Path, rules: RuleSet, data: Path | None = None) -> dict[str, Any]:
    """The report of ``zhibo risk backtest``: scores of the default and the given rules and
    the diff between them."""
    labels = read_labels(labels_path)
    directory = Path(data) if data is not None else Path(labels_path).parent
    inputs = read_sim(directory)
    base = backtest(inputs, labels, configured_rules())
    candidate = base if rules is configured_rules() else backtest(inputs, labels, rules)
    return {
        "data": str(directory),
        "labels": str(labels_path),
        "rules_version": candidate.rules_version,
        "default_rules_version": base.rules_version,
        "scores": [s.as_dict() for s in candidate.scores],
        "default_scores": [s.as_dict() for s in base.scores],
        "unlabelled_findings": candidate.unlabelled,
        "diff": diff(base.findings, candidate.findings, labels),
    }
