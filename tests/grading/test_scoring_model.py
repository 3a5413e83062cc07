"""The scoring model file: the built-in one is valid; bad files are refused naming the field."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.processes import zhibo
from zhibo.grading.scoring_model import (
    InvalidScoringModel,
    default_model,
    load_model,
    parse_model,
)


def document(**changes: Any) -> dict[str, Any]:
    data = default_model().document()
    data.update(changes)
    return data


def test_the_built_in_model_is_valid_and_versioned() -> None:
    model = default_model()
    assert model.version
    assert [level.level for level in model.levels] == [0, 1, 2, 3, 4, 5]
    assert model.digest() == parse_model(model.document()).digest()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["metrics"][0].update(weight=0), "metrics.0.weight"),
        (lambda d: d["metrics"][1].update(metric="likes_forever"), "metrics.1.metric"),
        (lambda d: d["metrics"][2].update(better="sideways"), "metrics.2.better"),
        (lambda d: d["levels"][3].update(min_score_bp=100), "levels.3.min_score_bp"),
        (lambda d: d["levels"][2].update(min_score_bp=20_000), "levels.2.min_score_bp"),
        (lambda d: d["levels"][4]["unlocks"].update(risk_classes=["low"]), "levels.4.unlocks"),
        (lambda d: d["levels"][1]["unlocks"].update(shelf_size=-1), "levels.1.unlocks.shelf_size"),
        (lambda d: d["gates"][0]["when"].update(op="~"), "gates.0.when.op"),
        (lambda d: d["gates"][1]["when"].update(metric="nope"), "gates.1.when.metric"),
        (lambda d: d["credit"].update(clean_days=0), "credit.clean_days"),
        (lambda d: d["key_rooms"].update(retention_days=30), "key_rooms.retention_days"),
        (lambda d: d["partners"]["metrics"][0].update(metric="tenure_days"), "partners.metrics"),
        (lambda d: d.pop("levels"), "levels"),
    ],
)
def test_bad_values_are_refused_naming_the_field(mutate: Any, field: str) -> None:
    data = document()
    mutate(data)
    with pytest.raises(InvalidScoringModel) as caught:
        parse_model(data)
    assert field in str(caught.value.detail)


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_files_in_each_format_load(tmp_path: Path, suffix: str) -> None:
    data = document(version="custom-1")
    path = tmp_path / f"model{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    elif suffix == ".yaml":
        path.write_text(yaml.safe_dump(data))
    else:
        text = resources.files("zhibo.grading").joinpath("default_model.toml").read_text()
        path.write_text(
            text.replace(f'version = "{default_model().version}"', 'version = "custom-1"')
        )
    assert load_model(path).version == "custom-1"


def test_the_command_line_names_the_bad_field(tmp_path: Path) -> None:
    data = document()
    data["levels"][2]["unlocks"]["tipping_caps"]["per_day_fen"] = 1.5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    result = zhibo("grade", "model", "check", str(path), env=dict(os.environ))
    assert result.returncode == 2
    assert "levels.2.unlocks.tipping_caps.per_day_fen" in result.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps(document()))
    assert zhibo("grade", "model", "check", str(good), env=dict(os.environ)).returncode == 0
