"""Console users: created from the command line (the password never from the arguments),
signed in with a username and password as their role and subject, one generic message for
every failure, a lockout after repeated failures, disabled users signed out at once, and
neither passwords nor hashes in the logs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import builders as b
from zhibo.console import accounts
from zhibo.console import session as console_session
from zhibo.console.cli import user_app
from zhibo.goals import store
from zhibo.kit.db import session_factory
from zhibo.kit.errors import InvalidInput, NotFound
from zhibo.kit.time import utcnow
from zhibo.models import ApiToken, Role
from zhibo.models.console import ConsoleUser

PASSWORD = "correct horse battery"
GENERIC = "登录失败：请检查用户名和密码"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id still, with test-sized costs (the default takes 64 MiB and ~0.1 s a hash)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "hasher", lambda: cheap)
    monkeypatch.setattr(accounts, "_decoy_hash", lambda: cheap.hash("decoy"))


def _db(engine: Engine) -> Session:
    return session_factory(engine)()


def _sign_in(client: TestClient, username: str, password: str) -> int:
    form = {"username": username, "password": password, "next": "/console/"}
    return client.post("/console/signin", data=form).status_code


def test_users_are_checked_like_tokens_and_hashed_with_argon2(engine: Engine) -> None:
    db = _db(engine)
    star = b.streamer(db)
    user = accounts.create_user(db, " Alice ", PASSWORD, "streamer", star.id)
    assert user.username == "alice" and user.role == Role.STREAMER
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    identity = db.get(ApiToken, user.token_id)
    assert identity is not None and identity.subject_id == star.id
    with pytest.raises(accounts.UsernameTaken):
        accounts.create_user(db, "alice", PASSWORD, "operator", None)
    with pytest.raises(accounts.PasswordTooWeak):
        accounts.create_user(db, "bob", "short", "operator", None)
    with pytest.raises(InvalidInput, match="must name"):
        accounts.create_user(db, "carol", PASSWORD, "streamer", None)
    with pytest.raises(NotFound):
        accounts.create_user(db, "dave", PASSWORD, "partner", 999_999)
    with pytest.raises(InvalidInput, match="username"):
        accounts.create_user(db, "no spaces", PASSWORD, "operator", None)
    db.close()


def test_a_user_signs_in_with_its_password_and_sees_its_roles_pages(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    db = _db(engine)
    star = b.streamer(db, display_name="小星")
    accounts.create_user(db, "star", PASSWORD, Role.STREAMER, star.id)
    accounts.create_user(db, "boss", PASSWORD, Role.OPERATOR, None)
    db.commit()
    db.close()
    caplog.set_level(logging.DEBUG)

    form = {"username": "star", "password": PASSWORD, "next": "/console/live"}
    response = client.post("/console/signin", data=form)
    assert response.status_code == 303 and response.headers["location"] == "/console/live"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert client.cookies["zhibo_console"].startswith(console_session.USER_SESSION_PREFIX)
    page = client.get("/console/live")
    assert page.status_code == 200 and "star · 主播" in page.text
    assert client.get("/console/goals").status_code == 403  # a streamer's pages only
    assert client.get("/console/profile").headers["location"] == f"/console/streamers/{star.id}"
    # A tampered cookie is no session.
    forged = client.cookies["zhibo_console"][:-2] + "xx"
    client.cookies.set("zhibo_console", forged, path="/console")
    assert client.get("/console/live").headers["location"].startswith("/console/signin")
    # Nor is one past its eight hours, though rightly signed.
    db = _db(engine)
    user = accounts.get_user(db, "star")
    stale = time.time() - console_session.MAX_AGE_SECONDS - 1
    expired = console_session.user_session_value(user.id, user.password_hash, now=stale)
    db.close()
    client.cookies.clear()
    client.cookies.set("zhibo_console", expired, path="/console")
    assert client.get("/console/live").headers["location"].startswith("/console/signin")
    client.cookies.clear()

    # An operator user edits the goals; the version names its identity token and username.
    assert _sign_in(client, "boss", PASSWORD) == 303
    page = client.get("/console/goals")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    changed = client.post(
        "/console/goals", data={"csrf": csrf, "rooms_target": "2100", "reason": "raised"}
    )
    assert changed.status_code == 200, changed.text
    db = _db(engine)
    last = store.current(db)
    boss = accounts.get_user(db, "boss")
    assert last.changed_by == f"operator#{boss.token_id}:boss"
    assert (last.changes["rooms_target"].old, last.changes["rooms_target"].new) == (2000, 2100)
    assert "2000</del> → <ins>2100" in changed.text
    db.close()
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert PASSWORD not in logged and "$argon2" not in logged


def test_failures_share_one_message_and_repeated_ones_lock_the_username(
    client: TestClient, engine: Engine
) -> None:
    db = _db(engine)
    accounts.create_user(db, "ops", PASSWORD, Role.OPERATOR, None)
    db.commit()
    db.close()

    wrong = client.post("/console/signin", data={"username": "ops", "password": "wrong one!"})
    unknown = client.post("/console/signin", data={"username": "nobody", "password": PASSWORD})
    empty = client.post("/console/signin", data={"username": "ops", "password": ""})
    for refused in (wrong, unknown, empty):
        assert refused.status_code == 401 and GENERIC in refused.text
        assert "zhibo_console" not in refused.headers.get("set-cookie", "")
    assert 'value="ops"' in wrong.text  # the username is kept in the form, never the password
    assert "wrong one!" not in wrong.text
    for _ in range(accounts.FREE_ATTEMPTS - 1):
        assert _sign_in(client, "ops", "still wrong") == 401
    # Five failures in a row: locked, and now the right password is refused alike.
    locked = client.post("/console/signin", data={"username": "ops", "password": PASSWORD})
    assert locked.status_code == 401 and GENERIC in locked.text
    db = _db(engine)
    user = accounts.get_user(db, "ops")
    assert user.failed_attempts == accounts.FREE_ATTEMPTS
    assert user.locked_until is not None
    assert user.locked_until - utcnow() <= accounts.BASE_LOCK
    # The lock passes; the next failure locks twice as long; a success clears the count.
    later = user.locked_until + timedelta(seconds=1)
    assert accounts.authenticate_password(db, "ops", "wrong again", now=later) is None
    assert user.locked_until == later + 2 * accounts.BASE_LOCK
    after = user.locked_until + timedelta(seconds=1)
    assert accounts.authenticate_password(db, "ops", PASSWORD, now=after) is user
    assert user.failed_attempts == 0 and user.locked_until is None
    db.close()
    # Unknown usernames lock the same way (in memory), without revealing that they are unknown.
    now = utcnow()
    db = _db(engine)
    for _ in range(accounts.FREE_ATTEMPTS):
        assert accounts.authenticate_password(db, "ghost", "guess guess", now=now) is None
    assert accounts._unknown["ghost"].locked_until == now + accounts.BASE_LOCK
    db.close()
    assert accounts.lock_after(accounts.FREE_ATTEMPTS + 20) == accounts.MAX_LOCK


def test_disabling_a_user_ends_its_session_at_once(client: TestClient, engine: Engine) -> None:
    db = _db(engine)
    accounts.create_user(db, "audit", PASSWORD, Role.AUDITOR, None)
    db.commit()
    assert _sign_in(client, "audit", PASSWORD) == 303
    assert client.get("/console/goals").status_code == 200
    accounts.disable_user(db, "audit")
    db.commit()
    db.close()
    assert client.get("/console/goals").headers["location"].startswith("/console/signin")
    assert _sign_in(client, "audit", PASSWORD) == 401


@pytest.fixture
def cli_env(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from zhibo.config import get_settings
    from zhibo.kit.db import clear_engines

    monkeypatch.setenv("ZHIBO_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("ZHIBO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    clear_engines()
    yield
    get_settings.cache_clear()
    clear_engines()


def test_the_user_commands_take_the_password_from_stdin_never_from_arguments(
    cli_env: None, engine: Engine
) -> None:
    runner = CliRunner()
    db = _db(engine)
    partner = b.partner(db)
    db.commit()
    created = runner.invoke(
        user_app,
        ["create", "agency", "--role", "partner", "--subject", str(partner.id), "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    prompted = runner.invoke(
        user_app, ["create", "ops2", "--role", "operator"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output
    refused = runner.invoke(user_app, ["create", "x1", "--role", "operator", "--password", "p"])
    assert refused.exit_code != 0  # there is no such option
    weak = runner.invoke(
        user_app, ["create", "x2", "--role", "operator", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 2 and "PasswordTooWeak" in weak.stderr
    listed = runner.invoke(user_app, ["list"])
    assert listed.exit_code == 0
    lines = sorted(line.split("\t")[:4] for line in listed.stdout.splitlines())
    assert lines == [
        ["agency", "partner", str(partner.id), "active"],
        ["ops2", "operator", "-", "active"],
    ]
    assert "$argon2" not in listed.stdout
    assert runner.invoke(user_app, ["disable", "agency"]).exit_code == 0
    assert runner.invoke(user_app, ["disable", "nobody"]).exit_code == 2
    db.expire_all()
    disabled = db.query(ConsoleUser).filter_by(username="agency").one()
    assert disabled.disabled_at is not None
    assert db.get(ApiToken, disabled.token_id).revoked_at is not None
    db.close()


def test_a_new_password_ends_old_sessions_and_a_disabled_user_can_be_enabled_again(
    client: TestClient, engine: Engine, cli_env: None
) -> None:
    runner = CliRunner()
    db = _db(engine)
    accounts.create_user(db, "ops", PASSWORD, Role.OPERATOR, None)
    db.commit()
    assert _sign_in(client, "ops", PASSWORD) == 303
    assert client.get("/console/goals").status_code == 200
    new = "a different long passphrase"
    changed = runner.invoke(user_app, ["password", "ops", "--password-stdin"], input=new + "\n")
    assert changed.exit_code == 0, changed.output
    assert client.get("/console/goals").headers["location"].startswith("/console/signin")
    assert _sign_in(client, "ops", PASSWORD) == 401
    assert _sign_in(client, "ops", new) == 303
    weak = runner.invoke(user_app, ["password", "ops", "--password-stdin"], input="short\n")
    assert weak.exit_code == 2 and "PasswordTooWeak" in weak.stderr

    assert runner.invoke(user_app, ["disable", "ops"]).exit_code == 0
    assert _sign_in(client, "ops", new) == 401
    db.expire_all()
    old_token = db.query(ConsoleUser).filter_by(username="ops").one().token_id
    assert runner.invoke(user_app, ["enable", "ops"]).exit_code == 0
    assert runner.invoke(user_app, ["enable", "nobody"]).exit_code == 2
    db.expire_all()
    again = db.query(ConsoleUser).filter_by(username="ops").one()
    assert again.disabled_at is None and again.token_id != old_token
    assert db.get(ApiToken, old_token).revoked_at is not None  # type: ignore[union-attr]
    assert _sign_in(client, "ops", new) == 303
    db.close()
