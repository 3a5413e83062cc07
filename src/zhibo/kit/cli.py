"""Helpers every command-line module shares: error output and the ready database engine."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine

from zhibo.kit.errors import ZhiboError

err = Console(stderr=True)


def fail(error: ZhiboError | str, code: int = 1) -> NoReturn:
    """Print ``Name: detail`` on standard error and exit with ``code``."""
    if isinstance(error, ZhiboError):
        detail = escape(str(error.detail))  # a file name or value may hold [brackets]
        err.print(f"[bold red]{error.name}[/]: {detail}", highlight=False, soft_wrap=True)
    else:
        err.print(f"[bold red]error[/]: {escape(error)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def ready_engine() -> Engine:
    """The configured engine, with the embedded default's schema created on first use."""
    from zhibo.config import get_settings
    from zhibo.kit import migrate
    from zhibo.kit.db import get_engine

    engine = get_engine()
    if get_settings().is_sqlite:
        migrate.ensure_schema(engine)
    elif migrate.current_revision(engine) != migrate.head_revision():
        fail("the database schema is not current: run `zhibo db upgrade`")
    return engine
