"""Settlement policies: the built-ins, the schedule arithmetic, files, and refused input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhibo.settlement.policy import (
    BUILT_IN,
    PolicyInvalid,
    SettlementPolicy,
    UnknownPolicy,
    load_policy_file,
    parse_policy,
    resolve_policy,
)

LEGACY = BUILT_IN["legacy-monthly-20"]
REFORM = BUILT_IN["reform-monthly-5"]


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_builtins_pay_on_the_20th_and_the_5th_of_the_next_month() -> None:
    confirmed = at("2026-11-03")
    assert LEGACY.payable_on(confirmed) == date(2026, 12, 20)
    assert REFORM.payable_on(confirmed) == date(2026, 12, 5)
    assert LEGACY.payable_on(at("2026-12-31")) == date(2027, 1, 20)
    # Same cycle, 15 days sooner, for every confirmation day of a year.
    day = at("2026-01-01")
    for _ in range(366):
        assert LEGACY.payable_on(day) - REFORM.payable_on(day) == timedelta(days=15)
        day += timedelta(days=1)


def test_after_policy_acceleration_and_recorded_identity() -> None:
    policy = BUILT_IN["kuaishou-style"]
    assert policy.payable_on(at("2026-11-03"), level=1) == date(2026, 11, 12)
    assert policy.payable_on(at("2026-11-03"), level=5) == date(2026, 11, 10)
    assert policy.reserve is not None and policy.reserve.hold_bp == 500
    assert len(policy.digest) == 64 and policy.label == "kuaishou-style@1"
    assert LEGACY.digest != REFORM.digest


@given(
    st.sampled_from(sorted(BUILT_IN)),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(min_value=0, max_value=86_399),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 3, 31)),
    st.integers(min_value=0, max_value=5),
)
def test_cutoff_agrees_with_payable_on(
    name: str, day: date, second: int, as_of: date, level: int
) -> None:
    policy = BUILT_IN[name]
    event = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=second)
    due = policy.payable_on(event, level) <= as_of
    assert due == (event < policy.event_cutoff(as_of, level))


def test_files_in_toml_yaml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "fast.toml"
    toml.write_text(
        'name = "fast"\nversion = 2\n[schedule]\nkind = "after"\nevent = "confirmed"\n'
        "return_window_days = 7\nplus_days = 1\n[reserve]\nhold_percent = 5\nhold_days = 8\n"
        "[acceleration_days]\n5 = 1\n"
    )
    yaml = tmp_path / "fast.yaml"
    yaml.write_text(
        "name: fast\nversion: 2\nschedule: {kind: after, event: confirmed, return_window_days: 7,"
        " plus_days: 1}\nreserve: {hold_percent: 5, hold_days: 8}\nacceleration_days: {5: 1}\n"
    )
    json_file = tmp_path / "fast.json"
    json_file.write_text(
        '{"name": "fast", "version": 2, "schedule": {"kind": "after", "event": "confirmed",'
        ' "return_window_days": 7, "plus_days": 1}, "reserve": {"hold_percent": 5,'
        ' "hold_days": 8}, "acceleration_days": {"5": 1}}'
    )
    policies = [load_policy_file(path) for path in (toml, yaml, json_file)]
    assert len({policy.digest for policy in policies}) == 1
    assert resolve_policy(str(toml)).label == "fast@2"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": "x", "schedule": {"kind": "monthly", "day": 20}, "speed": 1}, "speed"),
        ({"name": "x", "schedule": {"kind": "monthly", "day": 20, "every": 2}}, "every"),
        (
            {
                "name": "x",
                "schedule": {"kind": "monthly", "day": 5},
                "reserve": {"hold_percent": 150, "hold_days": 8},
            },
            "reserve.hold_percent",
        ),
        (
            {
                "name": "x",
                "schedule": {"kind": "after", "plus_days": -3},
            },
            "plus_days",
        ),
        ({"name": "x", "schedule": {"kind": "monthly", "day": 31}}, "day"),
        ({"name": "x", "schedule": {"kind": "weekly"}}, "schedule"),
        (
            {"name": "x", "schedule": {"kind": "monthly", "day": 5}, "acceleration_days": {9: 1}},
            "acceleration_days",
        ),
        ({"name": "Bad Name", "schedule": {"kind": "monthly", "day": 5}}, "name"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(document)
    assert field in str(caught.value.detail)


def test_unknown_names_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(UnknownPolicy):
        resolve_policy("no-such-policy")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ")
    with pytest.raises(PolicyInvalid, match=r"broken\.toml"):
        load_policy_file(broken)
    with pytest.raises(UnknownPolicy):
        load_policy_file(tmp_path / "missing.json")


def test_policy_is_immutable_and_canonical() -> None:
    again = SettlementPolicy.model_validate(LEGACY.model_dump(mode="json"))
    assert again.digest == LEGACY.digest


def test_run_state_machine() -> None:
    from zhibo.models.settlement import RunNotBatching, RunNotRunning, RunStatus, SettlementRun

    run = SettlementRun(status=RunStatus.RUNNING)
    with pytest.raises(RunNotBatching):
        run.complete(datetime(2026, 12, 5, tzinfo=UTC))
    run.start_batching()
    with pytest.raises(RunNotRunning):
        run.start_batching()
    run.complete(datetime(2026, 12, 5, tzinfo=UTC))
    assert run.status == RunStatus.COMPLETED
