"""``zhibo simulate``: the command registered by the main CLI."""

from __future__ import annotations

import time
from datetime import date
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from zhibo.sim.generator import DEFAULT_START, generate


class ScaleName(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


def _parse_start(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--start"
        ) from None


def simulate(
    seed: int = typer.Option(..., "--seed", min=0, help="Random seed: same seed, same files."),
    scale: ScaleName = typer.Option(ScaleName.SMALL, "--scale", help="How big a platform."),
    out: Path = typer.Option(..., "--out", help="Directory to write the Parquet files to."),
    start: str | None = typer.Option(
        None, "--start", help=f"First simulated day, UTC (default {DEFAULT_START.isoformat()})."
    ),
    days: int | None = typer.Option(
        None, "--days", min=1, help="Simulated days (default: the scale's: 7, 14 or 30)."
    ),
) -> None:
    """Generate a believable platform with labelled illegal tactics (labels.parquet)."""
    console = Console(stderr=True)
    began = time.perf_counter()
    counts = generate(
        seed=seed,
        scale=scale.value,
        out=out,
        start=_parse_start(start),
        days=days,
        progress=True,
    )
    elapsed = time.perf_counter() - began
    summary = Table(title=f"{out} (seed {seed}, {scale.value}, {elapsed:.1f} s)")
    summary.add_column("file")
    summary.add_column("rows", justify="right")
    for name, rows in counts.items():
        summary.add_row(f"{name}.parquet", f"{rows:,}")
    console.print(summary)
