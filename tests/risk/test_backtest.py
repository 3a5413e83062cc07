"""Backtests against labelled data: scores per tactic, shadow rules apart, the diff of a rule
change; `zhibo risk scan --sim` and `zhibo risk backtest` on a tiny simulated platform; bad
parameters of the batch detectors refused with the field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.sim.helpers import TINY
from zhibo.risk.backtest import diff, score
from zhibo.risk.cli import risk_app
from zhibo.risk.rules import InvalidRuleFile, RuleState, default_rules, parse_rules
from zhibo.risk.schemas import Finding
from zhibo.sim import generate


def _finding(rule_id: str, entity_type: str, entity_id: int, shadow: bool = False) -> Finding:
    rule = default_rules().get(rule_id)
    if shadow:
        rule = rule.model_copy(update={"state": RuleState.SHADOW})
    return Finding.of(rule, entity_type=entity_type, entity_id=entity_id)


LABELS = pl.DataFrame(
    {
        "tactic": ["order_brushing", "order_brushing", "bot_viewers", "banned_terms"],
        "entity_type": ["streamer", "streamer", "session", "product"],
        "entity_id": [1, 2, 10, 100],
    }
)


def test_scores_count_active_rules_per_tactic_and_shadow_rules_apart() -> None:
    findings = [
        _finding("order_brushing.concentration", "seller", 1),
        _finding("order_brushing.buyer_rings", "seller", 3),  # not labelled: a false positive
        _finding("fake_traffic.bot_viewers", "session", 10, shadow=True),
        _finding("false_advertising.absolute_terms", "product", 100),
        _finding("false_advertising.absolute_terms", "session", 10),  # a comment: unlabelled type
    ]
    scores = {(s.tactic, s.entity_type, s.rule): s for s in score(findings, LABELS)}
    brushing = scores[("order_brushing", "streamer", None)]
    assert (brushing.true_positives, brushing.flagged, brushing.labelled) == (1, 2, 2)
    assert (brushing.precision, brushing.recall) == (0.5, 0.5)
    bots = scores[("bot_viewers", "session", None)]
    assert (bots.flagged, bots.recall) == (0, 0.0)  # the shadow rule flags nothing
    assert scores[("bot_viewers", "*", "fake_traffic.bot_viewers@1")].recall == 1.0
    terms = scores[("banned_terms", "product", None)]
    assert (terms.precision, terms.recall, terms.unlabelled_entity_findings) == (1.0, 1.0, 1)


def test_diff_lists_findings_only_one_rule_set_makes() -> None:
    before = [
        _finding("order_brushing.buyer_rings", "seller", 1),
        _finding("order_brushing.buyer_rings", "seller", 3),
    ]
    after = [
        _finding("order_brushing.buyer_rings", "seller", 1),
        _finding("order_brushing.buyer_rings", "seller", 2),
    ]
    [change] = diff(before, after, LABELS)
    assert change["added"] == [{"entity_type": "seller", "entity_id": 2, "labelled": True}]
    assert change["removed"] == [{"entity_type": "seller", "entity_id": 3, "labelled": False}]


@pytest.mark.parametrize(
    ("detector", "parameters", "message"),
    [
        ("bot_viewers", {"min_bots": 0}, "rules.0.parameters.min_bots"),
        ("buyer_rings", {"identifiers": ["iris_scan"]}, "rules.0.parameters.identifiers.0"),
        ("tipping_caps", {"per_week_fen": 5}, "rules.0.parameters.per_week_fen"),
    ],
)
def test_bad_parameters_of_batch_detectors_are_refused_with_the_field_named(
    detector: str, parameters: dict[str, Any], message: str
) -> None:
    document = {
        "schema_version": 1,
        "version": "t",
        "rules": [
            {
                "id": "x.y",
                "version": 1,
                "detector": detector,
                "state": "active",
                "severity": "low",
                "parameters": parameters,
            }
        ],
    }
    with pytest.raises(InvalidRuleFile) as refused:
        parse_rules(document)
    assert message in str(refused.value.detail)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("risk-sim") / "sim"
    generate(seed=8080, scale=TINY, out=out, progress=False)
    return out


def test_scan_and_backtest_a_simulated_platform(tiny: Path, tmp_path: Path) -> None:
    cli = CliRunner()
    done = cli.invoke(risk_app, ["scan", "--sim", str(tiny), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    findings = json.loads((tmp_path / "out" / "findings.json").read_text("utf-8"))
    detectors = {f["detector"] for f in findings}
    assert {
        "order_concentration",
        "buyer_rings",
        "reference_price",
        "blacklist_evasion",
    } <= detectors
    # A candidate rule file that makes buyer rings need far more orders.
    rules = default_rules().model_dump(mode="json")
    for rule in rules["rules"]:
        if rule["id"] == "order_brushing.buyer_rings":
            rule["version"] = 2
            rule["parameters"]["min_orders"] = 10_000
    candidate = tmp_path / "rules.json"
    candidate.write_text(json.dumps(rules, ensure_ascii=False), "utf-8")
    labels = tiny / "labels.parquet"
    done = cli.invoke(
        risk_app, ["backtest", "--rules", str(candidate), "--labels", str(labels), "--json"]
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    tactics = {s["tactic"] for s in report["scores"] if s["rule"] is None}
    assert tactics == set(pl.read_parquet(labels)["tactic"].to_list())
    rings = {s["rule"]: s for s in report["scores"] if s["rule"]}["order_brushing.buyer_rings@2"]
    assert rings["flagged"] == 0
    [change] = [c for c in report["diff"] if c["rule_id"] == "order_brushing.buyer_rings"]
    assert change["findings_after"] == 0 and change["removed"]
    assert all(item["labelled"] for item in change["removed"])
    missing = cli.invoke(risk_app, ["backtest", "--labels", str(tmp_path / "nope.parquet")])
    assert missing.exit_code == 2 and "InvalidLabels" in missing.output
