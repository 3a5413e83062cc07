"""Rules are data: the built-in file loads; bad files are refused with the field named."""

from __future__ import annotations

import copy
import json
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.processes import zhibo
from zhibo.risk.rules import (
    ConcentrationParams,
    InvalidRuleFile,
    Measure,
    RuleState,
    default_rules,
    load_rules,
    parse_rules,
)


def _document() -> dict[str, Any]:
    text = resources.files("zhibo.risk").joinpath("data/rules.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_the_built_in_rules_load_with_their_detectors_parameters() -> None:
    rules = default_rules()
    brushing = rules.get("order_brushing.concentration")
    assert brushing.state == RuleState.ACTIVE
    params = brushing.params()
    assert isinstance(params, ConcentrationParams)
    assert (params.window_seconds, params.min_orders_per_buyer) == (3600, 3.0)
    assert [rule.id for rule in rules.running("banned_terms")] == [
        "false_advertising.absolute_terms",
        "false_advertising.health_claims",
    ]
    assert len(rules.digest()) == 64


def test_shadow_and_draft_rules_apply_no_measure() -> None:
    document = _document()
    document["rules"][0]["state"] = "shadow"
    document["rules"][1]["state"] = "draft"
    rules = parse_rules(document)
    shadow, draft = rules.rules[0], rules.rules[1]
    assert shadow.measures and shadow.measures_to_apply() == []
    assert draft.measures_to_apply() == [] and not draft.runs
    assert draft not in rules.running("banned_terms") and shadow in rules.running("banned_terms")
    assert rules.rules[2].measures_to_apply()[0] == Measure.REFUSE_LISTING


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda d: d["rules"][4]["parameters"].update(window_seconds=0),
            "rules.4.parameters.window_seconds",
        ),
        (lambda d: d["rules"][4]["parameters"].update(windows=3600), "rules.4.parameters.windows"),
        (
            lambda d: d["rules"][0]["parameters"].update(categories=["nope"]),
            "rules.0.parameters.categories",
        ),
        (lambda d: d["rules"][2].update(detector="telepathy"), "rules.2.detector"),
        (lambda d: d["rules"][1].update(state="live"), "rules.1.state"),
        (lambda d: d["rules"][1].update(measures=["flogging"]), "rules.1.measures.0"),
        (lambda d: d["rules"][3].pop("version"), "rules.3.version"),
        (lambda d: d["rules"][3].update(version=0), "rules.3.version"),
        (lambda d: d["rules"][3].update(id="Bad Id"), "rules.3.id"),
        (lambda d: d["rules"][3].update(id=d["rules"][0]["id"]), "rules.3.id"),
        (lambda d: d["rules"][3].update(severity="apocalyptic"), "rules.3.severity"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d["rules"][0].update(colour="red"), "rules.0.colour"),
    ],
)
def test_bad_rule_files_are_refused_naming_the_field(change: Any, named: str) -> None:
    document = copy.deepcopy(_document())
    change(document)
    with pytest.raises(InvalidRuleFile) as refused:
        parse_rules(document, "bad.toml")
    assert f"{named}:" in str(refused.value.detail), refused.value.detail
    assert str(refused.value.detail).startswith("bad.toml: ")


def test_unreadable_and_unparsable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRuleFile, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("rules = [", encoding="utf-8")
    with pytest.raises(InvalidRuleFile, match="cannot parse"):
        load_rules(broken)


def test_rules_check_cli_names_the_field(tmp_path: Path) -> None:
    text = resources.files("zhibo.risk").joinpath("data/rules.toml").read_text("utf-8")
    bad = tmp_path / "rules.toml"
    bad.write_text(text.replace("window_seconds = 3600", "window_seconds = -5"), "utf-8")
    env = {**os.environ, "ZHIBO_DATA_DIR": str(tmp_path / "data")}
    refused = zhibo("risk", "rules", "check", str(bad), env=env)
    assert refused.returncode == 2
    assert "InvalidRuleFile" in refused.stderr
    assert "rules.4.parameters.window_seconds" in refused.stderr
    good = tmp_path / "good.toml"
    good.write_text(text, "utf-8")
    accepted = zhibo("risk", "rules", "check", str(good), env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert "order_brushing.concentration@1\torder_concentration\tactive" in accepted.stdout


def test_the_platform_runs_the_rule_file_its_settings_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from zhibo.config import get_settings
    from zhibo.risk.rules import configured_rules

    def use(path: Path) -> None:
        monkeypatch.setenv("ZHIBO_RISK_RULES_FILE", str(path))
        get_settings.cache_clear()

    request.addfinalizer(get_settings.cache_clear)
    assert configured_rules() is default_rules()
    document = default_rules().model_dump(mode="json")
    document["version"] = "ops-2026-12"
    document["rules"][0]["state"] = "shadow"
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(document))
    use(path)
    running = configured_rules()
    assert running.version == "ops-2026-12"
    assert running.rules[0].state == RuleState.SHADOW
    document["rules"][0]["severity"] = "catastrophic"
    path.write_text(json.dumps(document) + " ")  # a changed file is read again, and refused
    with pytest.raises(InvalidRuleFile, match=r"rules\.0\.severity"):
        configured_rules()
    use(tmp_path / "missing.toml")
    with pytest.raises(InvalidRuleFile, match="ZHIBO_RISK_RULES_FILE"):
        configured_rules()
