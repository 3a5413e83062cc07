"""Secrets come only from settings and never reach a log line or an error answer: API tokens,
the secret key, the identity key, the media hook secret, the metrics token, clear ID numbers and
phones. A representative set of requests and CLI commands runs with every logger at DEBUG."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from stdnum.cn import ric
from typer.testing import CliRunner

from tests import builders as b
from tests.conftest import sqlite_copy
from zhibo.app import create_app
from zhibo.cli import app as cli
from zhibo.config import get_settings
from zhibo.identity.crypto import new_key
from zhibo.kit.db import clear_engines, make_engine, session_factory
from zhibo.kit.hashing import keyed_hash
from zhibo.models import Role


def make_id(birth: str, region: str = "110101", sequence: str = "123") -> str:
    body = region + birth + sequence
    return body + ric.calc_check_digit(body + "0")


ID_NUMBER = make_id("19900307")
GUARDIAN_ID = make_id("19700101", sequence="456")
PHONE = "13912345678"


class Secrets:
    def __init__(self) -> None:
        self.secret_key = "sk-" + secrets.token_urlsafe(24)
        self.identity_key = new_key()
        self.hook_secret = "hook-" + secrets.token_urlsafe(16)
        self.metrics_token = "metrics-" + secrets.token_urlsafe(16)
        self.tokens: list[str] = []

    def all(self) -> list[str]:
        return [
            self.secret_key,
            self.identity_key,
            self.hook_secret,
            self.metrics_token,
            ID_NUMBER,
            GUARDIAN_ID,
            PHONE,
            *self.tokens,
        ]


@pytest.fixture
def known(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Secrets]:
    url = sqlite_copy(sqlite_template, tmp_path)
    found = Secrets()
    for name, value in {
        "ZHIBO_DATABASE_URL": url,
        "ZHIBO_DATA_DIR": str(tmp_path / "data"),
        "ZHIBO_SECRET_KEY": found.secret_key,
        "ZHIBO_IDENTITY_KEY": found.identity_key,
        "ZHIBO_MEDIA_HOOK_SECRET": found.hook_secret,
        "ZHIBO_METRICS_TOKEN": found.metrics_token,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield found
    get_settings.cache_clear()
    clear_engines()


def test_no_secret_in_logs_or_error_answers(
    known: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("zhibo", "uvicorn", "sqlalchemy.engine", "httpx"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    with session_factory(engine)() as db:
        streamer = b.streamer(db)
        b.room(db, streamer_row=streamer)
        clear = b.token(db, Role.OPERATOR)["Authorization"].split()[1]
        viewer = b.viewer(db)
        viewer_token = b.token(db, Role.VIEWER, viewer.id)["Authorization"].split()[1]
        db.commit()
        streamer_id = streamer.id
    known.tokens += [clear, viewer_token]
    operator = {"Authorization": f"Bearer {clear}"}
    answers: list[str] = []

    app = create_app(settings, engine)

    @app.get("/boom-for-test")
    def boom() -> None:  # a bug whose message quotes personal data
        raise RuntimeError(f"failed for {ID_NUMBER} / {PHONE}")

    with TestClient(app, raise_server_exceptions=False) as client:
        requests = [
            (
                "POST",
                "/v1/streamers",
                {"display_name": "S", "id_number": ID_NUMBER, "phone": PHONE},
            ),
            ("POST", "/v1/streamers", {"display_name": "S", "id_number": ID_NUMBER[:-1] + "0"}),
            (
                "POST",
                f"/v1/identity/streamers/{streamer_id}/verification",
                {
                    "id_number": ID_NUMBER,
                    "phone": PHONE,
                    "attested_by": "ops",
                    "document_ref": "doc-1",
                },
            ),
            (
                "POST",
                f"/v1/identity/streamers/{streamer_id}/verification",
                {"id_number": ID_NUMBER[:-1] + "0", "attested_by": "ops", "document_ref": "d"},
            ),
            (
                "POST",
                f"/v1/identity/streamers/{streamer_id}/guardian-consents",
                {
                    "guardian_name": "G",
                    "guardian_id_number": GUARDIAN_ID,
                    "relationship": "parent",
                    "document_ref": "doc-2",
                    "recorded_by": "ops",
                },
            ),
            (
                "POST",
                "/v1/blacklist",
                {
                    "id_number": ID_NUMBER,
                    "phone": PHONE,
                    "facts": "f",
                    "reasons": "r",
                    "legal_basis": "l",
                    "appeal_channel": "a",
                    "listed_by": "ops",
                },
            ),
            ("GET", f"/v1/streamers/{streamer_id}", None),
            ("GET", f"/v1/identity/streamers/{streamer_id}/checks", None),
            ("GET", "/v1/blacklist", None),
            ("GET", f"/v1/pool/search?q={ID_NUMBER}+{PHONE}", None),
            ("POST", "/v1/risk/check-text", {"text": f"加我微信 {PHONE} 身份证 {ID_NUMBER}"}),
        ]
        for method, path, body in requests:
            response = client.request(method, path, json=body, headers=operator)
            assert response.status_code < 500, (path, response.text)
            if path != "/v1/risk/check-text":  # it shows the caller's own text, by design
                answers.append(response.text)
        # Tokens: a wrong one shaped like a real one, a real one of the wrong role, a revoked.
        fake = "zb_" + secrets.token_urlsafe(32)
        known.tokens.append(fake)
        for headers in (
            {"Authorization": f"Bearer {fake}"},
            {"Authorization": f"Bearer {viewer_token}"},
            {"Authorization": clear},
        ):
            answers.append(client.post("/v1/brands", json={"name": "x"}, headers=headers).text)
        # The media hooks: wrong and right secrets in the query string.
        hook = {"app": "live", "name": "nokey", "clientid": "1", "addr": "127.0.0.1"}
        for secret in ("wrong-" + known.hook_secret[::-1], known.hook_secret):
            response = client.post(f"/v1/media/on_publish?secret={secret}", data=hook)
            answers.append(response.text + str(response.headers))
        # Metrics with a wrong token; the console sign-in with right and wrong tokens.
        answers.append(client.get("/metrics", headers={"Authorization": "Bearer nope"}).text)
        for token in (clear, fake):
            response = client.post("/console/signin", data={"token": token})
            answers.append(response.text + str(response.headers.get("location")))
        csrf = keyed_hash(clear, purpose="console-csrf")[:32]
        answers.append(client.post("/console/signout", data={"csrf": csrf[::-1]}).text)
        # An unexpected error quoting personal data: 500, logged masked, answered generically.
        response = client.get("/boom-for-test")
        assert response.status_code == 500
        answers.append(response.text)

    # CLI: a token is shown once on stdout (by design) and nowhere else; IDs never.
    runner = CliRunner()
    created = runner.invoke(cli, ["token", "create", "--role", "auditor"])
    assert created.exit_code == 0, created.output
    new_token = next(word for word in created.stdout.split() if word.startswith("zb_"))
    known.tokens.append(new_token)
    listed = runner.invoke(cli, ["token", "list"])
    assert listed.exit_code == 0
    checked = runner.invoke(cli, ["identity", "check-id", ID_NUMBER, "--json"])
    assert checked.exit_code == 0
    cli_output = listed.output + checked.output + created.stderr

    # What handlers emit: each record's message and its (pre-formatted) traceback.
    logs = caplog.text + "\n".join(
        record.getMessage() + (record.exc_text or "") for record in caplog.records
    )
    assert "refused" in logs  # the refusals above were logged, without their secrets
    for value in known.all():
        assert value not in logs, f"a secret is in the logs: {value[:6]}…"
        for answer in answers:
            assert value not in answer, f"a secret is in an answer: {value[:6]}… in {answer[:200]}"
        assert value not in cli_output, f"a secret is in the CLI's output: {value[:6]}…"
    engine.dispose()
