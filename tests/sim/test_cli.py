"""``zhibo simulate`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from zhibo.sim.cli import simulate


def _app() -> typer.Typer:
    """The main CLI when it registers the command, else a stand-alone one."""
    try:
        from zhibo.cli import app
    except ImportError:  # pragma: no cover - the main CLI is optional here
        app = None
    if app is not None and any(c.name == "simulate" for c in app.registered_commands):
        return app
    local = typer.Typer()
    local.command("simulate")(simulate)
    local.command("noop")(lambda: None)  # a second command keeps "simulate" a subcommand
    return local


def test_simulate_writes_the_files_and_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        [
            "simulate",
            "--seed",
            "3",
            "--scale",
            "small",
            "--out",
            str(tmp_path),
            "--days",
            "1",
            "--start",
            "2026-11-11",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (manifest["seed"], manifest["scale"], manifest["start"], manifest["days"]) == (
        3,
        "small",
        "2026-11-11",
        1,
    )
    assert (tmp_path / "labels.parquet").exists()
    assert manifest["files"]["events.parquet"]["rows"] > 10_000


def test_simulate_rejects_a_bad_date_and_scale(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_date = runner.invoke(
        _app(), ["simulate", "--seed", "1", "--out", str(tmp_path), "--start", "11/01/2026"]
    )
    assert bad_date.exit_code != 0
    bad_scale = runner.invoke(
        _app(), ["simulate", "--seed", "1", "--out", str(tmp_path), "--scale", "huge"]
    )
    assert bad_scale.exit_code != 0
    assert not (tmp_path / "manifest.json").exists()
