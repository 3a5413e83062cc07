"""``zhibo events ...`` and ``zhibo rooms metrics|sweep``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zhibo.kit.cli import err, fail, ready_engine
from zhibo.kit.errors import ZhiboError

events_app = typer.Typer(help="Viewer events: ingestion, workers.", no_args_is_help=True)
rooms_app = typer.Typer(help="Live-room metrics.", no_args_is_help=True)


@events_app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="NDJSON (.ndjson/.jsonl/.json), CSV or Parquet")],
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="file_column=field, to read files with other column names"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON")] = False,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="Events per committed batch (a restart resumes after it)")
    ] = 262_144,
) -> None:
    """Replay a file of events (sessions it names but the database lacks are created)."""
    from zhibo.config import get_settings
    from zhibo.events.service import ingest_file_sync
    from zhibo.events.validation import parse_mapping, read_file

    try:
        engine = ready_engine()
        frames = read_file(file, parse_mapping(mapping or []), batch_rows)
        result = ingest_file_sync(get_settings(), engine, frames, f"file:{file.name}")
    except ZhiboError as error:
        fail(error, 2)
    counts = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
    }
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        for name, value in counts.items():
            err.print(f"{name:>10}: {value:,}")
        reasons: dict[str, int] = {}
        for rejection in result.rejections:
            reasons[rejection.reason] = reasons.get(rejection.reason, 0) + 1
        for reason, count in sorted(reasons.items()):
            err.print(f"{'':>10}  {reason}: {count:,}")


@rooms_app.command("metrics")
def metrics(
    session: Annotated[int, typer.Option("--session", help="Session id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Cumulative metrics of a session."""
    from zhibo.events.service import get_session_metrics
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(ready_engine()) as db:
            out = get_session_metrics(db, session)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(out.model_dump_json())
    else:
        for name, value in out.model_dump().items():
            err.print(f"{name:>18}: {value}")


@events_app.command("worker")
def worker(
    index: Annotated[int, typer.Option(help="This worker's number, 0..of-1")] = 0,
    of: Annotated[int, typer.Option(help="How many workers share the partitions")] = 1,
) -> None:
    """Consume event partitions from NATS JetStream (``ZHIBO_BUS_URL=nats://...``) into
    metrics and the lake; stops cleanly on SIGTERM/SIGINT."""
    from zhibo.config import get_settings
    from zhibo.events.worker import partitions_for, run_worker

    settings = get_settings()
    if not settings.bus_url.startswith(("nats://", "tls://")):
        fail("events worker needs ZHIBO_BUS_URL=nats://host:port (the in-process bus needs none)")
    if not 0 <= index < of:
        fail(f"--index {index}: must be in 0..{of - 1}")
    partitions = partitions_for(index, of, settings.events_partitions)
    err.print(f"worker {index}/{of}: partitions {sorted(partitions)}")
    run_worker(settings, ready_engine(), partitions)


@rooms_app.command("sweep")
def sweep(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the ended session ids as JSON")
    ] = False,
) -> None:
    """End the live sessions whose push left longer ago than the reconnect grace (what
    ``zhibo serve`` also does in the background; for deployments that run it from a timer)."""
    from datetime import timedelta

    from zhibo.config import get_settings
    from zhibo.live.tasks import sweep_abandoned_sessions

    grace = timedelta(seconds=get_settings().publish_reconnect_grace_seconds)
    try:
        ended = sweep_abandoned_sessions(ready_engine(), grace) if grace else []
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps({"ended_sessions": ended}))
    else:
        err.print(f"ended {len(ended)} abandoned session(s): {ended}")
