"""The console runs on SQLite only: its pages call services whose queries the domains' own
suites run on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from zhibo.app import create_app
from zhibo.config import Settings


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine), follow_redirects=False) as test_client:
        yield test_client
