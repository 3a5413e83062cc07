"""Alembic environment: runs against the configured database (or the connection handed in)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import zhibo.models  # noqa: F401  (registers every table on Base.metadata)
from zhibo.kit.db import Base, get_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or None
    with get_engine(url).connect() as connection:
        _run(connection)


if context.is_offline_mode():
    raise SystemExit("zhibo's migrations run online only: use `zhibo db upgrade`")
run_migrations_online()
