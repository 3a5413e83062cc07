"""``zhibo settle`` as users run it: a real process per command, on the embedded SQLite."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.processes import zhibo
from tests.settlement.helpers import confirm, paid_order, refund, shop
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, unit_of_work

NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'zhibo.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with unit_of_work(engine) as db:
        world = shop(db, streamers=3)
        for day in range(30):
            for live in world.sessions:
                order = paid_order(db, live, world.product, NOV + timedelta(days=day))
                confirm(order, NOV + timedelta(days=day + 3))
                if day % 6 == 0:
                    refund(db, order, 1000, NOV + timedelta(days=day + 4))
        streamer = world.sessions[0].streamer_id
    engine.dispose()
    return {**os.environ, "ZHIBO_DATABASE_URL": url, "STREAMER": str(streamer)}


def test_run_compare_check_statement_and_upcoming(env: dict[str, str], tmp_path: Path) -> None:
    run = zhibo("settle", "run", "--as-of", "2026-12-05", "--json", env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["status"] == "completed" and report["policy"]["name"] == "reform-monthly-5"
    assert report["orders_settled"] == 3 * 26  # 4 days confirmed in December: next cycle
    again = json.loads(zhibo("settle", "run", "--as-of", "2026-12-05", "--json", env=env).stdout)
    assert again["resumed"] and again["paid_fen"] == report["paid_fen"]

    check = zhibo("ledger", "check", "--json", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["balanced"] is True

    compare = zhibo(
        "settle",
        "compare",
        "--policy",
        "legacy-monthly-20",
        "--policy",
        "reform-monthly-5",
        "--json",
        env=env,
    )
    assert compare.returncode == 0, compare.stderr
    result = json.loads(compare.stdout)
    legacy, reform = (
        result["policies"][name] for name in ("legacy-monthly-20", "reform-monthly-5")
    )
    for outcome in (legacy, reform):
        assert {"mean_days_to_cash", "p50_days_to_cash", "p90_days_to_cash"} <= set(outcome)
        assert outcome["cash_paid_by_day"]
    assert legacy["mean_days_to_cash"] - reform["mean_days_to_cash"] == pytest.approx(15.0)
    assert legacy["paid_fen"] == reform["paid_fen"]
    assert set(legacy["groups"]["level"]) == {"1", "2", "3"}

    statement = zhibo("settle", "statement", "--streamer", env["STREAMER"], "--json", env=env)
    assert statement.returncode == 0, statement.stderr
    assert json.loads(statement.stdout)[0]["paid_fen"] > 0
    upcoming = zhibo("settle", "upcoming", "--streamer", env["STREAMER"], "--json", env=env)
    assert [day["payable_on"] for day in json.loads(upcoming.stdout)["days"]] == ["2027-01-05"]
    text = zhibo("settle", "statement", "--streamer", env["STREAMER"], env=env)
    assert "paid" in text.stdout and "tax withheld" in text.stdout


def test_policy_files_and_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "weekly.toml"
    good.write_text(
        'name = "confirmed-plus-9"\n[schedule]\nkind = "after"\nreturn_window_days = 7\n'
        "plus_days = 2\n[reserve]\nhold_percent = 5\nhold_days = 8\n"
    )
    checked = zhibo("settle", "policy", "check", str(good), "--json", env=env)
    assert checked.returncode == 0 and json.loads(checked.stdout)["name"] == "confirmed-plus-9"
    chosen = zhibo("settle", "policy", "set", str(good), "--reason", "try", env=env)
    assert chosen.returncode == 0, chosen.stderr
    shown = json.loads(zhibo("settle", "policy", "show", "--json", env=env).stdout)
    assert shown["active"]["name"] == "confirmed-plus-9" and len(shown["history"]) == 1
    compare = zhibo(
        "settle",
        "compare",
        "--policy",
        str(good),
        "--policy",
        "reform-monthly-5",
        "--json",
        env=env,
    )
    assert json.loads(compare.stdout)["policies"]["confirmed-plus-9"]["reserve_held_peak_fen"] > 0

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nschedule: {kind: monthly, day: 20}\n"
        "reserve: {hold_percent: 120, hold_days: -1}\n"
    )
    refused = zhibo("settle", "policy", "check", str(bad), env=env)
    assert refused.returncode == 2
    assert "reserve.hold_percent" in refused.stderr and "reserve.hold_days" in refused.stderr
    unknown = zhibo("settle", "run", "--as-of", "2026-12-05", "--policy", "nope", env=env)
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    bad_day = zhibo("settle", "run", "--as-of", "5 December", env=env)
    assert bad_day.returncode == 2 and "--as-of" in bad_day.stderr
