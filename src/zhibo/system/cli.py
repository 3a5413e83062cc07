"""``zhibo worker <pipeline|risk|grading|settlement>`` and ``zhibo up``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from zhibo.kit.cli import err, fail, ready_engine

worker_app = typer.Typer(
    help="Background workers of a production deployment (docs/operations.md).",
    no_args_is_help=True,
)

Once = Annotated[bool, typer.Option("--once", help="Run one iteration and exit")]
MetricsPort = Annotated[
    int,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="Also expose /metrics on this port of 127.0.0.1 (0: no; on the API's host, "
        "a shared PROMETHEUS_MULTIPROC_DIR lets the API's /metrics show workers' metrics)",
    ),
]


def _start(metrics_port: int) -> None:
    from zhibo.config import get_settings
    from zhibo.system.logs import configure_logging

    configure_logging(get_settings())
    if metrics_port:
        from zhibo.kit.metrics import serve_metrics

        serve_metrics(metrics_port)


@worker_app.command("pipeline")
def pipeline(
    index: Annotated[int, typer.Option(help="This worker's number, 0..of-1")] = 0,
    of: Annotated[int, typer.Option(help="How many workers share the partitions")] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Consume what is waiting; exit after 1 s idle")
    ] = False,
    metrics_port: MetricsPort = 0,
) -> None:
    """The viewer-event pipeline on NATS JetStream, with the real-time risk rules (what
    `zhibo events worker` runs); stops cleanly on SIGTERM/SIGINT."""
    from zhibo.config import get_settings
    from zhibo.events.worker import partitions_for
    from zhibo.system.workers import run_pipeline

    settings = get_settings()
    if not settings.bus_url.startswith(("nats://", "tls://")):
        fail("worker pipeline needs ZHIBO_BUS_URL=nats://host:port (the in-process bus needs none)")
    if not 0 <= index < of:
        fail(f"--index {index}: must be in 0..{of - 1}")
    _start(metrics_port)
    partitions = partitions_for(index, of, settings.events_partitions)
    logging.getLogger("zhibo.worker").info(
        "pipeline worker %d/%d: partitions %s", index, of, sorted(partitions)
    )
    run_pipeline(settings, ready_engine(), partitions, once=once)


def _loop(name: str, once: bool, metrics_port: int) -> None:
    from zhibo.config import get_settings
    from zhibo.system.workers import STEPS, Stopper, run_loop

    settings = get_settings()
    engine = ready_engine()
    _start(metrics_port)
    stopper = Stopper()
    stopper.install()
    code = run_loop(
        name,
        STEPS[name](settings, engine),
        interval=settings.worker_interval_seconds,
        once=once,
        stop=stopper.event,
    )
    raise typer.Exit(code)


@worker_app.command("risk")
def risk(once: Once = False, metrics_port: MetricsPort = 0) -> None:
    """Periodic risk jobs: lapse timed measures, expire blacklist entries (the real-time rules
    run in the pipeline workers)."""
    _loop("risk", once, metrics_port)


@worker_app.command("grading")
def grading(once: Once = False, metrics_port: MetricsPort = 0) -> None:
    """Grade the previous day once a day, from ZHIBO_GRADING_HOUR_UTC on (one worker at a time
    does it)."""
    _loop("grading", once, metrics_port)


@worker_app.command("settlement")
def settlement(once: Once = False, metrics_port: MetricsPort = 0) -> None:
    """Resume unfinished settlement runs; settle the current day from
    ZHIBO_SETTLEMENT_HOUR_UTC on."""
    _loop("settlement", once, metrics_port)


def up(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes")] = 2,
    pipeline_workers: Annotated[int, typer.Option(min=1, help="Pipeline workers")] = 1,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds children get to stop before being killed")
    ] = 20.0,
) -> None:
    """Start a production-mode stack on this machine's PostgreSQL and NATS: the API, the
    pipeline workers and the risk, grading and settlement workers, as child processes;
    Ctrl-C or SIGTERM stops them all."""
    from zhibo.config import get_settings
    from zhibo.system import up as stack

    settings = get_settings()
    refused = stack.refusal(settings)
    if refused:
        fail(refused, 2)
    try:
        ready_engine()
    except typer.Exit:
        raise
    except Exception as error:  # unreachable database: name it, never the URL's password
        fail(f"the database does not answer ({type(error).__name__})", 2)
    code = stack.run(
        settings,
        host=host,
        port=port,
        api_workers=workers,
        pipeline_workers=pipeline_workers,
        grace_seconds=grace,
        say=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True),
    )
    raise typer.Exit(code)
