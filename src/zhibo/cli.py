"""The ``zhibo`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from zhibo.kit.cli import err, fail, ready_engine
from zhibo.kit.errors import ZhiboError

app = typer.Typer(
    name="zhibo",
    help="zhibo: regulated livestream e-commerce platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to the configured database."""
    from zhibo.kit import migrate
    from zhibo.kit.db import get_engine

    engine = get_engine()
    migrate.upgrade(engine, revision)
    err.print(f"schema at revision {migrate.current_revision(engine)} ({engine.dialect.name})")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the configured database."""
    from zhibo.kit import migrate
    from zhibo.kit.db import get_engine

    typer.echo(migrate.current_revision(get_engine()) or "empty")


def _ready_engine() -> Engine:
    return ready_engine()


@token_app.command("create")
def token_create(
    role: Annotated[
        str, typer.Option(help="operator|compliance|streamer|partner|brand|auditor|viewer")
    ],
    subject: Annotated[
        int | None,
        typer.Option(help="Id of the streamer, partner, brand or viewer the token acts as"),
    ] = None,
    name: Annotated[str, typer.Option(help="A label for the token")] = "",
) -> None:
    """Create an API token and print it (it is shown only this once)."""
    from zhibo.kit.auth import create_token
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(_ready_engine()) as session:
            clear, _row = create_token(session, role, subject, name)
    except ZhiboError as error:
        fail(error, 2)
    typer.echo(clear)


@token_app.command("list")
def token_list() -> None:
    """List tokens (prefix, role, subject; never the token)."""
    from sqlalchemy import select

    from zhibo.kit.db import unit_of_work
    from zhibo.models import ApiToken

    with unit_of_work(_ready_engine()) as session:
        for row in session.scalars(select(ApiToken).order_by(ApiToken.id)):
            state = "revoked" if row.revoked_at else "active"
            typer.echo(f"{row.id}\t{row.prefix}…\t{row.role}\t{row.subject_id or '-'}\t{state}")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id."""
    from zhibo.kit.auth import revoke_token
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(_ready_engine()) as session:
            revoke_token(session, token_id)
    except ZhiboError as error:
        fail(error, 2)


#: Seconds a `zhibo serve --workers N` worker may take to answer the supervisor's ping.
WORKER_HEALTHCHECK_SECONDS = 15


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Serve the REST API (OpenAPI at /docs)."""
    import uvicorn

    from zhibo.config import get_settings
    from zhibo.kit.metrics import MULTIPROC_ENV, multiprocess_dir
    from zhibo.system.logs import logging_config

    _ready_engine()
    if workers > 1 and multiprocess_dir() is None:
        err.print(f"note: /metrics shows one worker's figures; set {MULTIPROC_ENV} to sum them")
    uvicorn.run(
        "zhibo.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # zhibo's format (ZHIBO_LOG_FORMAT) for every logger; zhibo.access replaces uvicorn's
        # access log (route templates, request ids; no raw paths or client addresses).
        log_config=logging_config(get_settings()),
        access_log=False,
        # The supervisor kills a worker that does not answer its ping in time and starts
        # another (a SIGKILLed worker is replaced at once). uvicorn's 5 s is less than a
        # worker takes to start on a busy host: workers were killed while starting, in a loop.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


@app.command()
def load(
    directory: Annotated[Path, typer.Argument(help="A directory written by `zhibo simulate`")],
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON")] = False,
) -> None:
    """Load a simulated platform into the configured database (idempotent)."""
    from zhibo.load.service import load_directory

    try:
        counts = load_directory(_ready_engine(), directory, progress=not as_json)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        for table, count in counts.items():
            err.print(f"{table:>22}: {count:,}")


@app.command()
def demo(
    port: int = 8000,
    host: str = "127.0.0.1",
    seed: int = 2021,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after set-up")
    ] = True,
) -> None:
    """Simulate a small platform, load it, run the pipelines and serve the API."""
    from zhibo.demo import run_demo

    run_demo(host=host, port=port, seed=seed, serve_api=serve_api)


def _register_simulate() -> None:
    try:
        from zhibo.sim.cli import simulate
    except ImportError:  # pragma: no cover - only while the simulator is being written
        return
    app.command("simulate", help="Generate a believable platform, with labelled tactics.")(simulate)


_register_simulate()


def _register_domains() -> None:
    from zhibo.catalog.cli import catalog_app

    app.add_typer(catalog_app, name="catalog")
    from zhibo.events.cli import events_app, rooms_app

    app.add_typer(events_app, name="events")
    app.add_typer(rooms_app, name="rooms")
    from zhibo.ledger.cli import ledger_app

    app.add_typer(ledger_app, name="ledger")
    from zhibo.settlement.cli import settle_app

    app.add_typer(settle_app, name="settle")
    from zhibo.grading.cli import grade_app

    app.add_typer(grade_app, name="grade")
    from zhibo.risk.cli import risk_app

    app.add_typer(risk_app, name="risk")
    from zhibo.identity.cli import identity_app, patrol_app, report, retention_app

    app.add_typer(identity_app, name="identity")
    app.add_typer(patrol_app, name="patrol")
    app.add_typer(retention_app, name="retention")
    app.command("report", help="Export the regulator report (CSV and HTML) for a date range.")(
        report
    )
    from zhibo.console.cli import user_app

    app.add_typer(user_app, name="user")
    from zhibo.system.cli import up, worker_app

    app.add_typer(worker_app, name="worker")
    app.command("up", help="Start a production-mode stack (PostgreSQL, NATS) as child processes.")(
        up
    )
    from zhibo.risk.screens import install_text_screens

    install_text_screens()  # the pool refuses titles failing the banned-term and lure rules


_register_domains()


def main() -> None:
    try:
        app()
    except ZhiboError as error:  # pragma: no cover - commands catch their own
        err.print(f"[bold red]{error.name}[/]: {error.detail}")
        sys.exit(1)


if __name__ == "__main__":
    main()
