"""``zhibo grade ...``: runs, explanations, history, credit, key rooms, leaderboards, models."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from zhibo.kit.cli import err, fail, ready_engine
from zhibo.kit.errors import ZhiboError

grade_app = typer.Typer(
    help="Graded management: levels, credit points, leaderboards.", no_args_is_help=True
)
model_app = typer.Typer(help="Scoring models.", no_args_is_help=True)
grade_app.add_typer(model_app, name="model")
out = Console()


def _operator() -> object:
    from zhibo.kit.auth import Principal
    from zhibo.models import Role

    # The command line acts for the platform operator (it holds the database's credentials).
    return Principal(role=Role.OPERATOR)


@grade_app.command("run")
def run(
    as_of: Annotated[
        datetime, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Grade as of this day (UTC)")
    ],
    model_file: Annotated[
        Path | None, typer.Option("--model", help="Scoring model file (default: the active one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON")] = False,
) -> None:
    """Grade every streamer, partner and room as of a day (running a day again replaces it)."""
    from zhibo.config import get_settings
    from zhibo.events.lake import lake_root
    from zhibo.grading import service
    from zhibo.grading.scoring_model import load_model
    from zhibo.kit.db import unit_of_work

    try:
        model = load_model(model_file) if model_file else None
        with unit_of_work(ready_engine()) as db:
            summary = service.run(
                db, as_of.date(), lake_root=lake_root(get_settings().data_dir), model=model
            )
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(summary.model_dump_json())
        return
    table = Table("level", "streamers", "partners", title=f"Grades as of {summary.as_of}")
    for level in summary.levels:
        table.add_row(
            f"L{level}", f"{summary.levels[level]:,}", f"{summary.partner_levels[level]:,}"
        )
    out.print(table)
    err.print(
        f"model {summary.model_version}; {summary.key_rooms} key rooms; "
        f"{summary.notifications} level changes notified; "
        f"{summary.credit_recoveries} credit recoveries; {summary.seconds:.1f} s"
    )


@grade_app.command("explain")
def explain(
    streamer_id: Annotated[int, typer.Argument(help="Streamer id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON")] = False,
) -> None:
    """Why a streamer has its level, and the smallest changes that reach the next one."""
    from zhibo.grading import service
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(ready_engine()) as db:
            explanation = service.explain(db, _operator(), streamer_id)  # type: ignore[arg-type]
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(explanation.model_dump_json())
        return
    out.print(
        f"[bold]Streamer {streamer_id}[/]: {explanation.level_name} "
        f"(score {explanation.score_bp} bp, as of {explanation.as_of}, "
        f"model {explanation.model_version})"
    )
    out.print(explanation.reason)
    table = Table("metric", "value", "percentile", "weight", "contribution")
    for metric in explanation.metrics:
        table.add_row(
            metric.label,
            f"{metric.value:,}",
            f"{metric.percentile_bp / 100:.1f} %",
            str(metric.weight),
            f"{metric.contribution_bp} bp",
        )
    out.print(table)
    for gate in explanation.gates_applied:
        mark = " (holds the level down)" if gate.capping else ""
        out.print(f"gate {gate.name}: {gate.description}; at most L{gate.max_level}{mark}")
    if explanation.next_level_hint:
        out.print(f"To reach L{explanation.level + 1}: {explanation.next_level_hint}")


@grade_app.command("history")
def history(
    streamer_id: int,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A streamer's levels over time, with the reasons."""
    from zhibo.grading import service
    from zhibo.kit.db import unit_of_work

    try:
        with unit_of_work(ready_engine()) as db:
            items = service.level_history(db, _operator(), streamer_id)  # type: ignore[arg-type]
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(json.dumps([item.model_dump(mode="json") for item in items]))
        return
    for item in items:
        out.print(f"{item.as_of}  L{item.level}  {item.reason}  ({item.model_version})")


@grade_app.command("key-rooms")
def key_rooms(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The real-time patrol queue: key live rooms of the latest run."""
    from zhibo.grading import service
    from zhibo.kit.db import unit_of_work

    with unit_of_work(ready_engine()) as db:
        rooms = service.key_rooms(db)
    if as_json:
        typer.echo(json.dumps([room.model_dump() for room in rooms]))
        return
    for room in rooms:
        out.print(f"room {room.room_id} (streamer {room.streamer_id}): {room.reason}")


@grade_app.command("leaderboard")
def leaderboard(
    kind: Annotated[str, typer.Argument(help="rooms | streamers | partners | brands")],
    metric: Annotated[
        str, typer.Option(help="gmv_fen | net_gmv_fen | orders | buyers")
    ] = "gmv_fen",
    period_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (UTC)")
    ] = None,
    period_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (UTC)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Top rooms, streamers, partners or brands over a period (no tipping boards: banned)."""
    from datetime import timedelta

    from zhibo.grading.leaderboards import leaderboard as board
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.time import utcnow

    to_day = period_to.date() if period_to else utcnow().date()
    from_day = period_from.date() if period_from else to_day - timedelta(days=29)
    try:
        with unit_of_work(ready_engine()) as db:
            result = board(db, kind, metric, from_day, to_day, limit)
    except ZhiboError as error:
        fail(error, 2)
    if as_json:
        typer.echo(result.model_dump_json())
        return
    table = Table("#", "id", "name", metric, title=f"{kind} {from_day} to {to_day}")
    for entry in result.entries:
        table.add_row(str(entry.rank), str(entry.id), entry.name, f"{entry.value:,}")
    out.print(table)


@model_app.command("check")
def model_check(file: Path) -> None:
    """Validate a scoring model file; bad fields are named."""
    from zhibo.grading.scoring_model import load_model

    try:
        model = load_model(file)
    except ZhiboError as error:
        fail(error, 2)
    typer.echo(f"{model.version}: valid ({len(model.metrics)} metrics, {len(model.gates)} gates)")


@model_app.command("show")
def model_show() -> None:
    """Print the active scoring model as JSON."""
    from zhibo.grading.service import active_model

    typer.echo(json.dumps(active_model().document(), indent=2, ensure_ascii=False))


@grade_app.command("viewers")
def viewers(
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Day (UTC)")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=100_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Viewers and buyers ranked by risk (for the risk engine and reviewers)."""
    from zhibo.grading.viewers import rank_viewers, viewer_features
    from zhibo.kit.db import unit_of_work
    from zhibo.kit.time import utcnow

    day = as_of.date() if as_of else utcnow().date()
    with unit_of_work(ready_engine()) as db:
        ranked = rank_viewers(viewer_features(db, day)).head(top)
    if as_json:
        typer.echo(json.dumps(ranked.to_dicts()))
        return
    table = Table(*ranked.columns, title=f"Riskiest viewers as of {day}")
    for row in ranked.iter_rows():
        table.add_row(*(f"{value:,}" for value in row))
    out.print(table)
