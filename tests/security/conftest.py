"""One small world for the security suite: two of everything (an "own" and an "other"
subject per scoped role), a token per role, one app on SQLite and one TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests import builders as b
from tests.conftest import sqlite_copy
from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.kit.db import make_engine, session_factory
from zhibo.models import Role
from zhibo.models.risk import CaseStatus, RiskCase, SubjectKind
from zhibo.models.session import SessionStatus

ROLES = ("operator", "compliance", "auditor", "streamer", "partner", "brand", "viewer")
#: Ids none of the world's rows have.
MISSING = 987654


@dataclass
class World:
    engine: Engine
    settings: Settings
    app: FastAPI
    client: TestClient
    #: role -> clear token.
    tokens: dict[str, str]
    #: "own" and "other": the ids each placeholder takes, per scoped role.
    own: dict[str, dict[str, int | str]] = field(default_factory=dict)
    other: dict[str, dict[str, int | str]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _seed(engine: Engine) -> tuple[dict[str, str], dict[str, dict], dict[str, dict]]:
    db = session_factory(engine)()
    category = b.category(db, name="authz")
    agencies = [b.partner(db), b.partner(db)]
    streamers = [b.streamer(db, partner_row=agencies[0]), b.streamer(db, partner_row=agencies[1])]
    brands = [b.brand(db), b.brand(db)]
    products = [b.product(db, brand_row=brands[i], category_row=category) for i in (0, 1)]
    rooms = [b.room(db, streamer_row=streamers[i]) for i in (0, 1)]
    sessions = [b.live_session(db, room_row=rooms[i], status=SessionStatus.LIVE) for i in (0, 1)]
    for i in (0, 1):
        b.shelf_item(db, session_row=sessions[i], product_row=products[i])
    viewers = [b.viewer(db), b.viewer(db)]
    orders = [
        b.order(db, session_row=sessions[i], product_row=products[i], buyer=viewers[i])
        for i in (0, 1)
    ]
    cases = {}
    for kind, subjects in (
        (SubjectKind.STREAMER, streamers),
        (SubjectKind.VIEWER, viewers),
    ):
        for i, subject in enumerate(subjects):
            row = RiskCase(
                subject_kind=kind,
                subject_id=subject.id,
                room_id=rooms[i].id,
                rule_key="lure@1",
                severity="high",
                status=CaseStatus.PENDING_REVIEW,
                opened_at=b.T0,
            )
            db.add(row)
            db.flush()
            cases[(kind, i)] = row.id

    def ids(i: int, case_kind: SubjectKind) -> dict[str, int | str]:
        return {
            "brand_id": brands[i].id,
            "product_id": products[i].id,
            "product_external_id": products[i].external_id,
            "category_id": category.id,
            "category_path": category.path,
            "streamer_id": streamers[i].id,
            "partner_id": agencies[i].id,
            "viewer_id": viewers[i].id,
            "room_id": rooms[i].id,
            "session_id": sessions[i].id,
            "order_id": orders[i].id,
            "case_id": cases[(case_kind, i)],
            "statement_id": MISSING,
            "campaign_id": MISSING,
            "complaint_id": MISSING,
            "finding_id": MISSING,
            "entry_id": MISSING,
            "hold_id": MISSING,
            "shift_id": MISSING,
            "job_id": "nojob",
            "kind": "streamers",
            "code": "en",
        }

    own: dict[str, dict] = {}
    other: dict[str, dict] = {}
    for role in (*ROLES, "anonymous"):
        kind = SubjectKind.VIEWER if role == "viewer" else SubjectKind.STREAMER
        own[role], other[role] = ids(0, kind), ids(1, kind)
    subject_of = {
        "streamer": streamers[0].id,
        "partner": agencies[0].id,
        "brand": brands[0].id,
        "viewer": viewers[0].id,
    }
    tokens = {}
    for role in ROLES:
        headers = b.token(db, Role(role), subject_of.get(role))
        tokens[role] = headers["Authorization"].removeprefix("Bearer ")
    db.commit()
    db.close()
    return tokens, own, other


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("security")
    url = sqlite_copy(sqlite_template, folder)
    engine = make_engine(url)
    settings = Settings(
        database_url=url,
        data_dir=folder / "data",
        max_request_bytes=256 * 1024,
        rate_limit_enabled=False,  # the probes search hundreds of times a second (own test)
    )
    tokens, own, other = _seed(engine)
    app = create_app(settings, engine)
    with TestClient(app, follow_redirects=False) as client:
        yield World(engine, settings, app, client, tokens, own, other)
    engine.dispose()
