"""Settlement acceleration has one source: a policy with ``acceleration_from = "grading"`` pays
each level as many days sooner as the grading model's ``settlement_acceleration_days``, and a
run records the days and the model version it used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests import builders as b
from tests.settlement.helpers import confirm, paid_order, shop
from zhibo.grading import service
from zhibo.grading.scoring_model import default_model
from zhibo.kit.db import unit_of_work
from zhibo.models import Role, SettlementRun
from zhibo.settlement import choices
from zhibo.settlement.policy import BUILT_IN, PolicyInvalid, parse_policy
from zhibo.settlement.run import run_settlement

KUAISHOU = BUILT_IN["kuaishou-style"]
CONFIRMED = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def activate(version: str, days: dict[int, int]) -> None:
        document = default_model().document()
        document["version"] = version
        for level, value in days.items():
            document["levels"][level]["unlocks"]["settlement_acceleration_days"] = value
        path = tmp_path / f"{version}.json"
        path.write_text(json.dumps(document))
        monkeypatch.setenv("ZHIBO_GRADING_MODEL_FILE", str(path))
        service.grading_settings.cache_clear()

    yield activate
    monkeypatch.delenv("ZHIBO_GRADING_MODEL_FILE", raising=False)
    service.grading_settings.cache_clear()


def test_the_accelerated_built_in_reads_the_levels_unlocks() -> None:
    assert KUAISHOU.acceleration_from == "grading" and KUAISHOU.acceleration_days == {}
    for level in range(6):
        assert (
            KUAISHOU.acceleration_for(level)
            == service.unlocks_for(level).settlement_acceleration_days
        )
    # Confirmed Nov 3 + 7-day window + 2 days: Nov 12; level 5 two days sooner.
    assert KUAISHOU.payable_on(CONFIRMED, 1) == date(2026, 11, 12)
    assert KUAISHOU.payable_on(CONFIRMED, 5) == date(2026, 11, 10)


def test_another_grading_model_moves_the_payable_day(model_file: Any) -> None:
    model_file("test-fast-pay", {1: 3})
    assert KUAISHOU.payable_on(CONFIRMED, 1) == date(2026, 11, 9)
    resolved = KUAISHOU.resolved()
    assert resolved.acceleration_model == "test-fast-pay"
    assert resolved.acceleration_days[1] == 3


def test_monthly_built_ins_keep_their_identity() -> None:
    # The new keys are left out at their defaults: digests recorded before stay valid.
    for name in ("legacy-monthly-20", "reform-monthly-5"):
        policy = BUILT_IN[name]
        assert policy.acceleration_from == "policy"
        assert "acceleration_from" not in policy.canonical_json()
        assert policy.resolved() is policy and policy.source_digest == policy.digest
        assert all(policy.acceleration_for(level) == 0 for level in range(6))


def test_resolved_records_days_and_model_and_parses_back() -> None:
    resolved = KUAISHOU.resolved()
    assert resolved.acceleration_model == default_model().version
    assert resolved.acceleration_days == {4: 1, 5: 2}
    assert resolved.digest != KUAISHOU.digest
    assert resolved.source_digest == KUAISHOU.source_digest
    again = parse_policy(json.loads(resolved.canonical_json()))
    assert again == resolved


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"acceleration_from": "grading", "acceleration_days": {5: 1}}, "acceleration_days"),
        ({"acceleration_model": "m1"}, "acceleration_model"),
        ({"acceleration_from": "levels"}, "acceleration_from"),
    ],
)
def test_two_sources_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    document = {"name": "x", "schedule": {"kind": "monthly", "day": 5}, **changes}
    with pytest.raises(PolicyInvalid, match=field):
        parse_policy(document)


def test_a_run_records_the_days_it_used(engine: Engine) -> None:
    with unit_of_work(engine) as db:
        world = shop(db, streamers=5)  # levels 1..5
        for live in world.sessions:
            order = paid_order(db, live, world.product, datetime(2026, 11, 2, tzinfo=UTC))
            confirm(order, CONFIRMED)
    report = run_settlement(engine, date(2026, 11, 10), KUAISHOU)
    assert report.orders_settled == 1  # level 5 only: two days sooner
    report = run_settlement(engine, date(2026, 11, 11), KUAISHOU)
    assert report.orders_settled == 1  # level 4: one day sooner
    with unit_of_work(engine) as db:
        run = db.scalar(select(SettlementRun).where(SettlementRun.as_of == date(2026, 11, 10)))
        assert run is not None
        recorded = json.loads(run.policy_document)
        assert recorded["acceleration_from"] == "grading"
        assert recorded["acceleration_model"] == default_model().version
        assert recorded["acceleration_days"] == {"4": 1, "5": 2}
        assert run.policy_digest == KUAISHOU.resolved().digest
    # Running the day again under the same policy is a resume, not a mismatch.
    assert run_settlement(engine, date(2026, 11, 11), KUAISHOU).orders_settled == 1


def test_permissions_show_the_acceleration_in_force(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as db:
        top = b.streamer(db, level=5)
        headers = b.token(db, Role.STREAMER, top.id)
    url = f"/v1/streamers/{top.id}/permissions"
    body = client.get(url, headers=headers).json()
    # The default policy (monthly, the 5th) accelerates no level.
    assert body["settlement"] == {"policy": "reform-monthly-5@1", "source": "policy", "days": 0}
    assert body["unlocks"]["settlement_acceleration_days"] == 2
    with unit_of_work(engine) as db:
        choices.choose_policy(db, KUAISHOU, reason="test")
    body = client.get(url, headers=headers).json()
    assert body["settlement"] == {"policy": "kuaishou-style@1", "source": "grading", "days": 2}
