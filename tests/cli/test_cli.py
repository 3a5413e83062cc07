"""The command line as users call it: a real ``zhibo`` process per command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.processes import zhibo
from zhibo.kit.db import make_engine, session_factory
from zhibo.kit.hashing import token_hash
from zhibo.kit.migrate import head_revision
from zhibo.models import ApiToken


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ZHIBO_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "ZHIBO_DATA_DIR": str(tmp_path / "data"),
    }


def test_db_upgrade_then_token_create(env: dict[str, str]) -> None:
    upgraded = zhibo("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert zhibo("db", "current", env=env).stdout.strip() == head_revision()

    created = zhibo("token", "create", "--role", "operator", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("zb_") and len(token) > 30
    engine = make_engine(env["ZHIBO_DATABASE_URL"])
    with session_factory(engine)() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == token_hash(token)  # stored hashed, never in clear
        assert row.role == "operator"
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "emperor"], "role"),
        (["--role", "streamer"], "subject"),
        (["--role", "streamer", "--subject", "424242"], "no streamer with id 424242"),
        (["--role", "operator", "--subject", "1"], "subject"),
    ],
)
def test_token_create_refuses_bad_input_clearly(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = zhibo("token", "create", *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
