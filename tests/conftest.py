"""Fixtures: the same integration suite runs on SQLite and on PostgreSQL, with the schema built
by the migrations (never ``create_all``)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zhibo.app import create_app
from zhibo.config import Settings
from zhibo.kit import migrate
from zhibo.kit.db import Base, make_engine, session_factory

PG_ADMIN_URL = os.environ.get(
    "ZHIBO_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated from empty."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (CI needs it)")
        pytest.skip("PostgreSQL is not reachable")
    name = f"zhibo_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated from empty once per run; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "zhibo.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


def sqlite_copy(template: Path, folder: Path, name: str = "zhibo.db") -> str:
    """A private copy of the migrated SQLite template in ``folder``; its URL."""
    path = folder / name
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite database of this test's own (where PostgreSQL adds nothing)."""
    engine = make_engine(sqlite_copy(sqlite_template, tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: SQLite in a temporary file, or the run's PostgreSQL."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path))
        yield engine
        engine.dispose()
    else:
        url = request.getfixturevalue("pg_database")
        engine = make_engine(url)
        _truncate_all(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    finally:
        session.close()


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        database_url=str(engine.url.render_as_string(hide_password=False)),
        max_request_bytes=64 * 1024,
        data_dir=tmp_path / "data",
    )


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client
